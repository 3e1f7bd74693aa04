// Leader epochs of the partition log (KIP-101): the OffsetsForLeaderEpoch answer over a list
// with gaps, entries from stamped appends, assign_epoch, truncate_to, retention, the bound on
// the list, and the high watermark's round trip through log.checkpoint. Crash recovery of the
// list is in epoch_recovery_test.cc.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "log/checkpoint_file.h"
#include "log/leader_epoch_cache.h"
#include "log/log_format.h"
#include "log/partition_log.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"
#include "tests/unit/log/epoch_test_util.h"

namespace spool {
namespace {

using log::EpochEndOffset;
using log::LeaderEpochCache;
using log::LogConfig;
using log::PartitionLog;
using testing::AppendUnder;
using testing::Entries;

EpochEndOffset End(int32_t epoch, int64_t offset) {
  return EpochEndOffset{epoch, Offset(offset)};
}

// ---- the list's rules, without I/O ----

TEST(LeaderEpochCacheTest, EndOffsetForEpochWithGaps) {
  LeaderEpochCache c;
  EXPECT_EQ(c.EndOffsetFor(0, Offset(0)), EpochEndOffset{}) << "empty list";
  EXPECT_EQ(c.EndOffsetFor(7, Offset(50)), EpochEndOffset{});
  ASSERT_TRUE(c.Add(2, Offset(0)));
  ASSERT_TRUE(c.Add(4, Offset(10)));
  ASSERT_TRUE(c.Add(7, Offset(25)));
  EXPECT_EQ(c.EndOffsetFor(1, Offset(40)), EpochEndOffset{}) << "below the first";
  EXPECT_EQ(c.EndOffsetFor(-1, Offset(40)), EpochEndOffset{});
  EXPECT_EQ(c.EndOffsetFor(2, Offset(40)), End(2, 10)) << "exact";
  EXPECT_EQ(c.EndOffsetFor(3, Offset(40)), End(2, 10)) << "between";
  EXPECT_EQ(c.EndOffsetFor(4, Offset(40)), End(4, 25));
  EXPECT_EQ(c.EndOffsetFor(6, Offset(40)), End(4, 25));
  EXPECT_EQ(c.EndOffsetFor(7, Offset(40)), End(7, 40)) << "latest: the log end";
  EXPECT_EQ(c.EndOffsetFor(1000, Offset(40)), End(7, 40)) << "above the latest";
}

TEST(LeaderEpochCacheTest, OnlyHigherEpochsAddAndAnEmptyEpochIsReplaced) {
  LeaderEpochCache c;
  EXPECT_FALSE(c.Add(-1, Offset(0))) << "an unstamped batch starts no epoch";
  EXPECT_TRUE(c.Add(3, Offset(0)));
  EXPECT_FALSE(c.Add(3, Offset(5)));
  EXPECT_FALSE(c.Add(1, Offset(9)));
  EXPECT_TRUE(c.Add(5, Offset(10), /*sticky=*/true));  // assigned, no batch yet
  EXPECT_TRUE(c.Add(6, Offset(10)));                   // replaces epoch 5 at the same start
  EXPECT_EQ(c.entries(), Entries({{3, 0}, {6, 10}}));
  EXPECT_TRUE(LeaderEpochCache::WellOrdered(c.entries()));
}

TEST(LeaderEpochCacheTest, TruncationsAndPersistableEntries) {
  LeaderEpochCache c;
  c.Add(1, Offset(0));
  c.Add(2, Offset(10));
  c.Add(3, Offset(20));
  c.Add(4, Offset(30), /*sticky=*/true);
  // Durable below 15: the entry at 20 is left out, the sticky one stays.
  EXPECT_EQ(c.Persistable(Offset(15)), Entries({{1, 0}, {2, 10}, {4, 30}}));
  EXPECT_EQ(c.Persistable(Offset(31)), c.entries());
  // Loaded back (after a reopen), the entry at the log end is sticky again.
  LeaderEpochCache loaded(c.entries(), /*sticky_from=*/Offset(30));
  EXPECT_EQ(loaded.Persistable(Offset(30)), c.entries());
  EXPECT_EQ(LeaderEpochCache(c.entries(), Offset(31)).Persistable(Offset(30)),
            Entries({{1, 0}, {2, 10}, {3, 20}}));
  LeaderEpochCache end = c;
  EXPECT_FALSE(end.DropAbove(Offset(30)));
  EXPECT_TRUE(end.TruncateFromEnd(Offset(20)));
  EXPECT_EQ(end.entries(), Entries({{1, 0}, {2, 10}}));
  LeaderEpochCache start = c;
  EXPECT_TRUE(start.TruncateFromStart(Offset(15)));
  EXPECT_EQ(start.entries(), Entries({{2, 15}, {3, 20}, {4, 30}}));
  EXPECT_FALSE(start.TruncateFromStart(Offset(15)));
  EXPECT_FALSE(start.TruncateFromStart(Offset(3)));
  EXPECT_TRUE(start.TruncateFromStart(Offset(20)));
  EXPECT_EQ(start.entries(), Entries({{3, 20}, {4, 30}}));
}

TEST(LeaderEpochCacheTest, TheListIsBoundedByWhatTheCheckpointHolds) {
  LeaderEpochCache c;
  const int32_t n = static_cast<int32_t>(log::kCheckpointMaxEpochs) + 3;
  for (int32_t e = 0; e < n; ++e) c.Add(e, Offset(e));
  EXPECT_EQ(c.size(), log::kCheckpointMaxEpochs);
  EXPECT_EQ(c.entries().front(), (log::LeaderEpochEntry{3, Offset(3)}));
  EXPECT_EQ(c.EndOffsetFor(2, Offset(n)), EpochEndOffset{});
  EXPECT_EQ(c.EndOffsetFor(3, Offset(n)), End(3, 4));
  // And a checkpoint holds it.
  log::CheckpointData d{Offset(n), Offset(3), std::nullopt, c.entries()};
  auto back = log::DecodeCheckpoint(log::EncodeCheckpoint(d));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->leader_epochs, c.entries());
}

TEST(LeaderEpochCacheTest, ACheckpointWithEpochsOutOfOrderIsDamaged) {
  log::CheckpointData d{Offset(10), Offset(0), std::nullopt, Entries({{3, 0}, {2, 5}})};
  EXPECT_TRUE(absl::IsDataLoss(log::DecodeCheckpoint(log::EncodeCheckpoint(d)).status()));
  d.leader_epochs = Entries({{1, 5}, {2, 4}});
  EXPECT_TRUE(absl::IsDataLoss(log::DecodeCheckpoint(log::EncodeCheckpoint(d)).status()));
  d.leader_epochs = Entries({{1, 5}, {2, 5}, {4, 9}});
  EXPECT_TRUE(log::DecodeCheckpoint(log::EncodeCheckpoint(d)).ok());
}

// ---- through the log ----

class LeaderEpochTest : public testing::LogTest {
 protected:
  static LogConfig Config() {
    LogConfig c;
    c.segment_bytes = 2000;
    c.index_interval_bytes = 300;
    c.retention_ms = -1;
    return c;
  }
};

TEST_F(LeaderEpochTest, EndOffsetForEpochOverTheLog) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    EXPECT_FALSE(plog->latest_epoch().has_value());
    EXPECT_EQ(plog->end_offset_for_epoch(0), EpochEndOffset{}) << "empty log";
    EXPECT_EQ(plog->end_offset_for_epoch(-1), EpochEndOffset{});
    // Epochs 0 (offsets 0-2), 2 (3-4, two batches), 5 (5-9).
    const int64_t base1 = co_await AppendUnder(*plog, 3, 0);
    EXPECT_EQ(base1, 0);
    const int64_t base2 = co_await AppendUnder(*plog, 1, 2);
    EXPECT_EQ(base2, 3);
    const int64_t base3 = co_await AppendUnder(*plog, 1, 2);
    EXPECT_EQ(base3, 4);
    const int64_t base4 = co_await AppendUnder(*plog, 5, 5);
    EXPECT_EQ(base4, 5);
    EXPECT_EQ(plog->leader_epochs(), Entries({{0, 0}, {2, 3}, {5, 5}}));
    EXPECT_EQ(plog->latest_epoch(), (log::LeaderEpochEntry{5, Offset(5)}));
    EXPECT_EQ(plog->end_offset_for_epoch(-1), EpochEndOffset{}) << "below the first";
    EXPECT_EQ(plog->end_offset_for_epoch(0), End(0, 3)) << "exact";
    EXPECT_EQ(plog->end_offset_for_epoch(1), End(0, 3)) << "between";
    EXPECT_EQ(plog->end_offset_for_epoch(2), End(2, 5));
    EXPECT_EQ(plog->end_offset_for_epoch(4), End(2, 5));
    EXPECT_EQ(plog->end_offset_for_epoch(5), End(5, 10)) << "latest";
    EXPECT_EQ(plog->end_offset_for_epoch(9), End(5, 10)) << "above the latest";
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LeaderEpochTest, StampedAppendsAddEntriesOnlyForHigherEpochs) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    co_await AppendUnder(*plog, 2, -1);  // unstamped
    EXPECT_TRUE(plog->leader_epochs().empty());
    co_await AppendUnder(*plog, 2, 4);
    co_await AppendUnder(*plog, 2, 4);
    co_await AppendUnder(*plog, 2, 3);  // lower: kept as data, starts nothing
    co_await AppendUnder(*plog, 2, 7);
    EXPECT_EQ(plog->leader_epochs(), Entries({{4, 2}, {7, 8}}));
    // A failed append leaves no entry.
    std::vector<std::byte> bad = testing::EpochBatch(2, 9);
    bad.back() ^= std::byte{1};
    auto r = co_await plog->append(bad);
    EXPECT_TRUE(absl::IsDataLoss(r.status())) << r.status();
    EXPECT_EQ(plog->latest_epoch()->epoch, 7);
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LeaderEpochTest, AssignEpochAtTheLogEnd) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    co_await AppendUnder(*plog, 3, 1);
    const uint64_t checkpoints = plog->stats().checkpoints;
    Status st = co_await plog->assign_epoch(2, Offset(2));
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << "not at the log end: " << st;
    st = co_await plog->assign_epoch(-3, Offset(3));
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
    CO_ASSERT_OK(co_await plog->assign_epoch(2, Offset(3)));
    EXPECT_EQ(plog->leader_epochs(), Entries({{1, 0}, {2, 3}}));
    EXPECT_EQ(plog->stats().checkpoints, checkpoints + 1) << "written at once";
    EXPECT_EQ(plog->durable_end_offset().value(), 3) << "the log is durable first";
    EXPECT_EQ(plog->end_offset_for_epoch(2), End(2, 3));
    EXPECT_EQ(plog->end_offset_for_epoch(1), End(1, 3));
    // Not above the latest: no-op, whatever the offset.
    CO_ASSERT_OK(co_await plog->assign_epoch(2, Offset(99)));
    CO_ASSERT_OK(co_await plog->assign_epoch(1, Offset(3)));
    EXPECT_EQ(plog->stats().checkpoints, checkpoints + 1);
    // A second leader change before any batch replaces the empty epoch.
    CO_ASSERT_OK(co_await plog->assign_epoch(4, Offset(3)));
    EXPECT_EQ(plog->leader_epochs(), Entries({{1, 0}, {4, 3}}));
    const int64_t base5 = co_await AppendUnder(*plog, 2, 4);
    EXPECT_EQ(base5, 3);
    EXPECT_EQ(plog->leader_epochs(), Entries({{1, 0}, {4, 3}}));
    EXPECT_EQ(plog->end_offset_for_epoch(4), End(4, 5));
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LeaderEpochTest, TruncateToRemovesTheEntriesFromTheCut) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    for (int32_t e = 0; e < 6; ++e) co_await AppendUnder(*plog, 4, e, 300);  // rolls too
    EXPECT_GT(plog->stats().segments, 1u);
    EXPECT_EQ(plog->leader_epochs().size(), 6u);
    // Offset 13 is inside epoch 3's batch (12-15): the cut goes at 12, epoch 3 goes with it.
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(13)));
    EXPECT_EQ(plog->log_end_offset().value(), 12);
    EXPECT_EQ(plog->leader_epochs(), Entries({{0, 0}, {1, 4}, {2, 8}}));
    EXPECT_EQ(plog->end_offset_for_epoch(5), End(2, 12));
    // assign_epoch, then a truncation below it removes it again.
    CO_ASSERT_OK(co_await plog->assign_epoch(9, Offset(12)));
    EXPECT_EQ(plog->latest_epoch(), (log::LeaderEpochEntry{9, Offset(12)}));
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(13)));  // past the end: nothing to cut
    EXPECT_EQ(plog->latest_epoch()->epoch, 9);
    // At the end: no batch goes, but the epoch assigned there does (a follower cutting back to
    // where it diverged stops claiming an epoch it wrote nothing under), durably.
    const uint64_t checkpoints = plog->stats().checkpoints;
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(12)));
    EXPECT_EQ(plog->log_end_offset().value(), 12);
    EXPECT_EQ(plog->leader_epochs(), Entries({{0, 0}, {1, 4}, {2, 8}}));
    EXPECT_EQ(plog->stats().checkpoints, checkpoints + 1);
    CO_ASSERT_OK(co_await plog->assign_epoch(9, Offset(12)));
    // Offset 5 is inside epoch 1's batch (4-7): rounded down to 4, epoch 1 goes too.
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(5)));
    EXPECT_EQ(plog->log_end_offset().value(), 4);
    EXPECT_EQ(plog->leader_epochs(), Entries({{0, 0}}));
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LeaderEpochTest, RetentionMovesTheFirstEntryToTheLogStart) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig c = Config();
    c.retention_bytes = 2500;
    auto plog = co_await OpenLog(c);
    CO_ASSERT_TRUE(plog != nullptr);
    // Epoch 1 fills a few segments, epoch 2 starts in a later one.
    for (int i = 0; i < 8; ++i) co_await AppendUnder(*plog, 2, 1, 300);
    const int64_t epoch2 = co_await AppendUnder(*plog, 2, 2, 300);
    for (int i = 0; i < 4; ++i) co_await AppendUnder(*plog, 2, 2, 300);
    auto deleted = co_await plog->apply_retention();
    CO_ASSERT_OK(deleted);
    CO_ASSERT_TRUE(*deleted > 0);
    const int64_t start = plog->log_start_offset().value();
    CO_ASSERT_TRUE(start > 0);
    if (start < epoch2) {
      EXPECT_EQ(plog->leader_epochs(), Entries({{1, start}, {2, epoch2}}));
    } else {
      EXPECT_EQ(plog->leader_epochs(), Entries({{2, start}}));
    }
    CO_ASSERT_OK(co_await plog->close());
    auto again = co_await OpenLog(c);
    CO_ASSERT_TRUE(again != nullptr);
    EXPECT_EQ(again->log_start_offset().value(), start);
    EXPECT_EQ(again->leader_epochs().front().start_offset.value(), start);
    CO_ASSERT_OK(co_await again->close());
  }());
}

