// Ready: what a RaftNode hands its driver, and RecoveredState: what the driver hands back after
// a restart (replication/raft/README.md, "The Ready contract").
//
// The contract, in order, for each Ready taken with RaftNode::TakeReady():
//   1. Persist: write `snapshot` (if any), then `entries` (replacing any stored entries at and
//      after entries.front().index), then `hard_state` (if any), and make all of it durable
//      (fdatasync). With a snapshot, stored entries at or below its index are dropped; if the
//      stored entry at its index is missing or has another term (a snapshot received from the
//      leader that the local log does not match), every stored entry is dropped.
//   2. Report: OnSnapshotPersisted() / OnPersisted(last entry's index, term) once durable.
//   3. Send: only then deliver `messages`. Readys are handled in the order they were taken; the
//      messages of one Ready wait for its own writes and every earlier Ready's writes to be
//      durable (a response may vouch for entries an earlier Ready wrote).
//   4. Apply `committed` in order (may happen as soon as the Ready is taken: committed entries
//      are already durable on a majority). Answer `reads` once the state machine has applied up
//      to each read's index.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "replication/raft/types.h"

namespace spool::raft {

// A confirmed ReadIndex request: a linearizable read may be served once the local state machine
// has applied every entry up to `index`.
struct ReadState {
  uint64_t request_id = 0;
  Index index;
};

struct Ready {
  std::optional<HardState> hard_state;       // set when term or vote changed
  std::shared_ptr<const Snapshot> snapshot;  // a snapshot to persist (taken or received)
  std::vector<Entry> entries;                // entries to persist (maybe overwriting a suffix)
  std::vector<Message> messages;             // send only after the above is durable
  std::vector<Entry> committed;              // newly committed, to apply in order
  std::vector<ReadState> reads;              // ReadIndex requests now safe to serve
  std::vector<uint64_t> failed_reads;        // ReadIndex requests dropped (leadership lost)
  // If set, the state machine must first be reset to this snapshot (received from the leader)
  // before applying `committed`.
  std::shared_ptr<const Snapshot> restore;

  bool empty() const {
    return !hard_state && !snapshot && entries.empty() && messages.empty() && committed.empty() &&
           reads.empty() && failed_reads.empty() && !restore;
  }
};

// The durable state a node restarts from: the last hard state, the latest snapshot (if any) and
// the entries after it, contiguous. The state machine must be restored from `snapshot` by the
// driver; the node re-delivers committed entries after it once it learns the commit index.
struct RecoveredState {
  HardState hard_state;
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<Entry> entries;
};

}  // namespace spool::raft
