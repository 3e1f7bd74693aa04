#include "producer/producer_batch.h"

#include <utility>

namespace spool::producer {

void ProducerBatch::Complete(int64_t base_offset, int64_t log_append_time_ms) {
  for (size_t i = 0; i < callbacks.size(); ++i) {
    RecordMetadata m;
    m.topic = *topic;
    m.partition = partition;
    m.offset = base_offset < 0 ? -1 : base_offset + static_cast<int64_t>(i);
    m.timestamp = log_append_time_ms >= 0 ? log_append_time_ms : timestamps[i];
    std::move(callbacks[i])(std::move(m));
  }
  callbacks.clear();
}

void ProducerBatch::Fail(const Status& status) {
  for (auto& cb : callbacks) std::move(cb)(status);
  callbacks.clear();
}

uint64_t FlushTracker::Begin() {
  std::lock_guard lock(mu_);
  uint64_t id = next_++;
  incomplete_.insert(incomplete_.end(), id);
  return id;
}

void FlushTracker::Done(uint64_t id) {
  std::lock_guard lock(mu_);
  incomplete_.erase(id);
  cv_.notify_all();
}

uint64_t FlushTracker::Snapshot() {
  std::lock_guard lock(mu_);
  return next_;
}

bool FlushTracker::WaitBelow(uint64_t snapshot, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, deadline,
                        [&] { return incomplete_.empty() || *incomplete_.begin() >= snapshot; });
}

size_t FlushTracker::incomplete() {
  std::lock_guard lock(mu_);
  return incomplete_.size();
}

}  // namespace spool::producer