TEST_F(LeaderEpochTest, TruncateBelowTheLogStartClearsTheList) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig c = Config();
    c.retention_bytes = 1000;
    auto plog = co_await OpenLog(c);
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 10; ++i) co_await AppendUnder(*plog, 2, i / 3, 300);
    auto deleted = co_await plog->apply_retention();
    CO_ASSERT_OK(deleted);
    CO_ASSERT_TRUE(plog->log_start_offset().value() > 2);
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(1)));
    EXPECT_EQ(plog->log_end_offset().value(), 1);
    EXPECT_TRUE(plog->leader_epochs().empty());
    const int64_t base6 = co_await AppendUnder(*plog, 1, 8);
    EXPECT_EQ(base6, 1);
    EXPECT_EQ(plog->leader_epochs(), Entries({{8, 1}}));
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LeaderEpochTest, HighWatermarkRoundTripAndCap) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    EXPECT_FALSE(plog->recovered_high_watermark().has_value());
    for (int i = 0; i < 10; ++i) co_await AppendUnder(*plog, 1, 0);
    plog->set_high_watermark(Offset(7));
    plog->set_high_watermark(Offset(-5));  // ignored
    CO_ASSERT_OK(co_await plog->close());
    plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    EXPECT_EQ(plog->recovered_high_watermark(), Offset(7));
    // A HW above the log end (the broker's, before a truncation) comes back capped.
    plog->set_high_watermark(Offset(10));
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(4)));  // writes the checkpoint, HW 10
    auto ck = co_await log::ReadCheckpoint(*fs_, dir_);
    CO_ASSERT_OK(ck);
    EXPECT_EQ(ck->high_watermark, Offset(10));
    plog.reset();  // a crash
    plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    EXPECT_EQ(plog->recovered_high_watermark(), Offset(4));
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LeaderEpochTest, SettingTheHighWatermarkWritesNothing) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    co_await AppendUnder(*plog, 3, 0);
    CO_ASSERT_OK(co_await plog->flush());
    const uint64_t checkpoints = plog->stats().checkpoints;
    const uint64_t syncs = plog->stats().fdatasyncs;
    plog->set_high_watermark(Offset(3));
    CO_ASSERT_OK(co_await plog->wait_durable(Offset(2)));
    EXPECT_EQ(plog->stats().checkpoints, checkpoints);
    EXPECT_EQ(plog->stats().fdatasyncs, syncs);
    plog.reset();  // a crash before any checkpoint write: the HW was not stored
    plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    EXPECT_FALSE(plog->recovered_high_watermark().has_value());
    CO_ASSERT_OK(co_await plog->close());
  }());
}

}  // namespace
}  // namespace spool
