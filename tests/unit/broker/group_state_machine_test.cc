// The group state machine (broker/group_coordinator.h) driven by a ManualClock: each test
// breaks if the rule it names is broken (an error code, a generation, a leader, an assignment).
#include "broker/group_coordinator.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace spool::broker {
namespace {

using v1::ErrorCode;
void PermitUnused(ErrorCode) {}
using Protocols = std::vector<std::pair<std::string, std::string>>;

struct JoinSlot {
  std::optional<v1::JoinGroupResponse> r;
  int calls = 0;
};
struct SyncSlot {
  std::optional<v1::SyncGroupResponse> r;
  int calls = 0;
};

class GroupCoordinatorTest : public ::testing::Test {
 protected:
  GroupCoordinatorTest() { config_.initial_rebalance_delay_ms = 0; }
  GroupCoordinator& gc() {
    if (!gc_) gc_ = std::make_unique<GroupCoordinator>(config_, clock_);
    return *gc_;
  }

  std::shared_ptr<JoinSlot> Join(const std::string& member, const std::string& instance = "",
                                 Protocols protocols = {{"range", "sub"}},
                                 int32_t session_ms = 10000, int32_t rebalance_ms = 30000,
                                 const std::string& group = "g") {
    v1::JoinGroupRequest req;
    req.set_group_id(group);
    req.set_member_id(member);
    req.set_group_instance_id(instance);
    req.set_session_timeout_ms(session_ms);
    req.set_rebalance_timeout_ms(rebalance_ms);
    req.set_protocol_type("consumer");
    req.set_client_id("client");
    for (const auto& [name, md] : protocols) {
      v1::JoinGroupProtocol* p = req.add_protocols();
      p->set_name(name);
      p->set_metadata(md);
    }
    auto slot = std::make_shared<JoinSlot>();
    gc().Join(req, "127.0.0.1:1", [slot](v1::JoinGroupResponse r) {
      slot->r = std::move(r);
      slot->calls++;
    });
    return slot;
  }

  // A dynamic member's first join: MEMBER_ID_REQUIRED, then the join with the id (parked or not).
  std::pair<std::string, std::shared_ptr<JoinSlot>> JoinNew(Protocols protocols = {
                                                                {"range", "sub"}}) {
    auto first = Join("", "", protocols);
    EXPECT_TRUE(first->r.has_value());
    EXPECT_EQ(first->r->error_code(), ErrorCode::MEMBER_ID_REQUIRED);
    const std::string id = first->r->member_id();
    EXPECT_FALSE(id.empty());
    return {id, Join(id, "", protocols)};
  }

  std::shared_ptr<SyncSlot> Sync(const std::string& member, int32_t generation,
                                 std::vector<std::pair<std::string, std::string>> assignments = {},
                                 const std::string& instance = "") {
    v1::SyncGroupRequest req;
    req.set_group_id("g");
    req.set_member_id(member);
    req.set_generation_id(generation);
    req.set_group_instance_id(instance);
    for (const auto& [m, a] : assignments) {
      v1::SyncGroupAssignment* sa = req.add_assignments();
      sa->set_member_id(m);
      sa->set_assignment(a);
    }
    auto slot = std::make_shared<SyncSlot>();
    gc().Sync(req, [slot](v1::SyncGroupResponse r) {
      slot->r = std::move(r);
      slot->calls++;
    });
    return slot;
  }

  ErrorCode Heartbeat(const std::string& member, int32_t generation,
                      const std::string& instance = "", const std::string& group = "g") {
    v1::HeartbeatRequest req;
    req.set_group_id(group);
    req.set_member_id(member);
    req.set_generation_id(generation);
    req.set_group_instance_id(instance);
    return gc().Heartbeat(req).error_code();
  }

  ErrorCode ValidateCommit(const std::string& member, int32_t generation,
                           const std::string& instance = "") {
    v1::OffsetCommitRequest req;
    req.set_group_id("g");
    req.set_member_id(member);
    req.set_generation_id(generation);
    req.set_group_instance_id(instance);
    std::string message;
    return gc().ValidateCommit(req, &message);
  }

