// The `spool` CLI against a real spoold (commands run in-process through RunCli, the same code
// the binary's main() calls): topic create/list/describe/delete, produce from stdin with keys
// and headers, consume with offsets and formats, cluster, bench with many partitions and
// concurrent producers (which verifies every record), and the errors a user meets: an
// unreachable broker, an unknown topic, a duplicate topic, a bad flag. `spool cluster` shows the
// controller quorum and the registered brokers, and says when the quorum cannot be reached.
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/io/socket.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_process.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using spool::testing::BrokerProcess;
using spool::testing::BrokerProcessOptions;
using spool::testing::TempDir;
using ::testing::HasSubstr;

struct CliResult {
  int rc = 0;
  std::string out;
  std::string err;
};

CliResult RunSpool(std::vector<std::string> words, const std::string& input = "") {
  std::istringstream in(input);
  std::ostringstream out, err;
  cli::CommandIo io{in, out, err};
  CliResult r;
  r.rc = cli::RunCli(words, io);
  r.out = out.str();
  r.err = err.str();
  return r;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto b = BrokerProcess::Start(BrokerProcessOptions{.data_dir = tmp_.file("data")});
    ASSERT_TRUE(b.ok()) << b.status();
    broker_ = *std::move(b);
    addr_ = broker_->address().ToString();
  }
  CliResult Spool(std::vector<std::string> words, const std::string& input = "") {
    words.push_back("--bootstrap-server");
    words.push_back(addr_);
    return RunSpool(std::move(words), input);
  }

  TempDir tmp_;
  std::unique_ptr<BrokerProcess> broker_;
  std::string addr_;
};

