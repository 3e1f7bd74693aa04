#include "producer/memory_budget.h"

#include "absl/strings/str_cat.h"

namespace spool::producer {

bool MemoryBudget::TryReserve(int64_t bytes) {
  int64_t now = used_.load(std::memory_order_relaxed);
  while (now + bytes <= limit_) {
    if (used_.compare_exchange_weak(now, now + bytes)) return true;
  }
  return false;
}

Status MemoryBudget::Reserve(int64_t bytes, bool block,
                             std::chrono::steady_clock::time_point deadline) {
  if (closed_.load(std::memory_order_relaxed)) {
    return absl::FailedPreconditionError("producer is closed");
  }
  if (TryReserve(bytes)) return absl::OkStatus();
  auto full = [&] {
    return absl::ResourceExhaustedError(absl::StrCat("producer buffer full: ", used(), " of ",
                                                     limit_, " bytes (buffer_memory) in use"));
  };
  if (!block) return full();
  std::unique_lock lock(mu_);
  waiters_.fetch_add(1);
  bool reserved = false;
  cv_.wait_until(lock, deadline, [&] {
    if (closed_.load(std::memory_order_relaxed)) return true;
    reserved = TryReserve(bytes);
    return reserved;
  });
  waiters_.fetch_sub(1);
  if (reserved) return absl::OkStatus();
  if (closed_.load(std::memory_order_relaxed)) {
    return absl::FailedPreconditionError("producer is closed");
  }
  return full();
}

void MemoryBudget::Release(int64_t bytes) {
  used_.fetch_sub(bytes);  // seq_cst with waiters_ below: no lost wake-up
  if (waiters_.load() > 0) {
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }
}

void MemoryBudget::Close() {
  closed_.store(true);
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

}  // namespace spool::producer
