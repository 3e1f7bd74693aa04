// The per-shard retention task: with a short log.retention.check.interval.ms, partitions whose
// topic has a small retention.bytes lose their oldest segments (the log start offset moves, and
// fetches below it are OFFSET_OUT_OF_RANGE) without any request asking for it.
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "tests/support/broker_test_util.h"

namespace spool::testing {
namespace {

using v1::ErrorCode;

TEST(BrokerRetentionTest, PeriodicTaskAppliesRetentionBytes) {
  BrokerOptions opts;
  opts.tweak = [](broker::BrokerConfig& c) { c.retention_check_interval_ms = 20; };
  BrokerHarness h(opts);
  ASSERT_TRUE(h.Open().ok());
  ASSERT_EQ(h.CreateTopic("short", 2, {{"segment.bytes", "1024"}, {"retention.bytes", "2048"}})
                .topics(0)
                .error_code(),
            ErrorCode::NONE);
  for (int i = 0; i < 40; i++) {
    for (int32_t p = 0; p < 2; p++) {
      ASSERT_EQ(h.Produce("short", p, MakeBatch(1, 1, std::string(200, 'v')), 1)->error_code(),
                ErrorCode::NONE);
    }
  }
  // Wait (condition with a deadline) until both partitions' log start offsets have moved.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int64_t start0 = 0, start1 = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    start0 = h.ListOffset("short", 0, v1::OFFSET_SPEC_EARLIEST).offset();
    start1 = h.ListOffset("short", 1, v1::OFFSET_SPEC_EARLIEST).offset();
    // The HW (read after the start) is never below the log start, even while it lags behind
    // acks=1 appends.
    EXPECT_LE(start0, h.ListOffset("short", 0, v1::OFFSET_SPEC_LATEST).offset());
    EXPECT_LE(start1, h.ListOffset("short", 1, v1::OFFSET_SPEC_LATEST).offset());
    if (start0 > 0 && start1 > 0) break;
    std::this_thread::yield();
  }
  EXPECT_GT(start0, 0);
  EXPECT_GT(start1, 0);
  EXPECT_EQ(h.Fetch("short", 0, 0).partition.error_code(), ErrorCode::OFFSET_OUT_OF_RANGE);
  // Retention never moves the log start past the HW, so while the HW catches up with the acks=1
  // appends it may take several passes: a fetch at the start read a moment ago may find it has
  // moved again (OFFSET_OUT_OF_RANGE); then read the start again.
  bool fetched = false;
  while (!fetched && std::chrono::steady_clock::now() < deadline) {
    start0 = h.ListOffset("short", 0, v1::OFFSET_SPEC_EARLIEST).offset();
    auto f = h.Fetch("short", 0, start0);
    if (f.partition.error_code() == ErrorCode::OFFSET_OUT_OF_RANGE &&
        f.partition.log_start_offset() > start0) {
      continue;
    }
    // The start may have reached the HW (which still lags the appends): nothing to read there
    // yet, so look again once the HW has moved on.
    if (f.partition.error_code() == ErrorCode::NONE && f.bytes.empty() &&
        f.partition.high_watermark() <= start0) {
      continue;
    }
    EXPECT_EQ(f.partition.error_code(), ErrorCode::NONE);
    EXPECT_EQ(f.partition.log_start_offset(), start0);
    EXPECT_FALSE(f.bytes.empty());
    fetched = true;
  }
  EXPECT_TRUE(fetched);
  // The HW catches up with every acks=1 append (the durability pump), then stays there.
  int64_t hw = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    hw = h.ListOffset("short", 0, v1::OFFSET_SPEC_LATEST).offset();
    if (hw == 40) break;
    std::this_thread::yield();
  }
  EXPECT_EQ(hw, 40);
}

}  // namespace
}  // namespace spool::testing
