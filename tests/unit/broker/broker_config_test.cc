// BrokerConfig loading (broker/broker_config.h) and the spoold command line
// (broker/spoold_flags.h): defaults, every key, TOML files with tables flattened to dotted keys,
// precedence of file < --set < dedicated flags, and an error naming the key for each bad input.
#include "broker/broker_config.h"

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "broker/spoold_flags.h"
#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::broker {
namespace {

using spool::testing::TempDir;

// Sets an environment variable for one test and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

std::string WriteFile(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.file(name);
  std::ofstream(path) << text;
  return path;
}

StatusOr<SpooldFlags> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "spoold");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseSpooldFlags(static_cast<int>(argv.size()), argv.data());
}

TEST(BrokerConfigTest, DefaultsRunWithNoConfigAtAll) {
  ScopedEnv home("HOME", "/home/someone");
  BrokerConfig c;
  ASSERT_TRUE(FinishConfig(c).ok());
  EXPECT_EQ(c.data_dir, "/home/someone/.spool/data");
  EXPECT_EQ(c.listen, (io::HostPort{"127.0.0.1", kDefaultPort}));
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  EXPECT_EQ(c.reactors, cores > 0 ? cores : 1);
  EXPECT_EQ(c.node_id, 1);
  EXPECT_FALSE(c.auto_create_topics);
  EXPECT_EQ(c.log_defaults.flush_policy, log::FlushPolicy::kGroupCommit);
  // Single-node mode: a broker and the only controller voter, on loopback, ephemeral port.
  EXPECT_TRUE(c.role_broker);
  EXPECT_TRUE(c.role_controller);
  EXPECT_TRUE(SingleNodeQuorum(c));
  EXPECT_TRUE(c.voters.empty());
  EXPECT_EQ(c.controller_listen, (io::HostPort{"127.0.0.1", 0}));
  EXPECT_FALSE(c.controller_listen_explicit);
  EXPECT_EQ(c.metadata_log_dir, "/home/someone/.spool/data/__cluster_metadata");
  EXPECT_FALSE(c.rack.has_value());
  EXPECT_EQ(c.broker_heartbeat_interval_ms, 2000);
  EXPECT_EQ(c.broker_session_timeout_ms, 9000);
  EXPECT_EQ(c.broker_registration_timeout_ms, 60000);
  EXPECT_EQ(c.controller_election_timeout_ms, 1000);
  EXPECT_EQ(RolesText(c), "broker,controller");
}

TEST(BrokerConfigTest, DataDirWithoutHome) {
  ScopedEnv home("HOME", nullptr);
  BrokerConfig c;
  ASSERT_TRUE(FinishConfig(c).ok());
  EXPECT_EQ(c.data_dir, "/var/lib/spool");
}

