// The Reactor's operations. Each builds one detail::IoRequest in its own coroutine frame and
// awaits it. This is the one place where EINTR/EAGAIN are retried and short counts resumed, and
// where a negative result becomes ErrnoStatus(errno, "<op> <path or fd>").
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/io/reactor.h"
#include "common/io/reactor_core.h"

namespace spool::io {
namespace {

using detail::IoRequest;
using detail::Op;

// Largest count handed to one request; larger buffers are resumed as short counts.
constexpr size_t kMaxChunk = size_t{1} << 30;

IoRequest MakeRequest(Op op, int fd) {
  IoRequest req;
  req.op = op;
  req.fd = fd;
  return req;
}

std::string FdName(int fd) {
  return absl::StrCat("fd ", fd);
}

}  // namespace

Task<int64_t> Reactor::Perform(IoRequest& req, int poll_events) {
  for (;;) {
    const int64_t res = co_await Submission{*this, req};
    if (res == -EINTR) continue;
    if (res == -EAGAIN) {
      if (poll_events != 0) {
        const int64_t p = co_await PollFd(req.fd, poll_events);
        if (p < 0 && p != -EINTR) co_return p;
      }
      continue;
    }
    co_return res;
  }
}

Task<int64_t> Reactor::PollFd(int fd, int events) {
  IoRequest req = MakeRequest(Op::kPoll, fd);
  req.flags = events;
  co_return co_await Submission{*this, req};
}

// ---- files ----

Task<StatusOr<int>> Reactor::open(std::string path, int flags, mode_t mode) {
  IoRequest req = MakeRequest(Op::kOpen, -1);
  req.path = std::move(path);
  req.flags = flags;
  req.mode = mode;
  const int64_t res = co_await Perform(req, 0);
  if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("open ", req.path));
  co_return static_cast<int>(res);
}

Task<StatusOr<size_t>> Reactor::read(int fd, std::span<std::byte> buf, uint64_t offset) {
  IoRequest req = MakeRequest(Op::kRead, fd);
  size_t done = 0;
  while (done < buf.size()) {
    req.buf = buf.data() + done;
    req.len = std::min(buf.size() - done, kMaxChunk);
    req.offset = offset + done;
    const int64_t res = co_await Perform(req, 0);
    if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("read ", FdName(fd)));
    if (res == 0) break;  // end of file
    done += static_cast<size_t>(res);
    if (done < buf.size()) core_->stats.short_resumes++;
  }
  co_return done;
}

Task<Status> Reactor::write(int fd, std::span<const std::byte> buf, uint64_t offset) {
  IoRequest req = MakeRequest(Op::kWrite, fd);
  size_t done = 0;
  while (done < buf.size()) {
    req.buf = const_cast<std::byte*>(buf.data() + done);
    req.len = std::min(buf.size() - done, kMaxChunk);
    req.offset = offset + done;
    const int64_t res = co_await Perform(req, 0);
    if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("write ", FdName(fd)));
    // A write that makes no progress and reports no error would loop forever.
    if (res == 0) co_return ErrnoStatus(EIO, absl::StrCat("write ", FdName(fd), " wrote nothing"));
    done += static_cast<size_t>(res);
    if (done < buf.size()) core_->stats.short_resumes++;
  }
  co_return absl::OkStatus();
}

Task<Status> Reactor::fdatasync(int fd) {
  IoRequest req = MakeRequest(Op::kFdatasync, fd);
  const int64_t res = co_await Perform(req, 0);
  if (res < 0)
    co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("fdatasync ", FdName(fd)));
  co_return absl::OkStatus();
}

Task<Status> Reactor::fsync(int fd) {
  IoRequest req = MakeRequest(Op::kFsync, fd);
  const int64_t res = co_await Perform(req, 0);
  if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("fsync ", FdName(fd)));
  co_return absl::OkStatus();
}

