// Fetch long polls: a parked fetch wakes when a produce lands (on the same or the other shard),
// answers empty at max_wait_ms when nothing comes, and honours min_bytes. No sleeps: the test
// starts the fetch, waits until it is parked on the partition (a condition with a deadline),
// then produces.
#include <chrono>
#include <future>
#include <thread>

#include "gtest/gtest.h"
#include "tests/support/broker_test_util.h"

namespace spool::testing {
namespace {

using v1::ErrorCode;

class LongPollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h_.Open().ok());
    ASSERT_EQ(h_.CreateTopic("events", 4).topics(0).error_code(), ErrorCode::NONE);
  }
  BrokerHarness h_;
};

// Runs a fetch on a helper thread (it blocks in the harness) and returns its future.
std::future<BrokerHarness::FetchResult> StartFetch(BrokerHarness& h, int32_t partition,
                                                   int64_t offset, int32_t max_wait_ms,
                                                   int32_t min_bytes, int shard) {
  return std::async(std::launch::async, [&h, partition, offset, max_wait_ms, min_bytes, shard] {
    return h.Fetch("events", partition, offset, max_wait_ms, min_bytes, 1 << 20, shard);
  });
}

TEST_F(LongPollTest, WakesWhenDataArrivesOnEitherShard) {
  for (int conn_shard : {0, 1}) {
    for (int32_t p : {0, 1, 2, 3}) {
      const int64_t start = h_.ListOffset("events", p, v1::OFFSET_SPEC_LATEST).offset();
      const auto t0 = std::chrono::steady_clock::now();
      auto fetch = StartFetch(h_, p, start, 30000, 1, conn_shard);
      h_.WaitFetchParked("events", p);
      EXPECT_EQ(fetch.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
      std::vector<std::byte> batch = MakeBatch(2);
      auto pr = h_.Produce("events", p, batch, 1, 10000, 1 - conn_shard);
      ASSERT_TRUE(pr.has_value());
      ASSERT_EQ(pr->error_code(), ErrorCode::NONE);
      ASSERT_EQ(fetch.wait_for(std::chrono::seconds(20)), std::future_status::ready);
      BrokerHarness::FetchResult r = fetch.get();
      EXPECT_EQ(r.partition.error_code(), ErrorCode::NONE);
      EXPECT_EQ(r.bytes, Stamped(batch, start));
      EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
    }
  }
}

TEST_F(LongPollTest, TimesOutEmptyWhenNothingComes) {
  const auto t0 = std::chrono::steady_clock::now();
  BrokerHarness::FetchResult r = h_.Fetch("events", 0, 0, 200, 1);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.partition.error_code(), ErrorCode::NONE);
  EXPECT_TRUE(r.bytes.empty());
  EXPECT_EQ(r.partition.high_watermark(), 0);
  EXPECT_GE(waited, std::chrono::milliseconds(200));
  EXPECT_LT(waited, std::chrono::seconds(20));
}

TEST_F(LongPollTest, MinBytesWaitsForEnoughData) {
  std::vector<std::byte> small = MakeBatch(1);
  // Wants more than one small batch: the first produce does not complete it.
  auto fetch = StartFetch(h_, 2, 0, 30000, static_cast<int32_t>(small.size() * 2 + 1), 0);
  for (int i = 0; i < 2; i++) {
    // Parked (again), then one more batch: still short of min_bytes, so it parks once more.
    h_.WaitFetchParked("events", 2);
    ASSERT_EQ(h_.Produce("events", 2, small, -1)->error_code(), ErrorCode::NONE);
  }
  h_.WaitFetchParked("events", 2);
  EXPECT_EQ(fetch.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  ASSERT_EQ(h_.Produce("events", 2, small, -1)->error_code(), ErrorCode::NONE);
  ASSERT_EQ(fetch.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  BrokerHarness::FetchResult r = fetch.get();
  EXPECT_EQ(r.bytes.size(), small.size() * 3);
  // min_bytes not reached by the deadline: whatever there is comes back.
  BrokerHarness::FetchResult partial = h_.Fetch("events", 2, 0, 100, 1 << 20);
  EXPECT_EQ(partial.bytes.size(), small.size() * 3);
}

TEST_F(LongPollTest, CloseWakesParkedFetches) {
  auto fetch = StartFetch(h_, 1, 0, 60000, 1, 1);
  h_.WaitFetchParked("events", 1);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(h_.Close().ok());
  ASSERT_EQ(fetch.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_TRUE(fetch.get().bytes.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
}

TEST_F(LongPollTest, DeletingTheTopicWakesParkedFetches) {
  auto fetch = StartFetch(h_, 3, 0, 60000, 1, 0);
  h_.WaitFetchParked("events", 3);
  EXPECT_EQ(h_.DeleteTopic("events").results(0).error_code(), ErrorCode::NONE);
  ASSERT_EQ(fetch.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_EQ(fetch.get().partition.error_code(), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
}

}  // namespace
}  // namespace spool::testing