TEST(BrokerConfigTest, EveryKeySetsItsField) {
  BrokerConfig c;
  const std::vector<std::pair<std::string, std::string>> settings = {
      {"node.id", "7"},
      {"cluster.id", "prod-1"},
      {"log.dirs", "/data/spool"},
      {"listeners", "PLAINTEXT://0.0.0.0:9000"},
      {"advertised.listeners", "broker1.example:9000"},
      {"num.reactors", "3"},
      {"auto.create.topics.enable", "true"},
      {"num.partitions", "12"},
      {"default.replication.factor", "1"},
      {"log.segment.bytes", "1048576"},
      {"log.segment.ms", "60000"},
      {"log.retention.ms", "-1"},
      {"log.retention.bytes", "1000000000"},
      {"log.index.interval.bytes", "8192"},
      {"message.max.bytes", "2097152"},
      {"log.flush.policy", "interval"},
      {"log.flush.interval.ms", "250"},
      {"log.flush.interval.messages", "500"},
      {"log.preallocate.bytes", "65536"},
      {"log.retention.check.interval.ms", "30000"},
      {"socket.request.max.bytes", "8388608"},
      {"request.body.max.bytes", "65536"},
      {"max.inflight.bytes.per.connection", "1000000"},
      {"max.inflight.bytes", "9000000"},
      {"max.connections", "50"},
      {"process.roles", "broker,controller"},
      {"controller.quorum.voters", "7@127.0.0.1:9300,8@127.0.0.2:9300,9@127.0.0.3:9300"},
      {"controller.listener", "0.0.0.0:9300"},
      {"controller.listener.names", "CONTROLLER"},
      {"metadata.log.dir", "/meta/spool"},
      {"broker.rack", "rack-a"},
      {"broker.heartbeat.interval.ms", "500"},
      {"broker.session.timeout.ms", "4000"},
      {"broker.registration.timeout.ms", "15000"},
      {"controller.quorum.election.timeout.ms", "300"},
  };
  for (const auto& [k, v] : settings) {
    Status st = ApplySetting(c, k, v);
    EXPECT_TRUE(st.ok()) << k << "=" << v << ": " << st;
  }
  EXPECT_EQ(c.node_id, 7);
  EXPECT_EQ(c.cluster_id, "prod-1");
  EXPECT_EQ(c.data_dir, "/data/spool");
  EXPECT_EQ(c.listen, (io::HostPort{"0.0.0.0", 9000}));
  EXPECT_EQ(c.advertised, (io::HostPort{"broker1.example", 9000}));
  EXPECT_EQ(c.reactors, 3);
  EXPECT_TRUE(c.auto_create_topics);
  EXPECT_EQ(c.default_partitions, 12);
  EXPECT_EQ(c.default_replication_factor, 1);
  EXPECT_EQ(c.log_defaults.segment_bytes, 1048576u);
  EXPECT_EQ(c.log_defaults.segment_ms, 60000);
  EXPECT_EQ(c.log_defaults.retention_ms, -1);
  EXPECT_EQ(c.log_defaults.retention_bytes, 1000000000);
  EXPECT_EQ(c.log_defaults.index_interval_bytes, 8192u);
  EXPECT_EQ(c.log_defaults.max_message_bytes, 2097152u);
  EXPECT_EQ(c.log_defaults.flush_policy, log::FlushPolicy::kInterval);
  EXPECT_EQ(c.log_defaults.flush_ms, 250);
  EXPECT_EQ(c.log_defaults.flush_messages, 500);
  EXPECT_EQ(c.log_defaults.preallocate_bytes, 65536u);
  EXPECT_EQ(c.retention_check_interval_ms, 30000);
  EXPECT_EQ(c.frame_limits.max_frame_bytes, 8388608u);
  EXPECT_EQ(c.frame_limits.max_body_bytes, 65536u);
  EXPECT_EQ(c.max_inflight_bytes_per_connection, 1000000u);
  EXPECT_EQ(c.max_inflight_bytes_total, 9000000u);
  EXPECT_EQ(c.max_connections, 50);
  ASSERT_EQ(c.voters.size(), 3u);
  EXPECT_EQ(c.voters[1], (raft::QuorumVoter{raft::NodeId{8}, {"127.0.0.2", 9300}}));
  EXPECT_EQ(c.metadata_log_dir, "/meta/spool");
  EXPECT_EQ(c.rack, std::optional<std::string>("rack-a"));
  EXPECT_EQ(c.broker_heartbeat_interval_ms, 500);
  EXPECT_EQ(c.broker_session_timeout_ms, 4000);
  EXPECT_EQ(c.broker_registration_timeout_ms, 15000);
  EXPECT_EQ(c.controller_election_timeout_ms, 300);
  Status finished = FinishConfig(c);
  EXPECT_TRUE(finished.ok()) << finished;
  EXPECT_EQ(c.controller_listen, (io::HostPort{"0.0.0.0", 9300}));
  EXPECT_TRUE(c.controller_listen_explicit);
  EXPECT_FALSE(SingleNodeQuorum(c));
  ASSERT_TRUE(ApplySetting(c, "data.dir", "/other").ok());  // the alias of log.dirs
  EXPECT_EQ(c.data_dir, "/other");
  ASSERT_TRUE(ApplySetting(c, "log.flush.policy", "durable").ok());
  EXPECT_EQ(c.log_defaults.flush_policy, log::FlushPolicy::kGroupCommit);
}

