// Retention: whole segments deleted by total size and by age (a manual clock), never the
// active segment; the log start offset advances, survives a reopen, and reads below it fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/file_system.h"
#include "common/io/when_all.h"
#include "log/log_format.h"
#include "log/partition_log.h"
#include "log/record/batch_builder.h"
#include "tests/support/hook_file_system.h"
#include "tests/support/log_files.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using log::LogConfig;
using log::PartitionLog;

std::vector<std::byte> MakeBatch(int64_t ts, size_t value_size = 400) {
  record::BatchBuilder builder;
  builder.Append(ts, "k", std::string(value_size, 'r'));
  builder.Append(ts, "k2", std::string(value_size, 's'));
  auto sealed = builder.Seal();
  EXPECT_TRUE(sealed.ok()) << sealed.status();
  return std::move(sealed).value();
}

class LogRetentionTest : public testing::LogTest {
 protected:
  static LogConfig Config() {
    LogConfig c;
    c.segment_bytes = 4096;
    c.index_interval_bytes = 512;
    c.retention_ms = -1;
    c.retention_bytes = -1;
    return c;
  }

  Task<std::unique_ptr<PartitionLog>> Open(LogConfig c) { co_return co_await OpenLog(c); }

  // Appends `n` batches of the current time, none waited for (so none synced).
  Task<Status> AppendMany(PartitionLog& plog, int n) {
    for (int i = 0; i < n; ++i) {
      std::vector<std::byte> b = MakeBatch(clock_.wall_ms());
      auto r = co_await plog.append(b);
      if (!r.ok()) co_return r.status();
    }
    co_return Status();
  }

  size_t SegmentFiles() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (log::ParseSegmentName(name, log::kLogSuffix)) ++n;
    }
    return n;
  }
  uint64_t SegmentBytes() const {
    uint64_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (log::ParseSegmentName(e.path().filename().string(), log::kLogSuffix)) {
        n += std::filesystem::file_size(e.path());
      }
    }
    return n;
  }
};

