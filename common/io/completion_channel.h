// CompletionChannel: how other threads hand work back to a reactor. Blocking-pool threads Push()
// finished requests; post()/stop() call Signal(). Either way one eventfd becomes readable, which
// the backend watches (an armed io_uring read, or epoll), and the reactor thread then Drain()s.
//
// Writes to the eventfd are coalesced: after one Signal() no further write happens until the
// reactor thread calls Rearm(), which it does before draining, so a Push() racing with a drain is
// never lost (it either lands before the drain or signals again).
//
// Threading: Push() and Signal() from any thread; Rearm() and Drain() on the reactor thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "common/status.h"

namespace spool::io::detail {

struct IoRequest;

class CompletionChannel {
 public:
  // `nonblocking` sets EFD_NONBLOCK on the eventfd (the posix backend reads it after epoll says
  // it is readable; the io_uring backend keeps a blocking read armed on the ring).
  [[nodiscard]] static StatusOr<std::unique_ptr<CompletionChannel>> Create(bool nonblocking);
  ~CompletionChannel();
  CompletionChannel(const CompletionChannel&) = delete;
  CompletionChannel& operator=(const CompletionChannel&) = delete;

  int fd() const { return fd_; }

  void Push(IoRequest* req);
  void Signal();

  // Allows the next Signal() to write the eventfd again.
  void Rearm() { signalled_.store(false); }
  // Appends every pushed request to `out`.
  void Drain(std::vector<IoRequest*>& out);
  // Forgets pushed requests (shutdown).
  void Clear();

 private:
  explicit CompletionChannel(int fd) : fd_(fd) {}

  const int fd_;
  std::atomic<bool> signalled_{false};
  // std::mutex rather than absl::Mutex: Debian's abseil is not built for ThreadSanitizer, so TSan
  // cannot see absl::Mutex synchronisation and reports false races; it does see pthread mutexes.
  std::mutex mu_;
  std::vector<IoRequest*> pushed_;  // guarded by mu_
};

}  // namespace spool::io::detail
