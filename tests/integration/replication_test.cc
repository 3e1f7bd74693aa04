// Partition replication across real processes: 3 broker processes and a controller process
// (tests/support/replicated_cluster.h), topics with replication factor 3 and
// min.insync.replicas 2.
//
// LeaderKillLoop: a producer (the library, acks=all) writes numbered records to two partitions
// while the leader of partition 0 is killed with SIGKILL, the cluster elects another, and the
// killed node is restarted and rejoins the ISR; SPOOL_REPLICATION_KILLS times (default 3). Then
// every node is stopped and each replica's segment files are read. Asserted: every acknowledged
// record is on every replica at the offset it was acknowledged with; the replicas' logs are
// byte-identical (up to the shortest, which holds every acknowledged record); no record is
// written twice and each partition's records keep their send order (the producer is
// idempotent); no send fails. Printed: unavailability (kill to the next acknowledgement on
// partition 0) and election time (kill to a new leader in the metadata) p50/p99, catch-up time
// of the restarted node, duplicates.
//
// PausedFollowerLeavesAndRejoinsTheIsr: a follower stopped with SIGSTOP leaves the ISR after
// replica.lag.time.max.ms while acks=all writes keep succeeding; after SIGCONT it catches up and
// joins again. Printed: time to leave and to rejoin, the slowest write meanwhile.
//
// PreferredLeadersComeBackAfterARestart: a killed broker's leaderships move to other replicas;
// once it is back in the ISRs the controller gives each partition back to its preferred (first)
// replica (auto.leader.rebalance).
//
// WritesNeedMinInsyncReplicas: with both followers killed the ISR shrinks to the leader, acks=all
// is refused with NOT_ENOUGH_REPLICAS (acks=1 is still taken), and once one follower is back in
// the ISR acks=all is accepted again.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "producer/producer.h"
#include "proto/errors.h"
#include "tests/support/cluster_test_util.h"
#include "tests/support/replica_logs.h"
#include "tests/support/replicated_cluster.h"

