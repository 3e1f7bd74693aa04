// Raft elections: randomized timeouts, one vote per term (durable before it is announced),
// pre-vote and check-quorum.
#include <gtest/gtest.h>

#include "raft_test_util.h"

namespace spool::raft::testing {
namespace {

TEST(RaftConfig, RejectsBadVoterSets) {
  Config c;
  c.id = NodeId{1};
  for (std::vector<uint32_t> ids : std::vector<std::vector<uint32_t>>{
           {}, {1, 2}, {1, 2, 3, 4}, {1, 1, 2}, {0, 1, 2}, {2, 3, 4}}) {
    c.voters.clear();
    for (uint32_t v : ids) c.voters.push_back(NodeId{v});
    EXPECT_FALSE(ValidateConfig(c).ok()) << ids.size();
  }
  c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
  EXPECT_TRUE(ValidateConfig(c).ok());
  c.heartbeat_interval_ns = c.election_timeout_ns;
  EXPECT_FALSE(ValidateConfig(c).ok());
}

TEST(RaftElection, ElectionTimeoutIsRandomizedWithinOneToTwoTimeouts) {
  TestCluster c(5);
  const int64_t t = c.config().election_timeout_ns;
  std::set<int64_t> deadlines;
  for (int i = 1; i <= 5; ++i) {
    const int64_t d = c.node(i).next_deadline_ns();
    EXPECT_GE(d, t);
    EXPECT_LT(d, 2 * t);
    deadlines.insert(d);
  }
  EXPECT_GT(deadlines.size(), 1u) << "every node drew the same timeout";
}

TEST(RaftElection, SingleVoterElectsItselfAndCommitsOnlyWhenDurable) {
  TestCluster c(1);
  c.HoldPersistence(1, true);
  c.Campaign(1);
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.node(1).term(), T(1));
  // The no-op is appended but not durable yet: not committed.
  EXPECT_EQ(c.node(1).log().last_index(), I(1));
  EXPECT_EQ(c.node(1).commit_index(), I(0));
  c.HoldPersistence(1, false);
  c.Flush();
  EXPECT_EQ(c.node(1).commit_index(), I(1));
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Stabilize();
  EXPECT_EQ(c.node(1).commit_index(), I(2));
  ASSERT_EQ(c.applied(1).size(), 2u);
  EXPECT_EQ(c.applied(1)[1].data, "a");
}

TEST(RaftElection, ThreeVotersElectOneLeaderAndReplicateTheNoop) {
  TestCluster c(3);
  c.Campaign(2);
  ASSERT_EQ(c.node(2).role(), Role::kLeader);
  for (int i : {1, 3}) {
    EXPECT_EQ(c.node(i).role(), Role::kFollower);
    EXPECT_EQ(c.node(i).leader(), NodeId{2});
    EXPECT_EQ(c.node(i).term(), T(1));
    EXPECT_EQ(c.node(i).vote(), NodeId{2});
  }
  c.Advance(c.config().heartbeat_interval_ns);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(c.node(i).commit_index(), I(1)) << i;
    ASSERT_EQ(c.applied(i).size(), 1u);
    EXPECT_EQ(c.applied(i)[0].type, EntryType::kNoop);
  }
}

TEST(RaftElection, PersistBeforeSendVoteAndTermTravelWithTheMessages) {
  TestCluster c(3, [](Config& cfg) { cfg.pre_vote = false; });
  c.HoldPersistence(1, true);
  c.HoldPersistence(3, true);
  c.Campaign(1);
  // The candidate's Ready that carries the Vote requests also carries its new term and
  // self-vote: under the contract they are durable before the requests leave.
  bool saw_votes = false;
  for (const Ready& rd : c.readys(1)) {
    bool votes = false;
    for (const Message& m : rd.messages) votes = votes || m.type == MessageType::kVote;
    if (!votes) continue;
    saw_votes = true;
    ASSERT_TRUE(rd.hard_state.has_value());
    EXPECT_EQ(rd.hard_state->term, T(1));
    EXPECT_EQ(rd.hard_state->vote, NodeId{1});
  }
  EXPECT_TRUE(saw_votes);
  // Nothing left node 1 while its persistence is held, so nobody voted.
  EXPECT_EQ(c.node(2).term(), T(0));
  c.HoldPersistence(1, false);
  c.Stabilize();
  // Node 2 granted; its Ready with the grant carries the vote. Node 3's grant is held.
  for (const Ready& rd : c.readys(2)) {
    for (const Message& m : rd.messages) {
      if (m.type == MessageType::kVoteResponse && !m.reject) {
        ASSERT_TRUE(rd.hard_state.has_value());
        EXPECT_EQ(rd.hard_state->vote, NodeId{1});
      }
    }
  }
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.disk(3).hard_state.term, T(0)) << "held: nothing of node 3 is durable";
}

