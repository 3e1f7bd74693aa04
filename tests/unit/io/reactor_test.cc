// The Reactor's loop, scheduling, timers, cross-thread post/stop, backend selection and
// destruction with work in flight. ctest runs this binary once per backend.
#include "common/io/reactor.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/io/event.h"
#include "common/io/file_system.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::io {
namespace {

using namespace std::chrono_literals;
using spool::testing::MakeReactor;
using spool::testing::TempDir;
using ::testing::ElementsAre;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Sets an environment variable for the life of the object, then restores the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value == nullptr) {
      ::unsetenv(name);
    } else {
      ::setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

Task<int> Answer() {
  co_return 42;
}

TEST(ReactorTest, BlockOnReturnsTheResult) {
  auto r = MakeReactor();
  EXPECT_EQ(r->block_on(Answer()), 42);
}

TEST(ReactorTest, RunsOnTheRequestedBackend) {
  auto r = MakeReactor();
  if (auto want = spool::testing::RequestedBackend()) {
    EXPECT_EQ(r->backend(), *want);
  }
  EXPECT_EQ(BackendName(r->backend()), r->backend() == Backend::kUring ? "uring" : "posix");
}

Task<Reactor*> CurrentInside() {
  co_return Reactor::current();
}

TEST(ReactorTest, CurrentIsSetOnlyWhileTheLoopRuns) {
  auto r = MakeReactor();
  EXPECT_EQ(Reactor::current(), nullptr);
  EXPECT_EQ(r->block_on(CurrentInside()), r.get());
  EXPECT_EQ(Reactor::current(), nullptr);
}

Task<void> Append(std::vector<int>* out, int v) {
  out->push_back(v);
  co_return;
}

Task<void> Wait(Event& e) {
  co_await e.wait();
}

Task<void> AppendThenSet(std::vector<int>* out, int v, Event* e) {
  out->push_back(v);
  e->set();
  co_return;
}

TEST(ReactorTest, SpawnedTasksRunInOrder) {
  auto r = MakeReactor();
  std::vector<int> order;
  Event done(*r);
  r->spawn(Append(&order, 1));
  r->spawn(Append(&order, 2));
  r->spawn(AppendThenSet(&order, 3, &done));
  r->block_on(Wait(done));
  EXPECT_THAT(order, ElementsAre(1, 2, 3));
}

// Yields three times, recording its id each turn.
Task<void> Yielder(Reactor& r, std::vector<int>* out, int id) {
  for (int i = 0; i < 3; ++i) {
    out->push_back(id);
    co_await r.sleep_for(0ns);
  }
}

Task<void> Both(Reactor& r, std::vector<int>* out) {
  r.spawn(Yielder(r, out, 1));
  r.spawn(Yielder(r, out, 2));
  co_await r.sleep_for(0ns);
  co_await r.sleep_for(0ns);
  co_await r.sleep_for(0ns);
  co_await r.sleep_for(0ns);
}

TEST(ReactorTest, ZeroSleepYieldsToOtherTasks) {
  auto r = MakeReactor();
  std::vector<int> order;
  r->block_on(Both(*r, &order));
  EXPECT_THAT(order, ElementsAre(1, 2, 1, 2, 1, 2));
}

struct Wake {
  int id;
  int64_t slept_ns;
};

Task<void> Sleeper(Reactor& r, std::chrono::milliseconds d, int id, std::vector<Wake>* out,
                   int* left, Event* all) {
  const int64_t start = NowNs();
  co_await r.sleep_for(d);
  out->push_back(Wake{id, NowNs() - start});
  if (--*left == 0) all->set();
}

TEST(ReactorTest, SleepForWakesInDeadlineOrder) {
  auto r = MakeReactor();
  std::vector<Wake> wakes;
  int left = 4;
  Event all(*r);
  const int64_t start = NowNs();
  r->spawn(Sleeper(*r, 60ms, 60, &wakes, &left, &all));
  r->spawn(Sleeper(*r, 20ms, 20, &wakes, &left, &all));
  r->spawn(Sleeper(*r, 40ms, 40, &wakes, &left, &all));
  r->spawn(Sleeper(*r, 1ms, 1, &wakes, &left, &all));
  r->block_on(Wait(all));
  const int64_t total = NowNs() - start;
  ASSERT_EQ(wakes.size(), 4u);
  std::vector<int> ids;
  for (const Wake& w : wakes) {
    ids.push_back(w.id);
    EXPECT_GE(w.slept_ns, int64_t{w.id} * 1'000'000) << "timer " << w.id << " fired early";
  }
  EXPECT_THAT(ids, ElementsAre(1, 20, 40, 60));
  // Timers run concurrently: the whole thing takes about the longest one, far from the sum.
  EXPECT_LT(total, 2'000'000'000) << "sleeps took " << total << " ns";
}

TEST(ReactorTest, ManyTimersWithTheSameDeadlineAllFire) {
  auto r = MakeReactor();
  std::vector<Wake> wakes;
  int left = 200;
  Event all(*r);
  for (int i = 0; i < 200; ++i) r->spawn(Sleeper(*r, 2ms, i, &wakes, &left, &all));
  r->block_on(Wait(all));
  EXPECT_EQ(wakes.size(), 200u);
}

TEST(ReactorTest, PostFromAnotherThreadWakesASleepingLoop) {
  auto r = MakeReactor();
  std::atomic<bool> loop_started{false};
  bool posted_ran = false;
  bool watchdog_fired = false;
  // Fails the test instead of hanging it if the wake-up is lost.
  r->spawn([](Reactor& r, bool* fired, std::atomic<bool>* started) -> Task<void> {
    started->store(true);
    co_await r.sleep_for(20s);
    *fired = true;
    r.stop();
  }(*r, &watchdog_fired, &loop_started));
  std::thread poster([&] {
    while (!loop_started.load()) std::this_thread::yield();
    r->post([&] {
      posted_ran = true;
      EXPECT_EQ(Reactor::current(), r.get());
      r->stop();
    });
  });
  const int64_t start = NowNs();
  r->run();
  poster.join();
  EXPECT_TRUE(posted_ran);
  EXPECT_FALSE(watchdog_fired);
  EXPECT_LT(NowNs() - start, 10'000'000'000);
}

TEST(ReactorTest, PostsFromManyThreadsAllRun) {
  auto r = MakeReactor();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  int count = 0;  // touched only on the reactor thread
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        r->post([&] {
          if (++count == kThreads * kPerThread) r->stop();
        });
      }
    });
  }
  r->run();
  for (auto& t : threads) t.join();
  EXPECT_EQ(count, kThreads * kPerThread);
}

