// Consumer groups end to end: real spoold (tests/support/broker_process.h), a 12-partition topic
// filled with the producer library, and members of one group consuming it with
// commit-after-process (commit_sync after each batch is handled). Covered:
//   - two, then three members share the topic; one leaves cleanly (close(): LeaveGroup) and the
//     others take its partitions; every record is consumed, and the committed offsets end at the
//     log end of every partition (no commit lost, none ahead of what was processed);
//   - a member in another process is killed (SIGKILL): after the session timeout the survivor
//     owns all 12 partitions and consumes, from the dead member's last commits, whatever it had
//     not committed, so the union of what both processed is every record (at-least-once);
//   - committed offsets seen by a member never go backwards.
// The killed member is this test binary re-executed (SPOOL_GROUP_CHILD set) so it can be
// SIGKILLed; it appends each record it processes to a file before committing it.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/admin.h"
#include "consumer/consumer.h"
#include "gtest/gtest.h"
#include "producer/producer.h"
#include "tests/support/admin_test_util.h"
#include "tests/support/broker_process.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kPartitions = 12;

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}
constexpr char kTopic[] = "events";

// What every member processed, as (partition, offset) pairs, counting duplicates.
class Ledger {
 public:
  void Add(int32_t partition, int64_t offset) {
    std::lock_guard lock(mu_);
    if (!seen_.insert({partition, offset}).second) ++duplicates_;
  }
  size_t distinct() const {
    std::lock_guard lock(mu_);
    return seen_.size();
  }
  size_t duplicates() const {
    std::lock_guard lock(mu_);
    return duplicates_;
  }
  std::set<std::pair<int32_t, int64_t>> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  std::set<std::pair<int32_t, int64_t>> seen_;
  size_t duplicates_ = 0;
};

ConsumerConfig MemberConfig(const std::string& bootstrap, const std::string& group) {
  ConsumerConfig c;
  c.bootstrap_servers = {bootstrap};
  c.group_id = group;
  c.client_id = "group-test";
  c.auto_offset_reset = OffsetResetPolicy::kEarliest;
  c.enable_auto_commit = false;  // commit-after-process, by hand
  c.session_timeout_ms = 6000;   // the broker's group.min.session.timeout.ms
  c.heartbeat_interval_ms = 500;
  c.fetch_max_wait_ms = 100;
  c.max_poll_records = 200;
  c.metadata_max_age_ms = 2000;
  return c;
}

// A member on its own thread: poll, process (record in the ledger), commit_sync, repeat, until
// stopped; then close() (a clean leave).
class Member {
 public:
  Member(const std::string& bootstrap, const std::string& group, Ledger* ledger,
         const std::function<void(ConsumerConfig&)>& tweak = nullptr)
      : ledger_(ledger) {
    ConsumerConfig config = MemberConfig(bootstrap, group);
    if (tweak) tweak(config);
    manual_commit_ = !config.enable_auto_commit;
    auto c = Consumer::Create(config);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return;
    consumer_ = *std::move(c);
    EXPECT_TRUE(consumer_->subscribe({kTopic}).ok());
    thread_ = std::thread([this] { Run(); });
  }
  ~Member() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // The next batch takes `d` to process (a slow consumer: no poll() meanwhile).
  void StallOnce(milliseconds d) { stall_ms_ = d.count(); }
  size_t assigned() const { return assigned_.load(); }
  int64_t consumed() const { return consumed_.load(); }
  bool failed() const { return failed_.load(); }
  // The generation as of the member's last poll(), and how often its assignment changed.
  int32_t generation() const { return generation_.load(); }
  int assignment_changes() const { return assignment_changes_.load(); }