TEST(BrokerConfigTest, UnknownKeyIsAnErrorNamingIt) {
  BrokerConfig c;
  Status st = ApplySetting(c, "log.retention.hours", "1");
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_NE(st.message().find("log.retention.hours"), absl::string_view::npos) << st;
}

TEST(BrokerConfigTest, BadValuesAreErrorsNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"node.id", "-1"},
      {"node.id", "seven"},
      {"node.id", "7 "},  // trailing text after trimming is fine; "7x" is not
      {"num.partitions", "0"},
      {"num.reactors", "100000"},
      {"auto.create.topics.enable", "yes"},
      {"listeners", "nohost"},
      {"listeners", "a:1,b:2"},
      {"log.dirs", "/a,/b"},
      {"log.dirs", ""},
      {"cluster.id", ""},
      {"log.segment.bytes", "12x"},
      {"log.segment.bytes", "10"},
      {"log.segment.bytes", "5000000000"},
      {"log.retention.ms", "-2"},
      {"log.flush.policy", "sometimes"},
      {"log.flush.interval.ms", "0"},
      {"message.max.bytes", "10"},
      {"default.replication.factor", "65"},
      {"socket.request.max.bytes", "19"},
      {"max.connections", "0"},
      {"max.inflight.bytes", ""},
      {"process.roles", ""},
      {"process.roles", "broker,broker"},
      {"process.roles", "worker"},
      {"process.roles", "broker;controller"},
      {"controller.quorum.voters", "1@localhost"},
      {"controller.quorum.voters", "0@h:1"},
      {"controller.quorum.voters", "1@h:1,1@h:2"},
      {"controller.listener", "nohost"},
      {"controller.listener.names", "A,B"},
      {"controller.listener.names", "PLAINTEXT"},
      {"controller.listener.names", "bad-name"},
      {"listeners", "PLAINTEXT://a:1,PLAINTEXT://b:2"},
      {"listeners", "CONTROLLER://a:1,CONTROLLER://b:2"},
      {"listeners", "CONTROLLER://a"},
      {"listeners", "a:1,"},
      {"metadata.log.dir", ""},
      {"broker.heartbeat.interval.ms", "0"},
      {"broker.session.timeout.ms", "x"},
      {"broker.registration.timeout.ms", "-5"},
      {"controller.quorum.election.timeout.ms", "9"},
  };
  for (const auto& [k, v] : bad) {
    BrokerConfig c;
    Status st = ApplySetting(c, k, v);
    if (k == "node.id" && v == "7 ") {
      EXPECT_TRUE(st.ok()) << st;  // values are trimmed
      continue;
    }
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << k << "=" << v << " -> " << st;
    EXPECT_NE(st.message().find(k), absl::string_view::npos) << st;
  }
}

TEST(BrokerConfigTest, FinishConfigChecksKeysAgainstEachOther) {
  BrokerConfig a;
  ASSERT_TRUE(ApplySetting(a, "socket.request.max.bytes", "1000").ok());
  ASSERT_TRUE(ApplySetting(a, "request.body.max.bytes", "5000").ok());
  Status st = FinishConfig(a);
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_NE(st.message().find("request.body.max.bytes"), absl::string_view::npos) << st;

  BrokerConfig b;
  ASSERT_TRUE(ApplySetting(b, "max.inflight.bytes.per.connection", "100").ok());
  ASSERT_TRUE(ApplySetting(b, "max.inflight.bytes", "10").ok());
  EXPECT_TRUE(absl::IsInvalidArgument(FinishConfig(b)));
}

// Finishes `settings` applied to a default config (data dir fixed, so $HOME does not matter).
StatusOr<BrokerConfig> Finished(const std::vector<std::pair<std::string, std::string>>& settings) {
  BrokerConfig c;
  c.data_dir = "/d";
  for (const auto& [k, v] : settings) RETURN_IF_ERROR(ApplySetting(c, k, v));
  RETURN_IF_ERROR(FinishConfig(c));
  return c;
}