TEST(ReactorTest, StopFromAnotherThreadEndsRun) {
  auto r = MakeReactor();
  std::atomic<bool> started{false};
  r->post([&] { started.store(true); });
  std::thread stopper([&] {
    while (!started.load()) std::this_thread::yield();
    r->stop();
  });
  r->run();
  stopper.join();
  EXPECT_TRUE(started.load());
  // run() can be called again afterwards.
  r->post([&] { r->stop(); });
  r->run();
}

struct Sentinel {
  int* destroyed;
  ~Sentinel() { ++*destroyed; }
};

Task<void> RecvForever(Reactor& r, int fd, int* destroyed, bool* resumed) {
  Sentinel s{destroyed};
  std::byte buf[16];
  auto n = co_await r.recv(fd, buf);
  PermitUncheckedError(n.status());
  *resumed = true;
}

Task<void> SleepForever(Reactor& r, int* destroyed, bool* resumed) {
  Sentinel s{destroyed};
  co_await r.sleep_for(1h);
  *resumed = true;
}

Task<void> WaitForever(Event& e, int* destroyed, bool* resumed) {
  Sentinel s{destroyed};
  co_await e.wait();
  *resumed = true;
}

Task<void> Turns(Reactor& r, int n) {
  for (int i = 0; i < n; ++i) co_await r.sleep_for(0ns);
}

// The destructor cancels what is in flight and destroys unfinished spawned tasks (their locals
// are destroyed, nothing is resumed). Under ASan this also checks nothing leaks.
TEST(ReactorTest, DestroyWithOperationsInFlight) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int destroyed = 0;
  bool resumed = false;
  {
    auto r = MakeReactor();
    Event never(*r);
    r->spawn(RecvForever(*r, sv[0], &destroyed, &resumed));
    r->spawn(SleepForever(*r, &destroyed, &resumed));
    r->spawn(WaitForever(never, &destroyed, &resumed));
    r->block_on(Turns(*r, 3));  // every task is now suspended
    r->post([] {});             // a posted function that never runs
    EXPECT_EQ(destroyed, 0);
  }
  EXPECT_EQ(destroyed, 3);
  EXPECT_FALSE(resumed);
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST(ReactorTest, DestroyWithUnstartedSpawnedTask) {
  int destroyed = 0;
  bool resumed = false;
  {
    auto r = MakeReactor();
    r->spawn(SleepForever(*r, &destroyed, &resumed));
  }
  // The task never started, so its Sentinel was never constructed; the frame is freed (ASan).
  EXPECT_EQ(destroyed, 0);
  EXPECT_FALSE(resumed);
}

Task<void> WriteMany(Reactor& r, int fd, int n) {
  std::vector<std::byte> block(256, std::byte{7});
  Event done(r);
  int left = n;
  for (int i = 0; i < n; ++i) {
    r.spawn([](Reactor& r, int fd, std::span<const std::byte> b, uint64_t off, int* left,
               Event* done) -> Task<void> {
      Status st = co_await r.write(fd, b, off);
      EXPECT_TRUE(st.ok()) << st;
      if (--*left == 0) done->set();
    }(r, fd, block, uint64_t(i) * block.size(), &left, &done));
  }
  co_await done.wait();
}

