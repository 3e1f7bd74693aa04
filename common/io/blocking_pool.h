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

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

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

  const unsigned max_threads_;
  CompletionChannel& channel_;
  std::vector<std::thread> threads_;  // reactor thread only
  // std::mutex rather than absl::Mutex: Debian's abseil is not built for ThreadSanitizer, so TSan
  // cannot see absl::Mutex synchronisation and reports false races; it does see pthread mutexes.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<IoRequest*> queue_;  // guarded by mu_
  unsigned idle_ = 0;             // guarded by mu_: workers waiting for work
  bool stopping_ = false;         // guarded by mu_
};

}  // namespace spool::io::detail