// The message of a config that must not finish (empty when it did).
std::string RefusalOf(const std::vector<std::pair<std::string, std::string>>& settings) {
  StatusOr<BrokerConfig> c = Finished(settings);
  if (c.ok()) return "";
  EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << c.status();
  return std::string(c.status().message());
}

TEST(BrokerConfigTest, ProcessRolesInEitherOrder) {
  for (const auto& [text, broker, controller] :
       std::vector<std::tuple<std::string, bool, bool>>{{"broker", true, false},
                                                        {"controller", false, true},
                                                        {"broker,controller", true, true},
                                                        {"controller, broker", true, true}}) {
    BrokerConfig c;
    ASSERT_TRUE(ApplySetting(c, "process.roles", text).ok()) << text;
    EXPECT_EQ(c.role_broker, broker) << text;
    EXPECT_EQ(c.role_controller, controller) << text;
  }
  BrokerConfig c;
  ASSERT_TRUE(ApplySetting(c, "process.roles", "controller").ok());
  EXPECT_EQ(RolesText(c), "controller");
  ASSERT_TRUE(ApplySetting(c, "process.roles", "broker").ok());
  EXPECT_EQ(RolesText(c), "broker");
}

TEST(BrokerConfigTest, NodeIdMustBeAVoterIdWithTheControllerRole) {
  EXPECT_NE(RefusalOf({{"node.id", "0"}}).find("node.id"), std::string::npos);
  EXPECT_NE(RefusalOf({{"node.id", "0"},
                       {"process.roles", "controller"},
                       {"controller.quorum.voters", "1@h:9300"}})
                .find("node.id"),
            std::string::npos);
  // A broker-only node may be 0.
  StatusOr<BrokerConfig> broker0 = Finished(
      {{"node.id", "0"}, {"process.roles", "broker"}, {"controller.quorum.voters", "1@h:9300"}});
  ASSERT_TRUE(broker0.ok()) << broker0.status();
  EXPECT_EQ(broker0->node_id, 0);
  EXPECT_FALSE(broker0->role_controller);
  EXPECT_FALSE(SingleNodeQuorum(*broker0));
}

TEST(BrokerConfigTest, VotersAreRequiredUnlessSingleNode) {
  for (const char* roles : {"broker", "controller"}) {
    const std::string msg = RefusalOf({{"process.roles", roles}});
    EXPECT_NE(msg.find("controller.quorum.voters"), std::string::npos) << roles << ": " << msg;
  }
  // Both roles and no voters: single-node mode.
  StatusOr<BrokerConfig> single = Finished({{"process.roles", "controller,broker"}});
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_TRUE(SingleNodeQuorum(*single));
  // An empty value clears a voter set given earlier.
  StatusOr<BrokerConfig> cleared =
      Finished({{"controller.quorum.voters", "1@h:1"}, {"controller.quorum.voters", ""}});
  ASSERT_TRUE(cleared.ok()) << cleared.status();
  EXPECT_TRUE(SingleNodeQuorum(*cleared));
}

