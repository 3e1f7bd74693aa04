// Event: a one-reactor coroutine signal. wait() suspends until set(); set() resumes every waiter
// on the reactor's next turn (never inline, so the setter's stack does not run waiter code).
// reset() makes later wait()s block again. Not thread-safe: use it on its reactor's thread only;
// to signal from another thread, post() to the reactor and set() there.
#pragma once

#include <coroutine>
#include <vector>

#include "common/io/reactor.h"

namespace spool::io {

class Event {
 public:
  explicit Event(Reactor& reactor) : reactor_(reactor) {}
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  bool is_set() const { return set_; }
  void set() {
    set_ = true;
    for (auto h : waiters_) reactor_.schedule(h);
    waiters_.clear();
  }
  void reset() { set_ = false; }

  struct Awaiter {
    Event& e;
    bool await_ready() const noexcept { return e.set_; }
    void await_suspend(std::coroutine_handle<> h) { e.waiters_.push_back(h); }
    void await_resume() const noexcept {}
  };
  // The waiter must not be destroyed while suspended here.
  Awaiter wait() { return Awaiter{*this}; }

 private:
  Reactor& reactor_;
  bool set_ = false;
  std::vector<std::coroutine_handle<>> waiters_;
};

}  // namespace spool::io
