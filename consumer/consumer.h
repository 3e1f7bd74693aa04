// spool::Consumer: reads records from assigned partitions of a Spool cluster.
//
//   ConsumerConfig config;
//   config.bootstrap_servers = {"127.0.0.1:9092"};
//   config.auto_offset_reset = OffsetResetPolicy::kEarliest;
//   ASSIGN_OR_RETURN(std::unique_ptr<Consumer> consumer, Consumer::Create(config));
//   RETURN_IF_ERROR(consumer->assign({{"events", 0}, {"events", 1}}));
//   while (running) {
//     ASSIGN_OR_RETURN(ConsumerRecords records, consumer->poll(std::chrono::milliseconds(100)));
//     for (const ConsumerRecord& r : records) Handle(r.topic, r.partition, r.offset, r.value);
//   }
//   RETURN_IF_ERROR(consumer->close());
//
// Threading: the Consumer's methods are called by one user thread at a time (as Kafka's
// KafkaConsumer); they are not safe to call concurrently. The network work (metadata, fetches,
// offset lookups) runs on the consumer's own background I/O thread (client::ClientRuntime),
// which keeps one fetch in flight per broker ahead of poll() and queues what comes back (bounded
// by ConsumerConfig::prefetch_max_bytes), so poll() rarely waits on the network.
//
// Ownership and lifetime: the records poll() returns are views into the fetched response
// buffers. A ConsumerRecords owns (shares) those buffers: every ConsumerRecord, and every
// string_view and header inside it, is valid while the ConsumerRecords it came from lives, and
// not after. Copy what must outlive it (ConsumerRecord::ToOwned).
//
// What poll() guarantees: records of one partition come in offset order, each offset at most
// once per position (a seek() moves the position and may return records again), with no gap
// except offsets the log does not hold (control batches, compacted-away records). poll() returns
// only records at or after the partition's position and advances the position past them. It
// returns at most max_poll_records records; it returns as soon as it has any, or when the
// timeout passes (then possibly none). Only records below the high watermark are returned, i.e.
// records the broker acknowledged as committed (durable on a single node).
//
// Errors are returned by the call that meets them, once records that came before the error in
// the same partition have been returned: OFFSET_OUT_OF_RANGE with auto_offset_reset kNone
// (kOutOfRange), a corrupt batch (kDataLoss, naming its offsets; the position stays at that
// batch: seek() past its last offset to skip it), a bad argument (kInvalidArgument), a partition
// not assigned (kFailedPrecondition), after close() (kFailedPrecondition). Retriable conditions (a
// leader change, an unknown topic, a broken connection) are retried in the background with
// retry_backoff_ms and never surface from poll(); position() and seek_to_timestamp(), which need an
// answer, fail with kUnavailable or kDeadlineExceeded after request_timeout_ms.
//
// Consumer groups (the next issue): group_id, subscribe(topics, listener), rebalance callbacks,
// commit_sync()/commit_async() and committed() slot in beside assign() (see the marked places
// below and consumer/README.md); assign() is then the "manual assignment" mode, as in Kafka.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "log/record/batch_header.h"
#include "log/record/record.h"

