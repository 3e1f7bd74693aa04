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
// offset lookups, group membership and commits) runs on the consumer's own background I/O thread
// (client::ClientRuntime); user callbacks (rebalance listener, commit_async) never run there,
// only on the user thread inside consumer calls. The I/O thread keeps one fetch in flight per
// broker ahead of poll() and queues what comes back (bounded by
// ConsumerConfig::prefetch_max_bytes), so poll() rarely waits on the network.
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
// Consumer groups (consumer/README.md, "Consumer groups"): with group_id set, subscribe(topics or a
// pattern, listener) makes the consumer a member of the group; the group's assignment decides
// what it consumes. Membership (coordinator lookup, JoinGroup / SyncGroup, heartbeats, the
// max.poll.interval check, auto-commit) runs on the background I/O thread; the rebalance listener
// is called on the user's thread, inside poll() (and unsubscribe() / close()), as in Kafka.
// assign() is the "manual assignment" mode; it and subscribe() exclude each other.
// commit_sync() / commit_async() / committed() store and read the group's offsets (the offset of
// the next record to consume); a manual-assignment consumer with a group_id commits outside
// membership (generation -1), which the coordinator accepts while the group has no members.
//
// Delivery: auto-commit commits the positions as of the start of the latest poll(), so a record
// is committed only after poll() returned it and the user polled again (at-least-once when
// records are processed before the next poll()); positions are committed before partitions are
// revoked in a rebalance and in close().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
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

  // ---- consumer groups (consumer/README.md) ----
  // group.id: the consumer group. Needed by subscribe() and the commit calls.
  std::string group_id;
  // group.instance.id: a static member (KIP-345) when set: a restart with the same id within
  // session_timeout_ms gets its assignment back without a rebalance; close() sends no
  // LeaveGroup (the member just stops heartbeating and the session expires).
  std::string group_instance_id;
  // session.timeout.ms: the coordinator drops a member it has not heard from for this long.
  int32_t session_timeout_ms = 45000;
  // heartbeat.interval.ms: how often the I/O thread heartbeats (under session_timeout_ms / 3).
  int32_t heartbeat_interval_ms = 3000;
  // max.poll.interval.ms: the longest allowed between poll() calls of a member; past it the
  // member leaves the group (its partitions go to others) and rejoins at the next poll(), which
  // reports them lost. Also sent as the rebalance timeout.
  int32_t max_poll_interval_ms = 300000;
  // partition.assignment.strategy: assignors in order of preference ("cooperative-sticky",
  // "range", "roundrobin"); the group uses the first one every member lists. The member
  // rebalances cooperatively (keeps its partitions while it rejoins) only when every listed
  // assignor is cooperative (Kafka's rule), so the default lists cooperative-sticky alone; list
  // "range" after it to join a group of range members, at the price of eager rebalances.
  std::vector<std::string> partition_assignment_strategy = {"cooperative-sticky"};
  // enable.auto.commit / auto.commit.interval.ms: with a group_id, commit from the I/O thread,
  // this often, the positions as of the start of the latest poll() (records an earlier poll()
  // returned); also before revocation and in close().
  bool enable_auto_commit = true;
  int32_t auto_commit_interval_ms = 5000;
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

// A committed offset: the offset of the next record to consume, and free-form metadata.
struct OffsetAndMetadata {
  int64_t offset = 0;
  std::string metadata;
  friend bool operator==(const OffsetAndMetadata&, const OffsetAndMetadata&) = default;
};
using OffsetMap = std::map<TopicPartition, OffsetAndMetadata>;

// Called when the group's assignment changes, on the user's thread inside poll(), unsubscribe()
// or close(), never concurrently with another consumer call; the consumer may be used from the
// callbacks (position(), commit_sync(), seek() of the partitions concerned), except poll(),
// subscribe(), unsubscribe(), assign() and close().
class ConsumerRebalanceListener {
 public:
  virtual ~ConsumerRebalanceListener() = default;
  // These partitions are being taken away; their positions were already committed when
  // auto-commit is on. Commit your own progress here. With cooperative rebalancing, only the
  // partitions that move are listed, and the call may not happen at all.
  virtual void on_partitions_revoked(const std::vector<TopicPartition>& partitions) = 0;
  // These partitions were added (cooperative: the new ones only; eager: the whole assignment).
  // Called after every rebalance, possibly with an empty list. Their positions are the
  // committed offsets (else auto_offset_reset); seek() here to start elsewhere.
  virtual void on_partitions_assigned(const std::vector<TopicPartition>& partitions) = 0;
  // The member lost these partitions without revoking them (fenced: its session expired, it
  // exceeded max_poll_interval_ms, or the coordinator no longer knows it): others may own
  // them already, and committing their offsets would fail. Default: on_partitions_revoked.
  virtual void on_partitions_lost(const std::vector<TopicPartition>& partitions) {
    on_partitions_revoked(partitions);
  }
};

