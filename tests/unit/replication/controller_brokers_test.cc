// Controller logic for brokers: registration, heartbeats, session expiry and fencing with
// leadership moves, unclean election, unfencing, controlled shutdown, producer id blocks.
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "replication/controller/controller_errors.h"
#include "replication/controller/controller_logic.h"
#include "replication/controller/leadership.h"
#include "replication/controller/record_builder.h"
#include "tests/unit/replication/controller_test_util.h"

namespace spool::controller {
namespace {

using testing::TestController;

RegisterBrokerRequest Registration(int32_t id, std::string incarnation) {
  RegisterBrokerRequest req;
  req.broker_id = id;
  req.incarnation_id = std::move(incarnation);
  req.endpoints = {Endpoint{"PLAINTEXT", "h", 9092}};
  return req;
}

TEST(ControllerBrokers, RegistrationStartsFencedAndHeartbeatUnfencesOnceCaughtUp) {
  TestController c;
  auto reg =
      RegisterBroker(c.image, c.liveness, Registration(1, "a"), c.index + 1, c.now_ms, c.config);
  ASSERT_TRUE(reg.reply.status.ok()) << reg.reply.status;
  EXPECT_EQ(reg.reply.broker_epoch, 1);
  c.Commit(reg.records);
  ASSERT_NE(c.image.FindBroker(1), nullptr);
  EXPECT_TRUE(c.image.FindBroker(1)->fenced);

  // Not caught up yet (applied up to 0 < epoch 1): stays fenced, no record.
  auto behind = Heartbeat(c.image, c.liveness, HeartbeatRequest{1, 1, 0, false}, c.now_ms);
  ASSERT_TRUE(behind.reply.status.ok());
  EXPECT_TRUE(behind.reply.fenced);
  EXPECT_TRUE(behind.records.empty());

  auto caught_up = Heartbeat(c.image, c.liveness, HeartbeatRequest{1, 1, 1, false}, c.now_ms);
  ASSERT_TRUE(caught_up.reply.status.ok());
  EXPECT_FALSE(caught_up.reply.fenced);
  ASSERT_EQ(caught_up.records.size(), 1u);
  EXPECT_TRUE(caught_up.records[0].has_broker_unfenced());
  c.Commit(caught_up.records);
  EXPECT_TRUE(c.image.IsLive(1));

  // An unfenced broker's heartbeat proposes nothing.
  auto again = Heartbeat(c.image, c.liveness, HeartbeatRequest{1, 1, 2, false}, c.now_ms);
  EXPECT_TRUE(again.records.empty());
  EXPECT_FALSE(again.reply.fenced);
}

TEST(ControllerBrokers, HeartbeatRefusals) {
  TestController c;
  const int64_t epoch = c.AddBroker(1);
  auto unknown = Heartbeat(c.image, c.liveness, HeartbeatRequest{9, epoch, 5, false}, c.now_ms);
  EXPECT_EQ(ControllerErrorOf(unknown.reply.status), ControllerError::kBrokerIdNotRegistered);
  auto stale = Heartbeat(c.image, c.liveness, HeartbeatRequest{1, epoch - 1, 5, false}, c.now_ms);
  EXPECT_EQ(ControllerErrorOf(stale.reply.status), ControllerError::kStaleBrokerEpoch);
  EXPECT_EQ(stale.reply.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(stale.records.empty());
  // A refused heartbeat does not renew the session.
  const int64_t before = *c.liveness.LastContact(1);
  auto stale_later =
      Heartbeat(c.image, c.liveness, HeartbeatRequest{1, epoch + 1, 5, false}, c.now_ms + 50);
  EXPECT_EQ(ControllerErrorOf(stale_later.reply.status), ControllerError::kStaleBrokerEpoch);
  EXPECT_EQ(*c.liveness.LastContact(1), before);
}

TEST(ControllerBrokers, DuplicateRegistrationRefusedWhileSessionAlive) {
  TestController c;
  const int64_t first = c.AddBroker(1, std::nullopt, "a");
  // Another incarnation while "a" is alive.
  c.now_ms += c.config.session_timeout_ms;  // exactly at the timeout: still alive
  auto dup =
      RegisterBroker(c.image, c.liveness, Registration(1, "b"), c.index + 1, c.now_ms, c.config);
  EXPECT_EQ(ControllerErrorOf(dup.reply.status), ControllerError::kDuplicateBrokerRegistration);
  EXPECT_TRUE(dup.records.empty());
  // The same incarnation again (a retry) is fine and gets a new epoch.
  auto retry =
      RegisterBroker(c.image, c.liveness, Registration(1, "a"), c.index + 1, c.now_ms, c.config);
  ASSERT_TRUE(retry.reply.status.ok()) << retry.reply.status;
  EXPECT_GT(retry.reply.broker_epoch, first);
  // Once the session expired, another incarnation may take over.
  c.now_ms += c.config.session_timeout_ms + 1;
  auto takeover =
      RegisterBroker(c.image, c.liveness, Registration(1, "b"), c.index + 1, c.now_ms, c.config);
  ASSERT_TRUE(takeover.reply.status.ok()) << takeover.reply.status;
  c.Commit(takeover.records);
  EXPECT_EQ(c.image.FindBroker(1)->incarnation_id, "b");
  EXPECT_TRUE(c.image.FindBroker(1)->fenced);
}

TEST(ControllerBrokers, RegistrationRefusesBadRequests) {
  TestController c;
  auto negative = RegisterBroker(c.image, c.liveness, Registration(-2, "a"), 1, c.now_ms, c.config);
  EXPECT_EQ(ControllerErrorOf(negative.reply.status), ControllerError::kInvalidRequest);
  RegisterBrokerRequest bad_port = Registration(1, "a");
  bad_port.endpoints[0].port = 0;
  EXPECT_EQ(ControllerErrorOf(
                RegisterBroker(c.image, c.liveness, bad_port, 1, c.now_ms, c.config).reply.status),
            ControllerError::kInvalidRequest);
  RegisterBrokerRequest twice = Registration(1, "a");
  twice.endpoints.push_back(twice.endpoints[0]);
  EXPECT_EQ(ControllerErrorOf(
                RegisterBroker(c.image, c.liveness, twice, 1, c.now_ms, c.config).reply.status),
            ControllerError::kInvalidRequest);
}

TEST(ControllerBrokers, ReRegistrationMovesLeadershipsOfTheOldIncarnation) {
  TestController c;
  for (int32_t b = 1; b <= 3; ++b) c.AddBroker(b);
  const TopicId t = c.CreateTopic("t", 6, 3);
  c.now_ms += c.config.session_timeout_ms + 1;  // broker 1's session expires, others renew
  c.HeartbeatAllBut({1});
  auto reg =
      RegisterBroker(c.image, c.liveness, Registration(1, "new"), c.index + 1, c.now_ms, c.config);
  ASSERT_TRUE(reg.reply.status.ok()) << reg.reply.status;
  c.Commit(reg.records);
  for (int32_t p = 0; p < 6; ++p) {
    EXPECT_NE(c.Partition(t, p).leader, 1);
    EXPECT_NE(c.Partition(t, p).leader, kNoLeader);
    EXPECT_EQ(std::count(c.Partition(t, p).isr.begin(), c.Partition(t, p).isr.end(), 1), 0);
  }
}

TEST(ControllerBrokers, SessionTimeoutFencesAndMovesLeadershipWithinTheIsr) {
  TestController c;
  for (int32_t b = 1; b <= 3; ++b) c.AddBroker(b);
  const TopicId t = c.CreateTopic("t", 9, 3);
  std::vector<PartitionState> before;
  for (int32_t p = 0; p < 9; ++p) before.push_back(c.Partition(t, p));

  // Nobody is late yet.
  c.now_ms += c.config.session_timeout_ms;
  c.HeartbeatAllBut({2});
  auto early = CheckSessions(c.image, c.liveness, c.now_ms, c.config);
  ASSERT_TRUE(early.reply.status.ok());
  EXPECT_TRUE(early.reply.fenced.empty());
  EXPECT_TRUE(early.records.empty());

  c.now_ms += 1;  // broker 2 is now silent for longer than the session timeout
  auto late = CheckSessions(c.image, c.liveness, c.now_ms, c.config);
  ASSERT_TRUE(late.reply.status.ok()) << late.reply.status;
  EXPECT_EQ(late.reply.fenced, std::vector<int32_t>{2});
  ASSERT_FALSE(late.records.empty());
  EXPECT_TRUE(late.records.back().has_broker_fenced());  // leaderships move first
  c.Commit(late.records);
  EXPECT_FALSE(c.image.IsLive(2));
  for (int32_t p = 0; p < 9; ++p) {
    const PartitionState& now = c.Partition(t, p);
    EXPECT_NE(now.leader, 2);
    EXPECT_EQ(std::count(now.isr.begin(), now.isr.end(), 2), 0);
    // The new leader was in the ISR; the first eligible replica in assignment order.
    EXPECT_NE(std::find(before[p].isr.begin(), before[p].isr.end(), now.leader),
              before[p].isr.end());
    if (before[p].leader == 2) {
      EXPECT_EQ(now.leader_epoch, before[p].leader_epoch + 1);
      const int32_t expected =
          before[p].replicas[1] == 2 ? before[p].replicas[2] : before[p].replicas[1];
      EXPECT_EQ(now.leader, expected);
    } else {
      EXPECT_EQ(now.leader, before[p].leader);
      EXPECT_EQ(now.leader_epoch, before[p].leader_epoch);
    }
    EXPECT_GT(now.partition_epoch, before[p].partition_epoch);
  }
  // Fenced brokers are not fenced twice.
  auto again = CheckSessions(c.image, c.liveness, c.now_ms + 100000, c.config);
  EXPECT_EQ(std::count(again.reply.fenced.begin(), again.reply.fenced.end(), 2), 0);
}

TEST(ControllerBrokers, LeadershipNeverMovesOutsideTheIsr) {
  TestController c;
  for (int32_t b = 1; b <= 3; ++b) c.AddBroker(b);
  const TopicId t = c.CreateTopic("t", 1, 3);
  const PartitionState p = c.Partition(t, 0);
  // Shrink the ISR to the leader alone.
  AlterPartitionRequest shrink{p.leader,       c.Epoch(p.leader), t,         0,
                               p.leader_epoch, p.partition_epoch, {p.leader}};
  auto alter = AlterPartition(c.image, shrink);
  ASSERT_TRUE(alter.reply.status.ok()) << alter.reply.status;
  c.Commit(alter.records);
  // The leader dies: no other ISR member, no unclean election: the partition goes offline and
  // keeps its last ISR member.
  c.now_ms += c.config.session_timeout_ms + 1;
  c.HeartbeatAllBut({p.leader});
  auto fence = CheckSessions(c.image, c.liveness, c.now_ms, c.config);
  ASSERT_TRUE(fence.reply.status.ok());
  c.Commit(fence.records);
  EXPECT_EQ(c.Partition(t, 0).leader, kNoLeader);
  EXPECT_EQ(c.Partition(t, 0).isr, std::vector<int32_t>{p.leader});
  EXPECT_EQ(c.Partition(t, 0).leader_epoch, p.leader_epoch + 1);

  // The old leader comes back (same epoch: its session had only expired) and leads again.
  auto hb = Heartbeat(c.image, c.liveness,
                      HeartbeatRequest{p.leader, c.Epoch(p.leader), c.index, false}, c.now_ms);
  ASSERT_TRUE(hb.reply.status.ok()) << hb.reply.status;
  EXPECT_FALSE(hb.reply.fenced);
  c.Commit(hb.records);
  EXPECT_EQ(c.Partition(t, 0).leader, p.leader);
  EXPECT_EQ(c.Partition(t, 0).leader_epoch, p.leader_epoch + 2);
}

TEST(ControllerBrokers, UncleanElectionOnlyWhenEnabled) {
  for (bool unclean : {false, true}) {
    SCOPED_TRACE(unclean ? "unclean enabled" : "unclean disabled");
    TestController c;
    for (int32_t b = 1; b <= 3; ++b) c.AddBroker(b);
    std::map<std::string, std::string> configs;
    if (unclean) configs["unclean.leader.election.enable"] = "true";
    const TopicId t = c.CreateTopic("t", 1, 3, configs);
    const PartitionState p = c.Partition(t, 0);
    auto alter = AlterPartition(
        c.image,
        AlterPartitionRequest{
            p.leader, c.Epoch(p.leader), t, 0, p.leader_epoch, p.partition_epoch, {p.leader}});
    ASSERT_TRUE(alter.reply.status.ok());
    c.Commit(alter.records);
    c.now_ms += c.config.session_timeout_ms + 1;
    c.HeartbeatAllBut({p.leader});
    auto fence = CheckSessions(c.image, c.liveness, c.now_ms, c.config);
    ASSERT_TRUE(fence.reply.status.ok());
    c.Commit(fence.records);
    const PartitionState& now = c.Partition(t, 0);
    if (unclean) {
      // The first live replica in assignment order leads, with an ISR of itself.
      const int32_t expected = p.replicas[0] == p.leader ? p.replicas[1] : p.replicas[0];
      EXPECT_EQ(now.leader, expected);
      EXPECT_EQ(now.isr, std::vector<int32_t>{expected});
    } else {
      EXPECT_EQ(now.leader, kNoLeader);
      EXPECT_EQ(now.isr, std::vector<int32_t>{p.leader});
    }
  }
}

TEST(ControllerBrokers, UncleanElectionOfAReturningReplica) {
  TestController c;
  for (int32_t b = 1; b <= 2; ++b) c.AddBroker(b);
  const TopicId t = c.CreateTopic("t", 1, 2, {{"unclean.leader.election.enable", "true"}});
  // Both brokers die; the partition is offline with its last ISR member.
  c.now_ms += c.config.session_timeout_ms + 1;
  auto fence = CheckSessions(c.image, c.liveness, c.now_ms, c.config);
  ASSERT_EQ(fence.reply.fenced.size(), 2u);
  c.Commit(fence.records);
  const PartitionState offline = c.Partition(t, 0);
  ASSERT_EQ(offline.leader, kNoLeader);
  ASSERT_EQ(offline.isr.size(), 1u);
  // The replica that is NOT the last ISR member returns: with unclean election it leads.
  const int32_t other = offline.isr[0] == 1 ? 2 : 1;
  c.Unfence(other);
  EXPECT_EQ(c.Partition(t, 0).leader, other);
  EXPECT_EQ(c.Partition(t, 0).isr, std::vector<int32_t>{other});
}

TEST(ControllerBrokers, ControlledShutdownMovesLeadershipThenFences) {
  TestController c;
  for (int32_t b = 1; b <= 3; ++b) c.AddBroker(b);
  const TopicId t = c.CreateTopic("t", 6, 2);
  auto stale = ControlledShutdown(c.image, BrokerRef{1, c.Epoch(1) + 7});
  EXPECT_EQ(ControllerErrorOf(stale.reply), ControllerError::kStaleBrokerEpoch);
  auto unknown = ControlledShutdown(c.image, BrokerRef{8, 1});
  EXPECT_EQ(ControllerErrorOf(unknown.reply), ControllerError::kBrokerIdNotRegistered);

  auto hb =
      Heartbeat(c.image, c.liveness, HeartbeatRequest{1, c.Epoch(1), c.index, true}, c.now_ms);
  ASSERT_TRUE(hb.reply.status.ok()) << hb.reply.status;
  EXPECT_TRUE(hb.reply.shutdown_ready);
  EXPECT_TRUE(hb.reply.fenced);
  ASSERT_FALSE(hb.records.empty());
  EXPECT_TRUE(hb.records.back().has_broker_fenced());
  for (size_t i = 0; i + 1 < hb.records.size(); ++i) {
    EXPECT_TRUE(hb.records[i].has_partition_change());
  }
  c.Commit(hb.records);
  EXPECT_FALSE(c.image.IsLive(1));
  for (int32_t p = 0; p < 6; ++p) {
    EXPECT_NE(c.Partition(t, p).leader, 1);
    EXPECT_NE(c.Partition(t, p).leader, kNoLeader);  // RF 2 over 3: someone else is in the ISR
  }
  // Already fenced: nothing more to do.
  auto twice = ControlledShutdown(c.image, BrokerRef{1, c.Epoch(1)});
  EXPECT_TRUE(twice.reply.ok());
  EXPECT_TRUE(twice.records.empty());
}

TEST(ControllerBrokers, UnregisterMovesLeadershipAndForgets) {
  TestController c;
  for (int32_t b = 1; b <= 3; ++b) c.AddBroker(b);
  const TopicId t = c.CreateTopic("t", 3, 2);
  auto res = UnregisterBroker(c.image, c.liveness, 2);
  ASSERT_TRUE(res.reply.ok()) << res.reply;
  c.Commit(res.records);
  EXPECT_EQ(c.image.FindBroker(2), nullptr);
  EXPECT_FALSE(c.liveness.LastContact(2).has_value());
  for (int32_t p = 0; p < 3; ++p) EXPECT_NE(c.Partition(t, p).leader, 2);
  EXPECT_EQ(ControllerErrorOf(UnregisterBroker(c.image, c.liveness, 2).reply),
            ControllerError::kBrokerIdNotRegistered);
}

TEST(ControllerBrokers, ProducerIdBlocksNeverOverlap) {
  TestController c;
  c.AddBroker(1);
  c.AddBroker(2);
  std::set<int64_t> starts;
  int64_t expected = 0;
  for (int i = 0; i < 20; ++i) {
    const int32_t b = 1 + i % 2;
    auto res = AllocateProducerIds(c.image, BrokerRef{b, c.Epoch(b)}, c.config);
    ASSERT_TRUE(res.reply.status.ok()) << res.reply.status;
    EXPECT_EQ(res.reply.first_id, expected);
    EXPECT_EQ(res.reply.count, 1000);
    expected += 1000;
    c.Commit(res.records);
    EXPECT_EQ(c.image.next_producer_id(), expected);
  }
  auto stale = AllocateProducerIds(c.image, BrokerRef{1, c.Epoch(1) - 1}, c.config);
  EXPECT_EQ(ControllerErrorOf(stale.reply.status), ControllerError::kStaleBrokerEpoch);
  EXPECT_EQ(ControllerErrorOf(AllocateProducerIds(c.image, BrokerRef{5, 1}, c.config).reply.status),
            ControllerError::kBrokerIdNotRegistered);
}

TEST(ControllerBrokers, LivenessResetGivesEveryBrokerAFreshSession) {
  TestController c;
  c.AddBroker(1);
  c.AddBroker(2);
  BrokerLiveness fresh;  // a controller that just became active knows nothing
  c.now_ms += 100 * c.config.session_timeout_ms;
  fresh.Reset(c.image, c.now_ms);
  auto none = CheckSessions(c.image, fresh, c.now_ms + c.config.session_timeout_ms, c.config);
  EXPECT_TRUE(none.reply.fenced.empty());
  auto both = CheckSessions(c.image, fresh, c.now_ms + c.config.session_timeout_ms + 1, c.config);
  EXPECT_EQ(both.reply.fenced, (std::vector<int32_t>{1, 2}));
}

}  // namespace
}  // namespace spool::controller

namespace spool::controller {
namespace {

TEST(ControllerLeadership, PreferredLeaderElectionMovesLeadershipBackWhenTheReplicaCanLead) {
  testing::TestController c;
  for (int32_t b = 1; b <= 3; ++b) c.AddBroker(b);
  const TopicId t = c.CreateTopic("t", 6, 3);
  // Nothing to do while every partition is led by its first replica.
  {
    RecordBuilder builder(c.image);
    ASSERT_TRUE(ElectPreferredLeaders(builder).ok());
    EXPECT_TRUE(std::move(builder).Take().empty());
  }
  // Partition 0 led by its second replica (in the ISR); partition 1 too, but its preferred
  // replica has left the ISR.
  const PartitionState p0 = c.Partition(t, 0);
  const PartitionState p1 = c.Partition(t, 1);
  {
    RecordBuilder builder(c.image);
    ASSERT_TRUE(builder.Add(PartitionChange(t, 0, p0.replicas[1], std::nullopt)).ok());
    std::vector<int32_t> isr1 = {p1.replicas[1], p1.replicas[2]};
    ASSERT_TRUE(builder.Add(PartitionChange(t, 1, p1.replicas[1], isr1)).ok());
    c.Commit(std::move(builder).Take());
  }
  {
    RecordBuilder builder(c.image);
    ASSERT_TRUE(ElectPreferredLeaders(builder).ok());
    c.Commit(std::move(builder).Take());
  }
  EXPECT_EQ(c.Partition(t, 0).leader, p0.replicas[0]);
  EXPECT_EQ(c.Partition(t, 0).leader_epoch, p0.leader_epoch + 2);  // moved away, then back
  EXPECT_EQ(c.Partition(t, 0).isr, p0.isr) << "the ISR is left as it is";
  EXPECT_EQ(c.Partition(t, 1).leader, p1.replicas[1]) << "its preferred replica is not in sync";
  // A fenced preferred replica does not get its leaderships back.
  const int32_t fenced = p0.replicas[0];
  c.now_ms += c.config.session_timeout_ms + 1;
  c.HeartbeatAllBut({fenced});
  auto expired = CheckSessions(c.image, c.liveness, c.now_ms, c.config);
  ASSERT_TRUE(expired.reply.status.ok());
  c.Commit(expired.records);
  RecordBuilder builder(c.image);
  ASSERT_TRUE(ElectPreferredLeaders(builder).ok());
  c.Commit(std::move(builder).Take());
  for (int32_t p = 0; p < 6; ++p) EXPECT_NE(c.Partition(t, p).leader, fenced) << p;
}

}  // namespace
}  // namespace spool::controller

namespace spool::controller {
namespace {

// leader.imbalance.per.broker.percentage: a broker's preferred partitions move back only when
// more than that share of them is led elsewhere.
TEST(ControllerLeadership, PreferredLeaderElectionWaitsForTheImbalanceThreshold) {
  testing::TestController c;
  for (int32_t b = 1; b <= 3; ++b) c.AddBroker(b);
  const TopicId t = c.CreateTopic("t", 30, 3);  // 10 partitions preferred by each broker
  std::vector<int32_t> of_first;                // partitions broker replicas[0] of p0 prefers
  const int32_t broker = c.Partition(t, 0).replicas[0];
  for (int32_t p = 0; p < 30; ++p) {
    if (c.Partition(t, p).replicas[0] == broker) of_first.push_back(p);
  }
  ASSERT_GE(of_first.size(), 5u);
  auto move_away = [&](int32_t p) {
    const PartitionState s = c.Partition(t, p);
    RecordBuilder builder(c.image);
    ASSERT_TRUE(builder.Add(PartitionChange(t, p, s.replicas[1], std::nullopt)).ok());
    c.Commit(std::move(builder).Take());
  };
  // Percentage the broker does not lead, as the threshold sees it.
  const int64_t total = static_cast<int64_t>(of_first.size());
  int64_t moved = 0;
  while ((moved + 1) * 100 <= total * 10) move_away(of_first[static_cast<size_t>(moved++)]);
  {
    RecordBuilder builder(c.image);
    ASSERT_TRUE(ElectPreferredLeaders(builder, 10).ok());
    EXPECT_TRUE(std::move(builder).Take().empty())
        << moved << " of " << total << " is within 10%: nothing moves";
  }
  {
    RecordBuilder builder(c.image);
    ASSERT_TRUE(ElectPreferredLeaders(builder, 0).ok());
    EXPECT_FALSE(std::move(builder).Take().empty()) << "0%: any imbalance moves";
  }
  move_away(of_first[static_cast<size_t>(moved++)]);  // now above 10%
  RecordBuilder builder(c.image);
  ASSERT_TRUE(ElectPreferredLeaders(builder, 10).ok());
  c.Commit(std::move(builder).Take());
  for (int32_t p : of_first) EXPECT_EQ(c.Partition(t, p).leader, broker) << p;
}

}  // namespace
}  // namespace spool::controller
