// Reactor: one thread's event loop over io_uring (or the portable epoll + blocking-pool backend).
//
// Ownership and threading: a Reactor is created on, and afterwards used only from, the thread
// that runs it (block_on / run). Every operation below must be started on that thread and its
// coroutine is resumed on that thread. The only members callable from any thread are post() and
// stop(). A partition, a connection or a file is owned by exactly one reactor (ARCHITECTURE.md §3).
//
// Backends: Create() probes io_uring and the opcodes Spool needs; if the ring cannot be set up
// (old kernel, kernel.io_uring_disabled, seccomp) it logs one line and uses the portable backend.
// SPOOL_IO_BACKEND=uring|posix in the environment (or ReactorOptions::backend) forces one; a
// forced uring that fails the probe is an error, not a silent fallback. Operations the ring has
// no opcode for in this liburing (ftruncate, directory listing) run on a small blocking-I/O pool
// on both backends, never on the reactor thread.
//
// Results: every failure is a Status built by ErrnoStatus(), so ErrnoOf() gives the errno. Short
// counts are resumed inside the reactor: read() returns fewer bytes only at end of file, write()
// and send() complete only when every byte is written. recv() returns what one receive gave
// (0 = the peer closed).
//
// Buffers passed as spans and sockaddrs must stay alive until the operation's Task completes.
//
// Sockets: accept() returns a SOCK_CLOEXEC, blocking fd; send() uses MSG_NOSIGNAL (a closed peer
// gives EPIPE, never SIGPIPE); connect() waits for the handshake even on a non-blocking socket.
// close() first cancels every operation still waiting on that fd (they fail with ECANCELED; on
// io_uring this needs Linux 5.19, older kernels leave them waiting).
//
// Destruction: the destructor cancels every operation in flight and waits until neither the
// kernel nor a pool thread can touch its buffers any more; then it destroys the frames of
// spawned tasks that have not finished (their locals are destroyed; they are never resumed) and
// drops scheduled handles and posted functions without running them. A Task the caller still
// owns keeps its (suspended, never resumed) frame until the caller destroys it.
//
// Coroutine pitfall (GCC 12): never write co_await directly in an if/while/switch condition, as
// in `if ((co_await f()).ok())`; GCC 12.2 miscompiles it (the coroutine body never runs). Bind
// the result first: `Status st = co_await f();` or `if (auto st = co_await f(); !st.ok())`.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "common/status.h"
#include "common/task.h"

namespace spool::io {

enum class Backend { kUring, kPosix };
std::string_view BackendName(Backend b);

struct ReactorOptions {
  // Unset: SPOOL_IO_BACKEND if set ("uring" or "posix"; anything else makes Create() fail with
  // kInvalidArgument), else io_uring when the probe passes, else posix. Set: wins over the
  // environment.
  std::optional<Backend> backend;
  // SQ size (the CQ gets 4x); at least 8. More than the kernel allows (32768) fails io_uring
  // setup, which then falls back to posix unless io_uring is forced.
  unsigned ring_entries = 256;
  unsigned blocking_threads = 2;  // upper bound; threads start on first use
};

// Counters for tests and metrics. Read on the reactor thread.
struct ReactorStats {
  uint64_t submissions = 0;    // operations handed to the backend
  uint64_t completions = 0;    // completions reaped
  uint64_t reap_batches = 0;   // times the loop reaped one or more completions
  uint64_t short_resumes = 0;  // short reads/writes/sends that were resubmitted
};

namespace detail {
class IoBackend;   // internal: one implementation per backend (reactor_backend.h)
struct IoRequest;  // internal: one operation in flight (reactor_backend.h)
}  // namespace detail

class Reactor {
 public:
  static StatusOr<std::unique_ptr<Reactor>> Create(ReactorOptions options = {});
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  Backend backend() const;
  const ReactorStats& stats() const;
  // The reactor whose loop is running on this thread, or nullptr.
  static Reactor* current();