  ErrorCode Leave(const std::string& member, const std::string& instance = "") {
    v1::LeaveGroupRequest req;
    req.set_group_id("g");
    v1::LeaveGroupMember* m = req.add_members();
    m->set_member_id(member);
    m->set_group_instance_id(instance);
    v1::LeaveGroupResponse r = gc().Leave(req);
    EXPECT_EQ(r.members_size(), 1);
    return r.members(0).error_code();
  }

  GroupState State() { return *gc().StateOf("g"); }

  // Advances the clock and fires whatever is due.
  void Advance(int64_t ms) {
    clock_.advance_ms(ms);
    gc().Tick();
  }

  // A single member joined and synced (Stable, generation 1).
  std::string StableSingle(const std::string& assignment = "a1") {
    auto [id, join] = JoinNew();
    EXPECT_TRUE(join->r.has_value());
    auto sync = Sync(id, join->r->generation_id(), {{id, assignment}});
    EXPECT_TRUE(sync->r.has_value());
    return id;
  }

  GroupConfig config_;
  ManualClock clock_;
  std::unique_ptr<GroupCoordinator> gc_;
};

TEST_F(GroupCoordinatorTest, FirstJoinWithoutMemberIdGetsMemberIdRequired) {
  auto first = Join("");
  ASSERT_TRUE(first->r.has_value());
  EXPECT_EQ(first->r->error_code(), ErrorCode::MEMBER_ID_REQUIRED);
  EXPECT_EQ(first->r->member_id().rfind("client-", 0), 0u) << first->r->member_id();
  // The id is not a member yet: a heartbeat with it is refused.
  EXPECT_EQ(Heartbeat(first->r->member_id(), 0), ErrorCode::UNKNOWN_MEMBER_ID);
  auto second = Join(first->r->member_id());
  ASSERT_TRUE(second->r.has_value());
  EXPECT_EQ(second->r->error_code(), ErrorCode::NONE);
  EXPECT_EQ(second->r->member_id(), first->r->member_id());
}

TEST_F(GroupCoordinatorTest, SingleMemberJoinAndSync) {
  auto [id, join] = JoinNew();
  ASSERT_TRUE(join->r.has_value());
  EXPECT_EQ(join->r->generation_id(), 1);
  EXPECT_EQ(join->r->leader(), id);
  EXPECT_EQ(join->r->protocol_name(), "range");
  ASSERT_EQ(join->r->members_size(), 1);
  EXPECT_EQ(join->r->members(0).metadata(), "sub");
  EXPECT_EQ(State(), GroupState::kCompletingRebalance);
  auto sync = Sync(id, 1, {{id, "my-partitions"}});
  ASSERT_TRUE(sync->r.has_value());
  EXPECT_EQ(sync->r->error_code(), ErrorCode::NONE);
  EXPECT_EQ(sync->r->assignment(), "my-partitions");
  EXPECT_EQ(State(), GroupState::kStable);
  EXPECT_EQ(Heartbeat(id, 1), ErrorCode::NONE);
}

TEST_F(GroupCoordinatorTest, InitialRebalanceDelayHoldsTheFirstJoin) {
  config_.initial_rebalance_delay_ms = 300;
  auto [a, ja] = JoinNew();
  EXPECT_FALSE(ja->r.has_value()) << "the first join waits out the initial delay";
  Advance(200);
  auto [b, jb] = JoinNew();
  Advance(100);  // the delay is over, but B joined during it: wait one more delay
  EXPECT_FALSE(ja->r.has_value());
  Advance(300);
  ASSERT_TRUE(ja->r.has_value());
  ASSERT_TRUE(jb->r.has_value());
  EXPECT_EQ(ja->r->generation_id(), 1);
  EXPECT_EQ(jb->r->generation_id(), 1) << "both members made it into the first generation";
}

TEST_F(GroupCoordinatorTest, SecondMemberTriggersRebalanceAndFollowerSyncWaitsForLeader) {
  const std::string a = StableSingle();
  auto [b, jb] = JoinNew();
  EXPECT_FALSE(jb->r.has_value()) << "parked until the existing member rejoins";
  EXPECT_EQ(State(), GroupState::kPreparingRebalance);
  EXPECT_EQ(Heartbeat(a, 1), ErrorCode::REBALANCE_IN_PROGRESS);
  auto ja = Join(a);
  ASSERT_TRUE(ja->r.has_value());
  ASSERT_TRUE(jb->r.has_value());
  EXPECT_EQ(ja->r->generation_id(), 2);
  EXPECT_EQ(jb->r->generation_id(), 2);
  EXPECT_EQ(ja->r->leader(), a) << "the leader stays when it rejoins";
  EXPECT_EQ(ja->r->members_size(), 2) << "the leader gets every member";
  EXPECT_EQ(jb->r->members_size(), 0) << "a follower gets none";
  auto sb = Sync(b, 2);
  EXPECT_FALSE(sb->r.has_value()) << "a follower's sync waits for the leader's";
  auto sa = Sync(a, 2, {{a, "pa"}, {b, "pb"}});
  ASSERT_TRUE(sa->r.has_value());
  ASSERT_TRUE(sb->r.has_value());
  EXPECT_EQ(sa->r->assignment(), "pa");
  EXPECT_EQ(sb->r->assignment(), "pb");
  EXPECT_EQ(State(), GroupState::kStable);
}

TEST_F(GroupCoordinatorTest, ProtocolSelectionByVotesAmongCommonProtocols) {
  auto [a, ja] = JoinNew({{"roundrobin", "x"}, {"range", "x"}});
  Sync(a, 1, {});
  auto [b, jb] = JoinNew({{"range", "y"}, {"roundrobin", "y"}});
  auto [c, jc] = JoinNew({{"range", "z"}, {"roundrobin", "z"}, {"sticky", "z"}});
  auto rejoin = Join(a, "", {{"roundrobin", "x"}, {"range", "x"}});
  ASSERT_TRUE(rejoin->r.has_value());
  EXPECT_EQ(rejoin->r->protocol_name(), "range") << "two votes for range, one for roundrobin";
  // Metadata in the leader's list is the chosen protocol's.
  for (const auto& m : rejoin->r->members()) {
    if (m.member_id() == b) {
      EXPECT_EQ(m.metadata(), "y");
    }
  }
}

TEST_F(GroupCoordinatorTest, OnlyProtocolsEveryMemberSupportsAreCandidates) {
  auto [a, ja] = JoinNew({{"range", "x"}, {"roundrobin", "x"}});
  Sync(a, 1, {});
  auto [b, jb] = JoinNew({{"roundrobin", "y"}});
  auto rejoin = Join(a, "", {{"range", "x"}, {"roundrobin", "x"}});
  ASSERT_TRUE(rejoin->r.has_value());
  EXPECT_EQ(rejoin->r->protocol_name(), "roundrobin");
}

TEST_F(GroupCoordinatorTest, JoinWithNoCommonProtocolIsInconsistent) {
  StableSingle();
  auto other = Join("", "", {{"sticky", "s"}});
  ASSERT_TRUE(other->r.has_value());
  EXPECT_EQ(other->r->error_code(), ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
  EXPECT_EQ(State(), GroupState::kStable) << "a refused join causes no rebalance";
}

TEST_F(GroupCoordinatorTest, SessionTimeoutOutsideLimitsIsRefused) {
  auto low = Join("", "", {{"range", ""}}, 1000);
  EXPECT_EQ(low->r->error_code(), ErrorCode::INVALID_SESSION_TIMEOUT);
  auto high = Join("", "", {{"range", ""}}, config_.max_session_timeout_ms + 1);
  EXPECT_EQ(high->r->error_code(), ErrorCode::INVALID_SESSION_TIMEOUT);
}

TEST_F(GroupCoordinatorTest, HeartbeatExpiryRemovesTheMemberAndRebalances) {
  const std::string a = StableSingle();
  auto [b, jb] = JoinNew();
  auto ja = Join(a);
  Sync(a, 2, {{a, "pa"}, {b, "pb"}});
  Sync(b, 2);
  ASSERT_EQ(State(), GroupState::kStable);
  // Only A heartbeats; B's 10 s session runs out.
  for (int i = 0; i < 4; i++) {
    Advance(3000);
    if (State() == GroupState::kStable) {
      EXPECT_EQ(Heartbeat(a, 2), ErrorCode::NONE);
    }
  }
  EXPECT_EQ(State(), GroupState::kPreparingRebalance);
  EXPECT_EQ(Heartbeat(b, 2), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(Heartbeat(a, 2), ErrorCode::REBALANCE_IN_PROGRESS);
  auto again = Join(a);
  ASSERT_TRUE(again->r.has_value());
  EXPECT_EQ(again->r->generation_id(), 3);
  EXPECT_EQ(again->r->members_size(), 1);
}

TEST_F(GroupCoordinatorTest, LeaveRebalancesAndUnknownLeaveIsRefused) {
  const std::string a = StableSingle();
  auto [b, jb] = JoinNew();
  Join(a);
  Sync(a, 2, {});
  Sync(b, 2);
  EXPECT_EQ(Leave("nobody"), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(State(), GroupState::kStable);
  EXPECT_EQ(Leave(b), ErrorCode::NONE);
  EXPECT_EQ(State(), GroupState::kPreparingRebalance);
  EXPECT_EQ(Heartbeat(b, 2), ErrorCode::UNKNOWN_MEMBER_ID);
  auto ja = Join(a);
  ASSERT_TRUE(ja->r.has_value());
  EXPECT_EQ(ja->r->generation_id(), 3);
  EXPECT_EQ(Leave(a), ErrorCode::NONE);
  EXPECT_EQ(State(), GroupState::kEmpty) << "the last member left";
}

TEST_F(GroupCoordinatorTest, StaleGenerationRefusedForHeartbeatSyncAndCommit) {
  const std::string a = StableSingle();
  auto [b, jb] = JoinNew();
  Join(a);
  Sync(a, 2, {});
  Sync(b, 2);
  EXPECT_EQ(Heartbeat(a, 1), ErrorCode::ILLEGAL_GENERATION);
  EXPECT_EQ(ValidateCommit(a, 1), ErrorCode::ILLEGAL_GENERATION);
  EXPECT_EQ(Sync(a, 1)->r->error_code(), ErrorCode::ILLEGAL_GENERATION);
  EXPECT_EQ(ValidateCommit(a, 2), ErrorCode::NONE);
}

TEST_F(GroupCoordinatorTest, UnknownMemberAndGroupRefused) {
  const std::string a = StableSingle();
  EXPECT_EQ(Heartbeat("nobody", 1), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(Heartbeat(a, 1, "", "no-such-group"), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(Sync("nobody", 1)->r->error_code(), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(ValidateCommit("nobody", 1), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(Join("nobody")->r->error_code(), ErrorCode::UNKNOWN_MEMBER_ID);
}

TEST_F(GroupCoordinatorTest, CommitOutsideMembershipOnlyWhileTheGroupHasNoMembers) {
  EXPECT_EQ(ValidateCommit("", -1), ErrorCode::NONE) << "no group yet: a manual-assignment commit";
  const std::string a = StableSingle();
  EXPECT_EQ(ValidateCommit("", -1), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(Leave(a), ErrorCode::NONE);
  EXPECT_EQ(ValidateCommit("", -1), ErrorCode::NONE);
}

TEST_F(GroupCoordinatorTest, CommitDuringCompletingRebalanceIsRebalanceInProgress) {
  auto [a, ja] = JoinNew();
  ASSERT_EQ(State(), GroupState::kCompletingRebalance);
  EXPECT_EQ(ValidateCommit(a, 1), ErrorCode::REBALANCE_IN_PROGRESS);
}

TEST_F(GroupCoordinatorTest, PendingMemberExpiresAfterTheSessionTimeout) {
  auto first = Join("");
  const std::string id = first->r->member_id();
  Advance(10001);
  auto late = Join(id);
  ASSERT_TRUE(late->r.has_value());
  EXPECT_EQ(late->r->error_code(), ErrorCode::UNKNOWN_MEMBER_ID);
}

// Two static members, Stable at generation 1 with assignments.
class StaticMemberTest : public GroupCoordinatorTest {
 protected:
  void SetUp() override {
    auto ja = Join("", "i-a");
    ASSERT_TRUE(ja->r.has_value());
    a_ = ja->r->member_id();
    Sync(a_, 1, {{a_, "pa1"}}, "i-a");
    auto jb = Join("", "i-b");
    EXPECT_FALSE(jb->r.has_value());
    auto ja2 = Join(a_, "i-a");
    ASSERT_TRUE(jb->r.has_value());
    b_ = jb->r->member_id();
    ASSERT_EQ(ja2->r->generation_id(), 2);
    auto sb = Sync(b_, 2, {}, "i-b");
    Sync(a_, 2, {{a_, "pa"}, {b_, "pb"}}, "i-a");
    ASSERT_EQ(sb->r->assignment(), "pb");
    ASSERT_EQ(State(), GroupState::kStable);
  }
  std::string a_, b_;
};

TEST_F(StaticMemberTest, RestartWithinSessionKeepsTheSlotWithoutRebalance) {
  // B restarts: no leave, a new JoinGroup with its instance id and no member id.
  Advance(5000);
  EXPECT_EQ(Heartbeat(a_, 2, "i-a"), ErrorCode::NONE);
  auto jb = Join("", "i-b");
  ASSERT_TRUE(jb->r.has_value()) << "answered at once: no rebalance";
  EXPECT_EQ(jb->r->error_code(), ErrorCode::NONE);
  EXPECT_EQ(jb->r->generation_id(), 2) << "no generation bump";
  EXPECT_NE(jb->r->member_id(), b_);
  EXPECT_EQ(State(), GroupState::kStable);
  auto sb = Sync(jb->r->member_id(), 2, {}, "i-b");
  ASSERT_TRUE(sb->r.has_value());
  EXPECT_EQ(sb->r->assignment(), "pb") << "the old slot's assignment";
  EXPECT_EQ(Heartbeat(a_, 2, "i-a"), ErrorCode::NONE) << "the other member saw no rebalance";
  // The old incarnation is fenced.
  EXPECT_EQ(Heartbeat(b_, 2, "i-b"), ErrorCode::FENCED_INSTANCE_ID);
  EXPECT_EQ(ValidateCommit(b_, 2, "i-b"), ErrorCode::FENCED_INSTANCE_ID);
  EXPECT_EQ(Leave(b_, "i-b"), ErrorCode::FENCED_INSTANCE_ID);
}

TEST_F(StaticMemberTest, RestartedLeaderIsToldToSkipTheAssignment) {
  auto ja = Join("", "i-a");
  ASSERT_TRUE(ja->r.has_value());
  EXPECT_EQ(ja->r->generation_id(), 2);
  EXPECT_EQ(ja->r->leader(), ja->r->member_id());
  EXPECT_TRUE(ja->r->skip_assignment());
  EXPECT_EQ(Sync(ja->r->member_id(), 2, {}, "i-a")->r->assignment(), "pa");
}

TEST_F(StaticMemberTest, RestartAfterSessionTimeoutRebalances) {
  // B is gone for longer than its session; A keeps heartbeating.
  for (int i = 0; i < 4; i++) {
    Advance(3000);
    PermitUnused(Heartbeat(a_, 2, "i-a"));
  }
  EXPECT_EQ(State(), GroupState::kPreparingRebalance) << "B's session expired";
  auto ja = Join(a_, "i-a");
  ASSERT_TRUE(ja->r.has_value());
  EXPECT_EQ(ja->r->generation_id(), 3);
  EXPECT_EQ(ja->r->members_size(), 1);
  Sync(a_, 3, {{a_, "all"}}, "i-a");
  auto jb = Join("", "i-b");
  EXPECT_FALSE(jb->r.has_value()) << "a new static member: rebalance";
  EXPECT_EQ(State(), GroupState::kPreparingRebalance);
  Join(a_, "i-a");
  ASSERT_TRUE(jb->r.has_value());
  EXPECT_EQ(jb->r->generation_id(), 4);
}

TEST_F(StaticMemberTest, StaticLeaveByInstanceId) {
  EXPECT_EQ(Leave("", "i-b"), ErrorCode::NONE);
  EXPECT_EQ(State(), GroupState::kPreparingRebalance);
  EXPECT_EQ(Leave("", "i-b"), ErrorCode::UNKNOWN_MEMBER_ID);
}

TEST_F(GroupCoordinatorTest, RebalanceTimeoutRemovesAMemberThatDidNotRejoin) {
  const std::string a = StableSingle();
  auto [b, jb] = JoinNew();
  Join(a);
  Sync(a, 2, {});
  Sync(b, 2);
  auto [c, jc] = JoinNew();
  ASSERT_EQ(State(), GroupState::kPreparingRebalance);
  auto ja = Join(a);
  EXPECT_FALSE(ja->r.has_value()) << "B has not rejoined yet";
  // B keeps heartbeating (alive) but never rejoins; the rebalance timeout is 30 s.
  for (int i = 0; i < 9; i++) {
    Advance(3000);
    EXPECT_EQ(Heartbeat(b, 2), ErrorCode::REBALANCE_IN_PROGRESS);
  }
  EXPECT_FALSE(ja->r.has_value());
  Advance(3001);
  ASSERT_TRUE(ja->r.has_value());
  ASSERT_TRUE(jc->r.has_value());
  EXPECT_EQ(ja->r->generation_id(), 3);
  EXPECT_EQ(ja->r->members_size(), 2);
  EXPECT_EQ(Heartbeat(b, 3), ErrorCode::UNKNOWN_MEMBER_ID) << "B was removed";
}

TEST_F(GroupCoordinatorTest, DeleteGroups) {
  std::vector<GroupRecord> tombstones;
  EXPECT_EQ(gc().Delete("g", &tombstones), ErrorCode::GROUP_ID_NOT_FOUND);
  const std::string a = StableSingle();
  gc().ApplyCommit("g", "t", 0, OffsetValue{5, -1, "", clock_.wall_ms()});
  EXPECT_EQ(gc().Delete("g", &tombstones), ErrorCode::NON_EMPTY_GROUP);
  EXPECT_TRUE(tombstones.empty());
  EXPECT_EQ(Leave(a), ErrorCode::NONE);
  EXPECT_EQ(gc().Delete("g", &tombstones), ErrorCode::NONE);
  ASSERT_EQ(tombstones.size(), 2u);
  EXPECT_EQ(tombstones[0].kind, GroupRecord::Kind::kOffset);
  EXPECT_TRUE(tombstones[0].tombstone());
  EXPECT_EQ(tombstones[1].kind, GroupRecord::Kind::kGroup);
  EXPECT_FALSE(gc().StateOf("g").has_value());
}

TEST_F(GroupCoordinatorTest, OffsetFetchReturnsMinusOneWithoutACommit) {
  gc().ApplyCommit("g", "t", 1, OffsetValue{42, 3, "md", clock_.wall_ms()});
  v1::OffsetFetchRequest req;
  req.set_group_id("g");
  v1::OffsetFetchTopic* t = req.add_topics();
  t->set_name("t");
  t->add_partitions(0);
  t->add_partitions(1);
  v1::OffsetFetchResponse r = gc().FetchOffsets(req);
  ASSERT_EQ(r.topics(0).partitions_size(), 2);
  EXPECT_EQ(r.topics(0).partitions(0).committed_offset(), -1);
  EXPECT_EQ(r.topics(0).partitions(1).committed_offset(), 42);
  EXPECT_EQ(r.topics(0).partitions(1).committed_leader_epoch(), 3);
  EXPECT_EQ(r.topics(0).partitions(1).metadata(), "md");
}

TEST_F(GroupCoordinatorTest, OffsetsOfAnEmptyGroupExpireAfterRetention) {
  config_.offsets_retention_ms = 60000;
  const std::string a = StableSingle();
  gc().ApplyCommit("g", "t", 0, OffsetValue{7, -1, "", clock_.wall_ms()});
  clock_.advance_ms(120000);
  EXPECT_TRUE(gc().ExpireOffsets().empty()) << "a group with members keeps its offsets";
  EXPECT_EQ(Leave(a), ErrorCode::NONE);
  clock_.advance_ms(59000);
  EXPECT_TRUE(gc().ExpireOffsets().empty()) << "empty for less than the retention";
  clock_.advance_ms(1000);
  std::vector<GroupRecord> out = gc().ExpireOffsets();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].tombstone());
  EXPECT_EQ(out[0].topic, "t");
  EXPECT_TRUE(out[1].tombstone());
  EXPECT_EQ(out[1].kind, GroupRecord::Kind::kGroup);
  EXPECT_FALSE(gc().StateOf("g").has_value());
}

TEST_F(GroupCoordinatorTest, GroupMetadataRecordsReplayIntoAStableGroup) {
  const std::string a = StableSingle("assigned");
  std::vector<GroupRecord> records = gc().TakeRecords();
  ASSERT_FALSE(records.empty());
  const GroupRecord& last = records.back();
  ASSERT_EQ(last.kind, GroupRecord::Kind::kGroup);
  ASSERT_TRUE(last.metadata.has_value());
  EXPECT_EQ(last.metadata->generation, 1);
  ASSERT_EQ(last.metadata->members.size(), 1u);
  EXPECT_EQ(last.metadata->members[0].assignment, "assigned");

  GroupCoordinator fresh(config_, clock_);
  for (const GroupRecord& r : records) fresh.Replay(r);
  fresh.FinishLoad();
  EXPECT_EQ(fresh.StateOf("g"), GroupState::kStable);
  EXPECT_EQ(fresh.GenerationOf("g"), 1);
  v1::HeartbeatRequest hb;
  hb.set_group_id("g");
  hb.set_member_id(a);
  hb.set_generation_id(1);
  EXPECT_EQ(fresh.Heartbeat(hb).error_code(), ErrorCode::NONE);
  v1::DescribedGroup d = fresh.Describe("g");
  ASSERT_EQ(d.members_size(), 1);
  EXPECT_EQ(d.members(0).member_assignment(), "assigned");
  EXPECT_EQ(d.protocol_name(), "range");
}

TEST_F(GroupCoordinatorTest, ShutdownAnswersParkedRequests) {
  const std::string a = StableSingle();
  auto [b, jb] = JoinNew();
  ASSERT_FALSE(jb->r.has_value());
  gc().Shutdown(ErrorCode::NOT_COORDINATOR);
  ASSERT_TRUE(jb->r.has_value());
  EXPECT_EQ(jb->r->error_code(), ErrorCode::NOT_COORDINATOR);
  EXPECT_EQ(jb->calls, 1);
}

TEST_F(GroupCoordinatorTest, DescribeAndListGroups) {
  StableSingle();
  v1::DescribedGroup d = gc().Describe("g");
  EXPECT_EQ(d.group_state(), "Stable");
  EXPECT_EQ(d.protocol_type(), "consumer");
  EXPECT_EQ(gc().Describe("nope").error_code(), ErrorCode::GROUP_ID_NOT_FOUND);
  std::vector<v1::ListedGroup> all;
  gc().List({}, &all);
  ASSERT_EQ(all.size(), 1u);
  std::vector<v1::ListedGroup> empty_only;
  gc().List({"Empty"}, &empty_only);
  EXPECT_TRUE(empty_only.empty());
}

}  // namespace
}  // namespace spool::broker
