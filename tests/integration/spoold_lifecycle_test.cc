// The spoold process from outside: it starts with no config on a temp data dir; --help and
// --version exit 0; a bad flag or config exits 2 with a message naming the problem; SIGTERM
// exits 0 and leaves a valid clean-shutdown marker in every partition dir (log/FORMAT.md §7);
// a record acknowledged with acks=all is there after a SIGTERM restart and after kill -9.
// Roles (process.roles): the default node runs the controller too (its listener in the ready
// file, its election and every shutdown step in the log, in order); a controller-only process
// and a broker-only process make a cluster; bad role configs exit 2; a start-up that fails
// after the controller started undoes it and exits 1.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/byte_order.h"
#include "common/crc32c.h"
#include "common/io/socket.h"
#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_reader.h"
#include "proto/body.h"
#include "proto/controller.pb.h"
#include "tests/support/broker_process.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using spool::testing::BrokerProcess;
using spool::testing::BrokerProcessOptions;
using spool::testing::RawClient;
using spool::testing::RunSpoold;
using spool::testing::TempDir;

constexpr int16_t kProduce = proto::ApiKey::API_KEY_PRODUCE;
constexpr int16_t kFetch = proto::ApiKey::API_KEY_FETCH;
constexpr int16_t kApiVersions = proto::ApiKey::API_KEY_API_VERSIONS;
constexpr int16_t kCreateTopics = proto::ApiKey::API_KEY_CREATE_TOPICS;

std::unique_ptr<RawClient> Connect(const BrokerProcess& b) {
  auto c = RawClient::Connect(b.address());
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

void ExpectHandshake(const BrokerProcess& b) {
  auto c = Connect(b);
  ASSERT_NE(c, nullptr);
  v1::ApiVersionsResponse resp;
  auto f = c->Call(kApiVersions, v1::ApiVersionsRequest(), &resp);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(resp.error_code(), v1::NONE);
}

void CreateTopic(const BrokerProcess& b, const std::string& name, int partitions) {
  auto c = Connect(b);
  ASSERT_NE(c, nullptr);
  v1::CreateTopicsRequest req;
  v1::CreatableTopic* t = req.add_topics();
  t->set_name(name);
  t->set_num_partitions(partitions);
  v1::CreateTopicsResponse resp;
  auto f = c->Call(kCreateTopics, req, &resp);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(resp.topics_size(), 1);
  ASSERT_EQ(resp.topics(0).error_code(), v1::NONE) << resp.topics(0).error_message();
}

// Produces one record "k" / `value` to topic-0 with acks=all; returns its offset.
int64_t ProduceOne(const BrokerProcess& b, const std::string& topic, const std::string& value) {
  record::BatchBuilder builder;
  builder.Append(1'700'000'000'000, "k", value);
  auto batch = builder.Seal();
  EXPECT_TRUE(batch.ok());
  auto c = Connect(b);
  if (!batch.ok() || c == nullptr) return -1;
  v1::ProduceRequest req;
  req.set_acks(-1);
  req.set_timeout_ms(10000);
  v1::TopicProduceData* t = req.add_topics();
  t->set_name(topic);
  v1::PartitionProduceData* p = t->add_partitions();
  p->set_partition(0);
  p->set_payload_bytes(static_cast<uint32_t>(batch->size()));
  std::vector<std::span<const std::byte>> payload = {*batch};
  v1::ProduceResponse resp;
  auto f = c->Call(kProduce, req, &resp, payload);
  EXPECT_TRUE(f.ok()) << f.status();
  if (!f.ok() || resp.topics_size() != 1 || resp.topics(0).partitions_size() != 1) return -1;
  EXPECT_EQ(resp.topics(0).partitions(0).error_code(), v1::NONE)
      << resp.topics(0).partitions(0).error_message();
  return resp.topics(0).partitions(0).base_offset();
}

// The values of every record in topic-0 from offset 0.
std::vector<std::string> FetchValues(const BrokerProcess& b, const std::string& topic) {
  std::vector<std::string> out;
  auto c = Connect(b);
  if (c == nullptr) return out;
  v1::FetchRequest req;
  req.set_replica_id(-1);
  req.set_max_bytes(1 << 20);
  v1::FetchPartition* p = req.add_topics()->add_partitions();
  req.mutable_topics(0)->set_name(topic);
  p->set_partition(0);
  p->set_fetch_offset(0);
  p->set_partition_max_bytes(1 << 20);
  p->set_current_leader_epoch(-1);
  v1::FetchResponse resp;
  auto f = c->Call(kFetch, req, &resp);
  EXPECT_TRUE(f.ok()) << f.status();
  if (!f.ok()) return out;
  std::span<const std::byte> rest = f->payload();
  while (!rest.empty()) {
    auto reader = record::BatchReader::Open(rest);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) break;
    record::RecordView view;
    for (;;) {
      StatusOr<bool> more = reader->Next(&view);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || !*more) break;
      out.push_back(spool::testing::ToString(*view.value));
    }
    rest = rest.subspan(reader->header().total_size());
  }
  return out;
}

