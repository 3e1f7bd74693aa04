// Loading BrokerConfig: one table of keys (Kafka's names) with a parser and a range check each,
// a TOML reader that flattens tables into dotted keys and feeds them through the same table,
// and FinishConfig for the machine-dependent defaults and the checks across keys.
//
// toml++ is used header-only with TOML_EXCEPTIONS=0 in this file (parse errors come back as a
// parse_result, never as an exception; Spool does not use exceptions). Its inline functions live
// in toml++'s "noex" ABI namespace, so they cannot clash with the shared library's symbols.
#undef TOML_HEADER_ONLY
#define TOML_HEADER_ONLY 1
#undef TOML_SHARED_LIB
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/broker_config.h"

namespace spool::broker {
namespace {

Status BadValue(std::string_view key, std::string_view value, std::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat("config key '", std::string(key), "': bad value '",
                                                 std::string(value), "' (want ", std::string(want),
                                                 ")"));
}

// A decimal integer in [lo, hi]; nothing else on the line (no spaces, no suffix).
template <typename T>
StatusOr<T> ParseInt(std::string_view key, std::string_view value, T lo, T hi) {
  T out{};
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || out < lo ||
      out > hi) {
    return BadValue(key, value, absl::StrCat("an integer in [", lo, ", ", hi, "]"));
  }
  return out;
}