TEST_F(LogRetentionTest, BySizeDeletesTheOldestWholeSegments) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig c = Config();
    c.retention_bytes = 10'000;
    auto plog = co_await Open(c);
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 60; ++i) {
      std::vector<std::byte> b = MakeBatch(clock_.wall_ms());
      CO_ASSERT_OK(co_await plog->append(b));
    }
    const auto before = plog->stats();
    CO_ASSERT_TRUE(before.segments > 5);
    auto deleted = co_await plog->apply_retention();
    CO_ASSERT_OK(deleted);
    EXPECT_GT(*deleted, 0u);
    const auto after = plog->stats();
    EXPECT_EQ(after.segments, before.segments - *deleted);
    EXPECT_EQ(SegmentFiles(), after.segments);
    EXPECT_EQ(SegmentBytes(), after.size_bytes);
    // Deletion stops at the first segment whose removal would go below the limit.
    EXPECT_GE(after.size_bytes, 10'000u);
    EXPECT_LT(after.size_bytes, 10'000u + c.segment_bytes);
    EXPECT_GT(plog->log_start_offset().value(), 0);
    // The log start is the first remaining segment's base.
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/" + log::SegmentStem(plog->log_start_offset()) +
                                        std::string(log::kLogSuffix)));
    auto below = co_await plog->read(plog->log_start_offset() - 1, 1000, plog->log_end_offset());
    EXPECT_EQ(below.status().code(), absl::StatusCode::kOutOfRange) << below.status();
    auto from_start = co_await plog->read(plog->log_start_offset(), 1, plog->log_end_offset());
    CO_ASSERT_OK(from_start);
    EXPECT_EQ(from_start->slices.size(), 1u);
    // Nothing more to do the second time.
    auto again = co_await plog->apply_retention();
    CO_ASSERT_OK(again);
    EXPECT_EQ(*again, 0u);
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LogRetentionTest, ByTimeDeletesSegmentsWhoseNewestRecordIsTooOld) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig c = Config();
    c.retention_ms = 10'000;
    auto plog = co_await Open(c);
    CO_ASSERT_TRUE(plog != nullptr);
    // Old data: timestamps now-ish, then the clock moves on 1 s per batch.
    for (int i = 0; i < 40; ++i) {
      std::vector<std::byte> b = MakeBatch(clock_.wall_ms());
      CO_ASSERT_OK(co_await plog->append(b));
      clock_.advance_ms(1000);
    }
    const size_t segments = plog->stats().segments;
    CO_ASSERT_TRUE(segments > 4);
    auto deleted = co_await plog->apply_retention();
    CO_ASSERT_OK(deleted);
    EXPECT_GT(*deleted, 0u);
    EXPECT_LT(*deleted, segments);
    // What is left starts with a record no older than retention_ms (plus one segment's span).
    auto oldest = co_await plog->offset_for_timestamp(0);
    CO_ASSERT_OK(oldest);
    CO_ASSERT_TRUE(oldest->has_value());
    EXPECT_EQ(**oldest, plog->log_start_offset());
    EXPECT_GE(plog->log_start_offset().value(), 2 * 20);  // at least 20 s of 1 s batches went
    // Everything old: all but the active segment go, whatever their size.
    clock_.advance_ms(1'000'000);
    deleted = co_await plog->apply_retention();
    CO_ASSERT_OK(deleted);
    EXPECT_EQ(plog->stats().segments, 1u);
    EXPECT_EQ(SegmentFiles(), 1u);
    // The active segment still holds its data and takes appends.
    auto tail = co_await plog->read(plog->log_start_offset(), 1 << 20, plog->log_end_offset());
    CO_ASSERT_OK(tail);
    EXPECT_GT(tail->total_bytes, 0u);
    const Offset end = plog->log_end_offset();
    std::vector<std::byte> b = MakeBatch(clock_.wall_ms());
    auto r = co_await plog->append(b);
    CO_ASSERT_OK(r);
    EXPECT_EQ(r->base_offset, end);
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LogRetentionTest, NeverDeletesTheActiveSegmentAndTheLogStartSurvivesReopen) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig c = Config();
    c.retention_bytes = 0;
    Offset start;
    Offset end;
    {
      auto plog = co_await Open(c);
      CO_ASSERT_TRUE(plog != nullptr);
      for (int i = 0; i < 30; ++i) {
        std::vector<std::byte> b = MakeBatch(clock_.wall_ms());
        CO_ASSERT_OK(co_await plog->append(b));
      }
      auto deleted = co_await plog->apply_retention();
      CO_ASSERT_OK(deleted);
      EXPECT_EQ(plog->stats().segments, 1u);
      start = plog->log_start_offset();
      end = plog->log_end_offset();
      EXPECT_GT(start.value(), 0);
      // Not closed: the log start must come from the checkpoint written by retention.
    }
    auto plog = co_await Open(c);
    CO_ASSERT_TRUE(plog != nullptr);
    EXPECT_FALSE(plog->recovery_stats().clean_shutdown);
    EXPECT_EQ(plog->log_start_offset(), start);
    EXPECT_EQ(plog->log_end_offset(), end);
    CO_ASSERT_OK(co_await plog->close());
    auto again = co_await Open(c);
    CO_ASSERT_TRUE(again != nullptr);
    EXPECT_TRUE(again->recovery_stats().clean_shutdown);
    EXPECT_EQ(again->log_start_offset(), start);
  }());
}

