// ProducerStateTable: one partition's idempotent-producer state, the leader's dedup table
// (ARCHITECTURE.md §6, producer/README.md "Idempotence"). For each producer id it keeps the
// producer epoch and the last kMaxCachedBatches (5) batches appended: their base and last
// sequence and their base and last offset. Pure: no I/O, no clock.
//
// The rules (Kafka's, KIP-98), checked by Check() before a batch is appended:
//   - a batch without a producer id (-1) is not idempotent: always kAppend;
//   - a producer id the table does not know must start at sequence 0 (kAppend), else
//     kUnknownProducer: its batches were removed (retention, truncation) or never written, and
//     the producer gets a new id (KIP-360, UNKNOWN_PRODUCER_ID). Spool does not accept an
//     arbitrary sequence from an unknown producer: that could let a duplicate through after a
//     state loss, and a producer recovers from UNKNOWN_PRODUCER_ID by itself;
//   - an epoch older than the producer's is kInvalidEpoch (INVALID_PRODUCER_EPOCH); a newer
//     epoch must start at sequence 0 (else kOutOfOrder) and replaces the producer's batches;
//   - at the same epoch, a batch whose (base, last) sequence equals one of the cached batches
//     is kDuplicate, with that batch's offsets (the leader answers the retry with them);
//     otherwise its base sequence must be the last batch's last sequence + 1, wrapping from
//     INT32_MAX to 0 (kAppend), else kOutOfOrder (OUT_OF_ORDER_SEQUENCE_NUMBER).
// Record() is called once the batch's offsets are assigned (in offset order); Forget() undoes a
// Record() whose append failed; TruncateTo() follows a log truncation; RemoveBelow() follows
// retention. Apply() records a batch read back from the log without checks (rebuilding the table
// after a restart or failover: producer_state_loader.h).
//
// Ownership: a value type, owned by its partition. Threading: not thread-safe; the partition's
// shard only. Durability: none of its own; it is rebuilt from a producer-state snapshot
// (producer_snapshot.h) and the log's batch headers after it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>

#include "common/strong_int.h"
#include "log/record/batch_header.h"

namespace spool::broker {

inline constexpr size_t kMaxCachedBatches = 5;

// The sequence after `sequence`: +1, wrapping from INT32_MAX to 0.
[[nodiscard]] int32_t NextSequence(int32_t sequence);
// base + delta, wrapping at INT32_MAX as Kafka's batches do (delta >= 0).
[[nodiscard]] int32_t AddToSequence(int32_t base, int32_t delta);

// What identifies a batch to the dedup table (from its header).
struct BatchIdentity {
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t last_sequence = -1;  // base_sequence + lastOffsetDelta, wrapping at INT32_MAX

  bool idempotent() const { return producer_id >= 0; }
  // The identity in a v2 batch header; last_sequence from last_offset_delta.
  [[nodiscard]] static BatchIdentity FromHeader(const record::BatchHeader& header);
};

struct DedupCheck {
  enum Kind { kAppend, kDuplicate, kOutOfOrder, kInvalidEpoch, kUnknownProducer };
  Kind kind = kAppend;
  // kDuplicate: the offsets the original batch got. Unset otherwise.
  Offset base_offset{-1};
  Offset last_offset{-1};
};

// One cached batch.
struct ProducerBatchEntry {
  int32_t base_sequence = 0;
  int32_t last_sequence = 0;
  Offset base_offset{0};
  Offset last_offset{0};
  friend bool operator==(const ProducerBatchEntry&, const ProducerBatchEntry&) = default;
};

// One producer id's state in a partition.
struct ProducerEntry {
  int16_t epoch = -1;
  std::deque<ProducerBatchEntry> batches;  // oldest first, at most kMaxCachedBatches
  // Batches of this epoch were dropped from the front of `batches` (the window is full), so
  // the log holds batches of this producer that the table no longer knows about.
  bool evicted = false;
  friend bool operator==(const ProducerEntry&, const ProducerEntry&) = default;
};

class ProducerStateTable {
 public:
  // See the header comment. A non-idempotent batch is always kAppend.
  [[nodiscard]] DedupCheck Check(const BatchIdentity& batch) const;
  // The batch got [base, last] (after Check() said kAppend). Non-idempotent batches are ignored.
  void Record(const BatchIdentity& batch, Offset base, Offset last);
  // The append of a Record()ed batch failed and its offsets will be reused: removes the cached
  // batch with that base offset (and the producer when it is left with none). Forgetting the
  // first batch of a new epoch removes the producer, not just that epoch (its next batch must
  // then start at 0 again: it is answered UNKNOWN_PRODUCER_ID otherwise, which is safe).
  void Forget(const BatchIdentity& batch, Offset base);
  // After the log was truncated to `end`: drops the cached batches at or above `end`, and the
  // producers left with none. Returns false when the result is no longer exact: a producer lost
  // every cached batch but the log still holds older batches of it (evicted from the window);
  // the caller then rebuilds the table from the log (producer_state_loader.h).
  [[nodiscard]] bool TruncateTo(Offset end);
  // After retention moved the log start to `log_start`: drops the producers whose last batch
  // ends below it (Kafka's rule; their next batch gets UNKNOWN_PRODUCER_ID unless it starts at
  // 0), and the cached batches below it of the others.
  void RemoveBelow(Offset log_start);
  // Records a batch read back from the log, without checks (rebuilding): a newer epoch
  // replaces the producer's batches, an older one is ignored, and the same epoch appends.
  // Control and non-idempotent batches are ignored.
  void Apply(const record::BatchHeader& header);

  const ProducerEntry* Find(int64_t producer_id) const;
  size_t size() const { return producers_.size(); }
  // Every producer, by id (what a snapshot stores).
  const std::map<int64_t, ProducerEntry>& entries() const { return producers_; }
  // Puts `entry` in as producer `producer_id`'s state, replacing any (loading a snapshot). An
  // entry without batches is ignored: the table never holds one.
  void Restore(int64_t producer_id, ProducerEntry entry);
  friend bool operator==(const ProducerStateTable&, const ProducerStateTable&) = default;

 private:
  void Push(ProducerEntry& entry, const BatchIdentity& batch, Offset base, Offset last);

  std::map<int64_t, ProducerEntry> producers_;
};

}  // namespace spool::broker
