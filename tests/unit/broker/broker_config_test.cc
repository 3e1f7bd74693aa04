// BrokerConfig loading (broker/broker_config.h) and the spoold command line
// (broker/spoold_flags.h): defaults, every key, TOML files with tables flattened to dotted keys,
// precedence of file < --set < dedicated flags, and an error naming the key for each bad input.
#include "broker/broker_config.h"

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
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
  EXPECT_EQ(c.node_id, 0);
  EXPECT_FALSE(c.auto_create_topics);
  EXPECT_EQ(c.log_defaults.flush_policy, log::FlushPolicy::kGroupCommit);
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
  EXPECT_TRUE(FinishConfig(c).ok());
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
      {"default.replication.factor", "3"},
      {"socket.request.max.bytes", "19"},
      {"max.connections", "0"},
      {"max.inflight.bytes", ""},
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