TEST_F(LogRetentionTest, AReaderKeepsADeletedSegmentReadable) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig c = Config();
    c.retention_bytes = 0;
    auto plog = co_await Open(c);
    CO_ASSERT_TRUE(plog != nullptr);
    std::vector<std::byte> first_batch;
    for (int i = 0; i < 20; ++i) {
      std::vector<std::byte> b = MakeBatch(clock_.wall_ms());
      CO_ASSERT_OK(co_await plog->append(b));
      if (i == 0) first_batch = b;
    }
    auto held = co_await plog->read(Offset(0), 1, plog->log_end_offset());
    CO_ASSERT_OK(held);
    auto deleted = co_await plog->apply_retention();
    CO_ASSERT_OK(deleted);
    CO_ASSERT_TRUE(*deleted > 0);
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/" + log::SegmentStem(Offset(0)) +
                                         std::string(log::kLogSuffix)));
    auto bytes = co_await PartitionLog::ReadAll(*held);
    CO_ASSERT_OK(bytes);
    EXPECT_TRUE(*bytes == first_batch);
    CO_ASSERT_OK(co_await plog->close());
  }());
}

// Regression: retention removes its segments from the log, then deletes their files with the
// append mutex released. A truncate_to below the log start meanwhile re-created the name of a
// segment retention had not deleted yet: the create failed (and the log with it), or retention
// then unlinked the new active segment's file.
TEST_F(LogRetentionTest, ATruncationBelowTheLogStartWaitsForRetentionToFinishDeleting) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig c = Config();
    c.retention_bytes = 0;
    auto plog = co_await Open(c);
    CO_ASSERT_TRUE(plog != nullptr);
    CO_ASSERT_OK(co_await AppendMany(*plog, 60));
    const std::vector<int64_t> bases = testing::SegmentBases(dir_);
    CO_ASSERT_TRUE(bases.size() > 5);
    // Retention deletes every segment but the active one, oldest first; the truncation reuses
    // the name of the last one it deletes.
    const Offset target(bases[bases.size() - 2]);
    StatusOr<size_t> deleted = absl::UnknownError("not run");
    Status truncated = absl::UnknownError("not run");
    std::vector<Task<void>> both;
    both.push_back([](PartitionLog& l, StatusOr<size_t>& out) -> Task<void> {
      out = co_await l.apply_retention();
    }(*plog, deleted));
    both.push_back([](PartitionLog& l, Offset to, Status& out) -> Task<void> {
      out = co_await l.truncate_to(to);
    }(*plog, target, truncated));
    co_await io::WhenAll(*reactor_, std::move(both));
    CO_ASSERT_OK(deleted);
    EXPECT_EQ(*deleted, bases.size() - 1);
    CO_ASSERT_OK(truncated);
    EXPECT_EQ(plog->log_start_offset(), target);
    EXPECT_EQ(plog->log_end_offset(), target);
    EXPECT_EQ(SegmentFiles(), 1u);
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/" + log::SegmentStem(target) +
                                        std::string(log::kLogSuffix)));
    std::vector<std::byte> b = MakeBatch(clock_.wall_ms());
    auto r = co_await plog->append(b);
    CO_ASSERT_OK(r);
    EXPECT_EQ(r->base_offset, target);
    CO_ASSERT_OK(co_await plog->close());
    plog.reset();
    auto reopened = co_await Open(c);
    CO_ASSERT_TRUE(reopened != nullptr);
    EXPECT_EQ(reopened->log_start_offset(), target);
    EXPECT_EQ(reopened->log_end_offset(), target + 2);
    auto all = co_await testing::ReadWholeLog(*reopened);
    CO_ASSERT_OK(all);
    EXPECT_TRUE(*all == b);
  }());
}

