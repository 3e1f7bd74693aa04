// FifoSemaphore: a counting semaphore for coroutines on one reactor that grants permits in
// arrival order. A released permit is handed straight to the oldest waiter (never left for a
// newcomer to take first), so calls that queue in order are served in order: the property a
// connection needs to keep pipelined requests in the order their callers issued them. With one
// permit it is a FIFO mutex.
//
// close() wakes every waiter without a permit (acquire() then yields false) and makes later
// acquire()s fail, for a connection that broke.
//
// Threading: the reactor thread only. A waiter is resumed on the reactor's next turn, never on
// the releaser's stack. A waiter's frame must not be destroyed while it waits (except with the
// reactor, which never resumes it).
#pragma once

#include <coroutine>
#include <deque>

#include "common/io/reactor.h"

namespace spool::client {

class FifoSemaphore {
 public:
  FifoSemaphore(io::Reactor& reactor, int permits) : reactor_(reactor), permits_(permits) {}
  FifoSemaphore(const FifoSemaphore&) = delete;
  FifoSemaphore& operator=(const FifoSemaphore&) = delete;

  class [[nodiscard]] Awaiter {
   public:
    explicit Awaiter(FifoSemaphore& s) : s_(s) {}
    bool await_ready() {
      if (s_.closed_) return true;
      if (s_.waiters_.empty() && s_.permits_ > 0) {
        --s_.permits_;
        granted_ = true;
        return true;
      }
      return false;
    }
    void await_suspend(std::coroutine_handle<> h) {
      handle_ = h;
      s_.waiters_.push_back(this);
    }
    // True with a permit (release() it later); false when the semaphore was closed.
    bool await_resume() const { return granted_; }

   private:
    friend class FifoSemaphore;
    FifoSemaphore& s_;
    std::coroutine_handle<> handle_;
    bool granted_ = false;
  };
  // `bool got = co_await sem.acquire();`
  Awaiter acquire() { return Awaiter(*this); }

  void release() {
    if (!waiters_.empty()) {
      Awaiter* next = waiters_.front();
      waiters_.pop_front();
      next->granted_ = true;
      reactor_.schedule(next->handle_);
      return;
    }
    ++permits_;
  }

  void close() {
    closed_ = true;
    std::deque<Awaiter*> woken;
    woken.swap(waiters_);
    for (Awaiter* w : woken) reactor_.schedule(w->handle_);
  }

 private:
  io::Reactor& reactor_;
  int permits_;
  bool closed_ = false;
  std::deque<Awaiter*> waiters_;
};

}  // namespace spool::client
