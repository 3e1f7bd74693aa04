// MemoryBudget: buffer.memory, the bytes of records a producer holds (queued and in flight).
// send() reserves a record's size before queueing it and the sender releases a batch's bytes
// when the batch completes. Reserve() blocks up to a deadline when the budget is spent (or fails
// at once when told not to block).
//
// Threading: thread-safe. The uncontended path is one atomic add; only a full budget takes the
// mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "common/status.h"

namespace spool::producer {

class MemoryBudget {
 public:
  explicit MemoryBudget(int64_t limit) : limit_(limit) {}

  // Reserves `bytes` (<= limit). kResourceExhausted when they cannot be had by `deadline`
  // (at once when !block); kFailedPrecondition after Close().
  [[nodiscard]] Status Reserve(int64_t bytes, bool block,
                               std::chrono::steady_clock::time_point deadline);
  void Release(int64_t bytes);
  // Wakes every blocked Reserve(), which then fails; later reservations fail too.
  void Close();

  int64_t used() const { return used_.load(std::memory_order_relaxed); }
  int64_t limit() const { return limit_; }

 private:
  bool TryReserve(int64_t bytes);

  const int64_t limit_;
  std::atomic<int64_t> used_{0};
  std::atomic<int> waiters_{0};
  std::atomic<bool> closed_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace spool::producer
