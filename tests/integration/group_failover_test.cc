// Consumer-group coordinators across broker failures, on real processes: 3 broker processes and a
// controller process (tests/support/replicated_cluster.h).
//
// CommitsSurviveTheCoordinatorsBroker: `__consumer_offsets` is made at the first FindCoordinator
// with offsets.topic.replication.factor (3) replicas. A client commits offsets 1, 2, 3, ... one
// at a time (a manually assigned consumer's commits: generation -1) to the group's coordinator;
// after some commits the coordinator's broker is killed with SIGKILL. The client finds the new
// coordinator (the new leader of the group's offsets partition) and goes on. Asserted: the new
// coordinator's first answer holds the last acknowledged commit (or the one in flight at the
// kill, whose outcome was unknown), never less; every later commit is acknowledged in order;
// after the killed broker is back and leads its offsets partitions again (preferred leaders),
// its coordinator holds the last commit too (it replayed what it replicated while down).
// Printed: kill to the first acknowledged commit on the new coordinator.
//
// OffsetsTopicWaitsForItsReplicationFactor: with 2 brokers and offsets.topic.replication.factor
// 3, FindCoordinator answers COORDINATOR_NOT_AVAILABLE (saying why) and no __consumer_offsets is
// created with fewer replicas.
//
// AGroupMemberConsumesAcrossTheCoordinatorsLoss: a consumer (the library, subscribed in a group,
// commit_sync after each poll) reads a filled 3-partition RF=3 topic; a third of the way through,
// the broker that coordinates its group (and leads some of the partitions) is killed. Asserted:
// the consumer reads every record (at least once) without being restarted, its commits
// succeed again, and the group's committed offsets end at every partition's end.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "consumer/consumer.h"
#include "gtest/gtest.h"
#include "producer/producer.h"
#include "proto/api.pb.h"
#include "proto/errors.h"
#include "proto/group.pb.h"
#include "proto/metadata.pb.h"
#include "tests/support/cluster_test_util.h"
#include "tests/support/replicated_cluster.h"