StatusOr<bool> ParseBool(std::string_view key, std::string_view value) {
  if (value == "true") return true;
  if (value == "false") return false;
  return BadValue(key, value, "true or false");
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// "host:port", optionally with Kafka's "PLAINTEXT://" prefix (the only protocol there is).
StatusOr<io::HostPort> ParseListener(std::string_view key, std::string_view value) {
  std::string_view text = value;
  constexpr std::string_view kPlaintext = "PLAINTEXT://";
  if (text.substr(0, kPlaintext.size()) == kPlaintext) text.remove_prefix(kPlaintext.size());
  if (text.find(',') != std::string_view::npos) {
    return BadValue(key, value, "one host:port (one listener for now)");
  }
  StatusOr<io::HostPort> hp = io::ParseHostPort(text);
  if (!hp.ok()) return BadValue(key, value, "host:port");
  return hp;
}

// A listener name (Kafka's are case-insensitive; kept upper-case): letters, digits, '_'.
StatusOr<std::string> ParseListenerName(std::string_view key, std::string_view value) {
  std::string name;
  for (const char ch : value) {
    const unsigned char u = static_cast<unsigned char>(ch);
    if (std::isalnum(u) == 0 && ch != '_') return BadValue(key, value, "one listener name");
    name.push_back(static_cast<char>(std::toupper(u)));
  }
  if (name.empty()) return BadValue(key, value, "one listener name");
  return name;
}

// Kafka's listener list: "host:port" or "NAME://host:port" entries, comma-separated. The
// PLAINTEXT one (or the one without a name) is the client listener, set at once; named ones are
// kept for FinishConfig, which knows controller.listener.names only then. Each entry replaces
// the listener of its name, so `--listen` does not drop a CONTROLLER entry of the config file.
Status ApplyListeners(BrokerConfig& c, std::string_view key, std::string_view value) {
  std::optional<io::HostPort> plaintext;
  std::map<std::string, io::HostPort> named;
  std::string_view rest = value;
  while (true) {
    const size_t comma = rest.find(',');
    std::string_view entry = Trim(rest.substr(0, comma));
    std::string name = "PLAINTEXT";
    if (const size_t sep = entry.find("://"); sep != std::string_view::npos) {
      StatusOr<std::string> n = ParseListenerName(key, entry.substr(0, sep));
      if (!n.ok()) return n.status();
      name = *std::move(n);
      entry.remove_prefix(sep + 3);
    }
    StatusOr<io::HostPort> hp = io::ParseHostPort(entry);
    if (!hp.ok()) return BadValue(key, value, "host:port or NAME://host:port, comma-separated");
    const bool repeated = name == "PLAINTEXT" ? plaintext.has_value() : named.contains(name);
    if (repeated) {
      return BadValue(key, value,
                      absl::StrCat("one listener named ", name, " (one client listener)"));
    }
    if (name == "PLAINTEXT") {
      plaintext = *std::move(hp);
    } else {
      named[name] = *std::move(hp);
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (plaintext) c.listen = *plaintext;
  for (auto& [name, hp] : named) {
    // The later of this entry and controller.listener wins (as far as the name is known now).
    if (name == c.controller_listener_name) c.controller_listener_key.reset();
    c.named_listeners[name] = hp;
  }
  return Status();
}

// process.roles: "broker", "controller", or both in either order.
Status ApplyRoles(BrokerConfig& c, std::string_view key, std::string_view value) {
  bool broker = false;
  bool controller = false;
  std::string_view rest = value;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view role = Trim(rest.substr(0, comma));
    bool& slot = role == "broker" ? broker : controller;
    if ((role != "broker" && role != "controller") || slot) {
      return BadValue(key, value, "broker, controller, or broker,controller");
    }
    slot = true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  c.role_broker = broker;
  c.role_controller = controller;
  return Status();
}

StatusOr<std::string> ParseDir(std::string_view key, std::string_view value) {
  if (value.empty()) return BadValue(key, value, "a directory");
  if (value.find(',') != std::string_view::npos) {
    return BadValue(key, value, "one directory (several log dirs are not supported yet)");
  }
  return std::string(value);
}

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr int32_t kI32Max = std::numeric_limits<int32_t>::max();

// Assigns the parsed value to `field` or returns the parse error.
#define SPOOL_SET_(field, expr)       \
  do {                                \
    auto _v = (expr);                 \
    if (!_v.ok()) return _v.status(); \
    field = *std::move(_v);           \
  } while (0)

Status Apply(BrokerConfig& c, std::string_view key, std::string_view v) {
  log::LogConfig& l = c.log_defaults;
  if (key == "node.id") {
    SPOOL_SET_(c.node_id, ParseInt<int32_t>(key, v, 0, kI32Max));
  } else if (key == "process.roles") {
    return ApplyRoles(c, key, v);
  } else if (key == "controller.quorum.voters") {
    if (v.empty()) {
      c.voters.clear();  // single-node mode (with both roles)
      return Status();
    }
    StatusOr<std::vector<raft::QuorumVoter>> voters = raft::ParseQuorumVoters(v);
    if (!voters.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config key 'controller.quorum.voters': ", voters.status().message()));
    }
    c.voters = *std::move(voters);
  } else if (key == "controller.listener") {
    SPOOL_SET_(c.controller_listener_key, ParseListener(key, v));
    c.named_listeners.erase(c.controller_listener_name);  // the later of the two wins
  } else if (key == "controller.listener.names") {
    if (v.find(',') != std::string_view::npos) {
      return BadValue(key, v, "one listener name (one controller listener)");
    }
    SPOOL_SET_(c.controller_listener_name, ParseListenerName(key, v));
    if (c.controller_listener_name == "PLAINTEXT") {
      return BadValue(key, v, "a name other than PLAINTEXT (the client listener)");
    }
  } else if (key == "metadata.log.dir") {
    SPOOL_SET_(c.metadata_log_dir, ParseDir(key, v));
  } else if (key == "broker.rack") {
    c.rack = v.empty() ? std::nullopt : std::optional<std::string>(std::string(v));
  } else if (key == "broker.heartbeat.interval.ms") {
    SPOOL_SET_(c.broker_heartbeat_interval_ms, ParseInt<int64_t>(key, v, 1, kI32Max));
  } else if (key == "broker.session.timeout.ms") {
    SPOOL_SET_(c.broker_session_timeout_ms, ParseInt<int64_t>(key, v, 1, kI32Max));
  } else if (key == "broker.registration.timeout.ms") {
    SPOOL_SET_(c.broker_registration_timeout_ms, ParseInt<int64_t>(key, v, 1, kI32Max));
  } else if (key == "controller.quorum.election.timeout.ms") {
    // Raft's heartbeat is a tenth of it: at least 1 ms.
    SPOOL_SET_(c.controller_election_timeout_ms, ParseInt<int64_t>(key, v, 10, kI32Max));
  } else if (key == "cluster.id") {
    if (v.empty()) return BadValue(key, v, "a non-empty name");
    c.cluster_id = std::string(v);
  } else if (key == "log.dirs" || key == "data.dir") {
    SPOOL_SET_(c.data_dir, ParseDir(key, v));
  } else if (key == "listeners") {
    return ApplyListeners(c, key, v);
  } else if (key == "advertised.listeners") {
    SPOOL_SET_(c.advertised, ParseListener(key, v));
  } else if (key == "num.reactors") {
    SPOOL_SET_(c.reactors, ParseInt<int>(key, v, 0, 1024));
  } else if (key == "auto.create.topics.enable") {
    SPOOL_SET_(c.auto_create_topics, ParseBool(key, v));
  } else if (key == "num.partitions") {
    SPOOL_SET_(c.default_partitions, ParseInt<int32_t>(key, v, 1, 100000));
  } else if (key == "default.replication.factor") {
    SPOOL_SET_(c.default_replication_factor, ParseInt<int32_t>(key, v, 1, 64));
  } else if (key == "replica.lag.time.max.ms") {
    SPOOL_SET_(c.replica_lag_time_max_ms, ParseInt<int64_t>(key, v, 100, 3600000));
  } else if (key == "replica.fetch.wait.max.ms") {
    SPOOL_SET_(c.replica_fetch_wait_max_ms, ParseInt<int32_t>(key, v, 0, 10000));
  } else if (key == "replica.fetch.max.bytes") {
    SPOOL_SET_(c.replica_fetch_max_bytes, ParseInt<int32_t>(key, v, 1024, 64 << 20));
  } else if (key == "replica.fetch.response.max.bytes") {
    SPOOL_SET_(c.replica_fetch_response_max_bytes, ParseInt<int32_t>(key, v, 1024, 64 << 20));
  } else if (key == "auto.leader.rebalance.enable") {
    SPOOL_SET_(c.auto_leader_rebalance, ParseBool(key, v));
  } else if (key == "leader.imbalance.check.interval.seconds") {
    StatusOr<int64_t> seconds = ParseInt<int64_t>(key, v, 1, 86400);
    if (!seconds.ok()) return seconds.status();
    c.leader_imbalance_check_interval_ms = *seconds * 1000;
  } else if (key == "leader.imbalance.check.interval.ms") {  // Spool's, for tests
    SPOOL_SET_(c.leader_imbalance_check_interval_ms, ParseInt<int64_t>(key, v, 10, 86400000));
  } else if (key == "leader.imbalance.per.broker.percentage") {
    SPOOL_SET_(c.leader_imbalance_per_broker_percentage, ParseInt<int32_t>(key, v, 0, 100));
  } else if (key == "replica.fetch.backoff.ms") {
    SPOOL_SET_(c.replica_fetch_backoff_ms, ParseInt<int64_t>(key, v, 1, 60000));
  } else if (key == "log.segment.bytes") {
    SPOOL_SET_(l.segment_bytes, ParseInt<uint64_t>(key, v, 1024, kU32Max));
  } else if (key == "log.segment.ms") {
    SPOOL_SET_(l.segment_ms, ParseInt<int64_t>(key, v, 1, kI64Max));
  } else if (key == "log.retention.ms") {
    SPOOL_SET_(l.retention_ms, ParseInt<int64_t>(key, v, -1, kI64Max));
  } else if (key == "log.retention.bytes") {
    SPOOL_SET_(l.retention_bytes, ParseInt<int64_t>(key, v, -1, kI64Max));
  } else if (key == "log.index.interval.bytes") {
    SPOOL_SET_(l.index_interval_bytes, ParseInt<uint32_t>(key, v, 1, kU32Max));
  } else if (key == "message.max.bytes") {
    // At least a batch header (61 bytes); checked against the frame limit in FinishConfig.
    SPOOL_SET_(l.max_message_bytes, ParseInt<uint32_t>(key, v, 61, kU32Max));
  } else if (key == "log.flush.policy") {
    if (v == "durable") {
      l.flush_policy = log::FlushPolicy::kGroupCommit;
    } else if (v == "interval") {
      l.flush_policy = log::FlushPolicy::kInterval;
    } else {
      return BadValue(key, v, "durable or interval");
    }
  } else if (key == "log.flush.interval.ms") {
    SPOOL_SET_(l.flush_ms, ParseInt<int64_t>(key, v, 1, kI64Max));
  } else if (key == "log.flush.interval.messages") {
    SPOOL_SET_(l.flush_messages, ParseInt<int64_t>(key, v, 1, kI64Max));
  } else if (key == "log.preallocate.bytes") {
    SPOOL_SET_(l.preallocate_bytes, ParseInt<uint64_t>(key, v, 0, kU32Max));
  } else if (key == "log.retention.check.interval.ms") {
    SPOOL_SET_(c.retention_check_interval_ms, ParseInt<int64_t>(key, v, 1, kI64Max));
  } else if (key == "group.min.session.timeout.ms") {
    SPOOL_SET_(c.groups.min_session_timeout_ms, ParseInt<int32_t>(key, v, 1, kI32Max));
  } else if (key == "group.max.session.timeout.ms") {
    SPOOL_SET_(c.groups.max_session_timeout_ms, ParseInt<int32_t>(key, v, 1, kI32Max));
  } else if (key == "group.initial.rebalance.delay.ms") {
    SPOOL_SET_(c.groups.initial_rebalance_delay_ms, ParseInt<int32_t>(key, v, 0, kI32Max));
  } else if (key == "group.max.size") {
    SPOOL_SET_(c.groups.max_size, ParseInt<int32_t>(key, v, 1, kI32Max));
  } else if (key == "offsets.retention.ms") {
    SPOOL_SET_(c.groups.offsets_retention_ms, ParseInt<int64_t>(key, v, -1, kI64Max));
  } else if (key == "offsets.retention.minutes") {
    int64_t minutes = 0;
    SPOOL_SET_(minutes, ParseInt<int64_t>(key, v, 1, kI64Max / 60000));
    c.groups.offsets_retention_ms = minutes * 60000;
  } else if (key == "offsets.retention.check.interval.ms") {
    SPOOL_SET_(c.groups.offsets_retention_check_interval_ms, ParseInt<int64_t>(key, v, 1, kI64Max));
  } else if (key == "offset.metadata.max.bytes") {
    SPOOL_SET_(c.groups.offset_metadata_max_bytes, ParseInt<int32_t>(key, v, 0, kI32Max));
  } else if (key == "offsets.topic.num.partitions") {
    SPOOL_SET_(c.groups.offsets_topic_num_partitions, ParseInt<int32_t>(key, v, 1, 1000));
  } else if (key == "offsets.topic.replication.factor") {
    SPOOL_SET_(c.groups.offsets_topic_replication_factor,
               ParseInt<int32_t>(key, v, 1, 64));  // kMaxReplicationFactor
  } else if (key == "offsets.commit.timeout.ms") {
    SPOOL_SET_(c.groups.offsets_commit_timeout_ms, ParseInt<int32_t>(key, v, 1, kI32Max));
  } else if (key == "socket.request.max.bytes") {
    SPOOL_SET_(c.frame_limits.max_frame_bytes,
               ParseInt<uint32_t>(key, v, static_cast<uint32_t>(proto::kFrameHeaderSize), kU32Max));
  } else if (key == "request.body.max.bytes") {
    SPOOL_SET_(c.frame_limits.max_body_bytes, ParseInt<uint32_t>(key, v, 0, kU32Max));
  } else if (key == "max.inflight.bytes.per.connection") {
    SPOOL_SET_(c.max_inflight_bytes_per_connection, ParseInt<uint64_t>(key, v, 1, kU64Max));
  } else if (key == "max.inflight.bytes") {
    SPOOL_SET_(c.max_inflight_bytes_total, ParseInt<uint64_t>(key, v, 1, kU64Max));
  } else if (key == "max.connections") {
    SPOOL_SET_(c.max_connections, ParseInt<int32_t>(key, v, 1, kI32Max));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown config key '", std::string(key), "'"));
  }
  return Status();
}

#undef SPOOL_SET_

// One TOML value as the text ApplySetting parses. Tables are handled by the caller.
StatusOr<std::string> ValueText(const std::string& key, const toml::node& node) {
  if (const auto* s = node.as_string()) return std::string(s->get());
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  if (const auto* a = node.as_array()) {
    // Kafka's log.dirs and listeners are lists; Spool takes exactly one element.
    if (a->size() == 1 && (*a)[0].is_string()) return std::string(*(*a)[0].value<std::string>());
    return absl::InvalidArgumentError(
        absl::StrCat("config key '", key, "': want a single value, not a list of ", a->size()));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("config key '", key, "': want a string, an integer or a boolean"));
}

Status Flatten(BrokerConfig& config, const toml::table& table, const std::string& prefix) {
  for (const auto& [k, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(k.str()) : absl::StrCat(prefix, ".", std::string(k.str()));
    if (const auto* sub = node.as_table()) {
      RETURN_IF_ERROR(Flatten(config, *sub, key));
      continue;
    }
    ASSIGN_OR_RETURN(std::string text, ValueText(key, node));
    RETURN_IF_ERROR(ApplySetting(config, key, text));
  }
  return Status();
}

// Resolves the controller listener from controller.listener and the `listeners` entries.
Status ResolveControllerListener(BrokerConfig& c) {
  std::optional<io::HostPort> from_listeners;
  for (const auto& [name, hp] : c.named_listeners) {
    if (name != c.controller_listener_name) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config key 'listeners': unknown listener name '", name, "' (want PLAINTEXT or '",
          c.controller_listener_name, "', the controller.listener.names)"));
    }
    from_listeners = hp;
  }
  if (from_listeners && c.controller_listener_key &&
      *from_listeners != *c.controller_listener_key) {
    return absl::InvalidArgumentError(
        absl::StrCat("config keys 'controller.listener' (", c.controller_listener_key->ToString(),
                     ") and 'listeners' (", c.controller_listener_name, "://",
                     from_listeners->ToString(), ") name different controller listeners"));
  }
  c.controller_listen_explicit =
      from_listeners.has_value() || c.controller_listener_key.has_value();
  if (c.controller_listener_key) c.controller_listen = *c.controller_listener_key;
  if (from_listeners) c.controller_listen = *from_listeners;
  return Status();
}

// The roles against node.id, the voter set and the controller listener.
Status CheckQuorum(BrokerConfig& c) {
  const std::string roles = RolesText(c);
  if (c.role_controller && c.node_id < 1) {
    return absl::InvalidArgumentError(absl::StrCat("config key 'node.id' (", c.node_id,
                                                   ") must be >= 1 with process.roles=", roles,
                                                   " (a controller voter's id)"));
  }
  if (!c.role_controller && c.controller_listen_explicit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a controller listener is configured but process.roles=", roles, " has no controller"));
  }
  if (c.voters.empty()) {
    if (SingleNodeQuorum(c)) return Status();  // spoold fills in this node alone
    return absl::InvalidArgumentError(
        absl::StrCat("config key 'controller.quorum.voters' is required with process.roles=", roles,
                     " (only broker,controller may leave it empty: a single-node cluster)"));
  }
  const size_t n = c.voters.size();
  if (n != 1 && n != 3 && n != 5) {
    return absl::InvalidArgumentError(absl::StrCat("config key 'controller.quorum.voters' names ",
                                                   n, " voters (want 1, 3 or 5)"));
  }
  const auto self = std::find_if(c.voters.begin(), c.voters.end(), [&](const raft::QuorumVoter& v) {
    return static_cast<int64_t>(v.id.value()) == c.node_id;
  });
  if (!c.role_controller) {
    if (self != c.voters.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config key 'node.id' (", c.node_id, ") names a controller voter, but process.roles=",
          roles, " (a broker-only node needs an id of its own)"));
    }
    return Status();
  }
  if (self == c.voters.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config key 'node.id' (", c.node_id, ") is not in 'controller.quorum.voters' (",
        "process.roles=", roles, " makes this node a voter)"));
  }
  if (!c.controller_listen_explicit) {
    if (n > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("with other controller voters, the controller listener must be configured: "
                       "'controller.listener' (or --controller-listen), or a ",
                       c.controller_listener_name, ":// entry in 'listeners'"));
    }
    c.controller_listen = self->address;  // the only voter listens where the voter set says
    return Status();
  }
  if (c.controller_listen.port == 0 && n > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the controller listener (", c.controller_listen.ToString(),
        ") needs a fixed port: the other voters reach it at ", self->address.ToString()));
  }
  if (c.controller_listen.port != 0 && c.controller_listen.port != self->address.port) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the controller listener (", c.controller_listen.ToString(), ") and this node's entry in ",
        "'controller.quorum.voters' (", self->address.ToString(), ") have different ports"));
  }
  return Status();
}

}  // namespace

