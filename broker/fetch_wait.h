// FetchWaiter: wakes a parked Fetch (a long poll) from whichever shard gets new data.
//
// A Fetch runs on its connection's shard (its "home") and may name partitions owned by other
// shards. When it has to wait for data, it registers one FetchWaiter with every partition it
// reads (on each partition's own shard, in the same hop as the read, so nothing can arrive
// unseen in between), arms its max_wait_ms deadline on the home shard's RequestTimers, and
// suspends in Wait(). A partition whose high watermark advances calls Notify() on each waiter it
// holds and drops them; the first Notify() posts one wake-up to the home reactor, later ones do
// nothing. No polling: the fetch sleeps until a wake-up or its deadline.
//
// Threading: Notify() from any thread. Wake() and Wait() on the home reactor's thread only.
// Lifetime: shared (std::shared_ptr); partitions may hold a waiter after the fetch is done (it is
// then only a fired flag, purged at the partition's next registration or advance).
#pragma once

#include <atomic>
#include <coroutine>
#include <memory>

#include "common/io/reactor.h"

namespace spool::broker {

class FetchWaiter : public std::enable_shared_from_this<FetchWaiter> {
 public:
  explicit FetchWaiter(io::Reactor& home) : home_(home) {}
  FetchWaiter(const FetchWaiter&) = delete;
  FetchWaiter& operator=(const FetchWaiter&) = delete;

  // Any thread. The first call (of Notify or Wake) wins; it wakes the waiting fetch on its home.
  void Notify() {
    if (notified_.exchange(true)) return;
    home_.post([self = shared_from_this()] { self->Wake(); });
  }
  // Home thread: wakes the fetch now (its deadline, or a broker shutdown).
  void Wake() {
    notified_.store(true);
    if (woken_) return;
    woken_ = true;
    if (handle_) home_.schedule(std::exchange(handle_, nullptr));
  }
  // True once Notify() or Wake() was called: partitions drop such waiters.
  bool fired() const { return notified_.load(std::memory_order_relaxed); }

  struct Awaiter {
    FetchWaiter& w;
    bool await_ready() const noexcept { return w.woken_; }
    void await_suspend(std::coroutine_handle<> h) { w.handle_ = h; }
    void await_resume() const noexcept {}
  };
  // Home thread: suspends until woken (returns at once if it was already).
  Awaiter Wait() { return Awaiter{*this}; }

 private:
  io::Reactor& home_;
  std::atomic<bool> notified_{false};
  bool woken_ = false;                // home thread only
  std::coroutine_handle<> handle_{};  // home thread only
};

}  // namespace spool::broker