namespace spool {

// auto.offset.reset: where to start when a partition has no position (no seek yet) or its
// position is out of range (OFFSET_OUT_OF_RANGE, e.g. retention deleted it).
enum class OffsetResetPolicy {
  kEarliest,  // "earliest": the log start offset
  kLatest,    // "latest": the high watermark (only records produced from now on)
  kNone,      // "none": poll() / position() fail with kOutOfRange
};

struct ConsumerConfig {
  // bootstrap.servers: "host:port" of one or more brokers; the rest is found from metadata.
  std::vector<std::string> bootstrap_servers;
  // client.id: sent in the ApiVersions handshake, for broker logs.
  std::string client_id = "spool-consumer";
  // fetch.min.bytes: the broker answers a fetch once it has this much (or fetch.max.wait.ms).
  int32_t fetch_min_bytes = 1;
  // fetch.max.wait.ms: the longest a broker holds a fetch waiting for fetch.min.bytes (long poll).
  int32_t fetch_max_wait_ms = 500;
  // fetch.max.bytes: the most one fetch response carries over all its partitions (the first
  // batch is sent even when larger, so a consumer always progresses).
  int32_t fetch_max_bytes = 50 << 20;
  // max.partition.fetch.bytes: the most one fetch carries for one partition. Kafka's default is
  // 1 MiB; Spool's is 2 MiB: one fetch is in flight per broker, so a single hot partition moves
  // one such chunk per round trip, and 2 MiB measured best through spoold on the 2-core dev box
  // (1 KiB records from the page cache: 1.1-2.7 GB/s; 4 MiB and 8 MiB were slower, their fresh
  // receive buffers costing more in page faults than the saved round trips; consumer/README.md).
  int32_t max_partition_fetch_bytes = 2 << 20;
  // max.poll.records: the most records one poll() returns.
  int32_t max_poll_records = 500;
  // auto.offset.reset. Kafka's default is "latest".
  OffsetResetPolicy auto_offset_reset = OffsetResetPolicy::kLatest;
  // check.crcs: verify each batch's CRC-32C before its records are returned. The record codec's
  // reader (log/record/batch_reader.h) verifies every batch it opens, so today the check also
  // runs when this is false (it costs a few percent at 1 GB/s with the SSE4.2 CRC).
  bool check_crcs = true;
  // request.timeout.ms: how long a request may wait for its response before the connection is
  // considered broken (fetches add fetch_max_wait_ms to it).
  int32_t request_timeout_ms = 30000;
  // retry.backoff.ms: wait before retrying after a retriable error (leader change, unknown
  // topic, broken connection).
  int32_t retry_backoff_ms = 100;
  // metadata.max.age.ms: refresh metadata at least this often.
  int32_t metadata_max_age_ms = 300000;
  // Spool: the most fetched bytes queued for poll() (records fetched but not yet returned).
  // The background thread stops sending fetches while the queue is at or above it. Kafka bounds
  // this by one buffered response per partition instead.
  int64_t prefetch_max_bytes = 64 << 20;

  // ---- consumer groups: the next issue (not implemented; Create() refuses a group_id) ----
  // group.id: the consumer group; set together with subscribe() once groups land.
  std::string group_id;
  // enable.auto.commit / auto.commit.interval.ms: commit positions in the background.
  bool enable_auto_commit = false;
  int32_t auto_commit_interval_ms = 5000;
  // Kafka's session.timeout.ms, heartbeat.interval.ms, max.poll.interval.ms,
  // group.instance.id and partition.assignment.strategy come here.
};

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;

  std::string ToString() const;  // "topic-3", as Kafka prints it
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
  friend std::ostream& operator<<(std::ostream& os, const TopicPartition& tp) {
    return os << tp.ToString();
  }
  template <typename H>
  friend H AbslHashValue(H h, const TopicPartition& tp) {
    return H::combine(std::move(h), tp.topic, tp.partition);
  }
};

// A record copied out of the fetch buffers, for callers that keep records past their batch.
struct OwnedRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
};

// One record as poll() returns it. Every view points into buffers owned by the ConsumerRecords
// it came from (see the file comment).
struct ConsumerRecord {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp = 0;  // milliseconds since the epoch
  record::TimestampType timestamp_type = record::TimestampType::kCreateTime;
  std::optional<std::string_view> key;    // nullopt: null key
  std::optional<std::string_view> value;  // nullopt: null value (a tombstone)
  // Decoded lazily while iterated: `for (const record::Header& h : r.headers)`; h.key is a
  // string_view, h.value an optional byte span (nullopt: null value).
  record::HeaderList headers;

  OwnedRecord ToOwned() const;
};

// The records of one poll(), in partition order as fetched and offset order within a partition.
// Move-only; owns the fetched buffers its records view.
class ConsumerRecords {
 public:
  ConsumerRecords() = default;
  ConsumerRecords(ConsumerRecords&&) = default;
  ConsumerRecords& operator=(ConsumerRecords&&) = default;
  ConsumerRecords(const ConsumerRecords&) = delete;
  ConsumerRecords& operator=(const ConsumerRecords&) = delete;

  size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  const ConsumerRecord& operator[](size_t i) const { return records_[i]; }
  std::vector<ConsumerRecord>::const_iterator begin() const { return records_.begin(); }
  std::vector<ConsumerRecord>::const_iterator end() const { return records_.end(); }
  std::span<const ConsumerRecord> records() const { return records_; }
  // Sum of key and value sizes, for throughput accounting.
  uint64_t payload_bytes() const { return payload_bytes_; }

