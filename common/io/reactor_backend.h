// Internal to the I/O layer: the backend-neutral request and the interface both backends
// implement. Nothing outside common/io/ includes this header.
//
// The Reactor (reactor.cc) fills an IoRequest that lives in the awaiting coroutine's frame, sets
// `waiter`, and hands it to IoBackend::Submit(). The backend performs the operation (io_uring SQE,
// a non-blocking call on the reactor thread, or the blocking pool), stores the raw outcome in
// `result` (a count or value >= 0, or a negative errno, as the kernel reports it) and hands the
// request back from Poll(). The Reactor then resumes `waiter`; retries of EINTR/EAGAIN and
// resumption of short counts happen there, in one place, never in a backend.
//
// Threading: Submit, Poll and Shutdown are called on the reactor thread only. Wake() may be called
// from any thread.
#pragma once

#include <fcntl.h>
#include <linux/time_types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/io/reactor.h"
#include "common/status.h"

namespace spool::io::detail {

enum class Op : uint8_t {
  kOpen,       // openat(AT_FDCWD, path, flags, mode) -> fd
  kRead,       // pread(fd, buf, len, offset) -> count
  kWrite,      // pwrite(fd, buf, len, offset) -> count
  kFsync,      // fsync(fd)
  kFdatasync,  // fdatasync(fd)
  kFallocate,  // fallocate(fd, flags, offset, len)
  kFtruncate,  // ftruncate(fd, offset)          [blocking pool on both backends]
  kStatx,      // statx(fd or AT_FDCWD, path, ...) into `stx`; fd >= 0 means the fd itself
  kRename,     // renameat(AT_FDCWD, path, AT_FDCWD, path2)
  kUnlink,     // unlinkat(AT_FDCWD, path, flags); flags = AT_REMOVEDIR for rmdir
  kMkdir,      // mkdirat(AT_FDCWD, path, mode)
  kListDir,    // names of `path` into `names`   [blocking pool on both backends]
  kClose,      // close(fd)
  kAccept,     // accept4(fd, nullptr, nullptr, SOCK_CLOEXEC) -> fd
  kConnect,    // connect(fd, addr, addrlen); may give -EINPROGRESS
  kRecv,       // recv(fd, buf, len) -> count; may give -EAGAIN
  kSend,       // send(fd, buf, len, MSG_NOSIGNAL) -> count; may give -EAGAIN
  kSendmsg,    // sendmsg(fd, &msg, MSG_NOSIGNAL) -> count; may give -EAGAIN
  kPoll,       // waits until fd has one of the poll(2) events in `flags` -> revents
  kTimeout,    // waits `timeout_ns` -> -ETIME (or 0)
};

struct IoRequest {
  Op op = Op::kRead;
  int fd = -1;
  void* buf = nullptr;  // kRead/kRecv destination, kWrite/kSend source
  size_t len = 0;       // buffer length; kFallocate length
  uint64_t offset = 0;  // file offset; kFtruncate new size
  int flags = 0;        // open flags, fallocate mode, unlink flags, poll events
  mode_t mode = 0;
  std::string path;
  std::string path2;
  const sockaddr* addr = nullptr;
  socklen_t addrlen = 0;
  int64_t timeout_ns = 0;
  msghdr msg{};  // kSendmsg: msg_iov/msg_iovlen point at the reactor's copy of the iovecs

  // Outputs.
  int64_t result = 0;
  struct statx stx {};
  std::vector<std::string> names;

  // Backend bookkeeping (a backend may use these while the request is in flight).
  __kernel_timespec ts{};
  int64_t deadline_ns = 0;
  IoRequest* prev = nullptr;
  IoRequest* next = nullptr;

  // Resumed by the Reactor once the request is handed back from Poll().
  std::coroutine_handle<> waiter;
};

class IoBackend {
 public:
  virtual ~IoBackend() = default;

  virtual Backend kind() const = 0;

  // Starts `req`. It is handed back, with `result` set, by a later Poll() (never from Submit).
  virtual void Submit(IoRequest* req) = 0;

  // Makes queued submissions visible to the kernel and appends every finished request to `done`.
  // When `block` is true and nothing has finished, waits until something does (a completion, a
  // timer, or Wake()).
  virtual void Poll(bool block, std::vector<IoRequest*>& done) = 0;

  // Makes a blocked (or the next) Poll() return. Any thread.
  virtual void Wake() = 0;

  // Cancels every request in flight and waits until neither the kernel nor a pool thread can
  // touch one again. The requests are not handed back. Poll() must not be called afterwards.
  virtual void Shutdown() = 0;
};

// io_uring backend: ring setup plus the opcode probe. Fails (with a message that says what is
// missing) when the ring cannot be used.
StatusOr<std::unique_ptr<IoBackend>> NewUringBackend(const ReactorOptions& options);
// epoll + timer heap + blocking pool. Fails only when the kernel refuses epoll/eventfd.
StatusOr<std::unique_ptr<IoBackend>> NewPosixBackend(const ReactorOptions& options);

// Monotonic time for deadlines, in nanoseconds.
int64_t MonotonicNowNs();

}  // namespace spool::io::detail
