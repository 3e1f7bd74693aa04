// Notifier: a broadcast signal for coroutines on one reactor. wait() always suspends until the
// next notify_all(); callers loop on their own condition (`while (!cond) co_await n.wait();`),
// so spurious wake-ups are harmless. Waiters are resumed on the reactor's next turn, never on
// the notifier's stack.
//
// Threading: the reactor thread only. Lifetime: a waiter's frame may be destroyed while it
// waits only together with the reactor (its destructor never resumes anything).
#pragma once

#include <coroutine>
#include <vector>

#include "common/io/reactor.h"

namespace spool::io {

class Notifier {
 public:
  explicit Notifier(io::Reactor& reactor) : reactor_(reactor) {}
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  struct Awaiter {
    Notifier& n;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) { n.waiters_.push_back(h); }
    void await_resume() const noexcept {}
  };
  [[nodiscard]] Awaiter wait() { return Awaiter{*this}; }
  void notify_all() {
    if (waiters_.empty()) return;
    std::vector<std::coroutine_handle<>> woken;
    woken.swap(waiters_);
    for (auto h : woken) reactor_.schedule(h);
  }

 private:
  io::Reactor& reactor_;
  std::vector<std::coroutine_handle<>> waiters_;
};

}  // namespace spool::io
