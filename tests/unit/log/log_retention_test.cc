// Retention: whole segments deleted by total size and by age (a manual clock), never the
// active segment; the log start offset advances, survives a reopen, and reads below it fail.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/file_system.h"
#include "log/log_format.h"
#include "log/partition_log.h"
#include "log/record/batch_builder.h"
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

class LogRetentionTest : public ::testing::Test {
 protected:
  LogRetentionTest()
      : reactor_(testing::MakeReactor()),
        fs_(io::NewReactorFileSystem(*reactor_)),
        dir_(tmp_.file("p")) {}

  static LogConfig Config() {
    LogConfig c;
    c.segment_bytes = 4096;
    c.index_interval_bytes = 512;
    c.retention_ms = -1;
    c.retention_bytes = -1;
    return c;
  }

  Task<std::unique_ptr<PartitionLog>> Open(LogConfig c) {
    auto opened = co_await PartitionLog::Open(*fs_, clock_, dir_, c);
    EXPECT_TRUE(opened.ok()) << opened.status();
    co_return opened.ok() ? std::move(opened).value() : nullptr;
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

  testing::TempDir tmp_;
  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::FileSystem> fs_;
  std::string dir_;
  ManualClock clock_;
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

}  // namespace
}  // namespace spool
