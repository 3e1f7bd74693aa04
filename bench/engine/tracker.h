// Tracker: the benchmark's correctness check. Producers mark each record as acknowledged;
// consumers mark each record as seen; at the end every acknowledged record must have been seen
// exactly once, and within one (producer, partition) sequence numbers must arrive increasing
// (the producer keeps order per partition; the log serves it in offset order).
//
// A record that was sent but not acknowledged (its send failed or timed out) is indeterminate:
// it may or may not be in the log, so seeing it is fine and not seeing it is fine.
//
// Threading: MarkAcked and MarkSeen are lock-free and may be called from any thread at once
// (one bit per record in chunked atomic bitmaps, allocated on first use). Order is checked by
// OrderCheck, one per consumer thread (partitions are split between consumers, so each
// partition's records reach one checker). Tally() after all producers and consumers stopped.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "bench/engine/result.h"

namespace spool::bench {

// A set of sequence numbers [0, 2^32) with lock-free insert.
class SequenceSet {
 public:
  SequenceSet() = default;
  ~SequenceSet();
  SequenceSet(const SequenceSet&) = delete;
  SequenceSet& operator=(const SequenceSet&) = delete;

  // Adds seq; true when it was not there before. seq beyond the capacity returns false and
  // counts as overflow.
  bool Insert(uint64_t seq);
  bool Contains(uint64_t seq) const;
  // How many seq < limit are in this set but not in `other`.
  uint64_t CountMissingFrom(const SequenceSet& other, uint64_t limit) const;
  static constexpr uint64_t kCapacity = uint64_t{1} << 32;

 private:
  static constexpr int kChunkBits = 23;  // 8 Mi sequences (1 MiB) per chunk
  static constexpr size_t kChunks = kCapacity >> kChunkBits;
  static constexpr size_t kWordsPerChunk = (size_t{1} << kChunkBits) / 64;
  std::atomic<uint64_t>* Chunk(size_t i, bool create) const;

  mutable std::array<std::atomic<std::atomic<uint64_t>*>, kChunks> chunks_{};
};

class Tracker {
 public:
  Tracker(uint32_t run_id, int producers);

  uint32_t run_id() const { return run_id_; }
  void MarkAcked(uint32_t producer, uint64_t seq) {
    if (acked_[producer]->Insert(seq)) acked_count_.fetch_add(1, std::memory_order_relaxed);
  }
  // Counts a consumed record; false when it is foreign (another run, a bad producer index).
  // Duplicates are counted here.
  bool MarkSeen(uint32_t run_id, uint32_t producer, uint64_t seq);
  void CountForeign() { foreign_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t distinct_seen() const { return distinct_.load(std::memory_order_relaxed); }
  uint64_t acked_count() const { return acked_count_.load(std::memory_order_relaxed); }

  // Per consumer thread: sequences of one (producer, partition) must increase.
  class OrderCheck {
   public:
    // `partition_key` names the partition uniquely within the run (topic index, partition).
    void Observe(uint32_t producer, uint64_t partition_key, uint64_t seq);
    uint64_t out_of_order() const { return out_of_order_; }

   private:
    absl::flat_hash_map<uint64_t, uint64_t> last_;  // (producer << 40 | partition key) -> seq
    uint64_t out_of_order_ = 0;
  };

  // `sent[p]` is how many sequences producer p used (0..sent-1).
  VerifyFigures Tally(const std::vector<uint64_t>& sent, uint64_t out_of_order) const;

 private:
  uint32_t run_id_;
  std::vector<std::unique_ptr<SequenceSet>> acked_;
  std::vector<std::unique_ptr<SequenceSet>> seen_;
  std::atomic<uint64_t> duplicates_{0};
  std::atomic<uint64_t> foreign_{0};
  std::atomic<uint64_t> distinct_{0};
  std::atomic<uint64_t> acked_count_{0};
};

}  // namespace spool::bench