TEST(BrokerConfigTest, VoterSetChecksAgainstNodeIdAndListener) {
  const std::string three = "1@127.0.0.1:9301,2@127.0.0.1:9302,3@127.0.0.1:9303";
  // This node must be a voter with the controller role...
  EXPECT_NE(RefusalOf({{"node.id", "4"},
                       {"controller.quorum.voters", three},
                       {"controller.listener", "127.0.0.1:9304"}})
                .find("not in 'controller.quorum.voters'"),
            std::string::npos);
  // ... and must not be one without it.
  EXPECT_NE(
      RefusalOf(
          {{"node.id", "2"}, {"process.roles", "broker"}, {"controller.quorum.voters", three}})
          .find("node.id"),
      std::string::npos);
  // With peers, the controller listener must be given, with a fixed port matching the entry's.
  EXPECT_NE(RefusalOf({{"node.id", "2"}, {"controller.quorum.voters", three}})
                .find("controller listener must be configured"),
            std::string::npos);
  EXPECT_NE(RefusalOf({{"node.id", "2"},
                       {"controller.quorum.voters", three},
                       {"controller.listener", "127.0.0.1:0"}})
                .find("fixed port"),
            std::string::npos);
  EXPECT_NE(RefusalOf({{"node.id", "2"},
                       {"controller.quorum.voters", three},
                       {"controller.listener", "127.0.0.1:9303"}})
                .find("different ports"),
            std::string::npos);
  StatusOr<BrokerConfig> ok = Finished({{"node.id", "2"},
                                        {"process.roles", "controller"},
                                        {"controller.quorum.voters", three},
                                        {"controller.listener", "0.0.0.0:9302"}});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->voters.size(), 3u);
  EXPECT_EQ(ok->controller_listen, (io::HostPort{"0.0.0.0", 9302}));
  // Raft wants 1, 3 or 5 voters.
  EXPECT_NE(RefusalOf({{"controller.quorum.voters", "1@h:1,2@h:2"}, {"controller.listener", "h:1"}})
                .find("want 1, 3 or 5"),
            std::string::npos);
  // A single given voter: the controller listener defaults to its entry.
  StatusOr<BrokerConfig> one = Finished({{"controller.quorum.voters", "1@127.0.0.1:9300"}});
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->controller_listen, (io::HostPort{"127.0.0.1", 9300}));
  EXPECT_FALSE(SingleNodeQuorum(*one));
  // A controller listener in a process without the controller role is a mistake.
  EXPECT_NE(RefusalOf({{"node.id", "5"},
                       {"process.roles", "broker"},
                       {"controller.quorum.voters", three},
                       {"controller.listener", "127.0.0.1:9305"}})
                .find("has no controller"),
            std::string::npos);
}

