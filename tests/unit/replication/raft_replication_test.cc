// Raft log replication: fast back-off on a mismatch, the commit rule of §5.4.2 (Figure 8 of the
// Raft paper) and commit by a majority of durable logs.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "raft_test_util.h"

namespace spool::raft::testing {
namespace {

std::vector<Term> Terms(const RaftLog& log) {
  std::vector<Term> out;
  for (Index i = log.first_index(); i <= log.last_index(); ++i) out.push_back(log.At(i).term);
  return out;
}

TEST(RaftReplication, ProposalsCommitOnEveryNodeInOrder) {
  TestCluster c(5);
  c.Campaign(3);
  for (int k = 0; k < 10; ++k) ASSERT_TRUE(c.node(3).Propose(absl::StrCat("v", k)).ok());
  c.Advance(c.config().heartbeat_interval_ns);
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(c.node(i).commit_index(), I(11)) << i;
    ASSERT_EQ(c.applied(i).size(), 11u) << i;
    for (int k = 0; k < 10; ++k) EXPECT_EQ(c.applied(i)[k + 1].data, absl::StrCat("v", k));
  }
  EXPECT_FALSE(c.node(1).Propose("not leader").ok());
}

TEST(RaftReplication, FastBackOffSkipsAConflictingTermInOneRoundTrip) {
  TestCluster c(3);
  c.Campaign(1);
  c.Isolate(1);
  // The deposed leader keeps 30 entries of term 1 that never commit.
  for (int k = 0; k < 30; ++k) ASSERT_TRUE(c.node(1).Propose("stale").ok());
  c.Stabilize();
  c.RunFor(3 * c.config().election_timeout_ns);
  const int leader = c.Leader();
  ASSERT_TRUE(leader == 2 || leader == 3) << leader;
  for (int k = 0; k < 5; ++k) ASSERT_TRUE(c.node(leader).Propose("new").ok());
  c.Stabilize();
  const int rejects_before = c.CountDelivered(MessageType::kAppendResponse, 1, /*reject=*/true);
  c.HealAll();
  c.RunFor(c.config().election_timeout_ns);
  const int rejects = c.CountDelivered(MessageType::kAppendResponse, 1, true) - rejects_before;
  EXPECT_LE(rejects, 2) << "one entry at a time would take about 30";
  EXPECT_EQ(Terms(c.node(1).log()), Terms(c.node(leader).log()));
  EXPECT_EQ(c.node(1).commit_index(), c.node(leader).commit_index());
  for (const Entry& e : c.applied(1)) EXPECT_NE(e.data, "stale");
}

TEST(RaftReplication, ShortFollowerLogIsFilledFromItsEnd) {
  TestCluster c(3);
  c.Campaign(1);
  c.Isolate(3);
  for (int k = 0; k < 20; ++k) ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  c.HealAll();
  c.RunFor(c.config().election_timeout_ns);
  EXPECT_EQ(c.node(3).log().last_index(), I(21));
  EXPECT_EQ(c.node(3).commit_index(), I(21));
  EXPECT_LE(c.CountDelivered(MessageType::kAppendResponse, 3, true), 1);
}

TEST(RaftReplication, LeaderCountsItsOwnEntryOnlyOnceDurable) {
  TestCluster c(3);
  c.Campaign(1);
  c.Advance(c.config().heartbeat_interval_ns);
  ASSERT_EQ(c.node(1).commit_index(), I(1));
  c.HoldPersistence(1, true);
  auto index = c.node(1).Propose("a");
  ASSERT_TRUE(index.ok());
  c.Flush();
  // One follower has it durably (say a driver that writes in parallel with sending): with the
  // leader's own copy not yet durable that is one of three, not a majority.
  Message ack;
  ack.type = MessageType::kAppendResponse;
  ack.from = NodeId{2};
  ack.to = NodeId{1};
  ack.term = c.node(1).term();
  ack.index = *index;
  c.node(1).Step(ack);
  EXPECT_EQ(c.node(1).commit_index(), I(1));
  c.HoldPersistence(1, false);
  EXPECT_EQ(c.node(1).commit_index(), *index);
}

// Figure 8 of the Raft paper. X (term 1, index 2) reaches a majority only in term 3, while a
// rival's entry of term 2 sits at the same index on a node that can still win an election.
void Figure8Setup(TestCluster& c) {
  c.Campaign(1);  // term 1: no-op at index 1, committed everywhere
  c.Advance(c.config().heartbeat_interval_ns);
  ASSERT_EQ(c.node(5).commit_index(), I(1));
  // (a) S1 replicates X at index 2 to S2 only.
  c.Cut(1, 3);
  c.Cut(1, 4);
  c.Cut(1, 5);
  ASSERT_TRUE(c.node(1).Propose("X").ok());
  c.Stabilize();
  ASSERT_EQ(c.node(2).log().last_index(), I(2));
  // (b) S5 wins term 2 with S3 and S4, appends its no-op at index 2 and is cut off at once.
  c.HealAll();
  c.Isolate(1);
  c.Isolate(2);
  c.node(5).StartElection();
  c.DeliverRound();  // vote requests reach S3 and S4
  c.DeliverRound();  // their grants reach S5
  ASSERT_EQ(c.node(5).role(), Role::kLeader);
  ASSERT_EQ(c.node(5).term(), T(2));
  c.Isolate(5);
  c.Stabilize();
  ASSERT_EQ(c.node(5).log().At(I(2)).term, T(2));
  // (c) S1 crashes and restarts (from its durable state), then wins term 3 (S3 and S4 voted in term
  // 2, so it takes two tries). Its no-op (index 3) is kept from the followers, so only X, of term
  // 1, reaches them.
  c.Restart(1);
  c.HealAll();
  c.Isolate(5);
  c.SetFilter([](Message& m) {
    if (m.type == MessageType::kAppend && m.from == NodeId{1}) {
      std::erase_if(m.entries, [](const Entry& e) { return e.index >= Index{3}; });
    }
    return true;
  });
  c.node(1).StartElection();
  c.Stabilize();
  c.node(1).StartElection();
  c.Stabilize();
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  ASSERT_EQ(c.node(1).term(), T(3));
  for (int i = 2; i <= 4; ++i) {
    ASSERT_EQ(c.node(i).log().last_index(), I(2)) << i;
    ASSERT_EQ(c.node(i).log().At(I(2)).data, "X") << i;
  }
}

TEST(RaftCommitRule, EntryOfAnOlderTermOnAMajorityIsNotCommittedByCounting) {
  TestCluster c(5, [](Config& cfg) {
    cfg.pre_vote = false;
    cfg.check_quorum = false;
    cfg.max_entries_per_append = 1;
  });
  Figure8Setup(c);
  // X is on S1..S4 yet not committed: S5 (last term 2) could still be elected and erase it.
  for (int i = 1; i <= 5; ++i) EXPECT_LT(c.node(i).commit_index(), I(2)) << i;
  // (d) S1 fails, S5 restarts and wins term 4 and overwrites X, which is safe only because X never
  // counted.
  c.SetFilter(nullptr);
  c.HealAll();
  c.Isolate(1);
  c.Restart(5);  // it still thinks it leads term 2 (check-quorum is off here)
  c.node(5).StartElection();
  c.Stabilize();
  c.node(5).StartElection();
  c.Stabilize();
  ASSERT_EQ(c.node(5).role(), Role::kLeader);
  EXPECT_EQ(c.node(5).term(), T(4));
  c.Advance(c.config().heartbeat_interval_ns);
  for (int i = 2; i <= 5; ++i) {
    EXPECT_EQ(c.node(i).log().At(I(2)).term, T(2)) << i;
    EXPECT_GE(c.node(i).commit_index(), I(3)) << i;
    for (const Entry& e : c.applied(i)) EXPECT_NE(e.data, "X") << i;
  }
}

TEST(RaftCommitRule, OlderEntryCommitsWithTheFirstEntryOfTheLeadersTerm) {
  TestCluster c(5, [](Config& cfg) {
    cfg.pre_vote = false;
    cfg.check_quorum = false;
    cfg.max_entries_per_append = 1;
  });
  Figure8Setup(c);
  c.SetFilter(nullptr);
  c.Advance(c.config().heartbeat_interval_ns);
  EXPECT_EQ(c.node(1).commit_index(), I(3));
  ASSERT_GE(c.applied(1).size(), 3u);
  EXPECT_EQ(c.applied(1)[1].data, "X");
}

}  // namespace
}  // namespace spool::raft::testing
