// The record accumulator: per partition, the open batch being filled by send() and the sealed
// batches waiting for the sender, in order.
//
// A partition's open batch is closed (sealed: CRC, compression) when the next record would take
// it past batch_size, when it reaches batch_size, or when the sender finds it older than
// linger (or a flush/close asks for everything now). Sealed batches leave oldest first; a batch
// that failed comes back (Requeue) in its place and, until a send of the partition succeeds,
// the partition has at most one batch in flight, so retries do not reorder what is still queued.
//
// Threading: Append() from any thread; every other PartitionQueue member from the sender (the
// I/O thread). Each queue has its own mutex, held only for the short critical sections inside
// these calls. TopicState is immutable after construction apart from its queues.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "log/record/batch_builder.h"
#include "producer/idempotence.h"
#include "producer/partitioner.h"
#include "producer/producer_batch.h"

namespace spool::producer {

struct AccumulatorConfig {
  size_t batch_size = 64 * 1024;
  int64_t linger_ns = 5'000'000;
  record::Compression compression = record::Compression::kNone;
  // Batches of one partition in flight at once (idempotence: kMaxInFlightWithIdempotence).
  int max_in_flight_batches = std::numeric_limits<int>::max();
};

class PartitionQueue {
 public:
  PartitionQueue(const std::string* topic, int32_t partition, const AccumulatorConfig& config);

  struct AppendResult {
    bool new_batch = false;  // a batch was opened (the sender should arm its linger timer)
    bool closed = false;     // a batch was sealed and is ready to send
  };
  // Adds one record (its bytes are copied). `reserved` is the buffer memory it holds, which
  // also serves as its size estimate. Any thread.
  AppendResult Append(int64_t now_ns, int64_t timestamp_ms,
                      std::optional<std::span<const std::byte>> key,
                      std::optional<std::span<const std::byte>> value,
                      std::span<const record::Header> headers, SendCallback callback,
                      int64_t reserved, FlushTracker& tracker);

  // Seals the open batch if it has been open for linger_ns, or at once with `force`. Returns
  // true when it sealed one; otherwise *due_ns is when the open batch will be due (unchanged
  // when there is none).
  bool SealIfDue(int64_t now_ns, bool force, int64_t* due_ns);
  // Moves sealed batches that may be sent now to *out, oldest first, while their bytes stay
  // within max_bytes (always at least one if any may go). A batch in retry backoff stops the
  // scan and lowers *next_ns to its retry time. At most max_in_flight_batches are in flight.
  // With `stop_at_unstamped`, stops before a batch without a producer id (idempotence: new
  // batches wait until the partition's batches under a replaced producer id are done).
  void TakeSendable(int64_t now_ns, size_t max_bytes,
                    std::vector<std::unique_ptr<ProducerBatch>>* out, int64_t* next_ns,
                    bool stop_at_unstamped = false);
  // Moves sealed batches created at or before `created_before_ns` (their delivery timeout has
  // passed) to *out, and lowers *next_ns to when the oldest remaining one expires given
  // `timeout_ns`.
  void TakeExpired(int64_t created_before_ns, int64_t timeout_ns,
                   std::vector<std::unique_ptr<ProducerBatch>>* out, int64_t* next_ns);
  // A batch taken by TakeSendable that must be sent again (at batch->retry_at_ns).
  void Requeue(std::unique_ptr<ProducerBatch> batch);
  // A batch taken by TakeSendable finished: delivered (`delivered`) or failed for good.
  void OnSendDone(bool delivered);
  // Seals the open batch and moves every queued batch to *out (close() failing what is left).
  void TakeAll(std::vector<std::unique_ptr<ProducerBatch>>* out);

  // Idempotence: the partition's sequences. The sender's (I/O thread) only; not under mu_.
  PartitionSequences sequences;

  int32_t partition() const { return partition_; }
  const std::string& topic() const { return *topic_; }
  // Batches queued (open or sealed) or in flight.
  bool idle();

 private:
  void SealLocked();  // with mu_ held

  const std::string* const topic_;
  const int32_t partition_;
  const AccumulatorConfig& config_;
  // Everything below is guarded by mu_ (a std::mutex: TSan does not see the system abseil's
  // mutex).
  std::mutex mu_;
  record::BatchBuilder builder_;
  std::unique_ptr<ProducerBatch> open_;
  std::deque<std::unique_ptr<ProducerBatch>> ready_;
  uint64_t next_sequence_ = 0;
  size_t last_records_ = 0;  // records in the previous batch (to reserve the next)
  int in_flight_ = 0;
  bool retrying_ = false;
};

// One topic as the producer knows it: its partitions' queues and its sticky partition.
class TopicState {
 public:
  TopicState(std::string name, int32_t num_partitions, const AccumulatorConfig& config,
             uint64_t seed);
  const std::string& name() const { return name_; }
  int32_t num_partitions() const { return static_cast<int32_t>(partitions_.size()); }
  PartitionQueue& partition(int32_t p) { return *partitions_[static_cast<size_t>(p)]; }
  StickyPartition& sticky() { return sticky_; }

 private:
  const std::string name_;
  std::vector<std::unique_ptr<PartitionQueue>> partitions_;
  StickyPartition sticky_;
};

}  // namespace spool::producer
