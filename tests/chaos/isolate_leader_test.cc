// Isolating a partition leader from everyone (clients, its followers and the controller) while an
// idempotent acks=all producer writes; then healing. 3 broker processes and a controller process
// (tests/support/replicated_cluster.h), RF=3, min.insync.replicas=2. Every broker sits behind two
// fault proxies (fault_proxy.h): one in front of its listener, which it advertises (so clients and
// the other brokers reach it only through it), and one on its way to the controller.
//
// Isolation black-holes both of the leader's proxies: requests to it stall, its heartbeats stop,
// the controller fences it after broker.session.timeout.ms and elects a follower; the producer
// times out, finds the new leader through the other brokers and retries. The old leader still
// believes it leads: whatever reaches it must not be acknowledged, and once healed (held bytes
// delivered late, as TCP would: stale produce requests included) it learns it follows, truncates
// what it alone has, and rejoins the ISR.
//
// Asserted: every acknowledged record is on every replica at its acknowledged offset, the
// replicas' logs agree, no record is stored twice, send order is kept, no send fails. Printed:
// isolation to the first acknowledgement after it (unavailability), heal to the ISR whole again.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/chaos/acked_writer.h"
#include "tests/chaos/fault_proxy.h"
#include "tests/support/cluster_test_util.h"
#include "tests/support/replicated_cluster.h"

namespace spool {
namespace {

using spool::testing::FaultProxy;
using spool::testing::MsSince;
using spool::testing::PartitionView;
using spool::testing::ReplicatedCluster;
using SteadyClock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

constexpr int kController = 101;

TEST(IsolateLeaderTest, AnIsolatedLeaderAcknowledgesNothingAndRejoinsAfterTheHeal) {
  std::map<int, std::unique_ptr<FaultProxy>> in, to_controller;
  ReplicatedCluster::Options o;
  o.broker_args = {"--set", "broker.heartbeat.interval.ms=300", "--set",
                   "replica.lag.time.max.ms=2000"};
  o.controller_args = {"--set", "broker.session.timeout.ms=2000", "--set",
                       "broker.heartbeat.interval.ms=300"};
  o.customize_broker = [&in, &to_controller](int id, std::vector<std::string>& args) {
    args.insert(
        args.end(),
        {"--set", absl::StrCat("advertised.listeners=PLAINTEXT://127.0.0.1:", in.at(id)->port()),
         "--set",
         absl::StrCat("controller.quorum.voters=", kController,
                      "@127.0.0.1:", to_controller.at(id)->port())});
  };
  ReplicatedCluster c(o);
  for (int id = 1; id <= o.brokers; id++) {
    // The listener's port is known once the broker runs: until then the proxy refuses.
    auto p = FaultProxy::Start(io::HostPort{"127.0.0.1", 1});
    ASSERT_TRUE(p.ok()) << p.status();
    in[id] = *std::move(p);
    auto q = FaultProxy::Start(io::HostPort{"127.0.0.1", c.controller_port(kController)});
    ASSERT_TRUE(q.ok()) << q.status();
    to_controller[id] = *std::move(q);
  }
  ASSERT_NO_FATAL_FAILURE(c.StartAll());
  std::string bootstrap;
  for (int id : c.ids()) {
    in[id]->SetTarget(c.node(id).address());
    absl::StrAppend(&bootstrap, bootstrap.empty() ? "" : ",", "127.0.0.1:", in[id]->port());
  }
  const std::string topic = "iso";
  ASSERT_TRUE(c.CreateTopic(topic, 1, 3, {{"min.insync.replicas", "2"}}).ok()) << c.Logs();
  std::optional<PartitionView> before = c.WaitForAll(
      topic, 0, [](const PartitionView& v) { return v.leader > 0 && v.isr.size() == 3; },
      Millis(30000));
  ASSERT_TRUE(before.has_value()) << c.Logs();

  testing::AckedWriter writer(bootstrap, topic, 0);
  ASSERT_TRUE(writer.Start().ok());
  ASSERT_TRUE(writer.WaitAcksAfter(SteadyClock::now(), 500, Millis(30000))) << c.Logs();
  const int victim = before->leader;
  const auto isolated_at = SteadyClock::now();
  in[victim]->BlackHole(FaultProxy::Direction::kBoth);
  to_controller[victim]->BlackHole(FaultProxy::Direction::kBoth);
  std::optional<PartitionView> moved = c.WaitFor(
      topic, 0, [&](const PartitionView& v) { return v.leader > 0 && v.leader != victim; },
      Millis(30000), victim);
  ASSERT_TRUE(moved.has_value()) << "no new leader while " << victim << " is isolated\n"
                                 << c.Logs();
  ASSERT_TRUE(writer.WaitAcksAfter(isolated_at, 500, Millis(30000))) << c.Logs();
  const double unavailable_ms = writer.FirstAckAfterMs(isolated_at).value_or(-1);

  const auto healed_at = SteadyClock::now();
  in[victim]->Heal();
  to_controller[victim]->Heal();
  ASSERT_TRUE(c.WaitForAll(
      topic, 0, [](const PartitionView& v) { return v.isr.size() == 3; }, Millis(60000)))
      << "broker " << victim << " did not rejoin the ISR after the heal\n"
      << c.Logs();
  const double rejoin_ms = MsSince(healed_at);
  ASSERT_TRUE(writer.WaitAcksAfter(SteadyClock::now(), 200, Millis(30000))) << c.Logs();
  writer.Stop();
  const testing::ReplicaCheck check = testing::CheckScenarioEnd(c, topic, writer);
  std::printf(
      "isolated leader %d: new leader %d; acknowledged %zu (%lld failed), lost %lld, duplicates "
      "%lld, order violations %lld; unavailability %.0f ms; ISR whole %.0f ms after the heal\n",
      victim, moved->leader, writer.acked().size(), static_cast<long long>(writer.failed()),
      static_cast<long long>(check.lost), static_cast<long long>(check.duplicates),
      static_cast<long long>(check.order_violations), unavailable_ms, rejoin_ms);
}

}  // namespace
}  // namespace spool