// Reads a partition dir's clean-shutdown marker (log/FORMAT.md §7): nullopt if absent; a test
// failure if present but not valid.
std::optional<int64_t> MarkerLogEnd(const std::string& partition_dir) {
  const std::string path = partition_dir + "/clean_shutdown";
  if (!std::filesystem::exists(path)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(raw.size(), 36u) << path;
  if (raw.size() != 36) return std::nullopt;
  const auto* b = reinterpret_cast<const std::byte*>(raw.data());
  EXPECT_EQ(LoadBigEndian<uint32_t>(b), 0x53504353u) << "magic of " << path;
  EXPECT_EQ(LoadBigEndian<uint16_t>(b + 4), 1u) << "version of " << path;
  EXPECT_EQ(LoadBigEndian<uint32_t>(b + 32), crc32c::Value(std::span<const std::byte>(b, 32)))
      << "crc of " << path;
  return static_cast<int64_t>(LoadBigEndian<uint64_t>(b + 8));
}

TEST(SpooldLifecycleTest, StartsWithNoConfigOnATempDataDirAndStopsOnSigterm) {
  TempDir dir;
  BrokerProcessOptions o;
  o.data_dir = dir.file("data");
  auto b = BrokerProcess::Start(o);
  ASSERT_TRUE(b.ok()) << b.status();
  ExpectHandshake(**b);
  EXPECT_NE((*b)->log().find("spoold: listening on 127.0.0.1:"), std::string::npos)
      << (*b)->log_tail();
  // Started on port 0: Metadata must advertise the port it got, not 0 (clients connect there).
  auto c = Connect(**b);
  ASSERT_NE(c, nullptr);
  v1::MetadataResponse meta;
  auto f = c->Call(proto::ApiKey::API_KEY_METADATA, v1::MetadataRequest(), &meta);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(meta.brokers_size(), 1);
  EXPECT_EQ(meta.brokers(0).host(), "127.0.0.1");
  EXPECT_EQ(meta.brokers(0).port(), (*b)->port());
  Status st = (*b)->Terminate();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ((*b)->last_exit_code(), 0);
  EXPECT_NE((*b)->log().find("event=signal signal=SIGTERM"), std::string::npos);
}

TEST(SpooldLifecycleTest, HelpAndVersionExitZero) {
  auto help = RunSpoold({"--help"});
  ASSERT_TRUE(help.ok()) << help.status();
  EXPECT_EQ(help->exit_code, 0) << help->output;
  EXPECT_NE(help->output.find("usage: spoold"), std::string::npos) << help->output;
  EXPECT_NE(help->output.find("--data-dir"), std::string::npos);
  auto version = RunSpoold({"--version"});
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->exit_code, 0);
  EXPECT_NE(version->output.find("spoold 0."), std::string::npos) << version->output;
}

TEST(SpooldLifecycleTest, BadFlagOrConfigExitsTwoWithAClearMessage) {
  auto flag = RunSpoold({"--no-such-flag"});
  ASSERT_TRUE(flag.ok());
  EXPECT_EQ(flag->exit_code, 2);
  EXPECT_NE(flag->output.find("unknown flag '--no-such-flag'"), std::string::npos) << flag->output;

  TempDir dir;
  const std::string config = dir.file("bad.toml");
  std::ofstream(config) << "[log]\nretention.ms = \"soon\"\n";
  auto bad = RunSpoold({"--config", config, "--data-dir", dir.file("data")});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 2);
  EXPECT_NE(bad->output.find("log.retention.ms"), std::string::npos) << bad->output;

  auto set = RunSpoold({"--set", "num.partitions=0", "--data-dir", dir.file("data")});
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->exit_code, 2);
  EXPECT_NE(set->output.find("num.partitions"), std::string::npos) << set->output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("data"))) << "a bad config must not start";
}

