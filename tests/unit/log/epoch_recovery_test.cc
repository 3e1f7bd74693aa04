// Durability and recovery of the leader-epoch list (log/FORMAT.md section 6): after a crash the
// list has an entry for every epoch of a surviving batch, keeps what assign_epoch() returned OK
// for, and has nothing above the recovered log end; a clean close/open gives the same list; a
// damaged checkpoint is rebuilt from the segments. epoch_power_cut_test.cc checks the same
// invariant under random operations and power cuts.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "log/checkpoint_file.h"
#include "log/log_format.h"
#include "log/partition_log.h"
#include "log/record/batch_header.h"
#include "tests/support/fault_file_system.h"
#include "tests/support/hook_file_system.h"
#include "tests/support/log_files.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"
#include "tests/unit/log/epoch_test_util.h"

namespace spool {
namespace {

using log::LogConfig;
using log::PartitionLog;
using testing::AppendUnder;
using testing::Entries;

LogConfig Config() {
  return testing::SmallSegments(2000, 300);
}

class EpochRecoveryTest : public testing::LogTest {
 protected:
  // The position in the active (only) segment of the batch that starts at `offset`.
  static size_t PositionOf(const std::vector<std::byte>& file, int64_t offset) {
    for (auto [pos, size] : testing::SplitBatches(file)) {
      auto h = record::ParseHeader(std::span(file).subspan(pos));
      if (h.ok() && h->base_offset == offset) return pos;
    }
    ADD_FAILURE() << "no batch at offset " << offset;
    return 0;
  }
};

TEST_F(EpochRecoveryTest, ACrashPastTheRecoveryPointRebuildsTheListExactly) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    // Epochs 0-2 across rolls (their sync rounds write checkpoints), then 3-5 in the active
    // segment, neither synced nor checkpointed.
    for (int32_t e = 0; e < 3; ++e) {
      for (int i = 0; i < 3; ++i) co_await AppendUnder(*plog, 2, e, 300);
    }
    CO_ASSERT_OK(co_await plog->flush());
    for (int32_t e = 3; e < 6; ++e) co_await AppendUnder(*plog, 1, e, 10);
    const testing::Epochs before = plog->leader_epochs();
    EXPECT_EQ(before.size(), 6u);
    auto ck = co_await log::ReadCheckpoint(*fs_, dir_);
    CO_ASSERT_OK(ck);
    EXPECT_LT(ck->leader_epochs.size(), before.size()) << "the test must exercise the rebuild";
    const int64_t end = plog->log_end_offset().value();
    plog.reset();  // a crash: no close

    plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    EXPECT_FALSE(plog->recovery_stats().clean_shutdown);
    EXPECT_GT(plog->recovery_stats().segments_scanned, 0u);
    EXPECT_EQ(plog->log_end_offset().value(), end);
    EXPECT_EQ(plog->leader_epochs(), before);
    // Open wrote the rebuilt list.
    ck = co_await log::ReadCheckpoint(*fs_, dir_);
    CO_ASSERT_OK(ck);
    EXPECT_EQ(ck->leader_epochs, before);
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(EpochRecoveryTest, AnAssignedEpochWithoutABatchSurvivesACrash) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    co_await AppendUnder(*plog, 4, 1);
    CO_ASSERT_OK(co_await plog->assign_epoch(2, Offset(4)));
    plog.reset();
    plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    EXPECT_EQ(plog->leader_epochs(), Entries({{1, 0}, {2, 4}}));
    // And again after a second crash, still before any batch of epoch 2.
    plog.reset();
    plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    EXPECT_EQ(plog->leader_epochs(), Entries({{1, 0}, {2, 4}}));
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(EpochRecoveryTest, APowerCutKeepsTheAssignedEpochAndDropsUnsyncedOnes) {
  reactor_->block_on([&]() -> Task<void> {
    testing::FaultFileSystem fault(*reactor_, *fs_, tmp_.file("scratch"));
    auto opened = co_await PartitionLog::Open(fault, clock_, dir_, Config());
    CO_ASSERT_OK(opened);
    co_await AppendUnder(**opened, 3, 1);
    CO_ASSERT_OK(co_await (*opened)->assign_epoch(4, Offset(3)));
    co_await AppendUnder(**opened, 2, 4);  // not synced
    co_await AppendUnder(**opened, 2, 6);  // not synced
    EXPECT_EQ((*opened)->leader_epochs(), Entries({{1, 0}, {4, 3}, {6, 5}}));
    opened->reset();
    CO_ASSERT_OK(co_await fault.SimulatePowerCut());
    opened = co_await PartitionLog::Open(fault, clock_, dir_, Config());
    CO_ASSERT_OK(opened);
    EXPECT_EQ((*opened)->log_end_offset().value(), 3);
    EXPECT_EQ((*opened)->leader_epochs(), Entries({{1, 0}, {4, 3}}));
    CO_ASSERT_OK(co_await (*opened)->close());
  }());
}

TEST_F(EpochRecoveryTest, ATruncatedTailTakesTheEntriesAboveTheCut) {
  reactor_->block_on([&]() -> Task<void> {
    // Epoch 1 at 0-9, 2 at 10-19, 3 at 20-29 (each assigned first: durable up to its start),
    // 4 at 30-39 (not assigned, not synced). Two batches of 5 per epoch.
    auto plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    for (int32_t e = 1; e <= 4; ++e) {
      if (e < 4) CO_ASSERT_OK(co_await plog->assign_epoch(e, plog->log_end_offset()));
      co_await AppendUnder(*plog, 5, e, 10);
      co_await AppendUnder(*plog, 5, e, 10);
    }
    CO_ASSERT_TRUE(plog->stats().segments == 1);
    const testing::Epochs all = Entries({{1, 0}, {2, 10}, {3, 20}, {4, 30}});
    EXPECT_EQ(plog->leader_epochs(), all);
    plog.reset();
    // Each case starts from this crash's files (a reopen moves the recovery point to its end).
    const std::string snapshot = tmp_.file("snapshot");
    std::filesystem::copy(dir_, snapshot);
    const std::string seg = testing::SegmentPath(dir_, 0, log::kLogSuffix);
    const std::vector<std::byte> file = testing::Slurp(seg);

    struct Case {
      int64_t cut_at;  // the batch whose start becomes the new end (+ a few torn bytes)
      testing::Epochs want;
    };
    const std::vector<Case> cases = {
        {35, all},  // epoch 4 keeps its first batch
        {30, Entries({{1, 0}, {2, 10}, {3, 20}})},
        {25, Entries({{1, 0}, {2, 10}, {3, 20}})},
        {20, Entries({{1, 0}, {2, 10}, {3, 20}})},  // assigned at the end: kept
        {15, Entries({{1, 0}, {2, 10}})},           // above the end: gone
        {5, Entries({{1, 0}})},
    };
    for (const Case& c : cases) {
      std::filesystem::remove_all(dir_);
      std::filesystem::copy(snapshot, dir_);
      const size_t pos = PositionOf(file, c.cut_at);
      std::vector<std::byte> cut(file.begin(), file.begin() + static_cast<ptrdiff_t>(pos + 7));
      testing::Spill(seg, cut);
      plog = co_await OpenLog(Config());
      CO_ASSERT_TRUE(plog != nullptr);
      EXPECT_EQ(plog->log_end_offset().value(), c.cut_at);
      EXPECT_EQ(plog->leader_epochs(), c.want) << "cut at " << c.cut_at;
      plog.reset();
    }
  }());
}

// A batch of a new epoch that becomes visible while a sync round's last fdatasync runs is not
// covered by it; the checkpoint that round writes (it passed a sealed segment) must not name
// the epoch, or a power cut that loses the batch would keep an entry for it at the log end.
TEST_F(EpochRecoveryTest, AnEpochStartedDuringASyncRoundIsNotStoredAsDurable) {
  reactor_->block_on([&]() -> Task<void> {
    // The power-cut layer over the hook layer: a datasync takes its durability snapshot when it
    // is called, then parks in the hook, so a write made while it is parked is not covered.
    testing::HookFileSystem hook(*reactor_, *fs_);
    testing::FaultFileSystem fault(*reactor_, hook, tmp_.file("scratch"));
    auto opened = co_await PartitionLog::Open(fault, clock_, dir_, Config());
    CO_ASSERT_OK(opened);
    PartitionLog& plog = **opened;
    co_await AppendUnder(plog, 2, 1, 900);
    co_await AppendUnder(plog, 2, 1, 900);  // rolls: the first segment is sealed, not synced
    CO_ASSERT_TRUE(plog.stats().segments == 2);
    const int64_t covered_end = plog.log_end_offset().value();
    // Hold the active segment's datasync, the last of the round (after the sealed one's).
    hook.HoldSyncs(log::SegmentStem(Offset(covered_end - 2)) + std::string(log::kLogSuffix));
    Status waited = absl::UnknownError("not run");
    reactor_->spawn([](PartitionLog& l, Offset o, Status& out) -> Task<void> {
      out = co_await l.wait_durable(o);
    }(plog, Offset(covered_end - 1), waited));
    const std::function<bool()> parked = [&] { return hook.syncs_parked() == 1; };
    CO_ASSERT_OK(co_await testing::WaitFor(*reactor_, parked));
    const int64_t started_at = co_await AppendUnder(plog, 1, 2, 10);
    hook.ReleaseSyncs();
    const std::function<bool()> done = [&] { return !absl::IsUnknown(waited); };
    CO_ASSERT_OK(co_await testing::WaitFor(*reactor_, done));
    CO_ASSERT_OK(waited);
    EXPECT_EQ(started_at, covered_end);
    EXPECT_EQ(plog.durable_end_offset().value(), covered_end) << "the new batch is not durable";
    EXPECT_EQ(plog.leader_epochs(), Entries({{1, 0}, {2, covered_end}}));
    auto ck = co_await log::ReadCheckpoint(fault, dir_);
    CO_ASSERT_OK(ck);
    EXPECT_EQ(ck->recovery_point.value(), covered_end - 2) << "the round wrote the checkpoint";
    EXPECT_EQ(ck->leader_epochs, Entries({{1, 0}}));
    opened->reset();
    CO_ASSERT_OK(co_await fault.SimulatePowerCut());
    opened = co_await PartitionLog::Open(fault, clock_, dir_, Config());
    CO_ASSERT_OK(opened);
    EXPECT_EQ((*opened)->log_end_offset().value(), covered_end);
    EXPECT_EQ((*opened)->leader_epochs(), Entries({{1, 0}}));
    CO_ASSERT_OK(co_await (*opened)->close());
  }());
}

TEST_F(EpochRecoveryTest, ACleanCloseKeepsTheIdenticalList) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    for (int32_t e = 0; e < 5; ++e) co_await AppendUnder(*plog, 3, 2 * e, 250);
    CO_ASSERT_OK(co_await plog->assign_epoch(11, plog->log_end_offset()));
    const testing::Epochs before = plog->leader_epochs();
    plog->set_high_watermark(Offset(9));
    CO_ASSERT_OK(co_await plog->close());
    plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    EXPECT_TRUE(plog->recovery_stats().clean_shutdown);
    EXPECT_EQ(plog->leader_epochs(), before);
    EXPECT_EQ(plog->recovered_high_watermark(), Offset(9));
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(EpochRecoveryTest, ADamagedCheckpointIsRebuiltFromTheSegments) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenLog(Config());
    CO_ASSERT_TRUE(plog != nullptr);
    for (int32_t e = 0; e < 4; ++e) {
      for (int i = 0; i < 3; ++i) co_await AppendUnder(*plog, 2, e + 1, 300);
    }
    const testing::Epochs before = plog->leader_epochs();
    EXPECT_EQ(before.size(), 4u);
    for (int round = 0; round < 2; ++round) {
      // Round 0: a clean close; round 1: a crash. Either way the checkpoint is then damaged.
      if (round == 0) {
        CO_ASSERT_OK(co_await plog->close());
      }
      plog.reset();
      const std::string ck = dir_ + "/" + std::string(log::kCheckpointName);
      std::vector<std::byte> bytes = testing::Slurp(ck);
      CO_ASSERT_TRUE(bytes.size() > 30);
      bytes[30] ^= std::byte{0x40};
      testing::Spill(ck, bytes);
      plog = co_await OpenLog(Config());
      CO_ASSERT_TRUE(plog != nullptr);
      EXPECT_FALSE(plog->recovery_stats().checkpoint_valid);
      EXPECT_EQ(plog->leader_epochs(), before) << "round " << round;
    }
    CO_ASSERT_OK(co_await plog->close());
  }());
}

}  // namespace
}  // namespace spool
