// LeaderEpochCache: the in-memory list of (leader epoch, start offset) entries of one partition
// log (KIP-101), and the rules that keep it ordered (internal to log/; partition_log.h states
// the public contract, log/FORMAT.md section 6 how the list is made durable and recovered).
//
// Entries have strictly increasing epochs and non-decreasing start offsets. Add() follows
// Kafka's LeaderEpochFileCache.assign: an epoch that is not above the latest one changes
// nothing; otherwise trailing entries whose start offset is >= the new start (an epoch that
// never got a batch) are dropped before the new entry goes in. The list holds at most
// kCheckpointMaxEpochs entries (what log.checkpoint can store): past that the oldest entry is
// dropped, and the log answers as if it began at the next one.
//
// An entry is *sticky* when assign_epoch() put it there ahead of any batch: it must survive a
// crash although no batch of the log carries its epoch (recovery could not rebuild it from the
// segments), so the checkpoint keeps it whatever the durable end.
//
// A plain value: no I/O, no threading of its own (the owning log's reactor thread uses it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/strong_int.h"
#include "log/leader_epoch.h"

namespace spool::log {

class LeaderEpochCache {
 public:
  LeaderEpochCache() = default;
  // Loads a list read back from a checkpoint (the caller has checked its order); entries at
  // `sticky_from` or above are sticky.
  LeaderEpochCache(const std::vector<LeaderEpochEntry>& entries, Offset sticky_from);

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  std::optional<LeaderEpochEntry> latest() const;
  // Every entry, in order.
  std::vector<LeaderEpochEntry> entries() const;

  // Adds (epoch, start) when `epoch` is >= 0 and above the latest epoch (see the class
  // comment); returns whether the list changed.
  bool Add(int32_t epoch, Offset start, bool sticky = false);
  // Drops every entry with start_offset >= `end` (truncate_to, a cut-back).
  bool TruncateFromEnd(Offset end);
  // Drops every entry with start_offset > `end` (recovery: an entry at the recovered log end is
  // an epoch assigned ahead of its first batch and stays).
  bool DropAbove(Offset end);
  // The log now starts at `start`: entries with start_offset <= `start` are dropped except the
  // last of them, which moves to `start` (Kafka's truncateFromStart).
  bool TruncateFromStart(Offset start);

  // The OffsetsForLeaderEpoch answer (partition_log.h) for a log that ends at `log_end`.
  EpochEndOffset EndOffsetFor(int32_t epoch, Offset log_end) const;

  // The entries a checkpoint written now may hold, given that every batch below `durable_end`
  // is durable: those whose first batch is durable (start_offset < durable_end) and the sticky
  // ones. Because assign_epoch() makes the log durable before it adds a sticky entry, this is
  // always a prefix of the list: an entry left out starts at a batch that is not durable, and
  // the recovery scan (which covers every batch from the recovery point on) finds it again.
  std::vector<LeaderEpochEntry> Persistable(Offset durable_end) const;

  // Whether `entries` has strictly increasing epochs (all >= 0) and non-decreasing starts.
  static bool WellOrdered(const std::vector<LeaderEpochEntry>& entries);

 private:
  struct Entry {
    LeaderEpochEntry e;
    bool sticky = false;
  };
  std::vector<Entry> entries_;
};

}  // namespace spool::log