TEST_F(CliTest, TopicLifecycleProduceAndConsume) {
  CliResult r =
      Spool({"topic", "create", "events", "--partitions", "3", "--config", "retention.ms=3600000"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("created topic events (3 partitions"));

  r = Spool({"topic", "create", "events"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("TOPIC_ALREADY_EXISTS"));

  r = Spool({"topic", "list"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "events\n");

  r = Spool({"topic", "describe", "events"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("topic events  partitions 3"));

  r = Spool(
      {"produce", "events", "--key-separator", ":", "--partition", "1", "--header", "src=cli"},
      "k1:hello\nk2:world\nnokey\n");
  ASSERT_EQ(r.rc, 0) << r.err;

  r = Spool({"consume", "events", "--partition", "1", "-n", "3", "--format", "%o %k=%v %h"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "0 k1=hello src=cli\n1 k2=world src=cli\n2 null=nokey src=cli\n");

  r = Spool({"consume", "events", "--partition", "1", "--from", "1", "-n", "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "world\n");

  r = Spool({"consume", "events", "--from", "latest", "--idle-timeout-ms", "300"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "");

  r = Spool({"cluster"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(addr_));
  // The node is the only voter, leads the quorum, and is registered and unfenced.
  EXPECT_THAT(r.out, ::testing::ContainsRegex("controller quorum  leader 1  term [0-9]+  commit "));
  EXPECT_THAT(r.out, HasSubstr("(answered by node 1, leader, active controller)"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\n +1 +[0-9]+ +0  yes\n"));  // voter, lag 0
  EXPECT_THAT(r.out, HasSubstr("registered brokers 1\n"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\n +1 +[0-9]+  unfenced  - +[0-9]+\n"));

  r = Spool({"topic", "delete", "events"});
  ASSERT_EQ(r.rc, 0) << r.err;
  r = Spool({"topic", "list"});
  EXPECT_EQ(r.out, "");
}

TEST_F(CliTest, UnknownTopicIsAClearError) {
  CliResult r = Spool({"consume", "nope", "-n", "1"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("UNKNOWN_TOPIC_OR_PARTITION"));
  r = Spool({"produce", "nope", "--timeout-ms", "2000"}, "x\n");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("UNKNOWN_TOPIC_OR_PARTITION"));
  r = Spool({"topic", "delete", "nope"});
  EXPECT_EQ(r.rc, 1);
}

TEST_F(CliTest, BenchVerifiesManyPartitionsAndConcurrentProducers) {
  CliResult r = Spool({"bench", "--num-records", "40000", "--record-size", "64", "--partitions",
                       "128", "--producers", "4", "--progress-ms", "100"});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("verify: ok: 40,000 records, each once and in order"));
}

TEST_F(CliTest, ConsumeWithAGroupCommitsAndResumesAndGroupCommandsShowIt) {
  ASSERT_EQ(Spool({"topic", "create", "orders", "--partitions", "1"}).rc, 0);
  std::string lines;
  for (int i = 0; i < 10; i++) lines += "order-" + std::to_string(i) + "\n";
  ASSERT_EQ(Spool({"produce", "orders"}, lines).rc, 0);

  // 4 records as member of g: the group's committed offset is 4 afterwards (a stop inside a
  // fetched batch must not commit records that were not printed).
  CliResult r = Spool({"consume", "orders", "--group", "g", "-n", "4"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "order-0\norder-1\norder-2\norder-3\n");
  r = Spool({"group", "describe", "g"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("group g  state Empty"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("orders +0 +4 +10 +6"));  // committed, end, lag
  r = Spool({"group", "list"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\ng +Empty"));

  // The next member resumes at the commit.
  r = Spool({"consume", "orders", "--group", "g", "--idle-timeout-ms", "1500"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "order-4\norder-5\norder-6\norder-7\norder-8\norder-9\n");

  // reset-offsets: a dry run changes nothing; --execute moves the group back.
  r = Spool({"group", "reset-offsets", "g", "--topic", "orders", "--to-offset", "8"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("dry run"));
  r = Spool({"group", "describe", "g"});
  EXPECT_THAT(r.out, ::testing::ContainsRegex("orders +0 +10 +10 +0"));
  r = Spool({"group", "reset-offsets", "g", "--topic", "orders", "--to-offset", "8", "--execute"});
  ASSERT_EQ(r.rc, 0) << r.err;
  r = Spool({"consume", "orders", "--group", "g", "--idle-timeout-ms", "1500"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "order-8\norder-9\n");
  r = Spool({"group", "reset-offsets", "g", "--topic", "orders"});
  EXPECT_EQ(r.rc, 2);  // no --to-...

  r = Spool({"group", "delete", "g"});
  ASSERT_EQ(r.rc, 0) << r.err;
  r = Spool({"group", "describe", "g"});
  EXPECT_THAT(r.out + r.err, ::testing::AnyOf(HasSubstr("Dead"), HasSubstr("GROUP_ID_NOT_FOUND"),
                                              HasSubstr("Empty  protocol -/-")));
  r = Spool({"consume", "orders", "--group", "g", "--partition", "0"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("exclude each other"));
}

TEST_F(CliTest, BenchThroughAConsumerGroup) {
  CliResult r = Spool({"bench", "-n", "20000", "-s", "64", "--partitions", "6", "--consumers", "3",
                       "--group", "bench-g"});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("verify: ok: 20,000 records, each once and in order"));
}

// A broker-only process whose controller (a controller-only process) is gone: `spool cluster`
// prints the brokers, then says the quorum is unavailable, and still exits 0.
TEST(CliClusterTest, QuorumUnavailableWhenTheControllerIsGone) {
  TempDir tmp;
  auto l = io::ListenTcp(io::HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(l.ok());
  auto port = io::LocalPort(*l);
  ASSERT_TRUE(port.ok());
  ::close(*l);
  const std::string voters = "controller.quorum.voters=1@127.0.0.1:" + std::to_string(*port);
  auto controller = BrokerProcess::Start(BrokerProcessOptions{
      .data_dir = tmp.file("c"),
      .reactors = 1,
      .extra_args = {"--roles", "controller", "--node-id", "1", "--set", voters}});
  ASSERT_TRUE(controller.ok()) << controller.status();
  auto broker = BrokerProcess::Start(
      BrokerProcessOptions{.data_dir = tmp.file("b"),
                           .reactors = 1,
                           .extra_args = {"--roles", "broker", "--node-id", "2", "--set", voters}});
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string addr = (*broker)->address().ToString();

  CliResult r = RunSpool({"cluster", "-b", addr});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("controller quorum  leader 1"));
  EXPECT_THAT(r.out, HasSubstr("registered brokers 1\n"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\n +2 +[0-9]+  unfenced  "));

  (*controller)->Kill();
  r = RunSpool({"cluster", "-b", addr, "--timeout-ms", "2000"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\n +2  127.0.0.1:[0-9]+ +0\n"));  // the table
  EXPECT_THAT(r.out, HasSubstr("controller quorum: unavailable ("));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("registered brokers")));
}

TEST(CliErrorsTest, UnreachableBrokerAndUsage) {
  // A port nothing listens on: bind one, note it, close it.
  auto l = io::ListenTcp(io::HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(l.ok());
  auto port = io::LocalPort(*l);
  ASSERT_TRUE(port.ok());
  ::close(*l);
  const std::string addr = "127.0.0.1:" + std::to_string(*port);
  CliResult r = RunSpool({"topic", "list", "-b", addr, "--timeout-ms", "2000"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot reach a broker at " + addr));

  r = RunSpool({"topic", "list", "--no-such-flag"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown flag --no-such-flag"));
  r = RunSpool({"frobnicate"});
  EXPECT_EQ(r.rc, 2);
  r = RunSpool({"topic", "create", "--help"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_THAT(r.out, HasSubstr("usage: spool topic create"));
  r = RunSpool({"--help"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_THAT(r.out, HasSubstr("consume"));
}

}  // namespace
}  // namespace spool
