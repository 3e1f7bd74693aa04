// io::RunOn across two reactors on two threads: the work runs on the target's thread, the caller
// resumes on its own, results (and move-only results) cross over, many calls in flight at once
// all complete, and a call to the caller's own reactor runs inline.
#include "common/io/cross_reactor.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/io/when_all.h"
#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::io {
namespace {

using spool::testing::MakeReactor;

// A reactor running on its own thread until the fixture stops it.
class RemoteReactor {
 public:
  RemoteReactor() : reactor_(MakeReactor()) {
    Reactor* r = reactor_.get();
    thread_ = std::thread([r] { r->run(); });
  }
  ~RemoteReactor() {
    reactor_->stop();
    thread_.join();
  }
  Reactor& reactor() { return *reactor_; }
  std::thread::id thread_id() const { return thread_.get_id(); }

 private:
  std::unique_ptr<Reactor> reactor_;
  std::thread thread_;
};

struct Where {
  std::thread::id work_thread;
  std::thread::id resumed_thread;
  int value = 0;
};

Task<Where> CallRemote(Reactor& target, int x) {
  Where w;
  std::thread::id* work_thread = &w.work_thread;
  const int doubled = co_await RunOn<int>(target, [work_thread, x]() -> Task<int> {
    *work_thread = std::this_thread::get_id();
    co_await Reactor::current()->sleep_for(std::chrono::microseconds(10));
    co_return 2 * x;
  });
  w.resumed_thread = std::this_thread::get_id();
  w.value = doubled;
  co_return w;
}

TEST(CrossReactorTest, WorkRunsOnTheTargetAndTheCallerResumesAtHome) {
  RemoteReactor remote;
  auto home = MakeReactor();
  Where w = home->block_on(CallRemote(remote.reactor(), 21));
  EXPECT_EQ(w.value, 42);
  EXPECT_EQ(w.work_thread, remote.thread_id());
  EXPECT_EQ(w.resumed_thread, std::this_thread::get_id());
}

TEST(CrossReactorTest, SameReactorRunsInline) {
  auto home = MakeReactor();
  Where w = home->block_on(CallRemote(*home, 5));
  EXPECT_EQ(w.value, 10);
  EXPECT_EQ(w.work_thread, std::this_thread::get_id());
}

Task<std::unique_ptr<std::string>> MoveOnly(Reactor& target) {
  co_return co_await RunOn<std::unique_ptr<std::string>>(
      target, []() -> Task<std::unique_ptr<std::string>> {
        co_return std::make_unique<std::string>("moved across");
      });
}

TEST(CrossReactorTest, MoveOnlyResults) {
  RemoteReactor remote;
  auto home = MakeReactor();
  std::unique_ptr<std::string> s = home->block_on(MoveOnly(remote.reactor()));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(*s, "moved across");
}

Task<void> VoidCall(Reactor& target, std::atomic<int>* counter) {
  co_await RunOn<void>(target, [counter]() -> Task<void> {
    counter->fetch_add(1);
    co_return;
  });
}

Task<int> ManyCalls(Reactor& target, int n, std::atomic<int>* counter) {
  std::vector<Task<void>> calls;
  for (int i = 0; i < n; i++) calls.push_back(VoidCall(target, counter));
  co_await WhenAll(*Reactor::current(), std::move(calls));
  co_return counter->load();
}

TEST(CrossReactorTest, ManyCallsInFlightAllComplete) {
  RemoteReactor remote;
  auto home = MakeReactor();
  std::atomic<int> counter{0};
  EXPECT_EQ(home->block_on(ManyCalls(remote.reactor(), 1000, &counter)), 1000);
}

}  // namespace
}  // namespace spool::io