// Regression: retention closed a deleted segment's index files even while a sync round was
// datasyncing them (the round holds the segment), so the datasync resumed on a destroyed File.
TEST_F(LogRetentionTest, RetentionNeverClosesAFileUnderASyncInFlight) {
  reactor_->block_on([&]() -> Task<void> {
    testing::HookFileSystem hooks(*reactor_, *fs_);
    LogConfig c = Config();
    c.retention_bytes = 0;
    auto opened = co_await PartitionLog::Open(hooks, clock_, dir_, c);
    CO_ASSERT_OK(opened);
    PartitionLog& plog = **opened;
    // Several sealed segments, none synced yet: their index files wait for the next round.
    CO_ASSERT_OK(co_await AppendMany(plog, 30));
    CO_ASSERT_TRUE(plog.stats().segments > 3);
    hooks.HoldSyncs(std::string(log::kIndexSuffix));
    Status durable = absl::UnknownError("not run");
    bool done = false;
    reactor_->spawn([](PartitionLog& l, Status& out, bool& d) -> Task<void> {
      out = co_await l.wait_durable(l.log_end_offset() - 1);
      d = true;
    }(plog, durable, done));
    // The round is parked in the datasync of the oldest segment's index file.
    CO_ASSERT_OK(co_await testing::WaitFor(*reactor_, [&] { return hooks.syncs_parked() == 1; }));
    auto deleted = co_await plog.apply_retention();
    CO_ASSERT_OK(deleted);
    EXPECT_EQ(*deleted, plog.stats().rolls);
    hooks.ReleaseSyncs();
    CO_ASSERT_OK(co_await testing::WaitFor(*reactor_, [&] { return done; }));
    EXPECT_TRUE(durable.ok()) << durable;
    EXPECT_EQ(hooks.syncs_on_closed_files(), 0);
    EXPECT_EQ(SegmentFiles(), 1u);
    CO_ASSERT_OK(co_await plog.close());
  }());
}

// Regression: close() did not wait for a retention that was still deleting its segments, so
// files were unlinked (and the directory synced) after close() had returned, when the caller
// may already have destroyed the log.
TEST_F(LogRetentionTest, CloseWaitsForRetentionToFinishDeleting) {
  reactor_->block_on([&]() -> Task<void> {
    testing::HookFileSystem hooks(*reactor_, *fs_);
    LogConfig c = Config();
    c.retention_bytes = 0;
    auto opened = co_await PartitionLog::Open(hooks, clock_, dir_, c);
    CO_ASSERT_OK(opened);
    PartitionLog& plog = **opened;
    CO_ASSERT_OK(co_await AppendMany(plog, 60));
    CO_ASSERT_TRUE(plog.stats().segments > 5);
    // Retention parks in the datasync of its checkpoint, with its segments already removed
    // from the log; close() starts meanwhile.
    hooks.HoldSyncs(std::string(log::kTmpSuffix));
    StatusOr<size_t> deleted = absl::UnknownError("not run");
    reactor_->spawn([](PartitionLog& l, StatusOr<size_t>& out) -> Task<void> {
      out = co_await l.apply_retention();
    }(plog, deleted));
    CO_ASSERT_OK(co_await testing::WaitFor(*reactor_, [&] { return hooks.syncs_parked() == 1; }));
    bool closed = false;
    Status close_status = absl::UnknownError("not run");
    bool retention_done_at_close = false;
    size_t files_at_close = 0;
    reactor_->spawn([](const std::string& dir, PartitionLog& l, const StatusOr<size_t>& retention,
                       Status& out, bool& retention_done, size_t& files, bool& done) -> Task<void> {
      out = co_await l.close();
      // Before anything else runs on the reactor.
      retention_done = !absl::IsUnknown(retention.status());
      files = testing::SegmentBases(dir).size();
      done = true;
    }(dir_, plog, deleted, close_status, retention_done_at_close, files_at_close, closed));
    hooks.ReleaseSyncs();
    CO_ASSERT_OK(co_await testing::WaitFor(*reactor_, [&] { return closed; }));
    CO_ASSERT_OK(close_status);
    EXPECT_TRUE(retention_done_at_close) << "close() returned while retention was still running";
    EXPECT_EQ(files_at_close, 1u) << "close() returned before retention had deleted its files";
    CO_ASSERT_OK(co_await testing::WaitFor(*reactor_, [&] { return deleted.ok(); }));
    EXPECT_GT(*deleted, 4u);
    opened->reset();
    auto again = co_await Open(c);
    CO_ASSERT_TRUE(again != nullptr);
    EXPECT_TRUE(again->recovery_stats().clean_shutdown);
    EXPECT_EQ(again->recovery_stats().segments_deleted, 0u);
  }());
}

}  // namespace
}  // namespace spool