TEST(SpooldLifecycleTest, ASecondBrokerOnTheSamePortExitsOne) {
  TempDir dir;
  BrokerProcessOptions o;
  o.data_dir = dir.file("data");
  auto first = BrokerProcess::Start(o);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = RunSpoold({"--data-dir", dir.file("other"), "--listen",
                           (*first)->address().ToString(), "--reactors", "1"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->exit_code, 1) << second->output;
  EXPECT_NE(second->output.find("Address already in use"), std::string::npos) << second->output;
  ExpectHandshake(**first);  // the first one is unaffected
  Status st = (*first)->Terminate();
  EXPECT_TRUE(st.ok()) << st;
}

TEST(SpooldLifecycleTest, SigtermLeavesCleanShutdownMarkersAndRestartsKeepRecords) {
  TempDir dir;
  BrokerProcessOptions o;
  o.data_dir = dir.file("data");
  auto started = BrokerProcess::Start(o);
  ASSERT_TRUE(started.ok()) << started.status();
  BrokerProcess& b = **started;
  CreateTopic(b, "life", 2);
  ASSERT_EQ(ProduceOne(b, "life", "first"), 0);

  Status st = b.Terminate();
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(b.last_exit_code(), 0);
  const std::string p0 = o.data_dir + "/life-0";
  const std::string p1 = o.data_dir + "/life-1";
  ASSERT_TRUE(std::filesystem::is_directory(p0)) << b.log_tail();
  ASSERT_TRUE(std::filesystem::is_directory(p1));
  EXPECT_EQ(MarkerLogEnd(p0), std::optional<int64_t>(1));
  EXPECT_EQ(MarkerLogEnd(p1), std::optional<int64_t>(0));

  // Restart after SIGTERM: the record is there; the marker is consumed by the open.
  st = b.Restart();
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(FetchValues(b, "life"), (std::vector<std::string>{"first"}));
  EXPECT_EQ(MarkerLogEnd(p0), std::nullopt) << "a marker must not outlive the next open";
  ASSERT_EQ(ProduceOne(b, "life", "second"), 1);

  // kill -9: no marker; the next start recovers both acknowledged records.
  b.Kill();
  EXPECT_EQ(MarkerLogEnd(p0), std::nullopt);
  st = b.Restart();
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(FetchValues(b, "life"), (std::vector<std::string>{"first", "second"}));
  st = b.Terminate();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(MarkerLogEnd(p0), std::optional<int64_t>(2));
}

// Waits (deadline, short polls of the log file) until the process's log contains `text`.
bool WaitForLog(const BrokerProcess& b, const std::string& text,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (b.log().find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    ::usleep(10 * 1000);  // a poll of a condition with a deadline, not a synchronisation sleep
  }
  return true;
}

// A port nothing listens on now (bound and released; the kernel does not hand it out again at
// once).
uint16_t FreePort() {
  StatusOr<int> fd = io::ListenTcp(io::HostPort{"127.0.0.1", 0});
  EXPECT_TRUE(fd.ok()) << fd.status();
  if (!fd.ok()) return 0;
  StatusOr<uint16_t> port = io::LocalPort(*fd);
  ::close(*fd);
  EXPECT_TRUE(port.ok()) << port.status();
  return port.ok() ? *port : 0;
}

// Where each of `events` first appears in `log` (npos when missing).
std::vector<size_t> Positions(const std::string& log, const std::vector<std::string>& events) {
  std::vector<size_t> out;
  for (const std::string& e : events) out.push_back(log.find(e));
  return out;
}

TEST(SpooldRolesTest, DefaultNodeRunsItsOwnControllerAndStopsItLast) {
  TempDir dir;
  BrokerProcessOptions o;
  o.data_dir = dir.file("data");
  auto started = BrokerProcess::Start(o);
  ASSERT_TRUE(started.ok()) << started.status();
  BrokerProcess& b = **started;
  // The ready file's second line named the controller listener, another port than the client's.
  ASSERT_NE(b.controller_port(), 0) << b.log_tail();
  EXPECT_NE(b.controller_port(), b.port());
  EXPECT_TRUE(WaitForLog(b, "event=controller_role role=leader term=1 leader=1 active=true"))
      << b.log_tail();
  EXPECT_NE(
      b.log().find(absl::StrCat("spoold: controller listening on 127.0.0.1:", b.controller_port(),
                                " (node 1, voters 1@127.0.0.1:", b.controller_port())),
      std::string::npos)
      << b.log_tail();
  EXPECT_TRUE(std::filesystem::exists(o.data_dir + "/__cluster_metadata"));

  // The controller listener answers ApiVersions with the internal APIs, not the client ones.
  auto c = RawClient::Connect(b.controller_address());
  ASSERT_TRUE(c.ok()) << c.status();
  v1::ApiVersionsResponse versions;
  auto f = (*c)->Call(kApiVersions, v1::ApiVersionsRequest(), &versions);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(versions.error_code(), v1::NONE);
  bool lists_describe_quorum = false;
  bool lists_produce = false;
  for (const auto& api : versions.api_keys()) {
    lists_describe_quorum |= api.api_key() == proto::ApiKey::API_KEY_DESCRIBE_QUORUM;
    lists_produce |= api.api_key() == kProduce;
  }
  EXPECT_TRUE(lists_describe_quorum);
  EXPECT_FALSE(lists_produce);
  c->reset();

  // The data plane works as before.
  CreateTopic(b, "roles", 1);
  ASSERT_EQ(ProduceOne(b, "roles", "v"), 0);

  Status st = b.Terminate();
  ASSERT_TRUE(st.ok()) << st;
  const std::vector<size_t> at = Positions(
      b.log(), {"event=signal signal=SIGTERM", "event=broker_prepared", "event=server_stopped",
                "event=broker_closed", "event=controller_listener_stopped",
                "event=controller_stopped", "event=transport_stopped", "event=exit code=0"});
  for (size_t i = 0; i < at.size(); i++) {
    ASSERT_NE(at[i], std::string::npos) << "step " << i << " missing:\n" << b.log_tail();
    if (i > 0) {
      EXPECT_LT(at[i - 1], at[i]) << "step " << i << " out of order:\n" << b.log_tail();
    }
  }
  EXPECT_NE(b.log().find("event=controller_stopped elapsed_ms="), std::string::npos);
  EXPECT_NE(b.log().find("status=ok", at[5]), std::string::npos) << b.log_tail();

  // A restart keeps the same quorum state (term grows, records are there).
  st = b.Restart();
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_TRUE(WaitForLog(b, "active=true")) << b.log_tail();
  EXPECT_EQ(FetchValues(b, "roles"), (std::vector<std::string>{"v"}));
  st = b.Terminate();
  EXPECT_TRUE(st.ok()) << st;
}

TEST(SpooldRolesTest, AControllerOnlyAndABrokerOnlyProcessMakeACluster) {
  TempDir dir;
  const uint16_t port = FreePort();
  ASSERT_NE(port, 0);
  const std::string voters = absl::StrCat("controller.quorum.voters=1@127.0.0.1:", port);
  BrokerProcessOptions co;
  co.data_dir = dir.file("controller");
  co.reactors = 1;
  co.extra_args = {
      "--roles", "controller", "--node-id", "1",
      "--set",   voters,       "--set",     "controller.quorum.election.timeout.ms=200"};
  auto controller = BrokerProcess::Start(co);
  ASSERT_TRUE(controller.ok()) << controller.status();
  // A controller-only process: its ready file's first line is the controller listener.
  EXPECT_EQ((*controller)->port(), port);
  EXPECT_EQ((*controller)->controller_port(), port);
  EXPECT_NE((*controller)
                ->log()
                .find(absl::StrCat("spoold: controller listening on 127.0.0.1:", port, " (node 1")),
            std::string::npos)
      << (*controller)->log_tail();
  EXPECT_EQ((*controller)->log().find("spoold: listening on"), std::string::npos);

  BrokerProcessOptions bo;
  bo.data_dir = dir.file("broker");
  bo.extra_args = {"--roles", "broker", "--node-id", "2", "--set", voters};
  auto broker = BrokerProcess::Start(bo);
  ASSERT_TRUE(broker.ok()) << broker.status() << "\ncontroller:\n" << (*controller)->log_tail();
  EXPECT_EQ((*broker)->controller_port(), 0);  // no controller role, no second line
  EXPECT_FALSE(std::filesystem::exists(bo.data_dir + "/__cluster_metadata"));
  CreateTopic(**broker, "split", 2);
  ASSERT_EQ(ProduceOne(**broker, "split", "x"), 0);

  // The controller knows the broker (DescribeQuorum through the broker's client listener).
  auto c = RawClient::Connect((*broker)->address());
  ASSERT_TRUE(c.ok()) << c.status();
  v1::DescribeQuorumResponse quorum;
  auto f = (*c)->Call(proto::ApiKey::API_KEY_DESCRIBE_QUORUM, v1::DescribeQuorumRequest(), &quorum);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(quorum.error_code(), v1::NONE) << quorum.error_message();
  EXPECT_EQ(quorum.leader_id(), 1);
  ASSERT_EQ(quorum.brokers_size(), 1);
  EXPECT_EQ(quorum.brokers(0).broker_id(), 2);
  c->reset();

  Status st = (*broker)->Terminate();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ((*broker)->log().find("event=controller_stopped"), std::string::npos);
  st = (*controller)->Terminate();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ((*controller)->log().find("event=broker_closed"), std::string::npos);
  EXPECT_NE((*controller)->log().find("event=transport_stopped"), std::string::npos);
}

TEST(SpooldRolesTest, BadRoleConfigsExitTwo) {
  TempDir dir;
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--roles", "controller"}, "controller.quorum.voters"},
      {{"--roles", "broker"}, "controller.quorum.voters"},
      {{"--roles", "observer"}, "process.roles"},
      {{"--node-id", "0"}, "node.id"},
      {{"--roles", "broker", "--set", "controller.quorum.voters=1@127.0.0.1:9", "--node-id", "1"},
       "node.id"},
      {{"--set", "controller.quorum.voters=1@127.0.0.1:1,2@127.0.0.1:2,3@127.0.0.1:3"},
       "controller listener"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    args.push_back("--data-dir");
    args.push_back(dir.file("data"));
    auto r = RunSpoold(args);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->exit_code, 2) << c.args[0] << ": " << r->output;
    EXPECT_NE(r->output.find(c.message), std::string::npos) << r->output;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("data"))) << "a bad config must not start";
}