TEST(ReactorTest, StatsCountSubmissionsAndCompletions) {
  TempDir dir;
  auto r = MakeReactor();
  auto fd = r->block_on(r->open(dir.file("s"), O_RDWR | O_CREAT | O_CLOEXEC));
  ASSERT_TRUE(fd.ok()) << fd.status();
  const ReactorStats before = r->stats();
  r->block_on(WriteMany(*r, *fd, 64));
  const ReactorStats& after = r->stats();
  EXPECT_EQ(after.submissions - before.submissions, 64u);
  EXPECT_EQ(after.completions - before.completions, 64u);
  // Completions are reaped in batches of one or more. How many land in one batch depends on how
  // fast the device completes them (on a loaded machine, one by one), so only the bounds hold.
  EXPECT_GE(after.reap_batches - before.reap_batches, 1u);
  EXPECT_LE(after.reap_batches - before.reap_batches, 64u);
  EXPECT_TRUE(r->block_on(r->close(*fd)).ok());
}

TEST(ReactorTest, ForcedBackendIsTheOneInUse) {
  auto posix = Reactor::Create(ReactorOptions{.backend = Backend::kPosix});
  ASSERT_TRUE(posix.ok()) << posix.status();
  EXPECT_EQ((*posix)->backend(), Backend::kPosix);

  auto uring = Reactor::Create(ReactorOptions{.backend = Backend::kUring});
  if (uring.ok()) {
    EXPECT_EQ((*uring)->backend(), Backend::kUring);
  } else {
    // A forced io_uring that cannot run is an error, never a silent fallback.
    EXPECT_THAT(std::string(uring.status().message()), ::testing::HasSubstr("io_uring"));
  }
}

// A ring the kernel refuses (more entries than IORING_MAX_ENTRIES) stands in for a kernel
// without io_uring: unforced, Create() logs one line and runs posix; forced, it fails.
TEST(ReactorTest, UnusableRingFallsBackToPosixUnlessForced) {
  ScopedEnv env("SPOOL_IO_BACKEND", nullptr);
  ::testing::internal::CaptureStderr();
  auto fallback = Reactor::Create(ReactorOptions{.ring_entries = 1u << 20});
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ((*fallback)->backend(), Backend::kPosix);
  EXPECT_THAT(log, ::testing::HasSubstr("io_uring"));
  EXPECT_THAT(log, ::testing::HasSubstr("posix"));
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;

  auto forced =
      Reactor::Create(ReactorOptions{.backend = Backend::kUring, .ring_entries = 1u << 20});
  ASSERT_FALSE(forced.ok());
  EXPECT_THAT(std::string(forced.status().message()), ::testing::HasSubstr("io_uring"));
}

TEST(ReactorTest, EnvironmentSelectsTheBackend) {
  {
    ScopedEnv env("SPOOL_IO_BACKEND", "posix");
    auto r = Reactor::Create();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)->backend(), Backend::kPosix);
    // Options win over the environment.
    auto forced = Reactor::Create(ReactorOptions{.backend = Backend::kUring});
    if (forced.ok()) {
      EXPECT_EQ((*forced)->backend(), Backend::kUring);
    }
  }
  {
    ScopedEnv env("SPOOL_IO_BACKEND", "uring");
    auto r = Reactor::Create();
    if (r.ok()) {
      EXPECT_EQ((*r)->backend(), Backend::kUring);
    } else {
      EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("io_uring"));
    }
  }
  {
    ScopedEnv env("SPOOL_IO_BACKEND", "epoll");
    auto r = Reactor::Create();
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  }
  {
    ScopedEnv env("SPOOL_IO_BACKEND", nullptr);
    auto r = Reactor::Create();
    ASSERT_TRUE(r.ok()) << r.status();
  }
}

TEST(ReactorTest, TwoReactorsOnTwoThreads) {
  TempDir dir;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      auto r = MakeReactor();
      auto fs = NewReactorFileSystem(*r);
      auto path = dir.file("r" + std::to_string(t));
      auto st = r->block_on([](FileSystem& fs, std::string path) -> Task<Status> {
        CO_ASSIGN_OR_RETURN(auto f, co_await fs.open(path, OpenMode::kCreate));
        auto data = spool::testing::ToBytes(path);
        CO_RETURN_IF_ERROR(co_await f->write_at(0, data));
        CO_RETURN_IF_ERROR(co_await f->datasync());
        co_return co_await f->close();
      }(*fs, path));
      if (st.ok()) ok.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 2);
}

}  // namespace
}  // namespace spool::io