  // For the consumer's decoder: appends a record / keeps a buffer alive (consecutive duplicates
  // are kept once).
  void Add(const ConsumerRecord& r) {
    records_.push_back(r);
    payload_bytes_ += (r.key ? r.key->size() : 0) + (r.value ? r.value->size() : 0);
  }
  void Keep(std::shared_ptr<const void> owner) {
    if (owner && (owners_.empty() || owners_.back() != owner)) owners_.push_back(std::move(owner));
  }
  void Reserve(size_t n) { records_.reserve(n); }

 private:
  std::vector<ConsumerRecord> records_;
  std::vector<std::shared_ptr<const void>> owners_;
  uint64_t payload_bytes_ = 0;
};

class Consumer {
 public:
  // Validates `config` (kInvalidArgument naming the field; kUnimplemented for group_id) and
  // starts the I/O thread. Connects to nothing yet: the first assign() / poll() does.
  [[nodiscard]] static StatusOr<std::unique_ptr<Consumer>> Create(ConsumerConfig config);
  // close()s if needed.
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Manual assignment: from now on exactly these partitions are consumed (duplicates are kept
  // once). A partition that stays assigned keeps its position; a new one has none, and its
  // position is resolved by auto_offset_reset at the next poll() or position(). Prefetched data
  // of partitions no longer assigned is dropped. An empty list unassigns everything.
  [[nodiscard]] Status assign(std::vector<TopicPartition> partitions);
  std::vector<TopicPartition> assignment() const;

  // ---- consumer groups (next issue): subscribe(topics, RebalanceListener*), unsubscribe(),
  //      subscription(), commit_sync(offsets), commit_async(offsets, callback), committed(tps).
  //      subscribe() will drive assign()'s bookkeeping from the group's assignment, calling the
  //      listener's on_partitions_revoked/assigned around it from inside poll(). ----

  // The next poll() returns records of `tp` from `offset` on (lazy: nothing is sent now).
  // Prefetched data of `tp` is dropped. An offset past the end, or below the log start, gets
  // OFFSET_OUT_OF_RANGE from the broker and then auto_offset_reset applies.
  [[nodiscard]] Status seek(const TopicPartition& tp, int64_t offset);
  // Lazy too: the position becomes the log start / the high watermark at the next poll() or
  // position(). An empty list means every assigned partition.
  [[nodiscard]] Status seek_to_beginning(const std::vector<TopicPartition>& tps);
  [[nodiscard]] Status seek_to_end(const std::vector<TopicPartition>& tps);
  // Seeks each partition to the first offset whose record timestamp is >= timestamp_ms
  // (ListOffsets by timestamp; blocks for the answer), or to the end when there is none.
  [[nodiscard]] Status seek_to_timestamp(const std::vector<TopicPartition>& tps,
                                         int64_t timestamp_ms);

  // The offset of the next record poll() will return for `tp`. When there is none yet it is
  // resolved now (auto_offset_reset or a pending seek_to_beginning/end, with ListOffsets),
  // waiting up to request_timeout_ms.
  [[nodiscard]] StatusOr<int64_t> position(const TopicPartition& tp);
  // The high watermark and log start offset last reported for `tp` by a fetch (-1 if none yet).
  // Lag = high watermark - position.
  [[nodiscard]] StatusOr<std::pair<int64_t, int64_t>> watermarks(const TopicPartition& tp) const;

  // Returns the records available now (at most max_poll_records), waiting up to `timeout` for
  // some when there are none. See the file comment for what it guarantees.
  [[nodiscard]] StatusOr<ConsumerRecords> poll(std::chrono::milliseconds timeout);

  // Stops fetching, closes the connections and joins the I/O thread. Idempotent. Records
  // already returned stay valid (their buffers are owned by their ConsumerRecords).
  [[nodiscard]] Status close();

  class Impl;

 private:
  explicit Consumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Checks a config the way Create() does (exposed for tests and tools).
[[nodiscard]] Status ValidateConsumerConfig(const ConsumerConfig& config);

}  // namespace spool