TEST(SpooldRolesTest, ControllerPortInUseExitsOne) {
  TempDir dir;
  BrokerProcessOptions o;
  o.data_dir = dir.file("data");
  auto first = BrokerProcess::Start(o);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second =
      RunSpoold({"--data-dir", dir.file("other"), "--listen", "127.0.0.1:0", "--controller-listen",
                 (*first)->controller_address().ToString(), "--reactors", "1"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->exit_code, 1) << second->output;
  EXPECT_NE(second->output.find("(controller)"), std::string::npos) << second->output;
  EXPECT_NE(second->output.find("Address already in use"), std::string::npos) << second->output;
  ExpectHandshake(**first);
  Status st = (*first)->Terminate();
  EXPECT_TRUE(st.ok()) << st;
}

TEST(SpooldRolesTest, AFailedBrokerOpenUndoesTheControllerAndExitsOne) {
  TempDir dir;
  BrokerProcessOptions o;
  o.data_dir = dir.file("data");
  auto b = BrokerProcess::Start(o);
  ASSERT_TRUE(b.ok()) << b.status();
  Status st = (*b)->Terminate();
  ASSERT_TRUE(st.ok()) << st;
  // Damage the topic metadata: the controller starts, then Broker::Open fails.
  std::ofstream(o.data_dir + "/topics.state", std::ios::trunc) << "garbage";
  auto r = RunSpoold({"--data-dir", o.data_dir, "--listen", "127.0.0.1:0", "--reactors", "1"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 1) << r->output;
  const std::vector<size_t> at = Positions(
      r->output, {"event=controller_started", "event=start_failed", "event=server_stopped",
                  "event=controller_listener_stopped", "event=controller_stopped",
                  "event=transport_stopped", "spoold: cannot start: "});
  for (size_t i = 0; i < at.size(); i++) {
    ASSERT_NE(at[i], std::string::npos) << "step " << i << " missing:\n" << r->output;
    if (i > 0) {
      EXPECT_LT(at[i - 1], at[i]) << "step " << i << " out of order:\n" << r->output;
    }
  }
}

}  // namespace
}  // namespace spool
