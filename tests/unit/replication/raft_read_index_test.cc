// ReadIndex: a leader confirms it is still leader with a round of heartbeats acknowledged by a
// majority before a read at its commit index is served.
#include <gtest/gtest.h>

#include "raft_test_util.h"

namespace spool::raft::testing {
namespace {

std::vector<ReadState> Reads(TestCluster& c, int id) {
  std::vector<ReadState> out;
  for (const Ready& rd : c.readys(id)) out.insert(out.end(), rd.reads.begin(), rd.reads.end());
  return out;
}

std::vector<uint64_t> FailedReads(TestCluster& c, int id) {
  std::vector<uint64_t> out;
  for (const Ready& rd : c.readys(id)) {
    out.insert(out.end(), rd.failed_reads.begin(), rd.failed_reads.end());
  }
  return out;
}

TEST(RaftReadIndex, ConfirmedAfterAMajorityAcknowledgesLeadership) {
  TestCluster c(3);
  c.Campaign(1);
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Advance(c.config().heartbeat_interval_ns);
  const Index commit = c.node(1).commit_index();
  ASSERT_EQ(commit, I(2));
  EXPECT_EQ(c.node(2).RequestRead(1).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(c.node(1).RequestRead(7).ok());
  c.Flush();
  EXPECT_TRUE(Reads(c, 1).empty()) << "confirmed before any follower answered";
  c.Stabilize();
  const std::vector<ReadState> reads = Reads(c, 1);
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].request_id, 7u);
  EXPECT_EQ(reads[0].index, commit);
}

TEST(RaftReadIndex, OneFollowerSufficesOfThree) {
  TestCluster c(3);
  c.Campaign(1);
  c.Isolate(3);
  ASSERT_TRUE(c.node(1).RequestRead(1).ok());
  c.Stabilize();
  EXPECT_EQ(Reads(c, 1).size(), 1u);
}

TEST(RaftReadIndex, NewLeaderRefusesUntilItCommittedInItsTerm) {
  TestCluster c(3);
  c.node(1).StartElection();
  c.DeliverRound();  // pre-votes
  c.DeliverRound();  // pre-vote grants; votes go out
  c.DeliverRound();  // votes
  c.DeliverRound();  // grants: leader, no-op not yet acknowledged
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  ASSERT_EQ(c.node(1).commit_index(), I(0));
  EXPECT_EQ(c.node(1).RequestRead(1).code(), absl::StatusCode::kUnavailable);
  c.Stabilize();
  EXPECT_TRUE(c.node(1).RequestRead(1).ok());
}

TEST(RaftReadIndex, PartitionedLeaderNeverConfirmsAndFailsTheReadWhenItStepsDown) {
  TestCluster c(3);
  c.Campaign(1);
  c.Advance(c.config().heartbeat_interval_ns);
  c.Isolate(1);
  ASSERT_TRUE(c.node(1).RequestRead(42).ok());
  c.RunFor(3 * c.config().election_timeout_ns);
  EXPECT_NE(c.node(1).role(), Role::kLeader);
  EXPECT_TRUE(Reads(c, 1).empty());
  EXPECT_EQ(FailedReads(c, 1), std::vector<uint64_t>{42});
  // Meanwhile the majority moved on.
  const int leader = c.Leader();
  ASSERT_TRUE(leader == 2 || leader == 3);
  ASSERT_TRUE(c.node(leader).Propose("newer").ok());
  c.Stabilize();
  ASSERT_TRUE(c.node(leader).RequestRead(43).ok());
  c.Stabilize();
  ASSERT_EQ(Reads(c, leader).size(), 1u);
  EXPECT_EQ(Reads(c, leader)[0].index, c.node(leader).commit_index());
}

TEST(RaftReadIndex, SingleVoterConfirmsAtOnce) {
  TestCluster c(1);
  c.Campaign(1);
  ASSERT_TRUE(c.node(1).RequestRead(5).ok());
  c.Flush();
  ASSERT_EQ(Reads(c, 1).size(), 1u);
  EXPECT_EQ(Reads(c, 1)[0].index, I(1));
}

}  // namespace
}  // namespace spool::raft::testing
