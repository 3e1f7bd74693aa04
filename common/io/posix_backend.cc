#include "common/io/posix_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <utility>

namespace spool::io::detail {
namespace {

constexpr int kMaxEvents = 128;

int64_t Result(long r) {
  return r < 0 ? -errno : r;
}

// Runs a socket call that must not block the reactor thread. Blocking fds are handled too:
// recv/send get MSG_DONTWAIT, connect runs with O_NONBLOCK set for the call, and accept on a
// blocking listener is only attempted once poll(2) says a connection is waiting.
int64_t NonBlockingSocketCall(IoRequest& req) {
  switch (req.op) {
    case Op::kRecv:
      return Result(::recv(req.fd, req.buf, req.len, MSG_DONTWAIT));
    case Op::kSend:
      return Result(::send(req.fd, req.buf, req.len, MSG_DONTWAIT | MSG_NOSIGNAL));
    case Op::kSendmsg:
      return Result(::sendmsg(req.fd, &req.msg, MSG_DONTWAIT | MSG_NOSIGNAL));
    case Op::kAccept: {
      const int fl = ::fcntl(req.fd, F_GETFL);
      if (fl < 0) return -errno;
      if ((fl & O_NONBLOCK) == 0) {
        // Not a listening socket: let accept4 report why (it does not block then).
        int listening = 0;
        socklen_t len = sizeof(listening);
        if (::getsockopt(req.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening) {
          return Result(::accept4(req.fd, nullptr, nullptr, SOCK_CLOEXEC));
        }
        pollfd p{req.fd, POLLIN, 0};
        const int n = ::poll(&p, 1, 0);
        if (n < 0) return -errno;
        if (n == 0) return -EAGAIN;
      }
      return Result(::accept4(req.fd, nullptr, nullptr, SOCK_CLOEXEC));
    }
    case Op::kConnect: {
      const int fl = ::fcntl(req.fd, F_GETFL);
      if (fl < 0) return -errno;
      const bool toggle = (fl & O_NONBLOCK) == 0;
      if (toggle && ::fcntl(req.fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
      const int64_t r = Result(::connect(req.fd, req.addr, req.addrlen));
      if (toggle) ::fcntl(req.fd, F_SETFL, fl);
      return r;
    }
    default:
      return -EINVAL;
  }
}

}  // namespace

StatusOr<std::unique_ptr<PosixBackend>> PosixBackend::Create(const ReactorOptions& options) {
  ASSIGN_OR_RETURN(auto channel, CompletionChannel::Create(/*nonblocking=*/true));
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return ErrnoStatus(errno, "epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = channel->fd();
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, channel->fd(), &ev) < 0) {
    const int err = errno;
    ::close(ep);
    return ErrnoStatus(err, "epoll_ctl add eventfd");
  }
  return std::unique_ptr<PosixBackend>(
      new PosixBackend(ep, options.blocking_threads, std::move(channel)));
}

PosixBackend::PosixBackend(int epoll_fd, unsigned blocking_threads,
                           std::unique_ptr<CompletionChannel> channel)
    : epoll_fd_(epoll_fd), channel_(std::move(channel)), pool_(blocking_threads, *channel_) {}

PosixBackend::~PosixBackend() {
  if (!shut_down_) Shutdown();
  ::close(epoll_fd_);
}

void PosixBackend::Submit(IoRequest* req) {
  switch (req->op) {
    case Op::kPoll:
      AddPoller(req);
      return;
    case Op::kTimeout:
      req->deadline_ns = MonotonicNowNs() + req->timeout_ns;
      timers_.push(TimerEntry{req->deadline_ns, timer_seq_++, req});
      return;
    case Op::kAccept:
    case Op::kConnect:
    case Op::kRecv:
    case Op::kSend:
    case Op::kSendmsg:
      req->result = NonBlockingSocketCall(*req);
      ready_.push_back(req);
      return;
    case Op::kClose:
      // Nobody may wait on a closed fd: its number can be reused at once.
      FailWaiters(req->fd, -ECANCELED);
      pool_.Submit(req);
      return;
    case Op::kOpen:
    case Op::kRead:
    case Op::kWrite:
    case Op::kFsync:
    case Op::kFdatasync:
    case Op::kFallocate:
    case Op::kFtruncate:
    case Op::kStatx:
    case Op::kRename:
    case Op::kUnlink:
    case Op::kMkdir:
    case Op::kListDir:
      pool_.Submit(req);
      return;
  }
}

void PosixBackend::AddPoller(IoRequest* req) {
  FdWaiters& w = fds_[req->fd];
  w.waiters.push_back(req);
  UpdateRegistration(req->fd, w);
}

void PosixBackend::UpdateRegistration(int fd, FdWaiters& w) {
  if (w.waiters.empty()) {
    if (w.added) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    fds_.erase(fd);
    return;
  }
  uint32_t want = 0;
  for (const IoRequest* r : w.waiters) {
    want |= static_cast<uint32_t>(r->flags) & (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP);
  }
  if (w.added && want == w.events) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.fd = fd;
  int op = w.added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  int r = ::epoll_ctl(epoll_fd_, op, fd, &ev);
  // The fd may have been closed behind our back and its number reused (epoll forgot it), or
  // registered already: switch between ADD and MOD once.
  if (r < 0 &&
      ((op == EPOLL_CTL_MOD && errno == ENOENT) || (op == EPOLL_CTL_ADD && errno == EEXIST))) {
    op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    r = ::epoll_ctl(epoll_fd_, op, fd, &ev);
  }
  if (r < 0) {
    const int err = errno;
    for (IoRequest* q : w.waiters) {
      q->result = -err;
      ready_.push_back(q);
    }
    if (w.added) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    fds_.erase(fd);
    return;
  }
  w.added = true;
  w.events = want;
}

void PosixBackend::DispatchFd(int fd, uint32_t revents) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  FdWaiters& w = it->second;
  size_t kept = 0;
  for (IoRequest* r : w.waiters) {
    const uint32_t got = revents & (static_cast<uint32_t>(r->flags) | EPOLLERR | EPOLLHUP);
    if (got != 0) {
      r->result = got;
      ready_.push_back(r);
    } else {
      w.waiters[kept++] = r;
    }
  }
  w.waiters.resize(kept);
  UpdateRegistration(fd, w);
}

void PosixBackend::FailWaiters(int fd, int64_t result) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  for (IoRequest* r : it->second.waiters) {
    r->result = result;
    ready_.push_back(r);
  }
  it->second.waiters.clear();
  UpdateRegistration(fd, it->second);
}

void PosixBackend::ExpireTimers(int64_t now_ns) {
  while (!timers_.empty() && timers_.top().deadline_ns <= now_ns) {
    IoRequest* r = timers_.top().req;
    timers_.pop();
    r->result = -ETIME;
    ready_.push_back(r);
  }
}

void PosixBackend::Poll(bool block, std::vector<IoRequest*>& done) {
  ExpireTimers(MonotonicNowNs());
  timespec ts{0, 0};
  timespec* timeout = &ts;
  if (block && ready_.empty()) {
    if (timers_.empty()) {
      timeout = nullptr;
    } else {
      const int64_t wait = timers_.top().deadline_ns - MonotonicNowNs();
      if (wait > 0) {
        ts.tv_sec = wait / 1'000'000'000;
        ts.tv_nsec = wait % 1'000'000'000;
      }
    }
  }
  epoll_event events[kMaxEvents];
  int n = ::epoll_pwait2(epoll_fd_, events, kMaxEvents, timeout, nullptr);
  if (n < 0 && errno == ENOSYS) {
    // Kernels before 5.11: millisecond timeouts, rounded up so a timer is never early.
    const int ms = timeout == nullptr
                       ? -1
                       : static_cast<int>(ts.tv_sec * 1000 + (ts.tv_nsec + 999'999) / 1'000'000);
    n = ::epoll_wait(epoll_fd_, events, kMaxEvents, ms);
  }
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == channel_->fd()) {
      uint64_t value;
      while (::read(fd, &value, sizeof(value)) > 0) {
      }
      channel_->Rearm();
      channel_->Drain(done);
    } else {
      DispatchFd(fd, events[i].events);
    }
  }
  ExpireTimers(MonotonicNowNs());
  done.insert(done.end(), ready_.begin(), ready_.end());
  ready_.clear();
}

void PosixBackend::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  for (auto& [fd, w] : fds_) {
    if (w.added) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  }
  fds_.clear();
  timers_ = {};
  ready_.clear();
  pool_.Shutdown();
  channel_->Clear();
}

StatusOr<std::unique_ptr<IoBackend>> NewPosixBackend(const ReactorOptions& options) {
  ASSIGN_OR_RETURN(auto backend, PosixBackend::Create(options));
  return std::unique_ptr<IoBackend>(std::move(backend));
}

}  // namespace spool::io::detail