namespace spool {
namespace {

using spool::testing::Ask;
using spool::testing::MsSince;
using spool::testing::PartitionView;
using spool::testing::ReplicatedCluster;
using v1::ErrorCode;
using SteadyClock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

constexpr char kGroup[] = "failover-group";
constexpr char kTopic[] = "t";
constexpr int kOffsetsPartitions = 8;  // offsets.topic.num.partitions default

ReplicatedCluster::Options ClusterOptions() {
  ReplicatedCluster::Options o;
  o.broker_args = {"--set", "broker.heartbeat.interval.ms=300"};
  o.controller_args = {"--set", "broker.session.timeout.ms=2000",
                       "--set", "broker.heartbeat.interval.ms=300",
                       "--set", "leader.imbalance.check.interval.ms=500"};
  return o;
}

// The coordinator of kGroup as a running broker other than `not_via` names it (retried until
// the deadline): its node id, or -1.
int FindCoordinator(ReplicatedCluster& c, int not_via, Millis deadline) {
  v1::FindCoordinatorRequest req;
  req.set_key(kGroup);
  const auto until = SteadyClock::now() + deadline;
  while (SteadyClock::now() < until) {
    for (int id : c.ids()) {
      if (id == not_via || !c.running(id)) continue;
      StatusOr<v1::FindCoordinatorResponse> r = Ask<v1::FindCoordinatorResponse>(
          c.node(id).address(), v1::API_KEY_FIND_COORDINATOR, req, Millis(5000));
      if (r.ok() && r->error_code() == ErrorCode::NONE && r->node_id() != not_via &&
          c.running(r->node_id())) {
        return r->node_id();
      }
    }
    std::this_thread::sleep_for(Millis(20));  // polling another process; not a synchronisation
  }
  return -1;
}

// One commit of `offset` for kTopic-0 at broker `node`: the error code, or nullopt when the
// request failed in transport.
std::optional<ErrorCode> Commit(ReplicatedCluster& c, int node, int64_t offset) {
  v1::OffsetCommitRequest req;
  req.set_group_id(kGroup);
  req.set_generation_id(-1);
  v1::OffsetCommitTopic* t = req.add_topics();
  t->set_name(kTopic);
  v1::OffsetCommitPartition* p = t->add_partitions();
  p->set_partition(0);
  p->set_committed_offset(offset);
  p->set_committed_leader_epoch(-1);
  StatusOr<v1::OffsetCommitResponse> r = Ask<v1::OffsetCommitResponse>(
      c.node(node).address(), v1::API_KEY_OFFSET_COMMIT, req, Millis(10000));
  if (!r.ok()) return std::nullopt;
  if (r->topics_size() != 1 || r->topics(0).partitions_size() != 1) return ErrorCode::UNKNOWN;
  return r->topics(0).partitions(0).error_code();
}

// kTopic-0's committed offset at broker `node`, retried while it loads or is not yet the
// coordinator (deadline): the offset, or nullopt.
std::optional<int64_t> Committed(ReplicatedCluster& c, int node, Millis deadline) {
  v1::OffsetFetchRequest req;
  req.set_group_id(kGroup);
  v1::OffsetFetchTopic* t = req.add_topics();
  t->set_name(kTopic);
  t->add_partitions(0);
  const auto until = SteadyClock::now() + deadline;
  while (SteadyClock::now() < until) {
    StatusOr<v1::OffsetFetchResponse> r = Ask<v1::OffsetFetchResponse>(
        c.node(node).address(), v1::API_KEY_OFFSET_FETCH, req, Millis(5000));
    if (r.ok() && r->error_code() == ErrorCode::NONE && r->topics_size() == 1 &&
        r->topics(0).partitions_size() == 1) {
      return r->topics(0).partitions(0).committed_offset();
    }
    std::this_thread::sleep_for(Millis(20));  // polling another process; not a synchronisation
  }
  return std::nullopt;
}

TEST(GroupFailoverTest, CommitsSurviveTheCoordinatorsBroker) {
  ReplicatedCluster c(ClusterOptions());
  ASSERT_NO_FATAL_FAILURE(c.StartAll());
  ASSERT_TRUE(c.CreateTopic(kTopic, 1, 3).ok()) << c.Logs();

  const int first = FindCoordinator(c, -1, Millis(30000));
  ASSERT_GT(first, 0) << "no coordinator for " << kGroup << "\n" << c.Logs();
  for (int p = 0; p < kOffsetsPartitions; p++) {
    std::optional<PartitionView> v = c.WaitForAll(
        "__consumer_offsets", p,
        [](const PartitionView& x) { return x.replicas.size() == 3 && x.isr.size() == 3; },
        Millis(30000));
    ASSERT_TRUE(v.has_value()) << "__consumer_offsets-" << p << " is not on 3 replicas in sync\n"
                               << c.Logs();
  }

  constexpr int64_t kBeforeKill = 40;
  constexpr int64_t kAfterKill = 40;
  int coordinator = first;
  int64_t acked = 0;
  for (int64_t next = 1; next <= kBeforeKill; next++) {
    std::optional<ErrorCode> code = Commit(c, coordinator, next);
    ASSERT_TRUE(code.has_value() && *code == ErrorCode::NONE)
        << "commit " << next << ": "
        << (code ? std::string(proto::ErrorName(*code)) : std::string("transport error")) << "\n"
        << c.Logs();
    acked = next;
  }
  // One more commit whose outcome the kill leaves unknown: sent, and its broker killed at once.
  const int64_t in_flight = acked + 1;
  const int victim = coordinator;
  std::thread sender([&c, victim, in_flight] { (void)Commit(c, victim, in_flight); });
  c.node(victim).Kill();
  const auto killed_at = SteadyClock::now();
  sender.join();

  coordinator = FindCoordinator(c, victim, Millis(30000));
  ASSERT_GT(coordinator, 0) << "no new coordinator after the kill\n" << c.Logs();
  std::optional<int64_t> after = Committed(c, coordinator, Millis(30000));
  ASSERT_TRUE(after.has_value()) << "the new coordinator " << coordinator
                                 << " does not answer OffsetFetch\n"
                                 << c.Logs();
  EXPECT_TRUE(*after == acked || *after == in_flight)
      << "the new coordinator has offset " << *after << "; the last acknowledged commit was "
      << acked;

  // Commits go on at the new coordinator, found again whenever it answers otherwise.
  std::optional<double> first_ack_ms;
  const auto until = SteadyClock::now() + Millis(60000);
  for (int64_t next = in_flight; next <= in_flight + kAfterKill;) {
    ASSERT_LT(SteadyClock::now(), until) << "commit " << next << " never acknowledged\n"
                                         << c.Logs();
    std::optional<ErrorCode> code = Commit(c, coordinator, next);
    if (code.has_value() && *code == ErrorCode::NONE) {
      if (!first_ack_ms) first_ack_ms = MsSince(killed_at);
      acked = next++;
      continue;
    }
    ASSERT_TRUE(!code.has_value() || *code == ErrorCode::NOT_COORDINATOR ||
                *code == ErrorCode::COORDINATOR_NOT_AVAILABLE ||
                *code == ErrorCode::COORDINATOR_LOAD_IN_PROGRESS ||
                *code == ErrorCode::REQUEST_TIMED_OUT)
        << "commit " << next << ": " << std::string(proto::ErrorName(*code));
    const int found = FindCoordinator(c, victim, Millis(10000));
    if (found > 0) coordinator = found;
  }
  std::optional<int64_t> now = Committed(c, coordinator, Millis(30000));
  ASSERT_TRUE(now.has_value()) << c.Logs();
  EXPECT_EQ(*now, acked);

  // The killed broker comes back; once it leads the group's offsets partition again (it was
  // the leader, so its preferred replica), its coordinator has replayed every commit.
  ASSERT_TRUE(c.node(victim).Restart().ok()) << c.node(victim).log_tail();
  const auto back_until = SteadyClock::now() + Millis(30000);
  int back = -1;
  while (back != victim && SteadyClock::now() < back_until) {
    back = FindCoordinator(c, -1, Millis(10000));
  }
  ASSERT_EQ(back, victim) << "the group's coordinator did not move back to broker " << victim
                          << "\n"
                          << c.Logs();
  std::optional<int64_t> replayed = Committed(c, victim, Millis(30000));
  ASSERT_TRUE(replayed.has_value()) << c.Logs();
  EXPECT_EQ(*replayed, acked) << "broker " << victim << " lost commits made while it was down";
  std::printf(
      "coordinator failover: kill of broker %d to the first commit acknowledged by "
      "broker %d: %.0f ms; %lld commits acknowledged\n",
      victim, coordinator, first_ack_ms.value_or(-1), static_cast<long long>(acked));
}

TEST(GroupFailoverTest, OffsetsTopicWaitsForItsReplicationFactor) {
  ReplicatedCluster::Options o = ClusterOptions();
  o.brokers = 2;
  ReplicatedCluster c(o);
  ASSERT_NO_FATAL_FAILURE(c.StartAll());
  v1::FindCoordinatorRequest req;
  req.set_key(kGroup);
  for (int id : c.ids()) {
    StatusOr<v1::FindCoordinatorResponse> r = Ask<v1::FindCoordinatorResponse>(
        c.node(id).address(), v1::API_KEY_FIND_COORDINATOR, req, Millis(10000));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->error_code(), ErrorCode::COORDINATOR_NOT_AVAILABLE);
    EXPECT_NE(r->error_message().find("offsets.topic.replication.factor=3"), std::string::npos)
        << r->error_message();
  }
  v1::MetadataRequest meta;
  meta.add_topics("__consumer_offsets");
  StatusOr<v1::MetadataResponse> m =
      Ask<v1::MetadataResponse>(c.node(1).address(), v1::API_KEY_METADATA, meta, Millis(10000));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->topics_size(), 1);
  EXPECT_EQ(m->topics(0).error_code(), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
      << "__consumer_offsets was created with fewer than 3 replicas";
}

TEST(GroupFailoverTest, AGroupMemberConsumesAcrossTheCoordinatorsLoss) {
  ReplicatedCluster c(ClusterOptions());
  ASSERT_NO_FATAL_FAILURE(c.StartAll());
  const std::string topic = "consumed";
  constexpr int kPartitions = 3;
  constexpr int64_t kRecords = 3000;
  ASSERT_TRUE(c.CreateTopic(topic, kPartitions, 3, {{"min.insync.replicas", "2"}}).ok())
      << c.Logs();
  {
    ProducerConfig pc;
    pc.bootstrap_servers = c.bootstrap();
    pc.acks = -1;
    StatusOr<std::unique_ptr<Producer>> producer = Producer::Create(pc);
    ASSERT_TRUE(producer.ok()) << producer.status();
    std::atomic<int64_t> failed{0};
    for (int64_t i = 0; i < kRecords; i++) {
      ProducerRecord r;
      r.topic = topic;
      r.partition = static_cast<int32_t>(i % kPartitions);
      r.value = std::to_string(i);
      ASSERT_TRUE((*producer)
                      ->send(r,
                             [&failed](StatusOr<RecordMetadata> md) {
                               if (!md.ok()) failed++;
                             })
                      .ok());
    }
    (*producer)->flush();
    ASSERT_EQ(failed.load(), 0) << c.Logs();
  }

  ConsumerConfig cc;
  cc.bootstrap_servers = absl::StrSplit(c.bootstrap(), ',');
  cc.group_id = kGroup;
  cc.auto_offset_reset = OffsetResetPolicy::kEarliest;
  cc.enable_auto_commit = false;
  cc.max_poll_records = 50;
  cc.session_timeout_ms = 10000;
  cc.heartbeat_interval_ms = 500;
  cc.request_timeout_ms = 5000;
  cc.retry_backoff_ms = 50;
  StatusOr<std::unique_ptr<Consumer>> consumer = Consumer::Create(cc);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->subscribe({topic}).ok());