// Result of commit_async(), called on the user's thread inside a later poll(), commit_sync() or
// close(), with the offsets that were to be committed.
using OffsetCommitCallback = std::function<void(const OffsetMap& offsets, const Status& status)>;

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
  // Validates `config` (kInvalidArgument naming the field) and starts the I/O thread. Connects to
  // nothing yet: the first assign() / poll() does.
  [[nodiscard]] static StatusOr<std::unique_ptr<Consumer>> Create(ConsumerConfig config);
  // close()s if needed.
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Manual assignment: from now on exactly these partitions are consumed (duplicates are kept
  // once). A partition that stays assigned keeps its position; a new one has none, and its
  // position is resolved at the next poll() or position(): from the group's committed offset
  // when group_id is set and one exists, else by auto_offset_reset. Prefetched data of
  // partitions no longer assigned is dropped. An empty list unassigns everything.
  // kFailedPrecondition while subscribed (unsubscribe() first).
  [[nodiscard]] Status assign(std::vector<TopicPartition> partitions);
  // The partitions consumed now: the manual assignment, or the group's assignment as applied by
  // the last poll().
  std::vector<TopicPartition> assignment() const;

  // Joins group_id (kFailedPrecondition without one, or while assign() is in use) consuming
  // these topics; the assignment arrives through poll(). Calling it again changes the
  // subscription (a rebalance). `listener` (may be null) must outlive the subscription.
  // kInvalidArgument for an empty list or an empty topic name.
  [[nodiscard]] Status subscribe(std::vector<std::string> topics,
                                 ConsumerRebalanceListener* listener = nullptr);
  // The same for every topic whose whole name matches the ECMAScript regular expression
  // `pattern` (internal topics, "__..." excepted), as metadata shows them now and later: a new
  // matching topic causes a rebalance. kInvalidArgument for a bad pattern.
  [[nodiscard]] Status subscribe_pattern(std::string pattern,
                                         ConsumerRebalanceListener* listener = nullptr);
  // Leaves the group: commits (auto-commit), calls on_partitions_revoked for the assignment,
  // sends LeaveGroup (dynamic members) and clears the assignment. OK when not subscribed.
  [[nodiscard]] Status unsubscribe();
  // The subscribed topics (for a pattern: the pattern's matches at the last rebalance).
  std::vector<std::string> subscription() const;

  // Commits the position of every assigned partition (the offsets poll() has returned records
  // up to), or the given offsets, waiting for the coordinator (up to request_timeout_ms).
  // kFailedPrecondition naming the code when the group refused it because the member is no
  // longer in the current generation (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
  // REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID): its partitions may be elsewhere now; the next
  // poll() rejoins. kFailedPrecondition without a group_id; kDeadlineExceeded without an answer.
  [[nodiscard]] Status commit_sync();
  [[nodiscard]] Status commit_sync(const OffsetMap& offsets);
  // Starts the commit and returns; `callback` (may be empty) gets the outcome in a later poll().
  // Commits are sent in call order.
  void commit_async(OffsetCommitCallback callback = nullptr);
  void commit_async(const OffsetMap& offsets, OffsetCommitCallback callback);
  // The group's committed offsets of `partitions` (blocks, up to request_timeout_ms); a
  // partition without a committed offset is absent from the result.
  [[nodiscard]] StatusOr<OffsetMap> committed(const std::vector<TopicPartition>& partitions);
  // The member id and generation the coordinator gave this member ("" and -1 when not in a
  // generation now). For logs and tests.
  std::pair<std::string, int32_t> group_generation() const;

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

  // Leaves the group as unsubscribe() does (static members only stop heartbeating), waits for
  // commits in flight, stops fetching, closes the connections and joins the I/O thread.
  // Idempotent. Records
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
