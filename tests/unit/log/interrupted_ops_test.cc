// truncate_to and apply_retention cut by a power cut between their steps (log/FORMAT.md, "Write
// ordering"): the log must reopen, keep every batch that was durable and not meant to go, and
// be either the state before the operation or the state after it, never a mix that loses more.
//
// The fault file system models the power cut; the hook file system above it parks one of the
// operation's syncs, so the cut lands exactly between two of its steps.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/file_system.h"
#include "log/log_format.h"
#include "log/partition_log.h"
#include "log/record/batch_builder.h"
#include "tests/support/fault_file_system.h"
#include "tests/support/hook_file_system.h"
#include "tests/support/log_files.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using log::LogConfig;
using log::PartitionLog;

struct Batch {
  int64_t base = 0;
  int64_t last = 0;
  std::vector<std::byte> bytes;
};

class InterruptedOpsTest : public ::testing::Test {
 protected:
  InterruptedOpsTest()
      : reactor_(testing::MakeReactor()),
        base_(io::NewReactorFileSystem(*reactor_)),
        faults_(*reactor_, *base_, tmp_.file("scratch")),
        hooks_(*reactor_, faults_),
        dir_(tmp_.file("p")) {}

  static LogConfig Config() {
    LogConfig c;
    c.segment_bytes = 2048;
    c.index_interval_bytes = 256;
    c.retention_ms = -1;
    c.retention_bytes = 0;  // apply_retention deletes every segment but the active one
    return c;
  }

  // Opens the log through the hooks and appends 40 one-record batches, each acknowledged
  // durable (about nine segments).
  Task<std::unique_ptr<PartitionLog>> OpenAndFill() {
    auto opened = co_await PartitionLog::Open(hooks_, clock_, dir_, Config());
    EXPECT_TRUE(opened.ok()) << opened.status();
    if (!opened.ok()) co_return nullptr;
    for (int i = 0; i < 40; ++i) {
      record::BatchBuilder builder;
      builder.Append(clock_.wall_ms() + i, "k", std::string(300, static_cast<char>('a' + i % 26)));
      auto b = builder.Seal();
      EXPECT_TRUE(b.ok());
      auto r = co_await (*opened)->append(*b);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) co_return nullptr;
      Status st = co_await (*opened)->wait_durable(r->last_offset);
      EXPECT_TRUE(st.ok()) << st;
      batches_.push_back({r->base_offset.value(), r->last_offset.value(), std::move(*b)});
    }
    EXPECT_GE(testing::SegmentBases(dir_).size(), 5u);
    co_return std::move(opened).value();
  }

  // Runs `op` until it parks in a held sync, cuts the power there, lets `op` fail against the
  // dead files and drops the log.
  Task<void> CutDuring(std::unique_ptr<PartitionLog> plog, std::function<Task<void>()> op) {
    bool done = false;
    reactor_->spawn([](std::function<Task<void>()> f, bool& d) -> Task<void> {
      co_await f();
      d = true;
    }(std::move(op), done));
    Status parked = co_await testing::WaitFor(
        *reactor_, [&] { return hooks_.syncs_parked() + hooks_.dir_syncs_parked() > 0; });
    EXPECT_TRUE(parked.ok()) << "the operation never reached the held sync";
    EXPECT_FALSE(done);
    Status cut = co_await faults_.SimulatePowerCut();
    EXPECT_TRUE(cut.ok()) << cut;
    hooks_.ReleaseSyncs();
    Status finished = co_await testing::WaitFor(*reactor_, [&] { return done; });
    EXPECT_TRUE(finished.ok()) << finished;
    plog.reset();
  }

  // Reopens; the log must hold exactly the batches [first, end) of batches_.
  Task<std::unique_ptr<PartitionLog>> ExpectBatches(size_t first, size_t end,
                                                    const std::string& what) {
    auto opened = co_await PartitionLog::Open(hooks_, clock_, dir_, Config());
    EXPECT_TRUE(opened.ok()) << what << ": the log does not reopen: " << opened.status();
    if (!opened.ok()) co_return nullptr;
    PartitionLog& plog = **opened;
    const int64_t start = first < batches_.size() ? batches_[first].base : end_offset(end);
    EXPECT_EQ(plog.log_start_offset().value(), start) << what;
    EXPECT_EQ(plog.log_end_offset().value(), end_offset(end)) << what;
    auto all = co_await testing::ReadWholeLog(plog);
    EXPECT_TRUE(all.ok()) << what << ": " << all.status();
    std::vector<std::byte> want;
    for (size_t i = first; i < end; ++i) {
      want.insert(want.end(), batches_[i].bytes.begin(), batches_[i].bytes.end());
    }
    if (all.ok()) {
      EXPECT_TRUE(*all == want) << what;
    }
    co_return std::move(opened).value();
  }

  int64_t end_offset(size_t batches) const {
    return batches == 0 ? 0 : batches_[batches - 1].last + 1;
  }
  // The index of the batch that starts segment `n` (0 = the first segment).
  size_t FirstBatchOfSegment(size_t n) const {
    const int64_t base = testing::SegmentBases(dir_)[n];
    size_t i = 0;
    while (batches_[i].base != base) ++i;
    return i;
  }

  testing::TempDir tmp_;
  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::FileSystem> base_;
  testing::FaultFileSystem faults_;
  testing::HookFileSystem hooks_;
  std::string dir_;
  ManualClock clock_;
  std::vector<Batch> batches_;
};

