#include "common/io/completion_channel.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>

namespace spool::io::detail {

StatusOr<std::unique_ptr<CompletionChannel>> CompletionChannel::Create(bool nonblocking) {
  int fd = ::eventfd(0, EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0));
  if (fd < 0) return ErrnoStatus(errno, "eventfd");
  return std::unique_ptr<CompletionChannel>(new CompletionChannel(fd));
}

CompletionChannel::~CompletionChannel() {
  ::close(fd_);
}

void CompletionChannel::Push(IoRequest* req) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pushed_.push_back(req);
  }
  Signal();
}

void CompletionChannel::Signal() {
  if (signalled_.exchange(true)) return;
  const uint64_t one = 1;
  // The only failure is EAGAIN when the counter would overflow, in which case it is readable
  // already; EINTR cannot happen for an eventfd write that does not block.
  ssize_t n = ::write(fd_, &one, sizeof(one));
  (void)n;
}

void CompletionChannel::Drain(std::vector<IoRequest*>& out) {
  std::lock_guard<std::mutex> lock(mu_);
  out.insert(out.end(), pushed_.begin(), pushed_.end());
  pushed_.clear();
}

void CompletionChannel::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  pushed_.clear();
}

}  // namespace spool::io::detail
