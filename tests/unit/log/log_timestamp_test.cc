// offset_for_timestamp: the first offset whose record timestamp is >= the target, found through
// the time index and then the exact record inside the batch (before all, exact, between, after
// all), with timestamps that go backwards, across segments, after a reopen and below the log
// start.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/file_system.h"
#include "log/partition_log.h"
#include "log/record/batch_builder.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using log::LogConfig;
using log::PartitionLog;

class LogTimestampTest : public testing::LogTest {
 protected:
  static LogConfig Config() {
    LogConfig c;
    c.segment_bytes = 2048;
    c.index_interval_bytes = 256;
    c.retention_ms = -1;
    return c;
  }

  Task<std::unique_ptr<PartitionLog>> Open(LogConfig c = Config()) {
    co_return co_await OpenLog(c);
  }

  // One batch whose records carry `timestamps`; remembers them by offset.
  Task<Status> Append(PartitionLog& plog, const std::vector<int64_t>& timestamps) {
    record::BatchBuilder builder;
    for (int64_t ts : timestamps) builder.Append(ts, "k", std::string(60, 'z'));
    auto sealed = builder.Seal();
    if (!sealed.ok()) co_return sealed.status();
    auto r = co_await plog.append(*sealed);
    if (!r.ok()) co_return r.status();
    for (int64_t ts : timestamps) stamps_.push_back(ts);
    co_return Status();
  }

  // The answer by brute force over every record at or after `start`.
  std::optional<int64_t> Expected(int64_t target, int64_t start = 0) const {
    for (size_t o = static_cast<size_t>(start); o < stamps_.size(); ++o) {
      if (stamps_[o] >= target) return static_cast<int64_t>(o);
    }
    return std::nullopt;
  }

  Task<void> CheckAll(PartitionLog& plog, int64_t lo, int64_t hi) {
    const int64_t start = plog.log_start_offset().value();
    for (int64_t t = lo; t <= hi; ++t) {
      auto got = co_await plog.offset_for_timestamp(t);
      CO_ASSERT_OK(got);
      const std::optional<int64_t> want = Expected(t, start);
      EXPECT_EQ(got->has_value(), want.has_value()) << "timestamp " << t;
      if (got->has_value() && want.has_value()) {
        EXPECT_EQ((*got)->value(), *want) << "timestamp " << t;
      }
      if (::testing::Test::HasFailure()) co_return;
    }
  }

  std::vector<int64_t> stamps_;  // [offset] = record timestamp
};

TEST_F(LogTimestampTest, BeforeAllExactBetweenAndAfterAll) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    // Timestamps 1000, 1010, 1020, ... three records per batch, across several segments.
    int64_t ts = 1000;
    for (int b = 0; b < 40; ++b) {
      const std::vector<int64_t> three{ts, ts + 10, ts + 20};
      CO_ASSERT_OK(co_await Append(*plog, three));
      ts += 30;
    }
    CO_ASSERT_TRUE(plog->stats().segments >= 3);
    auto before = co_await plog->offset_for_timestamp(0);
    CO_ASSERT_OK(before);
    EXPECT_EQ(before->value().value(), 0);
    auto exact = co_await plog->offset_for_timestamp(1000 + 10 * 50);
    CO_ASSERT_OK(exact);
    EXPECT_EQ(exact->value().value(), 50);  // the second record of batch 16
    auto between = co_await plog->offset_for_timestamp(1000 + 10 * 50 + 3);
    CO_ASSERT_OK(between);
    EXPECT_EQ(between->value().value(), 51);
    auto last = co_await plog->offset_for_timestamp(ts - 10);
    CO_ASSERT_OK(last);
    EXPECT_EQ(last->value().value(), 119);
    auto after = co_await plog->offset_for_timestamp(ts);
    CO_ASSERT_OK(after);
    EXPECT_FALSE(after->has_value());
    co_await CheckAll(*plog, 990, ts + 5);
  }());
}

TEST_F(LogTimestampTest, TimestampsThatGoBackwardsStillGiveTheFirstOffsetAtOrAfter) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    std::mt19937_64 rng(testing::TestSeed());
    for (int b = 0; b < 60; ++b) {
      std::vector<int64_t> ts;
      const int n = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i) ts.push_back(static_cast<int64_t>(rng() % 500));
      CO_ASSERT_OK(co_await Append(*plog, ts));
    }
    co_await CheckAll(*plog, -1, 501);
  }());
}

TEST_F(LogTimestampTest, SameAnswersAfterAReopenFromIndexFilesAndAfterAScan) {
  reactor_->block_on([&]() -> Task<void> {
    int64_t ts = 5000;
    {
      auto plog = co_await Open();
      CO_ASSERT_TRUE(plog != nullptr);
      for (int b = 0; b < 30; ++b) {
        const std::vector<int64_t> two{ts, ts + 7};
        CO_ASSERT_OK(co_await Append(*plog, two));
        ts += 14;
      }
      CO_ASSERT_OK(co_await plog->close());
    }
    {
      auto plog = co_await Open();  // clean: from the index files
      CO_ASSERT_TRUE(plog != nullptr);
      EXPECT_TRUE(plog->recovery_stats().clean_shutdown);
      co_await CheckAll(*plog, 4990, ts + 3);
      const std::vector<int64_t> two{ts, ts + 7};
      CO_ASSERT_OK(co_await Append(*plog, two));
      ts += 14;
      // Dropped without close: the next open scans the tail.
    }
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    EXPECT_FALSE(plog->recovery_stats().clean_shutdown);
    co_await CheckAll(*plog, 4990, ts + 3);
  }());
}

TEST_F(LogTimestampTest, NeverAnswersBelowTheLogStart) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig c = Config();
    c.retention_bytes = 0;
    auto plog = co_await Open(c);
    CO_ASSERT_TRUE(plog != nullptr);
    for (int64_t b = 0; b < 30; ++b) {
      const std::vector<int64_t> two{100 + b, 100 + b};
      CO_ASSERT_OK(co_await Append(*plog, two));
    }
    CO_ASSERT_OK(co_await plog->apply_retention());
    CO_ASSERT_TRUE(plog->log_start_offset().value() > 0);
    auto got = co_await plog->offset_for_timestamp(0);
    CO_ASSERT_OK(got);
    CO_ASSERT_TRUE(got->has_value());
    EXPECT_EQ(**got, plog->log_start_offset());
    co_await CheckAll(*plog, 90, 140);
  }());
}

}  // namespace
}  // namespace spool
