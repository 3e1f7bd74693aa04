// Coroutine synchronisation for one reactor: a FIFO mutex and a broadcast notifier. Used by the
// storage engine to order appends, serialise fdatasyncs and wait for state changes without
// threads or locks (everything runs on the partition's reactor thread).
//
// Threading: not thread-safe; every call happens on the reactor thread that owns the object.
// Waiters are resumed on the reactor's next loop turn (Reactor::schedule), never inline, so the
// code that unlocks or notifies never runs waiter code on its own stack.
// Lifetime: a suspended waiter's frame must not be destroyed while it waits here, and the
// object must outlive its waiters.
#pragma once

#include <coroutine>
#include <deque>
#include <utility>
#include <vector>

#include "common/io/notifier.h"
#include "common/io/reactor.h"

namespace spool::log {

// A mutex for coroutines that grants the lock in arrival order. An uncontended lock() completes
// without suspending, so a caller that finds it free keeps running; unlock() hands the lock
// directly to the oldest waiter (it stays locked during the hand-off, so later arrivals queue).
class AsyncMutex {
 public:
  explicit AsyncMutex(io::Reactor& reactor) : reactor_(reactor) {}
  AsyncMutex(const AsyncMutex&) = delete;
  AsyncMutex& operator=(const AsyncMutex&) = delete;

  struct LockAwaiter {
    AsyncMutex& m;
    bool await_ready() const noexcept {
      if (m.locked_) return false;
      m.locked_ = true;
      return true;
    }
    void await_suspend(std::coroutine_handle<> h) { m.waiters_.push_back(h); }
    void await_resume() const noexcept {}
  };
  // co_await lock(); ... unlock();
  [[nodiscard]] LockAwaiter lock() { return LockAwaiter{*this}; }
  void unlock() {
    if (waiters_.empty()) {
      locked_ = false;
      return;
    }
    std::coroutine_handle<> next = waiters_.front();
    waiters_.pop_front();
    reactor_.schedule(next);
  }

 private:
  io::Reactor& reactor_;
  bool locked_ = false;
  std::deque<std::coroutine_handle<>> waiters_;
};

// Unlocks an AsyncMutex when it goes out of scope (the lock must be held).
class [[nodiscard]] AsyncLockGuard {
 public:
  explicit AsyncLockGuard(AsyncMutex& m) : m_(&m) {}
  AsyncLockGuard(const AsyncLockGuard&) = delete;
  AsyncLockGuard& operator=(const AsyncLockGuard&) = delete;
  ~AsyncLockGuard() {
    if (m_ != nullptr) m_->unlock();
  }
  void release() { std::exchange(m_, nullptr)->unlock(); }

 private:
  AsyncMutex* m_;
};

// The broadcast notifier is shared with the clients (common/io/notifier.h).
using io::Notifier;

}  // namespace spool::log
