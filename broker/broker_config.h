// BrokerConfig: every setting of a spoold process (its broker and controller roles), with
// defaults that run with no config file at all.
//
// Sources, later ones winning: the built-in defaults, a TOML file (`spoold --config FILE`), then
// `--set key=value` flags and the dedicated flags (`--data-dir`, `--listen`, ...). Keys use Kafka's
// names where the meaning is the same (broker/README.md lists them all). Loading is done once at
// start-up on the main thread; afterwards the config is read-only and shared by every shard.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "broker/group_config.h"
#include "common/io/socket.h"
#include "common/status.h"
#include "log/partition_log.h"
#include "proto/frame.h"
#include "replication/raft/tcp_transport.h"

namespace spool::broker {

inline constexpr uint16_t kDefaultPort = 9192;  // Kafka's 9092 plus 100: both can run side by side

struct BrokerConfig {
  // Roles (process.roles): a broker serves clients on `listen`; a controller is a voter of the
  // controller quorum, serving its peers and the brokers on `controller_listen`. Both (the
  // default) is one process that is a whole cluster.
  bool role_broker = true;
  bool role_controller = true;
  int32_t node_id = 1;                             // node.id (a Raft voter id is >= 1)
  std::string cluster_id = "spool-local";          // cluster.id
  std::string data_dir;                            // log.dirs; default $HOME/.spool/data
  io::HostPort listen{"127.0.0.1", kDefaultPort};  // listeners ("host:port"; port 0: ephemeral)
  io::HostPort advertised;  // advertised.listeners; empty host: same as `listen`
  int reactors = 0;         // num.reactors; 0: one per core

  // The controller quorum (KRaft's keys; broker/README.md, "Roles").
  // controller.quorum.voters, parsed ("id@host:port,..."). Empty after FinishConfig only in
  // single-node mode (both roles, no voters given): spoold then fills in this node alone at the
  // controller listener's bound address (SingleNodeQuorum() tells).
  std::vector<raft::QuorumVoter> voters;
  // Set by spoold when it filled `voters` in single-node mode (the process is its own only voter
  // and no voters were configured): the cluster is this broker, so internal topics are made
  // with one replica at once. An empty `voters` (the in-process controller of Broker::Open)
  // means so too. (A broker configured with this node's controller listener as its voter could
  // still join; a cluster names its voters in every node's config instead.)
  bool single_node = false;
  // The controller listener: `controller.listener` (Spool's key) or the `listeners` entry named
  // `controller.listener.names` (default CONTROLLER). Loopback and an ephemeral port by default
  // (a single voter needs no peers); spoold writes the bound port back here.
  io::HostPort controller_listen{"127.0.0.1", 0};
  bool controller_listen_explicit = false;              // set by FinishConfig: given by a key
  std::string controller_listener_name = "CONTROLLER";  // controller.listener.names
  std::string metadata_log_dir;     // metadata.log.dir; default <data_dir>/__cluster_metadata
  std::optional<std::string> rack;  // broker.rack
  int64_t broker_heartbeat_interval_ms = 2000;     // broker.heartbeat.interval.ms
  int64_t broker_session_timeout_ms = 9000;        // broker.session.timeout.ms
  int64_t broker_registration_timeout_ms = 60000;  // broker.registration.timeout.ms (Spool's)
  int64_t controller_election_timeout_ms = 1000;   // controller.quorum.election.timeout.ms

  // Parsed `listeners` entries other than PLAINTEXT (the client listener goes to `listen` at
  // once), by name; FinishConfig resolves the controller's and rejects any other name.
  std::map<std::string, io::HostPort> named_listeners;
  std::optional<io::HostPort> controller_listener_key;  // controller.listener as given

  // Topics.
  bool auto_create_topics = false;         // auto.create.topics.enable
  int32_t default_partitions = 1;          // num.partitions
  int32_t default_replication_factor = 1;  // default.replication.factor
  // Partition replication (broker/REPLICATION.md).
  int64_t replica_lag_time_max_ms = 30000;              // replica.lag.time.max.ms
  int32_t replica_fetch_wait_max_ms = 500;              // replica.fetch.wait.max.ms
  int32_t replica_fetch_max_bytes = 1 << 20;            // replica.fetch.max.bytes (per partition)
  int32_t replica_fetch_response_max_bytes = 10 << 20;  // replica.fetch.response.max.bytes
  int64_t replica_fetch_backoff_ms = 1000;              // replica.fetch.backoff.ms
  bool auto_leader_rebalance = true;                    // auto.leader.rebalance.enable
  int64_t leader_imbalance_check_interval_ms = 300000;  // leader.imbalance.check.interval.seconds
  int32_t leader_imbalance_per_broker_percentage = 10;  // leader.imbalance.per.broker.percentage
  log::LogConfig log_defaults;  // log.segment.bytes, log.retention.ms, ... per topic
  int64_t retention_check_interval_ms = 5 * 60 * 1000;  // log.retention.check.interval.ms

  // Consumer groups (group.*, offsets.*; broker/GROUPS.md).
  GroupConfig groups;

  // Network limits.
  proto::FrameLimits frame_limits;  // socket.request.max.bytes, spool's request.body.max.bytes
  uint64_t max_inflight_bytes_per_connection = 64ull << 20;  // reading pauses above this
  uint64_t max_inflight_bytes_total = 512ull << 20;          // over all connections of a broker
  int32_t max_connections = 10000;                           // max.connections

  // Where spoold writes "listening on host:port" once it accepts connections (for tests and
  // scripts that start it on port 0); empty: stdout only.
  std::string ready_file;
};

// Applies one "key=value" setting (Kafka key names). kInvalidArgument naming the key on an
// unknown key or a bad value.
[[nodiscard]] Status ApplySetting(BrokerConfig& config, std::string_view key,
                                  std::string_view value);
// Reads a TOML file of such settings (tables flatten to dotted keys: [log] retention.ms = 1).
[[nodiscard]] Status LoadConfigFile(BrokerConfig& config, const std::string& path);
// Fills defaults that depend on the machine (data_dir from $HOME, reactors from the core count)
// and on other keys (metadata.log.dir, the controller listener), and checks the whole config:
// the roles against node.id, the voter set and the controller listener.
[[nodiscard]] Status FinishConfig(BrokerConfig& config);

// Single-node mode: both roles and no controller.quorum.voters given (after FinishConfig: the
// voter set is still empty). spoold then makes this node the only voter.
[[nodiscard]] inline bool SingleNodeQuorum(const BrokerConfig& config) {
  return config.role_broker && config.role_controller && config.voters.empty();
}

// "broker", "controller" or "broker,controller": the roles as process.roles spells them.
[[nodiscard]] std::string RolesText(const BrokerConfig& config);

}  // namespace spool::broker
