#include "common/io/blocking_pool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace spool::io::detail {
namespace {

int64_t Result(long r) {
  return r < 0 ? -errno : r;
}

int64_t ListDir(IoRequest& req) {
  DIR* dir = ::opendir(req.path.c_str());
  if (dir == nullptr) return -errno;
  req.names.clear();
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(dir);
    if (e == nullptr) break;
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    req.names.emplace_back(e->d_name);
  }
  const int err = errno;
  ::closedir(dir);
  return err != 0 ? -err : 0;
}

}  // namespace

int64_t ExecuteBlocking(IoRequest& req) {
  switch (req.op) {
    case Op::kOpen:
      return Result(::open(req.path.c_str(), req.flags, req.mode));
    case Op::kRead:
      return Result(::pread(req.fd, req.buf, req.len, static_cast<off_t>(req.offset)));
    case Op::kWrite:
      return Result(::pwrite(req.fd, req.buf, req.len, static_cast<off_t>(req.offset)));
    case Op::kFsync:
      return Result(::fsync(req.fd));
    case Op::kFdatasync:
      return Result(::fdatasync(req.fd));
    case Op::kFallocate:
      return Result(::fallocate(req.fd, req.flags, static_cast<off_t>(req.offset),
                                static_cast<off_t>(req.len)));
    case Op::kFtruncate:
      return Result(::ftruncate(req.fd, static_cast<off_t>(req.offset)));
    case Op::kStatx:
      if (req.fd >= 0) {
        return Result(::statx(req.fd, "", AT_EMPTY_PATH, STATX_SIZE, &req.stx));
      }
      return Result(::statx(AT_FDCWD, req.path.c_str(), 0, STATX_SIZE, &req.stx));
    case Op::kRename:
      return Result(::rename(req.path.c_str(), req.path2.c_str()));
    case Op::kUnlink:
      return Result(::unlinkat(AT_FDCWD, req.path.c_str(), req.flags));
    case Op::kMkdir:
      return Result(::mkdir(req.path.c_str(), req.mode));
    case Op::kListDir:
      return ListDir(req);
    case Op::kClose:
      // Linux releases the descriptor even when close() reports an error, so it is never retried.
      return Result(::close(req.fd));
    case Op::kAccept:
    case Op::kConnect:
    case Op::kRecv:
    case Op::kSend:
    case Op::kSendmsg:
    case Op::kPoll:
    case Op::kTimeout:
      return -EINVAL;
  }
  return -EINVAL;
}

BlockingPool::BlockingPool(unsigned threads, CompletionChannel& channel)
    : max_threads_(threads == 0 ? 1 : threads), channel_(channel) {}

BlockingPool::~BlockingPool() {
  Shutdown();
}

void BlockingPool::Submit(IoRequest* req) {
  bool start_thread = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(req);
    // One more thread when every running one is busy, up to the limit.
    start_thread = idle_ < queue_.size() && threads_.size() < max_threads_;
  }
  cv_.notify_one();
  if (start_thread) threads_.emplace_back([this] { Worker(); });
}

void BlockingPool::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void BlockingPool::Worker() {
  for (;;) {
    IoRequest* req = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++idle_;
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      --idle_;
      if (stopping_) return;
      req = queue_.front();
      queue_.pop_front();
    }
    req->result = ExecuteBlocking(*req);
    channel_.Push(req);
  }
}

}  // namespace spool::io::detail
