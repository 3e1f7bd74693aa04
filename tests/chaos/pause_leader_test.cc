// Pausing a partition leader (SIGSTOP) past broker.session.timeout.ms while an idempotent
// acks=all producer writes, then resuming it (SIGCONT). 3 broker processes and a controller
// process (tests/support/replicated_cluster.h), RF=3, min.insync.replicas=2.
//
// While it is stopped the controller fences it and elects a follower; the producer's requests to
// it time out and go to the new leader. When it resumes it still believes it leads, with
// requests waiting in its sockets (stale produce requests among them) and an ISR it would like to
// shrink: it must acknowledge none of those writes, its AlterPartition must be refused (its
// leader epoch is old), and once it learns the new metadata it truncates what it alone has and
// rejoins the ISR.
//
// Asserted: every acknowledged record is on every replica at its acknowledged offset, the
// replicas' logs agree, no record is stored twice, send order is kept, no send fails. Printed:
// pause to the first acknowledgement after it, resume to the ISR whole again.
#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/chaos/acked_writer.h"
#include "tests/support/cluster_test_util.h"
#include "tests/support/replicated_cluster.h"

namespace spool {
namespace {

using spool::testing::MsSince;
using spool::testing::PartitionView;
using spool::testing::ReplicatedCluster;
using SteadyClock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

TEST(PauseLeaderTest, APausedLeaderAcknowledgesNothingAfterItResumes) {
  ReplicatedCluster::Options o;
  o.broker_args = {"--set", "broker.heartbeat.interval.ms=300", "--set",
                   "replica.lag.time.max.ms=2000"};
  o.controller_args = {"--set", "broker.session.timeout.ms=2000", "--set",
                       "broker.heartbeat.interval.ms=300"};
  ReplicatedCluster c(o);
  ASSERT_NO_FATAL_FAILURE(c.StartAll());
  const std::string topic = "paused";
  ASSERT_TRUE(c.CreateTopic(topic, 1, 3, {{"min.insync.replicas", "2"}}).ok()) << c.Logs();
  std::optional<PartitionView> before = c.WaitForAll(
      topic, 0, [](const PartitionView& v) { return v.leader > 0 && v.isr.size() == 3; },
      Millis(30000));
  ASSERT_TRUE(before.has_value()) << c.Logs();

  testing::AckedWriter writer(c.bootstrap(), topic, 0);
  ASSERT_TRUE(writer.Start().ok());
  ASSERT_TRUE(writer.WaitAcksAfter(SteadyClock::now(), 500, Millis(30000))) << c.Logs();
  const int victim = before->leader;
  const auto paused_at = SteadyClock::now();
  c.node(victim).Pause();
  std::optional<PartitionView> moved = c.WaitFor(
      topic, 0, [&](const PartitionView& v) { return v.leader > 0 && v.leader != victim; },
      Millis(30000), victim);
  ASSERT_TRUE(moved.has_value()) << "no new leader while " << victim << " is stopped\n" << c.Logs();
  ASSERT_TRUE(writer.WaitAcksAfter(paused_at, 500, Millis(30000))) << c.Logs();
  const double unavailable_ms = writer.FirstAckAfterMs(paused_at).value_or(-1);

  const auto resumed_at = SteadyClock::now();
  c.node(victim).Resume();
  ASSERT_TRUE(c.WaitForAll(
      topic, 0, [](const PartitionView& v) { return v.isr.size() == 3; }, Millis(60000)))
      << "broker " << victim << " did not rejoin the ISR after SIGCONT\n"
      << c.Logs();
  const double rejoin_ms = MsSince(resumed_at);
  ASSERT_TRUE(writer.WaitAcksAfter(SteadyClock::now(), 200, Millis(30000))) << c.Logs();
  writer.Stop();
  const testing::ReplicaCheck check = testing::CheckScenarioEnd(c, topic, writer);
  std::printf(
      "paused leader %d: new leader %d; acknowledged %zu (%lld failed), lost %lld, duplicates "
      "%lld, order violations %lld; unavailability %.0f ms; ISR whole %.0f ms after SIGCONT\n",
      victim, moved->leader, writer.acked().size(), static_cast<long long>(writer.failed()),
      static_cast<long long>(check.lost), static_cast<long long>(check.duplicates),
      static_cast<long long>(check.order_violations), unavailable_ms, rejoin_ms);
}

}  // namespace
}  // namespace spool