 private:
  void Run() {
    std::map<TopicPartition, int64_t> last_commit;
    while (!stop_) {
      StatusOr<ConsumerRecords> records = consumer_->poll(milliseconds(100));
      if (!records.ok()) {
        ADD_FAILURE() << "poll: " << records.status();
        failed_ = true;
        break;
      }
      const size_t assigned = consumer_->assignment().size();
      if (assigned != assigned_.exchange(assigned)) ++assignment_changes_;
      generation_ = consumer_->group_generation().second;
      if (const int64_t stall = stall_ms_.exchange(0); stall > 0) {
        std::this_thread::sleep_for(milliseconds(stall));  // the slow processing under test
      }
      OffsetMap offsets;
      for (const ConsumerRecord& r : *records) {
        ledger_->Add(r.partition, r.offset);
        offsets[TopicPartition{std::string(r.topic), r.partition}] = {r.offset + 1, ""};
        ++consumed_;
      }
      if (offsets.empty() || !manual_commit_) continue;
      // A commit refused because a rebalance fenced this generation is expected now and then:
      // the records will be consumed again by the new owner (at-least-once).
      Status st = consumer_->commit_sync(offsets);
      if (!st.ok() && st.code() != absl::StatusCode::kFailedPrecondition) {
        ADD_FAILURE() << "commit_sync: " << st;
      }
      if (st.ok()) {
        for (const auto& [tp, om] : offsets) {
          EXPECT_GE(om.offset, last_commit[tp]) << tp << ": commits went backwards";
          last_commit[tp] = om.offset;
        }
      }
    }
    Status closed = consumer_->close();
    EXPECT_TRUE(closed.ok()) << closed;
  }

  Ledger* ledger_;
  std::unique_ptr<Consumer> consumer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> assigned_{0};
  std::atomic<int64_t> consumed_{0};
  std::atomic<bool> failed_{false};
  std::atomic<int64_t> stall_ms_{0};
  std::atomic<int32_t> generation_{-1};
  std::atomic<int> assignment_changes_{0};
  bool manual_commit_ = true;
};

class ConsumerGroupIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = testing::BrokerProcess::Start({.data_dir = dir_.file("data")});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = *std::move(broker);
    bootstrap_ = broker_->address().ToString();
    auto admin = client::AdminSession::Open(bootstrap_, milliseconds(30000), "group-test");
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *std::move(admin);
    v1::CreateTopicsRequest create;
    v1::CreatableTopic* t = create.add_topics();
    t->set_name(kTopic);
    t->set_num_partitions(kPartitions);
    auto created = admin_->CreateTopics(create);
    ASSERT_TRUE(created.ok()) << created.status();
    ASSERT_EQ(created->topics(0).error_code(), proto::ErrorCode::NONE)
        << created->topics(0).error_message();
  }

  void TearDown() override {
    if (HasFailure() && broker_) std::cerr << "spoold log:\n" << broker_->log_tail(80) << "\n";
  }

  // Produces `n` records, round-robin over the partitions, values "r<i>".
  void Produce(int n) {
    ProducerConfig pc;
    pc.bootstrap_servers = {bootstrap_};
    auto producer = Producer::Create(pc);
    ASSERT_TRUE(producer.ok()) << producer.status();
    std::atomic<int> failed{0};
    for (int i = 0; i < n; ++i) {
      ProducerRecord r;
      r.topic = kTopic;
      r.partition = (produced_ + i) % kPartitions;
      r.value = absl::StrCat("r", produced_ + i);
      ASSERT_TRUE((*producer)
                      ->send(r,
                             [&](StatusOr<RecordMetadata> m) {
                               if (!m.ok()) failed++;
                             })
                      .ok());
    }
    (*producer)->flush();
    (*producer)->close();
    ASSERT_EQ(failed.load(), 0);
    produced_ += n;
  }

  // Log end offset of every partition.
  std::map<int32_t, int64_t> LogEnds() {
    auto r = admin_->OffsetsBySpec(testing::TopicPartitions(kTopic, kPartitions),
                                   v1::OFFSET_SPEC_LATEST);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? testing::ByPartition(*r) : std::map<int32_t, int64_t>{};
  }

  std::map<int32_t, int64_t> Committed(const std::string& group) {
    auto r = admin_->CommittedOffsets(group, testing::TopicPartitions(kTopic, kPartitions));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? testing::ByPartition(*r) : std::map<int32_t, int64_t>{};
  }

  // Waits (deadline) until `pred`; false at the deadline.
  static bool WaitUntil(const std::function<bool()>& pred, std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!pred()) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(milliseconds(20));  // a poll interval, not synchronisation
    }
    return true;
  }

  void ExpectEverythingConsumed(const Ledger& ledger) {
    const std::map<int32_t, int64_t> ends = LogEnds();
    int64_t total = 0;
    for (const auto& [p, end] : ends) total += end;
    EXPECT_EQ(total, produced_);
    const auto seen = ledger.seen();
    for (const auto& [p, end] : ends) {
      for (int64_t o = 0; o < end; ++o) {
        if (seen.count({p, o}) == 0) {
          ADD_FAILURE() << "record " << kTopic << "-" << p << "@" << o << " was never consumed";
          return;
        }
      }
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::unique_ptr<client::AdminSession> admin_;
  std::string bootstrap_;
  int produced_ = 0;
};

TEST_F(ConsumerGroupIntegrationTest, MembersShareTheTopicAndACleanLeaveRebalances) {
  Produce(3000);
  Ledger ledger;
  auto a = std::make_unique<Member>(bootstrap_, "g1", &ledger);
  auto b = std::make_unique<Member>(bootstrap_, "g1", &ledger);
  ASSERT_TRUE(WaitUntil(
      [&] {
        return a->assigned() + b->assigned() == kPartitions && a->assigned() > 0 &&
               b->assigned() > 0;
      },
      std::chrono::seconds(30)))
      << "two members: " << a->assigned() << " + " << b->assigned();
  const auto join_at = Clock::now();
  auto c = std::make_unique<Member>(bootstrap_, "g1", &ledger);
  ASSERT_TRUE(
      WaitUntil([&] { return a->assigned() == 4 && b->assigned() == 4 && c->assigned() == 4; },
                std::chrono::seconds(30)))
      << "three members: " << a->assigned() << " " << b->assigned() << " " << c->assigned();
  std::cout << "cooperative: a third member joined; balanced after " << MsSince(join_at) << " ms\n";
  Produce(3000);
  ASSERT_TRUE(WaitUntil([&] { return ledger.distinct() >= 3000; }, std::chrono::seconds(30)));
  const auto leave_at = Clock::now();
  b->Stop();  // close(): LeaveGroup; a and c take its partitions without waiting for a timeout
  ASSERT_TRUE(
      WaitUntil([&] { return a->assigned() == 6 && c->assigned() == 6; }, std::chrono::seconds(5)))
      << "after the leave: " << a->assigned() << " " << c->assigned();
  std::cout << "cooperative: a member left; balanced after " << MsSince(leave_at) << " ms\n";
  Produce(3000);
  ASSERT_TRUE(WaitUntil([&] { return ledger.distinct() == static_cast<size_t>(produced_); },
                        std::chrono::seconds(60)))
      << ledger.distinct() << " of " << produced_;
  a->Stop();
  c->Stop();
  EXPECT_FALSE(a->failed() || b->failed() || c->failed());
  ExpectEverythingConsumed(ledger);
  EXPECT_EQ(Committed("g1"), LogEnds()) << "commit-after-process: committed = processed = all";

  // The admin calls the CLI uses, on the now empty group.
  auto listed = admin_->ListGroups(v1::ListGroupsRequest());
  ASSERT_TRUE(listed.ok()) << listed.status();
  bool found = false;
  for (const auto& g : listed->groups()) found = found || g.group_id() == "g1";
  EXPECT_TRUE(found) << listed->DebugString();
  auto described = admin_->DescribeGroups({"g1"});
  ASSERT_TRUE(described.ok()) << described.status();
  ASSERT_EQ(described->groups_size(), 1);
  EXPECT_EQ(described->groups(0).group_state(), "Empty");
  EXPECT_EQ(described->groups(0).members_size(), 0);
  // Offsets may be reset from outside while the group is empty (generation -1).
  v1::OffsetCommitRequest reset;
  reset.set_group_id("g1");
  reset.set_generation_id(-1);
  v1::OffsetCommitTopic* rt = reset.add_topics();
  rt->set_name(kTopic);
  v1::OffsetCommitPartition* rp = rt->add_partitions();
  rp->set_partition(3);
  rp->set_committed_offset(7);
  rp->set_committed_leader_epoch(-1);
  auto reset_done = admin_->OffsetCommit(reset);
  ASSERT_TRUE(reset_done.ok()) << reset_done.status();
  EXPECT_EQ(reset_done->topics(0).partitions(0).error_code(), proto::ErrorCode::NONE);
  EXPECT_EQ(Committed("g1")[3], 7);
  auto deleted = admin_->DeleteGroups({"g1"});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  ASSERT_EQ(deleted->results_size(), 1);
  EXPECT_EQ(deleted->results(0).error_code(), proto::ErrorCode::NONE)
      << deleted->results(0).error_message();
  std::cout << "records " << produced_
            << ", consumed twice across rebalances: " << ledger.duplicates() << "\n";
}

// Eager rebalancing (range): the same sharing, every member revoking everything on each rebalance.
TEST_F(ConsumerGroupIntegrationTest, EagerRangeMembersShareTheTopic) {
  Produce(3000);
  Ledger ledger;
  auto range = [](ConsumerConfig& c) { c.partition_assignment_strategy = {"range"}; };
  auto a = std::make_unique<Member>(bootstrap_, "g-range", &ledger, range);
  auto b = std::make_unique<Member>(bootstrap_, "g-range", &ledger, range);
  ASSERT_TRUE(WaitUntil([&] { return a->assigned() == 6 && b->assigned() == 6; },
                        std::chrono::seconds(30)));
  const auto join_at = Clock::now();
  auto c = std::make_unique<Member>(bootstrap_, "g-range", &ledger, range);
  ASSERT_TRUE(
      WaitUntil([&] { return a->assigned() == 4 && b->assigned() == 4 && c->assigned() == 4; },
                std::chrono::seconds(30)))
      << a->assigned() << " " << b->assigned() << " " << c->assigned();
  std::cout << "eager: a third member joined; balanced after " << MsSince(join_at) << " ms\n";
  const auto leave_at = Clock::now();
  c->Stop();
  ASSERT_TRUE(
      WaitUntil([&] { return a->assigned() == 6 && b->assigned() == 6; }, std::chrono::seconds(5)))
      << "after the leave: " << a->assigned() << " " << b->assigned();
  std::cout << "eager: a member left; balanced after " << MsSince(leave_at) << " ms\n";
  Produce(3000);
  ASSERT_TRUE(WaitUntil([&] { return ledger.distinct() == static_cast<size_t>(produced_); },
                        std::chrono::seconds(60)))
      << ledger.distinct() << " of " << produced_;
  EXPECT_EQ(a->assigned() + b->assigned(), static_cast<size_t>(kPartitions));
  a->Stop();
  b->Stop();
  ExpectEverythingConsumed(ledger);
  EXPECT_EQ(Committed("g-range"), LogEnds());
}

// Auto-commit (every 100 ms from the I/O thread, of what poll() was called past; on revocation
// and close): a clean leave hands over without losing records, and close() leaves the committed
// offsets at the log end.
TEST_F(ConsumerGroupIntegrationTest, AutoCommitMembersLoseNothing) {
  Produce(3000);
  Ledger ledger;
  auto auto_commit = [](ConsumerConfig& c) {
    c.enable_auto_commit = true;
    c.auto_commit_interval_ms = 100;
  };
  auto a = std::make_unique<Member>(bootstrap_, "g-auto", &ledger, auto_commit);
  auto b = std::make_unique<Member>(bootstrap_, "g-auto", &ledger, auto_commit);
  ASSERT_TRUE(WaitUntil([&] { return a->assigned() == 6 && b->assigned() == 6; },
                        std::chrono::seconds(30)));
  ASSERT_TRUE(WaitUntil([&] { return ledger.distinct() == 3000; }, std::chrono::seconds(30)));
  b->Stop();
  Produce(3000);
  ASSERT_TRUE(WaitUntil([&] { return ledger.distinct() == static_cast<size_t>(produced_); },
                        std::chrono::seconds(60)))
      << ledger.distinct() << " of " << produced_;
  a->Stop();
  ExpectEverythingConsumed(ledger);
  EXPECT_EQ(Committed("g-auto"), LogEnds());
}

// A member that does not poll for max.poll.interval.ms leaves the group: the other member takes
// its partitions while it is stalled; when it polls again it rejoins and gets a share back.
TEST_F(ConsumerGroupIntegrationTest, AStalledMemberLeavesAfterMaxPollIntervalAndRejoins) {
  Produce(3000);
  Ledger ledger;
  auto short_poll = [](ConsumerConfig& c) { c.max_poll_interval_ms = 1500; };
  auto a = std::make_unique<Member>(bootstrap_, "g-stall", &ledger, short_poll);
  auto b = std::make_unique<Member>(bootstrap_, "g-stall", &ledger, short_poll);
  ASSERT_TRUE(WaitUntil([&] { return a->assigned() == 6 && b->assigned() == 6; },
                        std::chrono::seconds(30)));
  b->StallOnce(milliseconds(4000));
  ASSERT_TRUE(WaitUntil([&] { return a->assigned() == kPartitions; }, std::chrono::seconds(10)))
      << "the stalled member's partitions did not move: a has " << a->assigned();
  Produce(3000);
  ASSERT_TRUE(
      WaitUntil([&] { return a->assigned() == 6 && b->assigned() == 6; }, std::chrono::seconds(20)))
      << "no rejoin after the stall: " << a->assigned() << " " << b->assigned();
  ASSERT_TRUE(WaitUntil([&] { return ledger.distinct() == static_cast<size_t>(produced_); },
                        std::chrono::seconds(60)))
      << ledger.distinct() << " of " << produced_;
  a->Stop();
  b->Stop();
  ExpectEverythingConsumed(ledger);
  EXPECT_EQ(Committed("g-stall"), LogEnds());
}

// KIP-345: a static member (group.instance.id) that restarts within the session timeout gets its
// partitions back without a rebalance: the other member's generation and assignment never
// change. One that does not come back loses its partitions when its session expires.
TEST_F(ConsumerGroupIntegrationTest, AStaticMemberRestartsWithoutARebalance) {
  Produce(3000);
  Ledger ledger;
  auto instance = [](std::string id) {
    return [id](ConsumerConfig& c) { c.group_instance_id = id; };
  };
  auto a = std::make_unique<Member>(bootstrap_, "g-static", &ledger, instance("static-a"));
  auto b = std::make_unique<Member>(bootstrap_, "g-static", &ledger, instance("static-b"));
  ASSERT_TRUE(WaitUntil([&] { return a->assigned() == 6 && b->assigned() == 6; },
                        std::chrono::seconds(30)));
  ASSERT_TRUE(WaitUntil([&] { return ledger.distinct() == 3000; }, std::chrono::seconds(30)));
  const int32_t generation = a->generation();
  const int a_changes = a->assignment_changes();
  ASSERT_GT(generation, 0);
  ASSERT_EQ(b->generation(), generation);
  b->Stop();  // a static member's close() sends no LeaveGroup
  b.reset();
  const auto restart_at = Clock::now();
  b = std::make_unique<Member>(bootstrap_, "g-static", &ledger, instance("static-b"));
  ASSERT_TRUE(WaitUntil([&] { return b->assigned() == 6; }, std::chrono::seconds(5)))
      << "the restarted static member did not get its partitions back: " << b->assigned();
  std::cout << "static member: restarted and consuming again after " << MsSince(restart_at)
            << " ms\n";
  EXPECT_EQ(b->generation(), generation) << "the restart caused a rebalance";
  Produce(3000);
  ASSERT_TRUE(WaitUntil([&] { return ledger.distinct() == static_cast<size_t>(produced_); },
                        std::chrono::seconds(30)))
      << ledger.distinct() << " of " << produced_;
  EXPECT_EQ(a->generation(), generation) << "the other member saw a rebalance";
  EXPECT_EQ(a->assignment_changes(), a_changes);
  EXPECT_EQ(a->assigned(), 6u);
  EXPECT_EQ(Committed("g-static"), LogEnds());

  // Gone for good: after session.timeout.ms the survivor takes every partition.
  b->Stop();
  ASSERT_TRUE(WaitUntil([&] { return a->assigned() == kPartitions; }, std::chrono::seconds(20)))
      << "the departed static member's partitions did not move: " << a->assigned();
  EXPECT_GT(a->generation(), generation);
  Produce(1200);
  ASSERT_TRUE(WaitUntil([&] { return ledger.distinct() == static_cast<size_t>(produced_); },
                        std::chrono::seconds(30)));
  a->Stop();
  ExpectEverythingConsumed(ledger);
  EXPECT_EQ(Committed("g-static"), LogEnds());
}

// Members ride out a broker restart (SIGTERM, then kill -9): they reconnect, find the
// coordinator again, rejoin, and continue from the offsets committed before the restart; at the
// end every record was consumed and the committed offsets are the log end.
TEST_F(ConsumerGroupIntegrationTest, MembersCarryOnAcrossBrokerRestarts) {
  Produce(3000);
  Ledger ledger;
  auto a = std::make_unique<Member>(bootstrap_, "g-restart", &ledger);
  auto b = std::make_unique<Member>(bootstrap_, "g-restart", &ledger);
  ASSERT_TRUE(WaitUntil([&] { return a->assigned() == 6 && b->assigned() == 6; },
                        std::chrono::seconds(30)));
  ASSERT_TRUE(WaitUntil([&] { return ledger.distinct() == 3000; }, std::chrono::seconds(30)));
  ASSERT_TRUE(
      WaitUntil([&] { return Committed("g-restart") == LogEnds(); }, std::chrono::seconds(30)));
  const std::map<int32_t, int64_t> before = Committed("g-restart");
  for (const bool crash : {false, true}) {
    if (crash) {
      broker_->Kill();
    } else {
      ASSERT_TRUE(broker_->Terminate().ok());
    }
    ASSERT_TRUE(broker_->Restart().ok()) << broker_->log_tail();
    auto admin = client::AdminSession::Open(bootstrap_, milliseconds(30000), "group-test");
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *std::move(admin);
    for (const auto& [p, offset] : Committed("g-restart")) {
      EXPECT_GE(offset, before.at(p)) << "partition " << p << ": a commit was lost in the restart";
    }
    Produce(3000);
    ASSERT_TRUE(WaitUntil([&] { return ledger.distinct() == static_cast<size_t>(produced_); },
                          std::chrono::seconds(60)))
        << (crash ? "after kill -9: " : "after SIGTERM: ") << ledger.distinct() << " of "
        << produced_;
  }
  ASSERT_TRUE(
      WaitUntil([&] { return Committed("g-restart") == LogEnds(); }, std::chrono::seconds(30)));
  a->Stop();
  b->Stop();
  EXPECT_FALSE(a->failed() || b->failed());
  ExpectEverythingConsumed(ledger);
  std::cout << "broker restarts: " << produced_
            << " records, consumed twice: " << ledger.duplicates() << "\n";
}

// The child member (this binary re-executed): consumes group g2 with commit-after-process,
// appending "<partition> <offset>" to $SPOOL_GROUP_CHILD_LOG before each commit, until killed.
TEST(ConsumerGroupChild, Member) {
  const char* bootstrap = std::getenv("SPOOL_GROUP_CHILD");
  const char* log = std::getenv("SPOOL_GROUP_CHILD_LOG");
  if (bootstrap == nullptr || log == nullptr) GTEST_SKIP() << "only as the killed member";
  auto consumer = Consumer::Create(MemberConfig(bootstrap, "g2"));
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->subscribe({kTopic}).ok());
  std::ofstream out(log, std::ios::app);
  while (true) {
    StatusOr<ConsumerRecords> records = (*consumer)->poll(milliseconds(100));
    ASSERT_TRUE(records.ok()) << records.status();
    OffsetMap offsets;
    for (const ConsumerRecord& r : *records) {
      out << r.partition << " " << r.offset << "\n";
      offsets[TopicPartition{std::string(r.topic), r.partition}] = {r.offset + 1, ""};
    }
    out.flush();
    out << "assigned " << (*consumer)->assignment().size() << "\n" << std::flush;
    if (!offsets.empty()) PermitUncheckedError((*consumer)->commit_sync(offsets));
  }
}