namespace spool {
namespace {

using spool::testing::MsSince;
using spool::testing::PartitionView;
using spool::testing::Percentile;
using spool::testing::ReplicatedCluster;
using SteadyClock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

const std::map<std::string, std::string> kMinIsr2 = {{"min.insync.replicas", "2"}};

bool Has(const std::vector<int32_t>& v, int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

int KillCount() {
  const char* env = std::getenv("SPOOL_REPLICATION_KILLS");
  return env != nullptr ? std::max(1, std::atoi(env)) : 3;
}

TEST(ReplicationTest, LeaderKillLoop) {
  ReplicatedCluster::Options o;
  o.broker_args = {"--set", "replica.lag.time.max.ms=3000",
                   "--set", "broker.heartbeat.interval.ms=300",
                   "--set", "replica.fetch.backoff.ms=100"};
  o.controller_args = {"--set", "broker.session.timeout.ms=2000", "--set",
                       "broker.heartbeat.interval.ms=300"};
  ReplicatedCluster c(o);
  ASSERT_NO_FATAL_FAILURE(c.StartAll());
  const std::string topic = "kills";
  constexpr int kPartitions = 2;
  ASSERT_TRUE(c.CreateTopic(topic, kPartitions, 3, kMinIsr2).ok()) << c.Logs();
  for (int p = 0; p < kPartitions; p++) {
    ASSERT_TRUE(c.WaitForAll(
        topic, p, [](const PartitionView& v) { return v.leader > 0 && v.isr.size() == 3; },
        Millis(30000)))
        << c.Logs();
  }

  ProducerConfig pc;
  pc.bootstrap_servers = c.bootstrap();
  pc.acks = -1;
  pc.linger_ms = 2;
  pc.request_timeout_ms = 5000;
  pc.delivery_timeout_ms = 120000;
  pc.retry_backoff_ms = 50;
  StatusOr<std::unique_ptr<Producer>> producer = Producer::Create(pc);
  ASSERT_TRUE(producer.ok()) << producer.status();

  std::mutex mu;
  std::map<int64_t, std::pair<int32_t, int64_t>> acked;  // seq -> (partition, offset)
  std::vector<SteadyClock::time_point> acked_at_p0;
  int64_t failed = 0;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> sent{0};
  std::thread writer([&] {
    for (int64_t seq = 0; !stop.load(); seq++) {
      ProducerRecord r;
      r.topic = topic;
      r.partition = static_cast<int32_t>(seq % kPartitions);
      r.value = std::to_string(seq);
      Status st = (*producer)->send(r, [&, seq](StatusOr<RecordMetadata> md) {
        std::lock_guard<std::mutex> l(mu);
        if (!md.ok()) {
          failed++;
          return;
        }
        acked[seq] = {md->partition, md->offset};
        if (md->partition == 0) acked_at_p0.push_back(SteadyClock::now());
      });
      if (!st.ok()) break;
      sent++;
      if (seq % 20 == 19) std::this_thread::sleep_for(Millis(10));  // ~2,000 records/s
    }
  });
  auto acks_after = [&](SteadyClock::time_point t) {
    std::lock_guard<std::mutex> l(mu);
    return std::count_if(acked_at_p0.begin(), acked_at_p0.end(),
                         [t](SteadyClock::time_point a) { return a > t; });
  };
  auto wait_acks_after = [&](SteadyClock::time_point t, int64_t n, Millis deadline) {
    const auto until = SteadyClock::now() + deadline;
    while (SteadyClock::now() < until) {
      if (acks_after(t) >= n) return true;
      std::this_thread::sleep_for(Millis(5));  // polling the callback's record
    }
    return false;
  };

  std::vector<double> unavailable_ms, election_ms, catch_up_ms;
  for (int k = 0; k < KillCount(); k++) {
    ASSERT_TRUE(wait_acks_after(SteadyClock::now(), 500, Millis(30000))) << c.Logs();
    std::optional<PartitionView> before = c.Partition(topic, 0);
    ASSERT_TRUE(before.has_value() && before->leader > 0);
    const int victim = before->leader;
    const auto killed_at = SteadyClock::now();
    c.node(victim).Kill();
    std::optional<PartitionView> after = c.WaitForAll(
        topic, 0, [&](const PartitionView& v) { return v.leader > 0 && v.leader != victim; },
        Millis(30000));
    ASSERT_TRUE(after.has_value()) << "no new leader after killing " << victim << "\n" << c.Logs();
    election_ms.push_back(MsSince(killed_at));
    ASSERT_TRUE(wait_acks_after(killed_at, 1, Millis(30000))) << c.Logs();
    {
      std::lock_guard<std::mutex> l(mu);
      const auto first = std::find_if(acked_at_p0.begin(), acked_at_p0.end(),
                                      [&](SteadyClock::time_point a) { return a > killed_at; });
      unavailable_ms.push_back(
          std::chrono::duration<double, std::milli>(*first - killed_at).count());
    }
    const auto restarted_at = SteadyClock::now();
    ASSERT_TRUE(c.node(victim).Restart().ok()) << c.node(victim).log_tail();
    for (int p = 0; p < kPartitions; p++) {
      ASSERT_TRUE(c.WaitForAll(
          topic, p, [&](const PartitionView& v) { return v.isr.size() == 3; }, Millis(60000)))
          << "node " << victim << " did not rejoin the ISR of partition " << p << "\n"
          << c.Logs();
    }
    catch_up_ms.push_back(MsSince(restarted_at));
    std::printf(
        "kill %d: node %d, new leader %d after %.0f ms, acks again after %.0f ms, ISR "
        "whole again %.0f ms after the restart\n",
        k + 1, victim, after->leader, election_ms.back(), unavailable_ms.back(),
        catch_up_ms.back());
  }
  stop.store(true);
  writer.join();
  (*producer)->flush();
  producer->reset();
  // Let the followers fetch the tail, then stop every node cleanly and read their logs.
  for (int p = 0; p < kPartitions; p++) {
    ASSERT_TRUE(c.WaitForAll(
        topic, p, [](const PartitionView& v) { return v.isr.size() == 3; }, Millis(30000)));
  }
  for (int id : c.ids()) EXPECT_TRUE(c.node(id).Terminate().ok()) << c.node(id).log_tail();

  int64_t duplicates = 0, order_violations = 0;
  for (int p = 0; p < kPartitions; p++) {
    std::map<int, std::string> dirs;
    for (int id : c.ids()) dirs[id] = absl::StrCat(c.data_dir(id), "/", topic, "-", p);
    std::map<int64_t, std::string> acked_here;
    {
      std::lock_guard<std::mutex> l(mu);
      for (const auto& [seq, where] : acked) {
        if (where.first == p) acked_here[where.second] = std::to_string(seq);
      }
    }
    const testing::ReplicaCheck check = testing::CheckReplicaLogs(dirs, acked_here);
    for (const std::string& problem : check.problems) {
      ADD_FAILURE() << topic << "-" << p << ": " << problem;
    }
    EXPECT_EQ(check.lost, 0) << "partition " << p;
    EXPECT_EQ(check.duplicates, 0) << "partition " << p;
    EXPECT_EQ(check.order_violations, 0) << "partition " << p;
    duplicates += check.duplicates;
    order_violations += check.order_violations;
  }
  EXPECT_EQ(failed, 0) << "sends failed (delivery.timeout.ms is 120 s)";
  std::printf(
      "replication kill loop: %zu acknowledged, %lld failed, %lld duplicates, %lld order "
      "violations over %d kills\n",
      acked.size(), static_cast<long long>(failed), static_cast<long long>(duplicates),
      static_cast<long long>(order_violations), KillCount());
  std::printf(
      "unavailability (kill to next ack) p50 %.0f ms p99 %.0f ms; election p50 %.0f ms "
      "p99 %.0f ms; catch-up after restart p50 %.0f ms\n",
      Percentile(unavailable_ms, 0.5), Percentile(unavailable_ms, 0.99),
      Percentile(election_ms, 0.5), Percentile(election_ms, 0.99), Percentile(catch_up_ms, 0.5));
}

TEST(ReplicationTest, PausedFollowerLeavesAndRejoinsTheIsr) {
  ReplicatedCluster::Options o;
  o.broker_args = {"--set", "replica.lag.time.max.ms=1500"};
  ReplicatedCluster c(o);
  ASSERT_NO_FATAL_FAILURE(c.StartAll());
  ASSERT_TRUE(c.CreateTopic("pause", 1, 3, kMinIsr2).ok()) << c.Logs();
  std::optional<PartitionView> v = c.WaitForAll(
      "pause", 0, [](const PartitionView& v) { return v.leader > 0 && v.isr.size() == 3; },
      Millis(30000));
  ASSERT_TRUE(v.has_value()) << c.Logs();
  const int leader = v->leader;
  int follower = -1;
  for (int id : c.ids()) {
    if (id != leader) follower = id;
  }
  c.node(follower).Pause();
  const auto paused_at = SteadyClock::now();
  double slowest_ms = 0;
  int writes = 0;
  std::optional<PartitionView> shrunk;
  while (MsSince(paused_at) < 20000) {
    const auto t = SteadyClock::now();
    StatusOr<int32_t> code = c.ProduceOne(leader, "pause", 0, -1, absl::StrCat("w", writes));
    ASSERT_TRUE(code.ok()) << code.status() << "\n" << c.Logs();
    if (*code == proto::ErrorCode::NONE) {
      writes++;
      slowest_ms = std::max(slowest_ms, MsSince(t));
    }
    std::optional<PartitionView> now = c.Partition("pause", 0, follower);
    if (now.has_value() && now->isr.size() == 2 && !Has(now->isr, follower)) {
      shrunk = now;
      break;
    }
  }
  ASSERT_TRUE(shrunk.has_value()) << "the paused follower stayed in the ISR\n" << c.Logs();
  const double left_ms = MsSince(paused_at);
  // With the ISR at 2 (= min.insync.replicas), acks=all still works.
  StatusOr<int32_t> code = c.ProduceOne(leader, "pause", 0, -1, "after-shrink");
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, proto::ErrorCode::NONE);
  c.node(follower).Resume();
  const auto resumed_at = SteadyClock::now();
  ASSERT_TRUE(c.WaitForAll(
      "pause", 0, [&](const PartitionView& v) { return v.isr.size() == 3; }, Millis(30000)))
      << "the follower did not rejoin\n"
      << c.Logs();
  std::printf(
      "paused follower %d left the ISR after %.0f ms (lag time 1500 ms), rejoined %.0f ms "
      "after SIGCONT; %d acks=all writes meanwhile, slowest %.0f ms\n",
      follower, left_ms, MsSince(resumed_at), writes, slowest_ms);
}

TEST(ReplicationTest, WritesNeedMinInsyncReplicas) {
  ReplicatedCluster::Options o;
  o.broker_args = {"--set", "replica.lag.time.max.ms=1000", "--set",
                   "broker.heartbeat.interval.ms=300"};
  o.controller_args = {"--set", "broker.session.timeout.ms=2000", "--set",
                       "broker.heartbeat.interval.ms=300"};
  ReplicatedCluster c(o);
  ASSERT_NO_FATAL_FAILURE(c.StartAll());
  ASSERT_TRUE(c.CreateTopic("minisr", 1, 3, kMinIsr2).ok()) << c.Logs();
  std::optional<PartitionView> v = c.WaitForAll(
      "minisr", 0, [](const PartitionView& v) { return v.leader > 0 && v.isr.size() == 3; },
      Millis(30000));
  ASSERT_TRUE(v.has_value()) << c.Logs();
  const int leader = v->leader;
  std::vector<int> followers;
  for (int id : c.ids()) {
    if (id != leader) followers.push_back(id);
  }
  StatusOr<int32_t> code = c.ProduceOne(leader, "minisr", 0, -1, "isr-3");
  ASSERT_TRUE(code.ok()) << code.status() << "\n" << c.Logs();
  ASSERT_EQ(*code, proto::ErrorCode::NONE);
  for (int f : followers) c.node(f).Kill();
  ASSERT_TRUE(c.WaitForAll(
      "minisr", 0, [&](const PartitionView& v) { return v.isr.size() == 1 && v.leader == leader; },
      Millis(30000)))
      << c.Logs();
  code = c.ProduceOne(leader, "minisr", 0, -1, "isr-1-all");
  ASSERT_TRUE(code.ok()) << code.status() << "\n" << c.Logs();
  EXPECT_EQ(*code, proto::ErrorCode::NOT_ENOUGH_REPLICAS);
  code = c.ProduceOne(leader, "minisr", 0, 1, "isr-1-one");
  ASSERT_TRUE(code.ok()) << code.status() << "\n" << c.Logs();
  EXPECT_EQ(*code, proto::ErrorCode::NONE);
  const auto restarted_at = SteadyClock::now();
  ASSERT_TRUE(c.node(followers[0]).Restart().ok()) << c.node(followers[0]).log_tail();
  ASSERT_TRUE(c.WaitForAll(
      "minisr", 0, [&](const PartitionView& v) { return v.isr.size() == 2; }, Millis(30000)))
      << c.Logs();
  code = c.ProduceOne(leader, "minisr", 0, -1, "isr-2-all");
  ASSERT_TRUE(code.ok()) << code.status() << "\n" << c.Logs();
  EXPECT_EQ(*code, proto::ErrorCode::NONE);
  std::printf(
      "min.insync.replicas=2: refused at ISR 1, accepted again %.0f ms after a follower "
      "restarted\n",
      MsSince(restarted_at));
}

TEST(ReplicationTest, PreferredLeadersComeBackAfterARestart) {
  ReplicatedCluster::Options o;
  o.broker_args = {"--set", "broker.heartbeat.interval.ms=300"};
  o.controller_args = {"--set", "broker.session.timeout.ms=2000",
                       "--set", "broker.heartbeat.interval.ms=300",
                       "--set", "leader.imbalance.check.interval.ms=500"};
  ReplicatedCluster c(o);
  ASSERT_NO_FATAL_FAILURE(c.StartAll());
  constexpr int kPartitions = 6;
  ASSERT_TRUE(c.CreateTopic("pref", kPartitions, 3, kMinIsr2).ok()) << c.Logs();
  auto preferred_leads = [](const PartitionView& v) {
    return v.isr.size() == 3 && !v.replicas.empty() && v.leader == v.replicas.front();
  };
  std::vector<int32_t> preferred(kPartitions);
  for (int p = 0; p < kPartitions; p++) {
    std::optional<PartitionView> v = c.WaitForAll("pref", p, preferred_leads, Millis(30000));
    ASSERT_TRUE(v.has_value()) << c.Logs();
    preferred[static_cast<size_t>(p)] = v->leader;
  }
  const int victim = preferred[0];
  c.node(victim).Kill();
  for (int p = 0; p < kPartitions; p++) {
    ASSERT_TRUE(c.WaitForAll(
        "pref", p, [&](const PartitionView& v) { return v.leader > 0 && v.leader != victim; },
        Millis(30000)))
        << c.Logs();
  }
  const auto restarted_at = SteadyClock::now();
  ASSERT_TRUE(c.node(victim).Restart().ok()) << c.node(victim).log_tail();
  for (int p = 0; p < kPartitions; p++) {
    ASSERT_TRUE(c.WaitForAll("pref", p, preferred_leads, Millis(30000)))
        << "partition " << p << " is not led by its preferred replica again\n"
        << c.Logs();
  }
  std::printf("preferred leaders back %.0f ms after broker %d restarted\n", MsSince(restarted_at),
              victim);
}

}  // namespace
}  // namespace spool