Task<Status> Reactor::fallocate(int fd, int mode, uint64_t offset, uint64_t len) {
  IoRequest req = MakeRequest(Op::kFallocate, fd);
  req.flags = mode;
  req.offset = offset;
  req.len = len;
  const int64_t res = co_await Perform(req, 0);
  if (res < 0)
    co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("fallocate ", FdName(fd)));
  co_return absl::OkStatus();
}

Task<Status> Reactor::ftruncate(int fd, uint64_t length) {
  IoRequest req = MakeRequest(Op::kFtruncate, fd);
  req.offset = length;
  const int64_t res = co_await Perform(req, 0);
  if (res < 0)
    co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("ftruncate ", FdName(fd)));
  co_return absl::OkStatus();
}

Task<StatusOr<uint64_t>> Reactor::file_size(int fd) {
  IoRequest req = MakeRequest(Op::kStatx, fd);
  const int64_t res = co_await Perform(req, 0);
  if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("statx ", FdName(fd)));
  co_return static_cast<uint64_t>(req.stx.stx_size);
}

Task<StatusOr<uint64_t>> Reactor::file_size_at(std::string path) {
  IoRequest req = MakeRequest(Op::kStatx, -1);
  req.path = std::move(path);
  const int64_t res = co_await Perform(req, 0);
  if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("statx ", req.path));
  co_return static_cast<uint64_t>(req.stx.stx_size);
}

Task<Status> Reactor::rename(std::string from, std::string to) {
  IoRequest req = MakeRequest(Op::kRename, -1);
  req.path = std::move(from);
  req.path2 = std::move(to);
  const int64_t res = co_await Perform(req, 0);
  if (res < 0) {
    co_return ErrnoStatus(static_cast<int>(-res),
                          absl::StrCat("rename ", req.path, " -> ", req.path2));
  }
  co_return absl::OkStatus();
}

Task<Status> Reactor::unlink(std::string path) {
  IoRequest req = MakeRequest(Op::kUnlink, -1);
  req.path = std::move(path);
  const int64_t res = co_await Perform(req, 0);
  if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("unlink ", req.path));
  co_return absl::OkStatus();
}

Task<Status> Reactor::mkdir(std::string path, mode_t mode) {
  IoRequest req = MakeRequest(Op::kMkdir, -1);
  req.path = std::move(path);
  req.mode = mode;
  const int64_t res = co_await Perform(req, 0);
  if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("mkdir ", req.path));
  co_return absl::OkStatus();
}

Task<Status> Reactor::rmdir(std::string path) {
  IoRequest req = MakeRequest(Op::kUnlink, -1);
  req.path = std::move(path);
  req.flags = AT_REMOVEDIR;
  const int64_t res = co_await Perform(req, 0);
  if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("rmdir ", req.path));
  co_return absl::OkStatus();
}

Task<StatusOr<std::vector<std::string>>> Reactor::list_dir(std::string path) {
  IoRequest req = MakeRequest(Op::kListDir, -1);
  req.path = std::move(path);
  const int64_t res = co_await Perform(req, 0);
  if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("list_dir ", req.path));
  co_return std::move(req.names);
}

Task<Status> Reactor::close(int fd) {
  IoRequest req = MakeRequest(Op::kClose, fd);
  // Never retried: Linux releases the descriptor even when close() fails (EINTR included), and a
  // second close could hit a descriptor someone else just opened.
  const int64_t res = co_await Submission{*this, req};
  if (res < 0 && res != -EINTR) {
    co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("close ", FdName(fd)));
  }
  co_return absl::OkStatus();
}

// ---- sockets ----

Task<StatusOr<int>> Reactor::accept(int listen_fd) {
  IoRequest req = MakeRequest(Op::kAccept, listen_fd);
  const int64_t res = co_await Perform(req, POLLIN);
  if (res < 0)
    co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("accept ", FdName(listen_fd)));
  co_return static_cast<int>(res);
}

