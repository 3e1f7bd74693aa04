// RequestTimers: fire at or after their deadline, in deadline order, never after Cancel() or
// Shutdown(), and an earlier deadline armed later is not held up by a later one.
#include "broker/request_timers.h"

#include <vector>

#include "common/io/event.h"
#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::broker {
namespace {

constexpr int64_t kMs = 1'000'000;

TEST(RequestTimersTest, FireInOrderAndCancelledOnesDoNot) {
  auto reactor = testing::MakeReactor();
  RequestTimers timers(*reactor);
  std::vector<int> fired;
  io::Event done(*reactor);
  const int64_t now = RequestTimers::NowNs();
  timers.Arm(now + 60 * kMs, [&] {
    fired.push_back(3);
    done.set();
  });
  timers.Arm(now + 20 * kMs, [&] { fired.push_back(1); });
  const RequestTimers::Id cancelled = timers.Arm(now + 30 * kMs, [&] { fired.push_back(99); });
  timers.Arm(now + 40 * kMs, [&] { fired.push_back(2); });
  timers.Cancel(cancelled);
  timers.Cancel(cancelled);  // twice is fine
  EXPECT_EQ(timers.pending(), 3u);
  reactor->block_on([](io::Event& d) -> Task<void> { co_await d.wait(); }(done));
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
  EXPECT_GE(RequestTimers::NowNs(), now + 60 * kMs);
  EXPECT_EQ(timers.pending(), 0u);
}

TEST(RequestTimersTest, EarlierDeadlineArmedLaterIsNotHeldUp) {
  auto reactor = testing::MakeReactor();
  RequestTimers timers(*reactor);
  io::Event done(*reactor);
  const int64_t now = RequestTimers::NowNs();
  bool far_fired = false;
  const RequestTimers::Id far = timers.Arm(now + 3600 * 1000 * kMs, [&] { far_fired = true; });
  timers.Arm(now + 10 * kMs, [&] { done.set(); });
  reactor->block_on([](io::Event& d) -> Task<void> { co_await d.wait(); }(done));
  EXPECT_LT(RequestTimers::NowNs(), now + 3600 * 1000 * kMs);
  EXPECT_FALSE(far_fired);
  timers.Cancel(far);
  timers.Shutdown();
  EXPECT_EQ(timers.Arm(now, [] { ADD_FAILURE() << "armed after Shutdown"; }),
            RequestTimers::kNoTimer);
}

}  // namespace
}  // namespace spool::broker
