// RaftLog: a node's view of its log, kept whole in memory: the latest snapshot (which covers
// every entry up to snapshot_index) followed by the entries after it.
//
// The metadata log is small and compacted by snapshots, so the core holds all of it and never
// reads storage (a pure, synchronous core over asynchronous io_uring storage). Storage is the
// durable copy: the driver writes what Ready hands it and the node starts from what it recovers.
//
// Durability bookkeeping: entries are "handed" once they were given to the driver in a Ready,
// and "persisted" up to persisted_index() once the driver reported them durable. Overwriting a
// suffix moves both marks back to the overwrite point.
//
// Ownership and threading: owned by one RaftNode, single-threaded like it.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "replication/raft/types.h"

namespace spool::raft {

class RaftLog {
 public:
  // Starts from recovered state: everything given is durable.
  RaftLog(std::shared_ptr<const Snapshot> snapshot, std::vector<Entry> entries);

  Index snapshot_index() const { return snapshot_index_; }
  Term snapshot_term() const { return snapshot_term_; }
  const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }
  Index first_index() const { return snapshot_index_ + 1; }
  Index last_index() const { return snapshot_index_ + entries_.size(); }
  Term last_term() const;

  // The term of the entry at `i` for i in [snapshot_index, last_index] (Term{0} at Index{0}),
  // nullopt outside (compacted away or not there yet).
  std::optional<Term> TermAt(Index i) const;
  // The entry at `i`; requires first_index() <= i <= last_index().
  const Entry& At(Index i) const;
  // Entries [lo, min(hi, lo + max_count - 1)]; requires first_index() <= lo.
  std::vector<Entry> Slice(Index lo, Index hi, size_t max_count) const;
  // The first index of the run of entries with term `t` that ends at or before `i` (fast
  // back-off hint); `i` must be in [first_index, last_index] with TermAt(i) == t.
  Index FirstIndexOfTermRun(Index i) const;
  // The last index whose term is `t`, or nullopt if the log has no entry of that term.
  std::optional<Index> LastIndexOfTerm(Term t) const;
  // Raft §5.4.1: is a log ending at (index, term) at least as up to date as this one?
  bool IsUpToDate(Index index, Term term) const;

  // Appends `entries` (consecutive indexes, first one in [first_index, last_index + 1]),
  // dropping any existing entries from entries.front().index on.
  void Append(std::vector<Entry> entries);
  // Drops entries at and below `snap->meta.index` (which must be <= last_index and at or above
  // snapshot_index) and makes `snap` the log's snapshot. Entries after it are kept.
  void Compact(std::shared_ptr<const Snapshot> snap);
  // Replaces the whole log with `snap` (InstallSnapshot of a snapshot the log does not match).
  void Reset(std::shared_ptr<const Snapshot> snap);

  // Entries not yet handed to the driver, marked handed.
  std::vector<Entry> TakeUnhanded();
  bool HasUnhanded() const { return handed_ < last_index(); }
  // The driver reports entries up to `i` (with term `t`) durable. Ignored if the log no longer
  // holds (i, t) (it was overwritten in between).
  void MarkPersisted(Index i, Term t);
  // The snapshot at `i` is durable (a received one): everything up to it counts as persisted.
  void MarkSnapshotPersisted(Index i);
  Index persisted_index() const { return persisted_; }

 private:
  std::shared_ptr<const Snapshot> snapshot_;
  Index snapshot_index_;
  Term snapshot_term_;
  std::vector<Entry> entries_;  // entries_[k] has index snapshot_index_ + 1 + k
  Index handed_;                // entries up to here were given to the driver
  Index persisted_;             // entries up to here are durable
  Index snapshot_persisted_;    // the latest snapshot index known durable
};

}  // namespace spool::raft