Task<Status> Reactor::connect(int fd, const sockaddr* addr, socklen_t addrlen) {
  IoRequest req = MakeRequest(Op::kConnect, fd);
  req.addr = addr;
  req.addrlen = addrlen;
  int64_t res = co_await Submission{*this, req};
  if (res == -EINPROGRESS || res == -EALREADY || res == -EINTR) {
    // The handshake goes on in the kernel: wait until the socket is writable, then read the
    // outcome from SO_ERROR.
    const int64_t p = co_await PollFd(fd, POLLOUT);
    if (p < 0) co_return ErrnoStatus(static_cast<int>(-p), absl::StrCat("connect ", FdName(fd)));
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    res = -err;
  }
  if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("connect ", FdName(fd)));
  co_return absl::OkStatus();
}

Task<StatusOr<size_t>> Reactor::recv(int fd, std::span<std::byte> buf) {
  if (buf.empty()) co_return size_t{0};
  IoRequest req = MakeRequest(Op::kRecv, fd);
  req.buf = buf.data();
  req.len = std::min(buf.size(), kMaxChunk);
  const int64_t res = co_await Perform(req, POLLIN);
  if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("recv ", FdName(fd)));
  co_return static_cast<size_t>(res);
}

Task<Status> Reactor::send(int fd, std::span<const std::byte> buf) {
  IoRequest req = MakeRequest(Op::kSend, fd);
  size_t done = 0;
  while (done < buf.size()) {
    req.buf = const_cast<std::byte*>(buf.data() + done);
    req.len = std::min(buf.size() - done, kMaxChunk);
    const int64_t res = co_await Perform(req, POLLOUT);
    if (res < 0) co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("send ", FdName(fd)));
    if (res == 0) co_return ErrnoStatus(EIO, absl::StrCat("send ", FdName(fd), " sent nothing"));
    done += static_cast<size_t>(res);
    if (done < buf.size()) core_->stats.short_resumes++;
  }
  co_return absl::OkStatus();
}

Task<Status> Reactor::sendv(int fd, std::span<const iovec> iov) {
  // Our own copy, advanced past what each short send wrote. IOV_MAX bounds one sendmsg; a longer
  // list goes out in windows of that size.
  std::vector<iovec> left;
  left.reserve(iov.size());
  for (const iovec& v : iov) {
    if (v.iov_len > 0) left.push_back(v);
  }
  IoRequest req = MakeRequest(Op::kSendmsg, fd);
  size_t first = 0;
  while (first < left.size()) {
    req.msg = msghdr{};
    req.msg.msg_iov = left.data() + first;
    req.msg.msg_iovlen = std::min<size_t>(left.size() - first, IOV_MAX);
    const int64_t res = co_await Perform(req, POLLOUT);
    if (res < 0)
      co_return ErrnoStatus(static_cast<int>(-res), absl::StrCat("sendmsg ", FdName(fd)));
    if (res == 0) co_return ErrnoStatus(EIO, absl::StrCat("sendmsg ", FdName(fd), " sent nothing"));
    size_t n = static_cast<size_t>(res);
    while (n > 0 && first < left.size()) {
      iovec& v = left[first];
      const size_t take = std::min(n, v.iov_len);
      v.iov_base = static_cast<char*>(v.iov_base) + take;
      v.iov_len -= take;
      n -= take;
      if (v.iov_len == 0) first++;
    }
    const bool window_done =
        first >= left.size() || req.msg.msg_iov + req.msg.msg_iovlen <= left.data() + first;
    if (!window_done) core_->stats.short_resumes++;
  }
  co_return absl::OkStatus();
}

// ---- time ----

Task<void> Reactor::sleep_for(std::chrono::nanoseconds d) {
  if (d.count() <= 0) {
    co_await Yield{*this};
    co_return;
  }
  IoRequest req = MakeRequest(Op::kTimeout, -1);
  req.timeout_ns = d.count();
  // -ETIME is the normal expiry; -ECANCELED only happens while the reactor shuts down, and then
  // this coroutine is never resumed.
  (void)co_await Submission{*this, req};
}

}  // namespace spool::io
