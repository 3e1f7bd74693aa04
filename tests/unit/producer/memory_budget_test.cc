// producer/memory_budget.h: buffer_memory accounting, failing at once or after blocking up to
// the deadline, waking a blocked reservation on release, and close().
#include "producer/memory_budget.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace spool::producer {
namespace {

using Clock = std::chrono::steady_clock;

TEST(MemoryBudgetTest, FailsAtOnceWithoutBlocking) {
  MemoryBudget b(1000);
  ASSERT_TRUE(b.Reserve(600, false, Clock::now()).ok());
  ASSERT_TRUE(b.Reserve(400, false, Clock::now()).ok());
  EXPECT_EQ(b.used(), 1000);
  Status full = b.Reserve(1, false, Clock::now() + std::chrono::hours(1));
  EXPECT_TRUE(absl::IsResourceExhausted(full)) << full;
  b.Release(400);
  EXPECT_TRUE(b.Reserve(400, false, Clock::now()).ok());
}

TEST(MemoryBudgetTest, BlocksUntilTheDeadlineThenFails) {
  MemoryBudget b(100);
  ASSERT_TRUE(b.Reserve(100, false, Clock::now()).ok());
  auto start = Clock::now();
  Status st = b.Reserve(10, true, start + std::chrono::milliseconds(100));
  EXPECT_TRUE(absl::IsResourceExhausted(st)) << st;
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(100));
}

TEST(MemoryBudgetTest, ReleaseWakesABlockedReservation) {
  MemoryBudget b(100);
  ASSERT_TRUE(b.Reserve(100, false, Clock::now()).ok());
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    Status st = b.Reserve(50, true, Clock::now() + std::chrono::seconds(30));
    got = st.ok();
  });
  b.Release(60);
  waiter.join();
  EXPECT_TRUE(got);
  EXPECT_EQ(b.used(), 90);
}

TEST(MemoryBudgetTest, CloseFailsBlockedAndLaterReservations) {
  MemoryBudget b(10);
  ASSERT_TRUE(b.Reserve(10, false, Clock::now()).ok());
  Status blocked;
  std::thread waiter(
      [&] { blocked = b.Reserve(5, true, Clock::now() + std::chrono::seconds(30)); });
  b.Close();
  waiter.join();
  EXPECT_TRUE(absl::IsFailedPrecondition(blocked)) << blocked;
  EXPECT_TRUE(absl::IsFailedPrecondition(b.Reserve(1, false, Clock::now())));
}

}  // namespace
}  // namespace spool::producer