TEST(RaftElection, RestartedVoterKeepsItsVote) {
  TestCluster c(3, [](Config& cfg) { cfg.pre_vote = false; });
  c.Cut(1, 3);
  c.Campaign(1);  // node 2 votes for 1 in term 1
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  c.Restart(2);  // from its durable state
  EXPECT_EQ(c.node(2).term(), T(1));
  EXPECT_EQ(c.node(2).vote(), NodeId{1});
  // Node 3 campaigns in term 1 too (it never heard of term 1): node 2 must not grant.
  Message vote;
  vote.type = MessageType::kVote;
  vote.from = NodeId{3};
  vote.to = NodeId{2};
  vote.term = T(1);
  vote.index = I(5);
  vote.log_term = T(1);
  c.node(2).Step(vote);
  ASSERT_TRUE(c.node(2).HasReady());
  Ready rd = c.node(2).TakeReady();
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type, MessageType::kVoteResponse);
  EXPECT_TRUE(rd.messages[0].reject);
}

TEST(RaftElection, VoteIsRefusedToACandidateWithAShorterLog) {
  TestCluster c(3);
  c.Campaign(1);
  ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  // Node 3 misses an entry the other two hold; then 1 goes away and 3 times out first.
  c.Isolate(3);
  ASSERT_TRUE(c.node(1).Propose("y").ok());
  c.Stabilize();
  c.HealAll();
  c.Isolate(1);
  c.Advance(3 * c.config().election_timeout_ns, {2});  // node 2 leaves node 1's lease
  c.Campaign(3);
  EXPECT_NE(c.node(3).role(), Role::kLeader) << "node 2 has the longer log and must refuse";
  c.Campaign(2);
  EXPECT_EQ(c.node(2).role(), Role::kLeader);
}

// Pre-vote: a node cut off from the quorum cannot win a pre-vote, so it never raises its term,
// and when it rejoins the stable leader keeps its term and leadership.
void RejoiningNodeScenario(bool pre_vote, bool check_quorum, Term* leader_term_after,
                           Term* rejoined_term) {
  TestCluster c(3, [&](Config& cfg) {
    cfg.pre_vote = pre_vote;
    cfg.check_quorum = check_quorum;
  });
  c.Campaign(1);
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  c.Isolate(3);
  c.RunFor(10 * c.config().election_timeout_ns);
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  *rejoined_term = c.node(3).term();
  c.HealAll();
  c.RunFor(3 * c.config().election_timeout_ns);
  *leader_term_after = c.Leader() == 1 ? c.node(1).term() : Term{0};
}

TEST(RaftPreVote, PartitionedNodeRejoiningDoesNotDisruptAStableLeader) {
  Term leader_term;
  Term rejoined;
  RejoiningNodeScenario(/*pre_vote=*/true, /*check_quorum=*/true, &leader_term, &rejoined);
  EXPECT_EQ(rejoined, T(1)) << "the isolated node raised its term despite pre-vote";
  EXPECT_EQ(leader_term, T(1)) << "the leader was disrupted";
}

TEST(RaftPreVote, WithoutPreVoteTheRejoiningNodeDisruptsTheLeader) {
  // The control experiment: the scenario above does detect disruption.
  Term leader_term;
  Term rejoined;
  RejoiningNodeScenario(/*pre_vote=*/false, /*check_quorum=*/false, &leader_term, &rejoined);
  EXPECT_GT(rejoined, T(1));
  EXPECT_NE(leader_term, T(1));
}

TEST(RaftCheckQuorum, IsolatedLeaderStepsDownAndTheRestElectANewOne) {
  TestCluster c(3);
  c.Campaign(1);
  c.Isolate(1);
  c.RunFor(3 * c.config().election_timeout_ns);
  EXPECT_NE(c.node(1).role(), Role::kLeader);
  const int leader = c.Leader();
  EXPECT_TRUE(leader == 2 || leader == 3) << leader;
  EXPECT_EQ(c.node(1).term(), T(1)) << "pre-vote keeps the isolated node's term";
}

TEST(RaftCheckQuorum, FollowerInLeaseIgnoresVoteRequests) {
  TestCluster c(3);
  c.Campaign(1);
  c.Advance(c.config().heartbeat_interval_ns);
  Message vote;
  vote.type = MessageType::kVote;
  vote.from = NodeId{3};
  vote.to = NodeId{2};
  vote.term = T(5);
  vote.index = I(100);
  vote.log_term = T(4);
  c.node(2).Step(vote);
  EXPECT_EQ(c.node(2).term(), T(1));
  EXPECT_EQ(c.node(2).leader(), NodeId{1});
}

}  // namespace
}  // namespace spool::raft::testing
