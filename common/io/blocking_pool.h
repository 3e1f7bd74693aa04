// BlockingPool: a few threads that run file system calls which would block a reactor thread
// (every file op on the posix backend; ftruncate and directory listing on both backends, since
// liburing 2.3 has no opcode for them).
//
// Ownership: a backend owns its pool. Each finished request goes to the CompletionChannel given
// at construction (which must outlive the pool); the reactor thread picks it up from there.
//
// Threading: Submit() and Shutdown() on the reactor thread; the syscalls run on pool threads.
// Threads are started lazily, on the first Submit(), so a reactor that never needs the pool costs
// no threads.
#pragma once

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/io/completion_channel.h"
#include "common/io/reactor_backend.h"

namespace spool::io::detail {

// Performs `req` with plain blocking system calls and returns what the kernel said: a value >= 0
// or a negative errno. Fills req.stx / req.names for kStatx / kListDir. Never called with kPoll,
// kTimeout or a socket op.
int64_t ExecuteBlocking(IoRequest& req);

class BlockingPool {
 public:
  BlockingPool(unsigned threads, CompletionChannel& channel);
  // Shutdown(), if not done yet.
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  void Submit(IoRequest* req);
  // Drops requests not started yet (they are never handed back) and joins the threads, so that
  // no pool thread touches a request afterwards.
  void Shutdown();

 private:
  void Worker();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const unsigned max_threads_;
  CompletionChannel& channel_;
  std::vector<std::thread> threads_;  // reactor thread only
  absl::Mutex mu_;
  std::deque<IoRequest*> queue_ ABSL_GUARDED_BY(mu_);
  unsigned idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace spool::io::detail