TEST_F(ConsumerGroupIntegrationTest, AKilledMembersPartitionsMoveAfterTheSessionTimeout) {
  Produce(6000);
  const std::string child_log = dir_.file("child.log");
  // Everything the child needs is built before fork(): it only calls execve (async-signal-safe).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.push_back("SPOOL_GROUP_CHILD=" + bootstrap_);
  env_strings.push_back("SPOOL_GROUP_CHILD_LOG=" + child_log);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg0 = "consumer_group_test", arg1 = "--gtest_filter=ConsumerGroupChild.Member";
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::execve("/proc/self/exe", argv, envp.data());
    ::_exit(127);
  }
  auto child_assigned = [&] {
    std::ifstream in(child_log);
    std::string line, last;
    while (std::getline(in, line)) {
      if (line.starts_with("assigned ")) last = line;
    }
    return last.empty() ? 0 : std::stoi(last.substr(9));
  };
  Ledger ledger;
  auto survivor = std::make_unique<Member>(bootstrap_, "g2", &ledger);
  ASSERT_TRUE(WaitUntil([&] { return survivor->assigned() == 6 && child_assigned() == 6; },
                        std::chrono::seconds(30)))
      << "survivor " << survivor->assigned() << ", child " << child_assigned();
  ASSERT_TRUE(WaitUntil([&] { return survivor->consumed() > 0; }, std::chrono::seconds(30)));
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  const auto killed_at = Clock::now();
  Produce(3000);  // half of it lands in the dead member's partitions
  ASSERT_TRUE(
      WaitUntil([&] { return survivor->assigned() == kPartitions; }, std::chrono::seconds(20)))
      << "the dead member's partitions did not move: " << survivor->assigned();
  std::cout << "partitions moved "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - killed_at).count()
            << " ms after the kill (session.timeout.ms 6000)\n";
  {
    std::ifstream in(child_log);
    std::string line;
    while (std::getline(in, line)) {
      if (line.starts_with("assigned")) continue;
      std::istringstream fields(line);
      int32_t p = 0;
      int64_t o = 0;
      if (fields >> p >> o) ledger.Add(p, o);
    }
  }
  ASSERT_TRUE(WaitUntil([&] { return ledger.distinct() == static_cast<size_t>(produced_); },
                        std::chrono::seconds(60)))
      << ledger.distinct() << " of " << produced_;
  survivor->Stop();
  ExpectEverythingConsumed(ledger);
  EXPECT_EQ(Committed("g2"), LogEnds());
}

}  // namespace
}  // namespace spool
