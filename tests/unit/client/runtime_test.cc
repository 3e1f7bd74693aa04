// client/runtime.h: work posted from user threads runs on the I/O thread, call() returns a
// task's result, and shutdown() drops later work and releases a call() left waiting.
#include "client/runtime.h"

#include <atomic>
#include <thread>

#include "common/io/notifier.h"
#include "gtest/gtest.h"

namespace spool::client {
namespace {

TEST(ClientRuntimeTest, CallRunsOnTheIoThread) {
  auto rt = ClientRuntime::Start("spool-test");
  ASSERT_TRUE(rt.ok()) << rt.status();
  ClientRuntime* runtime = rt->get();
  EXPECT_FALSE(runtime->on_io_thread());
  StatusOr<int> v = runtime->call<StatusOr<int>>([runtime]() -> Task<StatusOr<int>> {
    co_await runtime->reactor().sleep_for(std::chrono::milliseconds(1));
    if (!runtime->on_io_thread()) co_return absl::InternalError("wrong thread");
    co_return 42;
  });
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 42);
}

TEST(ClientRuntimeTest, CallsFromManyThreads) {
  auto rt = ClientRuntime::Start("spool-test");
  ASSERT_TRUE(rt.ok());
  ClientRuntime* runtime = rt->get();
  int counter = 0;  // touched on the I/O thread only
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        Status st = runtime->call<Status>([&]() -> Task<Status> {
          ++counter;
          co_return absl::OkStatus();
        });
        if (st.ok()) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 400);
  StatusOr<int> seen =
      runtime->call<StatusOr<int>>([&]() -> Task<StatusOr<int>> { co_return counter; });
  EXPECT_EQ(*seen, 400);
}

TEST(ClientRuntimeTest, ShutdownReleasesAWaitingCallAndDropsLaterWork) {
  auto rt = ClientRuntime::Start("spool-test");
  ASSERT_TRUE(rt.ok());
  ClientRuntime* runtime = rt->get();
  std::atomic<bool> started{false};
  std::unique_ptr<io::Notifier> never;
  Status result;
  std::thread caller([&] {
    result = runtime->call<Status>([&]() -> Task<Status> {
      never = std::make_unique<io::Notifier>(runtime->reactor());
      started = true;
      co_await never->wait();  // nobody notifies
      co_return absl::OkStatus();
    });
  });
  // Waits (deadline) until the task runs, then shuts down under it.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!started && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(started);
  runtime->shutdown();
  caller.join();
  EXPECT_TRUE(absl::IsCancelled(result)) << result;
  EXPECT_FALSE(runtime->post([] {}));
  Status late = runtime->call<Status>([]() -> Task<Status> { co_return absl::OkStatus(); });
  EXPECT_TRUE(absl::IsCancelled(late)) << late;
}

}  // namespace
}  // namespace spool::client
