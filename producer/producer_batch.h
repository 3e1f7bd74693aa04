// ProducerBatch: one partition's batch of records on its way to the broker, with the callbacks
// of its records; and FlushTracker, the set of batches not yet completed (for flush()/close()).
//
// Ownership: a batch is owned by its partition queue until the sender takes it, then by the
// request carrying it, and back by the queue when it is retried. Complete() and Fail() run the
// callbacks (on the I/O thread) and are called exactly once per batch.
// Threading: a batch is used by one thread at a time (its owner). FlushTracker is thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "producer/producer.h"

namespace spool::producer {

class PartitionQueue;

struct ProducerBatch {
  const std::string* topic = nullptr;  // the TopicState's name: lives as long as the producer
  PartitionQueue* queue = nullptr;     // the queue it came from (and returns to on a retry)
  int32_t partition = 0;
  uint64_t id = 0;        // FlushTracker id: creation order over the whole producer
  uint64_t sequence = 0;  // creation order within the partition
  int64_t created_ns = 0;
  int64_t reserved_bytes = 0;  // buffer memory held by the records
  std::vector<SendCallback> callbacks;
  std::vector<int64_t> timestamps;  // per record
  std::vector<std::byte> bytes;     // the sealed RecordBatch
  Status seal_status;               // why sealing failed (the batch then fails)
  int attempts = 0;                 // sends that failed and were retried
  Status last_error;                // why the last send failed (reported if it expires)
  int64_t retry_at_ns = 0;          // not sent again before this
  // Idempotence: set when the batch is first sent (producer/idempotence.h), then kept for every
  // retry. producer_id -1: not stamped.
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;

  size_t records() const { return callbacks.size(); }
  // Runs every callback with its offset (base_offset + index; -1 stays -1 for acks=0) and
  // timestamp (the log-append time when the broker gives one, >= 0).
  void Complete(int64_t base_offset, int64_t log_append_time_ms);
  // Runs every callback with `status`.
  void Fail(const Status& status);
};

class FlushTracker {
 public:
  // A new batch id, registered as incomplete. Ids increase.
  uint64_t Begin();
  void Done(uint64_t id);
  // Every batch created before this call has an id below the returned value.
  uint64_t Snapshot();
  // Waits until every batch with an id below `snapshot` is done, or `deadline` passes.
  // True when they are all done.
  bool WaitBelow(uint64_t snapshot, std::chrono::steady_clock::time_point deadline);
  size_t incomplete();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_ = 1;
  std::set<uint64_t> incomplete_;
};

}  // namespace spool::producer