  // ---- files ----
  Task<StatusOr<int>> open(std::string path, int flags, mode_t mode = 0644);
  Task<StatusOr<size_t>> read(int fd, std::span<std::byte> buf, uint64_t offset);
  Task<Status> write(int fd, std::span<const std::byte> buf, uint64_t offset);
  Task<Status> fdatasync(int fd);
  Task<Status> fsync(int fd);
  // fallocate(2); mode is e.g. 0 or FALLOC_FL_KEEP_SIZE.
  Task<Status> fallocate(int fd, int mode, uint64_t offset, uint64_t len);
  Task<Status> ftruncate(int fd, uint64_t length);
  Task<StatusOr<uint64_t>> file_size(int fd);
  // The size of the file at `path` (statx); kNotFound when there is nothing there.
  Task<StatusOr<uint64_t>> file_size_at(std::string path);
  Task<Status> rename(std::string from, std::string to);
  Task<Status> unlink(std::string path);
  Task<Status> mkdir(std::string path, mode_t mode = 0755);
  Task<Status> rmdir(std::string path);
  // Names in a directory, without "." and "..", in no particular order.
  Task<StatusOr<std::vector<std::string>>> list_dir(std::string path);
  Task<Status> close(int fd);

  // ---- sockets (fds are non-blocking or blocking; both work) ----
  Task<StatusOr<int>> accept(int listen_fd);
  Task<Status> connect(int fd, const sockaddr* addr, socklen_t addrlen);
  Task<StatusOr<size_t>> recv(int fd, std::span<std::byte> buf);
  Task<Status> send(int fd, std::span<const std::byte> buf);
  // sendmsg(2) of every byte the iovecs describe, resuming short sends where they stopped (the
  // reactor works on its own copy of the iovec array; `iov` itself need not outlive the call's
  // start, but the bytes it points at must stay alive until the Task completes). Like send(),
  // completes only when everything is sent.
  Task<Status> sendv(int fd, std::span<const iovec> iov);

  // ---- time and scheduling ----
  // Resumes after at least `d` (IORING_OP_TIMEOUT, or the posix timer heap). d <= 0 yields:
  // resumes on the next loop turn, after the other ready tasks.
  Task<void> sleep_for(std::chrono::nanoseconds d);
  // Resumes `h` on this reactor's next loop turn. Reactor thread only.
  void schedule(std::coroutine_handle<> h);
  // Runs `task` to completion without an awaiter. Reactor thread only (or before run()).
  void spawn(Task<void> task);
  // Runs `fn` on the reactor thread. Any thread; wakes a sleeping loop.
  void post(absl::AnyInvocable<void()> fn);
  // Runs the loop on the calling thread until stop(). Returns at once if stop() was called
  // before; either way the stop request is consumed, so run() can be called again.
  void run();
  // Makes run() return after the current turn. Any thread. block_on() ignores it.
  void stop();

  // Runs the loop on the calling thread until `task` completes and returns its result.
  // Other spawned work keeps running while it waits. Not reentrant.
  template <typename T>
  T block_on(Task<T> task) {
    bool done = false;
    if constexpr (std::is_void_v<T>) {
      Task<void> r = [](Task<void> t, bool* d) -> Task<void> {
        co_await std::move(t);
        *d = true;
      }(std::move(task), &done);
      schedule(r.handle());
      RunUntil(done);
    } else {
      std::optional<T> out;
      Task<void> r = [](Task<T> t, std::optional<T>* o, bool* d) -> Task<void> {
        o->emplace(co_await std::move(t));
        *d = true;
      }(std::move(task), &out, &done);
      schedule(r.handle());
      RunUntil(done);
      return std::move(*out);
    }
  }

 private:
  struct Core;
  struct Submission;
  struct Yield;

  explicit Reactor(std::unique_ptr<detail::IoBackend> backend);
  // Runs loop turns until `done` becomes true.
  void RunUntil(const bool& done);
  // One loop turn: posted functions, the ready queue, then submit + reap + resume completions.
  // Blocks in the backend only when nothing is runnable, `*done` (if given) is false and, with
  // `honour_stop`, no stop() is pending.
  void Turn(const bool* done, bool honour_stop);
  void RunPosted();
  void SubmitRequest(detail::IoRequest& req);
  // Submits `req`, retrying EINTR, and EAGAIN after waiting for `poll_events` on req.fd (sockets)
  // or at once (files). Returns the kernel's result: >= 0 or -errno.
  Task<int64_t> Perform(detail::IoRequest& req, int poll_events);
  // Waits until `fd` reports one of `events`; returns the revents or -errno.
  Task<int64_t> PollFd(int fd, int events);

  std::unique_ptr<Core> core_;
};

}  // namespace spool::io
