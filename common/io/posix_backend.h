// PosixBackend: the portable IoBackend (see reactor_backend.h) for kernels or sandboxes without
// a usable io_uring.
//
// - File and directory ops run on the blocking pool; their completions come back through an
//   eventfd registered in epoll (the same eventfd carries Wake()).
// - Socket ops are tried once with a non-blocking call on the reactor thread; EAGAIN /
//   EINPROGRESS go back to the Reactor, which then waits with a kPoll request. kPoll is served by
//   level-triggered epoll, with per-fd lists of readers and writers.
// - Timers live in a min-heap; epoll_pwait2 sleeps until the earliest deadline.
// - Shutdown drops epoll waiters and timers (nothing of theirs is in the kernel) and joins the
//   pool.
//
// Threading: reactor thread only, except Wake().
#pragma once

#include <cstdint>
#include <memory>
#include <queue>
#include <unordered_map>
#include <vector>

#include "common/io/blocking_pool.h"
#include "common/io/completion_channel.h"
#include "common/io/reactor_backend.h"

namespace spool::io::detail {

class PosixBackend final : public IoBackend {
 public:
  [[nodiscard]] static StatusOr<std::unique_ptr<PosixBackend>> Create(
      const ReactorOptions& options);
  ~PosixBackend() override;

  Backend kind() const override { return Backend::kPosix; }
  void Submit(IoRequest* req) override;
  void Poll(bool block, std::vector<IoRequest*>& done) override;
  void Wake() override { channel_->Signal(); }
  void Shutdown() override;

 private:
  struct FdWaiters {
    std::vector<IoRequest*> waiters;  // kPoll requests, in arrival order
    bool added = false;               // the fd is in the epoll set
    uint32_t events = 0;              // the events it is registered for
  };
  struct TimerEntry {
    int64_t deadline_ns;
    uint64_t seq;  // FIFO among equal deadlines
    IoRequest* req;
    bool operator>(const TimerEntry& o) const {
      return deadline_ns != o.deadline_ns ? deadline_ns > o.deadline_ns : seq > o.seq;
    }
  };

  PosixBackend(int epoll_fd, unsigned blocking_threads, std::unique_ptr<CompletionChannel> channel);

  void SubmitSocketOp(IoRequest* req);
  void AddPoller(IoRequest* req);
  // Re-registers `fd` in epoll for the events its waiters still want (or removes it).
  void UpdateRegistration(int fd, FdWaiters& w);
  // Completes the waiters of `fd` whose events are in `revents`.
  void DispatchFd(int fd, uint32_t revents);
  // Completes every waiter of `fd` with `result` (the fd is being closed).
  void FailWaiters(int fd, int64_t result);
  void ExpireTimers(int64_t now_ns);

  const int epoll_fd_;
  bool shut_down_ = false;
  std::unique_ptr<CompletionChannel> channel_;
  BlockingPool pool_;
  std::unordered_map<int, FdWaiters> fds_;
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timers_;
  uint64_t timer_seq_ = 0;
  // Requests that finished inside Submit() (non-blocking socket calls, expired timers ...).
  std::vector<IoRequest*> ready_;
};

}  // namespace spool::io::detail
