// ClientRuntime: the background I/O thread of one Producer or Consumer (ARCHITECTURE.md §3:
// clients use their own I/O thread, so Producer::send and Consumer::poll work from any thread).
//
// It runs one io::Reactor on its own thread; the reactor is created, run and destroyed on that
// thread. User threads hand it work with post() (fire and forget) or call() (block until a Task
// run on the I/O thread completes). Everything that talks to the network (BrokerConnection,
// Cluster) lives on this thread only.
//
// Lifetime: Start() returns once the reactor is up. shutdown() (or the destructor) stops the
// loop, destroys the reactor on the I/O thread (which destroys the frames of tasks still
// suspended there, never resuming them) and joins the thread. Functions posted after shutdown()
// are dropped. Owners first finish their own work on the thread (a producer's close() flushes
// and closes its connections, then shuts the runtime down). A call() whose Task is still pending
// at shutdown returns absl::CancelledError when T can hold a Status (Status, StatusOr<U>), and
// aborts the process otherwise, so use Status-returning tasks with call().
//
// Threading: every member is callable from any thread except where noted.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"

namespace spool::client {

class ClientRuntime {
 public:
  // `name` names the thread ("spool-producer", ...; at most 15 characters are kept).
  [[nodiscard]] static StatusOr<std::unique_ptr<ClientRuntime>> Start(
      std::string name, io::ReactorOptions options = {});
  ~ClientRuntime();
  ClientRuntime(const ClientRuntime&) = delete;
  ClientRuntime& operator=(const ClientRuntime&) = delete;

  // The reactor. Use it on the I/O thread only (inside posted functions and tasks).
  io::Reactor& reactor() { return *reactor_; }
  bool on_io_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

  // Runs fn on the I/O thread. Any thread. Returns false (and drops fn) after shutdown().
  bool post(absl::AnyInvocable<void()> fn);

  // Runs fn() on the I/O thread, waits for its Task, and returns the result. Not from the I/O
  // thread itself (that would deadlock). After shutdown(): CancelledError (see the file comment).
  template <typename T>
  T call(absl::AnyInvocable<Task<T>()> fn);

  // Stops the loop, destroys the reactor and joins the thread. Idempotent; not from the I/O
  // thread.
  void shutdown();

 private:
  ClientRuntime() = default;
  void Run(std::string name, io::ReactorOptions options);

  template <typename T>
  static T Cancelled() {
    if constexpr (std::is_constructible_v<T, Status>) {
      return T(absl::CancelledError("client runtime shut down"));
    } else {
      std::abort();
    }
  }

  // std::mutex rather than absl::Mutex: TSan sees the system abseil's mutex as no lock at all.
  std::mutex mu_;
  std::condition_variable started_;
  io::Reactor* reactor_ = nullptr;      // guarded by mu_; owned by the I/O thread's stack
  bool stopped_ = false;                // guarded by mu_
  std::optional<Status> start_status_;  // guarded by mu_
  std::thread thread_;
};

template <typename T>
T ClientRuntime::call(absl::AnyInvocable<Task<T>()> fn) {
  // The slot outlives both sides: the waiting user thread and the task on the I/O thread (whose
  // frame may be destroyed unfinished at shutdown, which its guard reports as abandoned).
  struct Slot {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<T> value;
    bool abandoned = false;
  };
  // Reports "abandoned" when the last reference goes without a result: the posted function was
  // dropped, or the task's frame was destroyed unfinished.
  struct Guard {
    std::shared_ptr<Slot> slot;
    bool done = false;
    ~Guard() {
      if (done) return;
      std::lock_guard lock(slot->mu);
      slot->abandoned = true;
      slot->cv.notify_all();
    }
  };
  auto slot = std::make_shared<Slot>();
  auto guard = std::make_shared<Guard>();
  guard->slot = slot;
  bool posted = post([guard, fn = std::move(fn)]() mutable {
    io::Reactor::current()->spawn(
        [](std::shared_ptr<Guard> g, absl::AnyInvocable<Task<T>()> f) -> Task<void> {
          T result = co_await f();
          std::lock_guard lock(g->slot->mu);
          g->slot->value.emplace(std::move(result));
          g->done = true;
          g->slot->cv.notify_all();
        }(std::move(guard), std::move(fn)));
  });
  guard.reset();
  if (!posted) return Cancelled<T>();
  std::unique_lock lock(slot->mu);
  slot->cv.wait(lock, [&] { return slot->value.has_value() || slot->abandoned; });
  if (!slot->value.has_value()) return Cancelled<T>();
  return std::move(*slot->value);
}

}  // namespace spool::client