std::string RolesText(const BrokerConfig& config) {
  if (config.role_broker && config.role_controller) return "broker,controller";
  if (config.role_controller) return "controller";
  return "broker";
}

Status ApplySetting(BrokerConfig& config, std::string_view key, std::string_view value) {
  return Apply(config, Trim(key), Trim(value));
}

Status LoadConfigFile(BrokerConfig& config, const std::string& path) {
  toml::parse_result parsed = toml::parse_file(path);
  if (!parsed) {
    const toml::parse_error& err = parsed.error();
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ":", err.source().begin.line, ":",
                     err.source().begin.column, ": ", std::string(err.description())));
  }
  Status st = Flatten(config, parsed.table(), "");
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", st.message()));
  return Status();
}

Status FinishConfig(BrokerConfig& config) {
  if (config.data_dir.empty()) {
    const char* home = std::getenv("HOME");
    config.data_dir =
        (home != nullptr && *home != '\0') ? absl::StrCat(home, "/.spool/data") : "/var/lib/spool";
  }
  if (config.reactors == 0) {
    const unsigned cores = std::thread::hardware_concurrency();
    config.reactors = cores == 0 ? 1 : static_cast<int>(cores);
  }
  const proto::FrameLimits& f = config.frame_limits;
  if (f.max_body_bytes > f.max_frame_bytes - proto::kFrameHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config key 'request.body.max.bytes' (", f.max_body_bytes,
        ") must fit in a frame of 'socket.request.max.bytes' (", f.max_frame_bytes, ")"));
  }
  if (config.log_defaults.max_message_bytes > f.max_frame_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key 'message.max.bytes' (", config.log_defaults.max_message_bytes,
                     ") is larger than 'socket.request.max.bytes' (", f.max_frame_bytes,
                     "): such a batch could never arrive"));
  }
  if (config.groups.min_session_timeout_ms > config.groups.max_session_timeout_ms) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config key 'group.min.session.timeout.ms' (", config.groups.min_session_timeout_ms,
        ") is larger than 'group.max.session.timeout.ms' (", config.groups.max_session_timeout_ms,
        ")"));
  }
  if (config.max_inflight_bytes_per_connection > config.max_inflight_bytes_total) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config key 'max.inflight.bytes.per.connection' (",
        config.max_inflight_bytes_per_connection, ") is larger than 'max.inflight.bytes' (",
        config.max_inflight_bytes_total, ")"));
  }
  if (config.broker_heartbeat_interval_ms >= config.broker_session_timeout_ms) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config key 'broker.heartbeat.interval.ms' (", config.broker_heartbeat_interval_ms,
        ") must be less than 'broker.session.timeout.ms' (", config.broker_session_timeout_ms,
        ")"));
  }
  if (config.metadata_log_dir.empty()) {
    config.metadata_log_dir = absl::StrCat(config.data_dir, "/__cluster_metadata");
  }
  RETURN_IF_ERROR(ResolveControllerListener(config));
  RETURN_IF_ERROR(CheckQuorum(config));
  return Status();
}

}  // namespace spool::broker
