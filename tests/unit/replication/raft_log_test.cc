// RaftLog: the core's in-memory log (terms, slices, overwrites, compaction, durability marks)
// and the simulator's disk model (MemoryStorage).
#include "replication/raft/raft_log.h"

#include <gtest/gtest.h>

#include "replication/sim/memory_storage.h"

namespace spool::raft {
namespace {

Entry E(uint64_t term, uint64_t index, std::string data = "") {
  return Entry{Term{term}, Index{index}, EntryType::kNormal, std::move(data)};
}

std::shared_ptr<const Snapshot> Snap(uint64_t index, uint64_t term) {
  auto s = std::make_shared<Snapshot>();
  s->meta.index = Index{index};
  s->meta.term = Term{term};
  s->data = "img";
  return s;
}

TEST(RaftLog, TermsAndSlices) {
  RaftLog log(nullptr, {E(1, 1), E(1, 2), E(2, 3), E(2, 4), E(4, 5)});
  EXPECT_EQ(log.first_index(), Index{1});
  EXPECT_EQ(log.last_index(), Index{5});
  EXPECT_EQ(log.last_term(), Term{4});
  EXPECT_EQ(log.TermAt(Index{0}), Term{0});
  EXPECT_EQ(log.TermAt(Index{3}), Term{2});
  EXPECT_EQ(log.TermAt(Index{6}), std::nullopt);
  EXPECT_EQ(log.Slice(Index{2}, Index{5}, 2).size(), 2u);
  EXPECT_EQ(log.Slice(Index{4}, Index{9}, 10).size(), 2u);
  EXPECT_EQ(log.FirstIndexOfTermRun(Index{4}), Index{3});
  EXPECT_EQ(log.LastIndexOfTerm(Term{2}), Index{4});
  EXPECT_EQ(log.LastIndexOfTerm(Term{3}), std::nullopt);
  EXPECT_TRUE(log.IsUpToDate(Index{1}, Term{5}));
  EXPECT_TRUE(log.IsUpToDate(Index{5}, Term{4}));
  EXPECT_FALSE(log.IsUpToDate(Index{4}, Term{4}));
  EXPECT_FALSE(log.IsUpToDate(Index{9}, Term{3}));
}

TEST(RaftLog, OverwriteMovesDurabilityMarksBack) {
  RaftLog log(nullptr, {E(1, 1), E(1, 2), E(1, 3)});
  EXPECT_EQ(log.persisted_index(), Index{3});
  log.Append({E(2, 2), E(2, 3), E(2, 4)});
  EXPECT_EQ(log.last_index(), Index{4});
  EXPECT_EQ(log.persisted_index(), Index{1});
  std::vector<Entry> handed = log.TakeUnhanded();
  ASSERT_EQ(handed.size(), 3u);
  EXPECT_EQ(handed.front().index, Index{2});
  // A report for the overwritten entry (3, term 1) must not count.
  log.MarkPersisted(Index{3}, Term{1});
  EXPECT_EQ(log.persisted_index(), Index{1});
  log.MarkPersisted(Index{4}, Term{2});
  EXPECT_EQ(log.persisted_index(), Index{4});
}

TEST(RaftLog, EntriesNotHandedOutCannotBeReportedDurable) {
  RaftLog log(nullptr, {});
  log.Append({E(1, 1)});
  log.MarkPersisted(Index{1}, Term{1});
  EXPECT_EQ(log.persisted_index(), Index{0});
  EXPECT_EQ(log.TakeUnhanded().size(), 1u);
  log.MarkPersisted(Index{1}, Term{1});
  EXPECT_EQ(log.persisted_index(), Index{1});
}

TEST(RaftLog, CompactKeepsTheSuffixAndResetDropsEverything) {
  RaftLog log(nullptr, {E(1, 1), E(1, 2), E(2, 3), E(2, 4)});
  log.Compact(Snap(2, 1));
  EXPECT_EQ(log.first_index(), Index{3});
  EXPECT_EQ(log.TermAt(Index{2}), Term{1});
  EXPECT_EQ(log.TermAt(Index{1}), std::nullopt);
  EXPECT_EQ(log.last_index(), Index{4});
  log.Reset(Snap(10, 3));
  EXPECT_EQ(log.first_index(), Index{11});
  EXPECT_EQ(log.last_index(), Index{10});
  EXPECT_EQ(log.last_term(), Term{3});
}

TEST(RaftLog, RecoveredEntriesOverlappingTheSnapshotAreSkipped) {
  RaftLog log(Snap(2, 1), {E(1, 2), E(1, 3)});
  EXPECT_EQ(log.first_index(), Index{3});
  EXPECT_EQ(log.last_index(), Index{3});
}

TEST(MemoryStorage, CrashLosesWhatWasNotSynced) {
  sim::MemoryStorage disk;
  Ready a;
  a.hard_state = HardState{Term{1}, NodeId{2}};
  a.entries = {E(1, 1), E(1, 2)};
  disk.Write(a);
  disk.CompleteSync(disk.CaptureForSync());
  Ready b;
  b.hard_state = HardState{Term{2}, NodeId{3}};
  b.entries = {E(2, 2)};
  disk.Write(b);
  const sim::DiskImage before_sync = disk.CaptureForSync();
  Ready c;
  c.entries = {E(2, 3)};
  disk.Write(c);
  // The sync issued before `c` covers `b` only.
  disk.CompleteSync(before_sync);
  EXPECT_EQ(disk.written().entries.size(), 3u);
  disk.Crash();
  RecoveredState s = disk.Recover();
  EXPECT_EQ(s.hard_state, (HardState{Term{2}, NodeId{3}}));
  ASSERT_EQ(s.entries.size(), 2u);
  EXPECT_EQ(s.entries[1], E(2, 2));
}

TEST(MemoryStorage, SnapshotDropsCoveredEntriesOrAllOnMismatch) {
  sim::DiskImage image;
  Ready a;
  a.entries = {E(1, 1), E(1, 2), E(1, 3), E(1, 4)};
  sim::ApplyWrites(a, image);
  Ready b;
  b.snapshot = Snap(2, 1);
  sim::ApplyWrites(b, image);
  ASSERT_EQ(image.entries.size(), 2u);
  EXPECT_EQ(image.entries.front().index, Index{3});
  EXPECT_TRUE(image.Holds(Index{1}, Term{9})) << "below the snapshot: covered";
  EXPECT_TRUE(image.Holds(Index{2}, Term{1}));
  EXPECT_TRUE(image.Holds(Index{4}, Term{1}));
  EXPECT_FALSE(image.Holds(Index{4}, Term{2}));
  EXPECT_FALSE(image.Holds(Index{5}, Term{1}));
  Ready c;
  c.snapshot = Snap(4, 2);  // a leader's snapshot the log does not match at index 4
  sim::ApplyWrites(c, image);
  EXPECT_TRUE(image.entries.empty());
  EXPECT_EQ(image.snapshot->meta.index, Index{4});
}

}  // namespace
}  // namespace spool::raft
