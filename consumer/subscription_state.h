// SubscriptionState: the consumer's bookkeeping of its assigned partitions (internal; pure, no
// I/O): positions, pending offset resets, what is being fetched, and the bounded queue of
// completed fetches that poll() drains.
//
// Two offsets per partition:
//   - position: the next offset poll() returns (the user's view; Kafka's "position");
//   - fetch position: the next offset to fetch, ahead of the position by what is queued.
// The background fetcher sends fetches from the fetch position and queues their data; poll()
// decodes queued data whose fetch offset equals the position and advances the position.
//
// Generations: every seek, reset or (re)assignment of a partition bumps its generation and drops
// its queued data. A fetch remembers the generation it was sent in; its response is dropped when
// the generation moved meanwhile, so data fetched before a seek never reaches poll().
//
// Errors travel in order with the data: an OFFSET_OUT_OF_RANGE or a bad response is queued as a
// marker behind the data fetched before it, and the partition is not fetched again until poll()
// reaches the marker and applies the reset policy or returns the error.
//
// Threading: not thread-safe. The consumer guards one instance with a mutex shared by the user
// thread (assign, seek, poll) and the I/O thread (fetch targets, responses).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "consumer/consumer.h"
#include "consumer/partition_records.h"
#include "proto/errors.h"

namespace spool::consumer {

enum class ResetKind { kEarliest, kLatest };

struct PartitionState {
  std::shared_ptr<const std::string> topic;
  int32_t partition = 0;
  uint64_t generation = 0;
  std::optional<int64_t> position;
  std::optional<ResetKind> reset;  // the position is to be looked up (ListOffsets)
  // The generation a lookup / fetch in flight was sent in (0: none). Generations are unique
  // across partitions and assignments, so an answer is matched to exactly one state.
  uint64_t reset_in_flight_gen = 0;
  int64_t fetch_position = 0;  // meaningful when position is set and no reset is pending
  uint64_t fetch_in_flight_gen = 0;
  bool fetch_blocked = false;   // a marker is queued: wait for poll() to handle it
  int64_t retry_at_ns = 0;      // not fetched or reset before this (backoff)
  int32_t min_fetch_bytes = 0;  // raised when a first batch did not fit partition_max_bytes
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  // With a group: the committed offset is looked up (OffsetFetch) before the reset policy
  // applies. Set for a newly assigned partition; cleared by SetCommitted, Seek, RequestReset.
  bool awaiting_committed = false;
};

// One partition of a fetch request, as the fetcher sent it.
struct FetchTarget {
  TopicPartition tp;
  uint64_t generation = 0;
  int64_t offset = 0;
  int32_t max_bytes = 0;
};

// One partition of a ListOffsets request for a pending reset.
struct ResetTarget {
  TopicPartition tp;
  uint64_t generation = 0;
  ResetKind kind = ResetKind::kEarliest;
};

// What a fetch response did to a partition (for the fetcher's follow-up and for tests).
enum class FetchOutcome {
  kStale,   // the partition was sought, reset or unassigned meanwhile: dropped
  kData,    // whole batches were queued
  kEmpty,   // nothing new (the long poll expired)
  kGrow,    // the first batch did not fit: fetched again with a larger partition_max_bytes
  kMarker,  // an error marker was queued (out of range, corrupt response, fatal error)
  kRetry,   // retriable: fetched again after the backoff; metadata should be refreshed
};

struct SubscriptionOptions {
  OffsetResetPolicy reset_policy = OffsetResetPolicy::kLatest;
  int32_t max_partition_fetch_bytes = 1 << 20;
  int64_t retry_backoff_ns = 100'000'000;
  DecodeOptions decode;
  // A group_id is set: new partitions start from their committed offset when there is one.
  bool use_committed = false;
};

class SubscriptionState {
 public:
  explicit SubscriptionState(SubscriptionOptions options) : options_(options) {}

  // ---- user thread ----
  // Replaces the assignment; partitions that stay keep their state (see Consumer::assign).
  void Assign(const std::vector<TopicPartition>& partitions);
  std::vector<TopicPartition> Assignment() const;
  bool IsAssigned(const TopicPartition& tp) const { return Find(tp) != nullptr; }
  // kFailedPrecondition when `tp` is not assigned; kInvalidArgument for a negative offset.
  [[nodiscard]] Status Seek(const TopicPartition& tp, int64_t offset);
  [[nodiscard]] Status RequestReset(const TopicPartition& tp, ResetKind kind);
  // For a partition without a position and no pending reset: requests the policy's reset, or
  // fails with kOutOfRange under kNone. Nothing while its committed offset is awaited.
  [[nodiscard]] Status EnsurePositionPending(const TopicPartition& tp);
  // Every partition without position and pending reset gets the policy's reset; under kNone the
  // first such partition's error is returned.
  [[nodiscard]] Status EnsureAllPositionsPending();