TEST(BrokerConfigTest, KafkaListenersNameTheControllerListener) {
  StatusOr<BrokerConfig> c =
      Finished({{"listeners", "PLAINTEXT://127.0.0.1:9192,CONTROLLER://127.0.0.1:9300"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, (io::HostPort{"127.0.0.1", 9192}));
  EXPECT_EQ(c->controller_listen, (io::HostPort{"127.0.0.1", 9300}));
  EXPECT_TRUE(c->controller_listen_explicit);

  // Renamed by controller.listener.names (case-insensitive names), given before or after.
  for (bool names_first : {true, false}) {
    std::vector<std::pair<std::string, std::string>> settings = {
        {"listeners", "raft://127.0.0.1:9301, 127.0.0.1:9193"}};
    settings.insert(names_first ? settings.begin() : settings.end(),
                    {"controller.listener.names", "RAFT"});
    StatusOr<BrokerConfig> renamed = Finished(settings);
    ASSERT_TRUE(renamed.ok()) << renamed.status();
    EXPECT_EQ(renamed->listen, (io::HostPort{"127.0.0.1", 9193}));
    EXPECT_EQ(renamed->controller_listen, (io::HostPort{"127.0.0.1", 9301}));
  }
  // A name that is neither.
  EXPECT_NE(RefusalOf({{"listeners", "PLAINTEXT://h:1,INTERNAL://h:2"}}).find("INTERNAL"),
            std::string::npos);
  // Both keys: the later one wins (--controller-listen beats the config file's listeners)...
  StatusOr<BrokerConfig> later = Finished(
      {{"listeners", "CONTROLLER://127.0.0.1:9300"}, {"controller.listener", "127.0.0.1:9400"}});
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(later->controller_listen, (io::HostPort{"127.0.0.1", 9400}));
  later = Finished(
      {{"controller.listener", "127.0.0.1:9400"}, {"listeners", "CONTROLLER://127.0.0.1:9300"}});
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(later->controller_listen, (io::HostPort{"127.0.0.1", 9300}));
  // ... unless the name comes after both: then they must agree.
  EXPECT_NE(RefusalOf({{"controller.listener", "127.0.0.1:9400"},
                       {"listeners", "RAFT://127.0.0.1:9300"},
                       {"controller.listener.names", "RAFT"}})
                .find("different controller listeners"),
            std::string::npos);
  EXPECT_TRUE(Finished({{"controller.listener", "127.0.0.1:9300"},
                        {"listeners", "RAFT://127.0.0.1:9300"},
                        {"controller.listener.names", "RAFT"}})
                  .ok());

  // A later `listeners` (e.g. --listen) replaces only the listeners it names.
  StatusOr<BrokerConfig> merged =
      Finished({{"listeners", "PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:9300"},
                {"listeners", "127.0.0.1:0"}});
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(merged->listen, (io::HostPort{"127.0.0.1", 0}));
  EXPECT_EQ(merged->controller_listen, (io::HostPort{"127.0.0.1", 9300}));
}

TEST(BrokerConfigTest, HeartbeatMustBeShorterThanTheSession) {
  EXPECT_NE(
      RefusalOf({{"broker.heartbeat.interval.ms", "9000"}}).find("broker.heartbeat.interval.ms"),
      std::string::npos);
  EXPECT_TRUE(Finished({{"broker.heartbeat.interval.ms", "8999"}}).ok());
}

TEST(BrokerConfigTest, MetadataLogDirFollowsTheDataDir) {
  StatusOr<BrokerConfig> c = Finished({{"log.dirs", "/srv/spool"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->metadata_log_dir, "/srv/spool/__cluster_metadata");
  StatusOr<BrokerConfig> own = Finished({{"metadata.log.dir", "/srv/meta"}});
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->metadata_log_dir, "/srv/meta");
  StatusOr<BrokerConfig> rackless = Finished({{"broker.rack", "r1"}, {"broker.rack", ""}});
  ASSERT_TRUE(rackless.ok()) << rackless.status();
  EXPECT_FALSE(rackless->rack.has_value());
}

TEST(BrokerConfigTest, TomlFileWithTablesFlattenedToDottedKeys) {
  TempDir dir;
  const std::string path = WriteFile(dir, "spool.toml", R"(
# a broker
node.id = 3
listeners = "127.0.0.1:0"

[log]
dirs = ["/srv/spool"]
retention.ms = 1000
flush.policy = "interval"
segment.bytes = 65536

[auto.create.topics]
enable = true

[max]
connections = 77
)");
  BrokerConfig c;
  Status st = LoadConfigFile(c, path);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(c.node_id, 3);
  EXPECT_EQ(c.listen.port, 0);
  EXPECT_EQ(c.data_dir, "/srv/spool");
  EXPECT_EQ(c.log_defaults.retention_ms, 1000);
  EXPECT_EQ(c.log_defaults.flush_policy, log::FlushPolicy::kInterval);
  EXPECT_EQ(c.log_defaults.segment_bytes, 65536u);
  EXPECT_TRUE(c.auto_create_topics);
  EXPECT_EQ(c.max_connections, 77);
}

TEST(BrokerConfigTest, TomlErrorsNameTheFileAndTheKey) {
  TempDir dir;
  BrokerConfig c;
  Status syntax = LoadConfigFile(c, WriteFile(dir, "a.toml", "node.id = = 1\n"));
  EXPECT_TRUE(absl::IsInvalidArgument(syntax)) << syntax;
  EXPECT_NE(syntax.message().find("a.toml:1:"), absl::string_view::npos) << syntax;

  Status unknown = LoadConfigFile(c, WriteFile(dir, "b.toml", "[log]\nretention.hours = 1\n"));
  EXPECT_TRUE(absl::IsInvalidArgument(unknown)) << unknown;
  EXPECT_NE(unknown.message().find("log.retention.hours"), absl::string_view::npos) << unknown;

  Status type = LoadConfigFile(c, WriteFile(dir, "c.toml", "num.partitions = 1.5\n"));
  EXPECT_TRUE(absl::IsInvalidArgument(type)) << type;
  EXPECT_NE(type.message().find("num.partitions"), absl::string_view::npos) << type;

  Status list = LoadConfigFile(c, WriteFile(dir, "d.toml", "log.dirs = [\"/a\", \"/b\"]\n"));
  EXPECT_TRUE(absl::IsInvalidArgument(list)) << list;

  Status missing = LoadConfigFile(c, dir.file("nope.toml"));
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("nope.toml"), absl::string_view::npos) << missing;
}

TEST(SpooldFlagsTest, PrecedenceFileThenSetThenDedicatedFlags) {
  TempDir dir;
  const std::string path =
      WriteFile(dir, "s.toml", "node.id = 1\nnum.partitions = 4\nlisteners = \"127.0.0.1:1\"\n");
  auto f = Parse({"--set", "node.id=2", "--config", path, "--node-id", "3", "--set",
                  "num.partitions=5", "--listen=127.0.0.1:0", "--data-dir", dir.file("d"),
                  "--reactors", "2", "--ready-file", dir.file("ready")});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->config.node_id, 3);             // flag beats --set beats the file
  EXPECT_EQ(f->config.default_partitions, 5);  // --set beats the file
  EXPECT_EQ(f->config.listen, (io::HostPort{"127.0.0.1", 0}));
  EXPECT_EQ(f->config.data_dir, dir.file("d"));
  EXPECT_EQ(f->config.reactors, 2);
  EXPECT_EQ(f->config.ready_file, dir.file("ready"));

  auto only_set = Parse({"--config", path, "--set", "node.id=2"});
  ASSERT_TRUE(only_set.ok()) << only_set.status();
  EXPECT_EQ(only_set->config.node_id, 2);
  EXPECT_EQ(only_set->config.default_partitions, 4);
}

TEST(SpooldFlagsTest, RolesAndControllerListenFlags) {
  TempDir dir;
  const std::string path = WriteFile(dir, "q.toml", R"(
process.roles = "broker,controller"
node.id = 2
listeners = "PLAINTEXT://127.0.0.1:9192,CONTROLLER://127.0.0.1:9302"
[controller.quorum]
voters = "1@127.0.0.1:9301,2@127.0.0.1:9302,3@127.0.0.1:9303"
)");
  auto f = Parse({"--config", path, "--listen", "127.0.0.1:0", "--data-dir", dir.file("d")});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->config.listen, (io::HostPort{"127.0.0.1", 0}));
  EXPECT_EQ(f->config.controller_listen, (io::HostPort{"127.0.0.1", 9302}));
  EXPECT_EQ(f->config.voters.size(), 3u);
  EXPECT_EQ(f->config.metadata_log_dir, dir.file("d") + "/__cluster_metadata");

  auto controller = Parse({"--config", path, "--roles", "controller", "--controller-listen",
                           "0.0.0.0:9302", "--data-dir", dir.file("d")});
  ASSERT_TRUE(controller.ok()) << controller.status();
  EXPECT_FALSE(controller->config.role_broker);
  EXPECT_TRUE(controller->config.role_controller);
  EXPECT_EQ(controller->config.controller_listen, (io::HostPort{"0.0.0.0", 9302}));

  auto bad = Parse({"--config", path, "--controller-listen", "127.0.0.1:9999"});
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  auto bad_roles = Parse({"--roles", "observer"});
  EXPECT_TRUE(absl::IsInvalidArgument(bad_roles.status())) << bad_roles.status();
  EXPECT_NE(bad_roles.status().message().find("process.roles"), absl::string_view::npos);
  EXPECT_NE(SpooldUsage().find("--controller-listen"), std::string::npos);
  EXPECT_NE(SpooldUsage().find("--roles"), std::string::npos);
}

TEST(SpooldFlagsTest, HelpVersionAndErrors) {
  auto help = Parse({"--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_TRUE(help->help);
  EXPECT_NE(SpooldUsage().find("--ready-file"), std::string::npos);
  auto version = Parse({"--version"});
  ASSERT_TRUE(version.ok());
  EXPECT_TRUE(version->version);

  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{{"--bogus"},
                                             {"--data-dir"},
                                             {"--set", "novalue"},
                                             {"--set", "=1"},
                                             {"--set", "unknown.key=1"},
                                             {"--reactors", "-1"},
                                             {"--listen", "nowhere"},
                                             {"--config", "/nonexistent/spool.toml"},
                                             {"positional"}}) {
    auto r = Parse(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << bad[0] << " -> " << r.status();
  }
  auto unknown = Parse({"--set", "unknown.key=1"});
  EXPECT_NE(unknown.status().message().find("unknown.key"), absl::string_view::npos);
}

}  // namespace
}  // namespace spool::broker
