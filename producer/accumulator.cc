#include "producer/accumulator.h"

#include <algorithm>
#include <utility>

namespace spool::producer {

PartitionQueue::PartitionQueue(const std::string* topic, int32_t partition,
                               const AccumulatorConfig& config)
    : topic_(topic),
      partition_(partition),
      config_(config),
      builder_(record::BuilderOptions{.compression = config.compression}) {}

PartitionQueue::AppendResult PartitionQueue::Append(int64_t now_ns, int64_t timestamp_ms,
                                                    std::optional<std::span<const std::byte>> key,
                                                    std::optional<std::span<const std::byte>> value,
                                                    std::span<const record::Header> headers,
                                                    SendCallback callback, int64_t reserved,
                                                    FlushTracker& tracker) {
  AppendResult result;
  std::lock_guard lock(mu_);
  if (open_ && builder_.estimated_size() + static_cast<size_t>(reserved) > config_.batch_size) {
    SealLocked();
    result.closed = true;
  }
  if (!open_) {
    open_ = std::make_unique<ProducerBatch>();
    open_->topic = topic_;
    open_->queue = this;
    open_->partition = partition_;
    open_->id = tracker.Begin();
    open_->sequence = next_sequence_++;
    open_->created_ns = now_ns;
    open_->callbacks.reserve(last_records_);
    open_->timestamps.reserve(last_records_);
    result.new_batch = true;
  }
  builder_.Append(timestamp_ms, key, value, headers);
  open_->callbacks.push_back(std::move(callback));
  open_->timestamps.push_back(timestamp_ms);
  open_->reserved_bytes += reserved;
  if (builder_.estimated_size() >= config_.batch_size) {
    SealLocked();
    result.closed = true;
  }
  return result;
}

void PartitionQueue::SealLocked() {
  StatusOr<std::vector<std::byte>> sealed = builder_.Seal();
  if (sealed.ok()) {
    open_->bytes = *std::move(sealed);
  } else {
    open_->seal_status = sealed.status();
  }
  last_records_ = open_->records();
  ready_.push_back(std::move(open_));
}

bool PartitionQueue::SealIfDue(int64_t now_ns, bool force, int64_t* due_ns) {
  std::lock_guard lock(mu_);
  if (!open_) return false;
  int64_t due = open_->created_ns + config_.linger_ns;
  if (force || due <= now_ns) {
    SealLocked();
    return true;
  }
  *due_ns = std::min(*due_ns, due);
  return false;
}

void PartitionQueue::TakeSendable(int64_t now_ns, size_t max_bytes,
                                  std::vector<std::unique_ptr<ProducerBatch>>* out,
                                  int64_t* next_ns, bool stop_at_unstamped) {
  std::lock_guard lock(mu_);
  size_t bytes = 0;
  while (!ready_.empty()) {
    if (retrying_ && in_flight_ > 0) return;
    if (in_flight_ >= config_.max_in_flight_batches) return;
    ProducerBatch& front = *ready_.front();
    if (stop_at_unstamped && front.producer_id < 0) return;
    if (front.retry_at_ns > now_ns) {
      *next_ns = std::min(*next_ns, front.retry_at_ns);
      return;
    }
    if (bytes > 0 && bytes + front.bytes.size() > max_bytes) return;
    bytes += front.bytes.size();
    out->push_back(std::move(ready_.front()));
    ready_.pop_front();
    ++in_flight_;
    if (retrying_) return;  // one at a time until a send succeeds
  }
}

void PartitionQueue::TakeExpired(int64_t created_before_ns, int64_t timeout_ns,
                                 std::vector<std::unique_ptr<ProducerBatch>>* out,
                                 int64_t* next_ns) {
  std::lock_guard lock(mu_);
  while (!ready_.empty() && ready_.front()->created_ns <= created_before_ns) {
    out->push_back(std::move(ready_.front()));
    ready_.pop_front();
  }
  if (!ready_.empty()) *next_ns = std::min(*next_ns, ready_.front()->created_ns + timeout_ns);
  if (open_) *next_ns = std::min(*next_ns, open_->created_ns + timeout_ns);
}

void PartitionQueue::Requeue(std::unique_ptr<ProducerBatch> batch) {
  std::lock_guard lock(mu_);
  --in_flight_;
  retrying_ = true;
  auto at = std::lower_bound(
      ready_.begin(), ready_.end(), batch->sequence,
      [](const std::unique_ptr<ProducerBatch>& b, uint64_t seq) { return b->sequence < seq; });
  ready_.insert(at, std::move(batch));
}

void PartitionQueue::OnSendDone(bool delivered) {
  std::lock_guard lock(mu_);
  --in_flight_;
  if (delivered) retrying_ = false;
}

void PartitionQueue::TakeAll(std::vector<std::unique_ptr<ProducerBatch>>* out) {
  std::lock_guard lock(mu_);
  if (open_) SealLocked();
  while (!ready_.empty()) {
    out->push_back(std::move(ready_.front()));
    ready_.pop_front();
  }
}

bool PartitionQueue::idle() {
  std::lock_guard lock(mu_);
  return !open_ && ready_.empty() && in_flight_ == 0;
}

TopicState::TopicState(std::string name, int32_t num_partitions, const AccumulatorConfig& config,
                       uint64_t seed)
    : name_(std::move(name)), sticky_(seed) {
  partitions_.reserve(static_cast<size_t>(num_partitions));
  for (int32_t p = 0; p < num_partitions; ++p) {
    partitions_.push_back(std::make_unique<PartitionQueue>(&name_, p, config));
  }
}

}  // namespace spool::producer
