// Snapshots: compaction of the log and InstallSnapshot for a follower whose next index fell
// below the leader's log start.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "raft_test_util.h"

namespace spool::raft::testing {
namespace {

TEST(RaftSnapshot, CompactRefusesIndexesNotYetApplied) {
  TestCluster c(1);
  c.Campaign(1);
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Stabilize();
  EXPECT_EQ(c.node(1).Compact(I(3), "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(c.node(1).Compact(I(2), "image").ok());
  EXPECT_EQ(c.node(1).Compact(I(1), "older").code(), absl::StatusCode::kInvalidArgument);
  c.Flush();
  ASSERT_NE(c.disk(1).snapshot, nullptr);
  EXPECT_EQ(c.disk(1).snapshot->meta.index, I(2));
  EXPECT_EQ(c.disk(1).snapshot->meta.term, T(1));
  EXPECT_TRUE(c.disk(1).entries.empty());
  EXPECT_EQ(c.node(1).log().first_index(), I(3));
}

TEST(RaftSnapshot, LaggingFollowerGetsTheSnapshotThenTheEntriesAfterIt) {
  TestCluster c(3);
  c.Campaign(1);
  c.Isolate(3);
  for (int k = 0; k < 20; ++k) ASSERT_TRUE(c.node(1).Propose(absl::StrCat("e", k)).ok());
  c.Stabilize();
  ASSERT_EQ(c.node(1).commit_index(), I(21));
  ASSERT_TRUE(c.node(1).Compact(I(15), "image@15").ok());
  for (int k = 20; k < 23; ++k) ASSERT_TRUE(c.node(1).Propose(absl::StrCat("e", k)).ok());
  c.Stabilize();
  c.HealAll();
  c.Advance(c.config().heartbeat_interval_ns);
  c.Advance(c.config().heartbeat_interval_ns);

  EXPECT_GE(c.CountDelivered(MessageType::kSnapshot, 1, false), 1);
  bool restored = false;
  for (const Ready& rd : c.readys(3)) {
    if (rd.restore) {
      restored = true;
      EXPECT_EQ(rd.restore->data, "image@15");
      EXPECT_EQ(rd.restore->meta.index, I(15));
      ASSERT_NE(rd.snapshot, nullptr) << "a received snapshot is persisted too";
    }
  }
  EXPECT_TRUE(restored);
  const RaftLog& log = c.node(3).log();
  EXPECT_EQ(log.snapshot_index(), I(15));
  EXPECT_EQ(log.last_index(), c.node(1).log().last_index());
  EXPECT_EQ(c.node(3).commit_index(), c.node(1).commit_index());
  // After the restore, the follower applied exactly the entries after the snapshot.
  ASSERT_EQ(c.applied(3).size(), 9u);
  EXPECT_EQ(c.applied(3).front().index, I(16));
  EXPECT_EQ(c.applied(3).back().data, "e22");

  // Its disk: the snapshot, then entries 16.. (nothing older).
  ASSERT_NE(c.disk(3).snapshot, nullptr);
  EXPECT_EQ(c.disk(3).snapshot->meta.index, I(15));
  ASSERT_FALSE(c.disk(3).entries.empty());
  EXPECT_EQ(c.disk(3).entries.front().index, I(16));
  c.Restart(3);
  EXPECT_EQ(c.node(3).log().first_index(), I(16));
  EXPECT_EQ(c.node(3).log().last_index(), I(24));
  EXPECT_EQ(c.node(3).commit_index(), I(15));
}

TEST(RaftSnapshot, FollowerWhoseLogDivergesDropsItWhenInstallingASnapshot) {
  TestCluster c(3);
  c.Campaign(1);
  c.Advance(c.config().heartbeat_interval_ns);
  // Node 3 leads term 2 alone for a moment and writes entries nobody else gets.
  c.Isolate(3);
  c.RunFor(3 * c.config().election_timeout_ns);
  ASSERT_NE(c.node(3).role(), Role::kLeader);
  // Give node 3 divergent entries directly: a leader of term 1 that never existed elsewhere
  // cannot be built with pre-vote on, so feed it an append of a phantom term-1 suffix.
  Message m;
  m.type = MessageType::kAppend;
  m.from = NodeId{1};
  m.to = NodeId{3};
  m.term = c.node(3).term();
  m.index = I(1);
  m.log_term = T(1);
  for (uint64_t i = 2; i <= 6; ++i) m.entries.push_back(Entry{T(1), I(i), EntryType::kNormal, "d"});
  c.node(3).Step(m);
  c.Flush();
  ASSERT_EQ(c.disk(3).entries.size(), 6u);
  // Meanwhile the real leader commits other entries and compacts past them.
  const int leader = c.Leader();
  ASSERT_TRUE(leader == 1 || leader == 2);
  for (int k = 0; k < 10; ++k) ASSERT_TRUE(c.node(leader).Propose("r").ok());
  c.Stabilize();
  const Index applied = c.node(leader).delivered_index();
  ASSERT_TRUE(c.node(leader).Compact(applied, "image").ok());
  c.HealAll();
  c.RunFor(c.config().election_timeout_ns);
  EXPECT_EQ(c.node(3).log().snapshot_index(), applied);
  ASSERT_NE(c.disk(3).snapshot, nullptr);
  for (const Entry& e : c.disk(3).entries) {
    EXPECT_GT(e.index, applied);
    EXPECT_NE(e.data, "d");
  }
}

}  // namespace
}  // namespace spool::raft::testing