TEST_F(InterruptedOpsTest, TruncateCutBeforeTheCutIsDurableKeepsTheWholeLog) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenAndFill();
    CO_ASSERT_TRUE(plog != nullptr);
    // Truncate in the middle of the third segment: its checkpoint (recovery point lowered) is
    // durable, the later segments are unlinked and the cut is made, but not yet fdatasync'd.
    const size_t keep = FirstBatchOfSegment(2) + 1;
    hooks_.HoldSyncs(log::SegmentStem(Offset(testing::SegmentBases(dir_)[2])) +
                     std::string(log::kLogSuffix));
    PartitionLog* raw = plog.get();
    const Offset cut(batches_[keep].base);
    co_await CutDuring(std::move(plog), [raw, cut]() -> Task<void> {
      PermitUncheckedError(co_await raw->truncate_to(cut));  // whatever it says: the cut won
    });
    auto reopened = co_await ExpectBatches(0, batches_.size(), "cut before the truncation");
    CO_ASSERT_TRUE(reopened != nullptr);
    // The truncation can be done again.
    CO_ASSERT_OK(co_await reopened->truncate_to(cut));
    EXPECT_EQ(reopened->log_end_offset(), cut);
  }());
}

TEST_F(InterruptedOpsTest, TruncateCutBeforeItsDeletionsAreDurableEndsAtTheCut) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenAndFill();
    CO_ASSERT_TRUE(plog != nullptr);
    // Everything is done but the directory sync that makes the deletions durable: the later
    // segments come back, after a segment that now ends at the cut (a gap below them).
    const size_t keep = FirstBatchOfSegment(2) + 1;
    hooks_.HoldDirSyncs(/*skip=*/1);  // the checkpoint's own directory sync goes through
    PartitionLog* raw = plog.get();
    const Offset cut(batches_[keep].base);
    co_await CutDuring(std::move(plog), [raw, cut]() -> Task<void> {
      PermitUncheckedError(co_await raw->truncate_to(cut));  // whatever it says: the cut won
    });
    auto reopened = co_await ExpectBatches(0, keep, "cut before the deletions were durable");
    CO_ASSERT_TRUE(reopened != nullptr);
    EXPECT_GT(reopened->recovery_stats().segments_deleted, 0u);
  }());
}

TEST_F(InterruptedOpsTest, TruncateBelowTheLogStartCutBeforeItIsDurableKeepsTheLog) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenAndFill();
    CO_ASSERT_TRUE(plog != nullptr);
    auto deleted = co_await plog->apply_retention();
    CO_ASSERT_OK(deleted);
    const size_t first = FirstBatchOfSegment(0);
    CO_ASSERT_TRUE(first > 0);
    // The new empty segment at offset 1 is created and the old ones unlinked, but the
    // directory sync of the final round does not happen.
    hooks_.HoldDirSyncs(/*skip=*/1);
    PartitionLog* raw = plog.get();
    co_await CutDuring(std::move(plog), [raw]() -> Task<void> {
      PermitUncheckedError(co_await raw->truncate_to(Offset(1)));
    });
    auto reopened =
        co_await ExpectBatches(first, batches_.size(), "truncation below the log start cut");
    CO_ASSERT_TRUE(reopened != nullptr);
    CO_ASSERT_OK(co_await reopened->truncate_to(Offset(1)));
    EXPECT_EQ(reopened->log_start_offset().value(), 1);
    EXPECT_EQ(reopened->log_end_offset().value(), 1);
  }());
}

TEST_F(InterruptedOpsTest, RetentionCutBeforeItsCheckpointIsDurableKeepsEverything) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenAndFill();
    CO_ASSERT_TRUE(plog != nullptr);
    hooks_.HoldSyncs(std::string(log::kTmpSuffix));
    PartitionLog* raw = plog.get();
    co_await CutDuring(std::move(plog), [raw]() -> Task<void> {
      StatusOr<size_t> st = co_await raw->apply_retention();  // whatever it says: the cut won
      PermitUncheckedError(st.status());
    });
    auto reopened = co_await ExpectBatches(0, batches_.size(), "retention cut early");
    CO_ASSERT_TRUE(reopened != nullptr);
  }());
}

TEST_F(InterruptedOpsTest, RetentionCutBeforeItsDeletionsAreDurableFinishesAtTheNextOpen) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await OpenAndFill();
    CO_ASSERT_TRUE(plog != nullptr);
    const size_t segments = testing::SegmentBases(dir_).size();
    const size_t first_kept = FirstBatchOfSegment(segments - 1);
    hooks_.HoldDirSyncs(/*skip=*/1);  // the checkpoint (new log start) is durable
    PartitionLog* raw = plog.get();
    co_await CutDuring(std::move(plog), [raw]() -> Task<void> {
      StatusOr<size_t> st = co_await raw->apply_retention();  // whatever it says: the cut won
      PermitUncheckedError(st.status());
    });
    // The segments below the log start come back, and the open deletes them.
    EXPECT_EQ(testing::SegmentBases(dir_).size(), segments);
    auto reopened = co_await ExpectBatches(first_kept, batches_.size(), "retention cut late");
    CO_ASSERT_TRUE(reopened != nullptr);
    EXPECT_EQ(reopened->recovery_stats().segments_deleted, segments - 1);
    EXPECT_EQ(testing::SegmentBases(dir_).size(), 1u);
  }());
}

}  // namespace
}  // namespace spool