  std::vector<bool> seen(static_cast<size_t>(kRecords), false);
  int64_t distinct = 0;
  int victim = -1;
  SteadyClock::time_point killed_at;
  std::optional<double> commit_back_ms;
  const auto until = SteadyClock::now() + Millis(90000);
  while (distinct < kRecords) {
    ASSERT_LT(SteadyClock::now(), until) << distinct << " of " << kRecords << " records read\n"
                                         << c.Logs();
    StatusOr<ConsumerRecords> records = (*consumer)->poll(std::chrono::milliseconds(200));
    ASSERT_TRUE(records.ok()) << records.status();
    for (const ConsumerRecord& r : *records) {
      ASSERT_TRUE(r.value.has_value());
      const int64_t i = std::stoll(std::string(*r.value));
      ASSERT_TRUE(i >= 0 && i < kRecords) << i;
      if (!seen[static_cast<size_t>(i)]) {
        seen[static_cast<size_t>(i)] = true;
        distinct++;
      }
    }
    if (records->empty()) continue;
    Status committed = (*consumer)->commit_sync();
    if (victim > 0 && committed.ok() && !commit_back_ms) commit_back_ms = MsSince(killed_at);
    if (victim < 0 && distinct >= kRecords / 3) {
      victim = FindCoordinator(c, -1, Millis(10000));
      ASSERT_GT(victim, 0) << c.Logs();
      c.node(victim).Kill();
      killed_at = SteadyClock::now();
    }
  }
  // Everything read: the last commit (retried until the group is settled) covers every end.
  Status last;
  const auto commit_until = SteadyClock::now() + Millis(30000);
  do {
    (void)(*consumer)->poll(std::chrono::milliseconds(50));
    last = (*consumer)->commit_sync();
  } while (!last.ok() && SteadyClock::now() < commit_until);
  ASSERT_TRUE(last.ok()) << last;
  std::vector<TopicPartition> all;
  for (int p = 0; p < kPartitions; p++) all.push_back(TopicPartition{topic, p});
  StatusOr<OffsetMap> offsets = (*consumer)->committed(all);
  ASSERT_TRUE(offsets.ok()) << offsets.status();
  for (const TopicPartition& tp : all) {
    auto it = offsets->find(tp);
    ASSERT_NE(it, offsets->end()) << tp;
    EXPECT_EQ(it->second.offset, kRecords / kPartitions) << tp;
  }
  ASSERT_TRUE((*consumer)->close().ok());
  std::printf(
      "group member: coordinator broker %d killed; first commit acknowledged again "
      "%.0f ms later; %lld records read\n",
      victim, commit_back_ms.value_or(-1), static_cast<long long>(distinct));
}

}  // namespace
}  // namespace spool