  // Decodes queued data into `out` (at most `max_records` records in all), in queue order,
  // advancing positions. Handles markers on the way: applies the reset policy to an out-of-range
  // partition, or returns its error. An error is returned only when `out` is still empty;
  // otherwise it is kept and returned by the next call. `now_ns` times the backoff before an
  // errored partition is fetched again.
  [[nodiscard]] Status Collect(size_t max_records, ConsumerRecords* out, int64_t now_ns);

  // ---- I/O thread ----
  // Partitions whose committed offset is to be looked up (awaiting_committed).
  std::vector<TopicPartition> AwaitingCommitted() const;
  // The lookup's answer for `tp`: its committed offset becomes the position, or with none
  // (nullopt) the reset policy applies from now on. Ignored unless `tp` still awaits one.
  void SetCommitted(const TopicPartition& tp, std::optional<int64_t> offset);
  // Partitions to fetch now (position known, nothing pending, not in flight, not backed off)
  // for which `filter(tp)` is true; marks them in flight.
  template <typename Filter>
  std::vector<FetchTarget> TakeFetchTargets(int64_t now_ns, Filter filter);
  std::vector<FetchTarget> TakeFetchTargets(int64_t now_ns) {
    return TakeFetchTargets(now_ns, [](const TopicPartition&) { return true; });
  }
  // Applies one partition's fetch response (clears in-flight whatever the outcome). `bytes` is
  // that partition's payload; `owner` keeps it alive.
  FetchOutcome OnFetchResponse(const FetchTarget& sent, proto::ErrorCode code,
                               int64_t high_watermark, int64_t log_start_offset,
                               std::span<const std::byte> bytes, std::shared_ptr<const void> owner,
                               int64_t now_ns);
  // A fetch that got no response (broken connection, no leader): in flight cleared, backoff.
  void OnFetchFailed(const FetchTarget& sent, int64_t now_ns);

  // Partitions whose position must be looked up now; marks them in flight.
  std::vector<ResetTarget> TakeResetTargets(int64_t now_ns);
  // The lookup's answer: sets position and fetch position (if the generation still matches), or
  // backs off and retries later.
  void OnResetResolved(const ResetTarget& target, const StatusOr<int64_t>& offset, int64_t now_ns);

  // ---- either ----
  const PartitionState* Find(const TopicPartition& tp) const;
  size_t queued_bytes() const { return queued_bytes_; }
  size_t queued_fetches() const { return queue_.size(); }
  // The earliest retry_at_ns in the future among partitions waiting out a backoff, or 0.
  int64_t NextRetryNs(int64_t now_ns) const;
  bool AnyResetPending() const;
  // Bumped by every change that gives the fetcher new work (assignment, seek, reset, refetch
  // after an error), so the user thread knows when to wake it.
  uint64_t work_epoch() const { return work_epoch_; }

 private:
  struct Completed {
    TopicPartition tp;
    std::shared_ptr<const std::string> topic;
    uint64_t generation = 0;
    int64_t fetch_offset = 0;
    proto::ErrorCode code = proto::ErrorCode::NONE;  // NONE: data
    Status error;                                    // for a marker other than out of range
    std::span<const std::byte> bytes;
    std::shared_ptr<const void> owner;
  };
  // The partly consumed head of the queue.
  struct InProgress {
    TopicPartition tp;
    uint64_t generation = 0;
    PartitionRecords records;
  };

  PartitionState* FindMutable(const TopicPartition& tp);
  // Bumps the generation and drops queued data of `tp`.
  void Invalidate(const TopicPartition& tp, PartitionState& ps);
  void Enqueue(Completed c);
  // Handles a marker at the head; returns the error to report, or OK.
  Status HandleMarker(const Completed& c, PartitionState& ps, int64_t now_ns);
  // After an error was reported for `ps`: fetch again from the position after the backoff.
  void Refetch(const TopicPartition& tp, PartitionState& ps, int64_t now_ns);

  SubscriptionOptions options_;
  std::map<TopicPartition, PartitionState> partitions_;
  std::deque<Completed> queue_;
  size_t queued_bytes_ = 0;
  std::optional<InProgress> in_progress_;
  Status pending_error_;  // found while `out` already held records; returned next
  uint64_t next_generation_ = 1;
  uint64_t work_epoch_ = 0;
};

template <typename Filter>
std::vector<FetchTarget> SubscriptionState::TakeFetchTargets(int64_t now_ns, Filter filter) {
  std::vector<FetchTarget> out;
  for (auto& [tp, ps] : partitions_) {
    if (!ps.position || ps.reset || ps.fetch_in_flight_gen != 0 || ps.fetch_blocked) continue;
    if (ps.retry_at_ns > now_ns || !filter(tp)) continue;
    ps.fetch_in_flight_gen = ps.generation;
    out.push_back(FetchTarget{tp, ps.generation, ps.fetch_position,
                              std::max(options_.max_partition_fetch_bytes, ps.min_fetch_bytes)});
  }
  return out;
}

}  // namespace spool::consumer
