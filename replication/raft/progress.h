// Progress: what a leader knows about one follower (replication/raft/README.md, "Replication").
// Owned by the leader's RaftNode; reset at the start of every term it leads.
#pragma once

#include <cstdint>

#include "replication/raft/types.h"

namespace spool::raft {

struct Progress {
  enum class State : uint8_t {
    kProbe,      // one append in flight at a time until the follower's log position is found
    kReplicate,  // entries are streamed; `next` moves ahead optimistically
    kSnapshot,   // a snapshot is in flight; appends wait for its acknowledgement
  };

  Index match;  // highest index known to be durable and matching on the follower
  Index next;   // next index to send
  State state = State::kProbe;
  bool paused = false;         // probe: an append is in flight; wait for a reply or a heartbeat
  bool recent_active = false;  // heard from in this check-quorum period
  uint64_t acked_context = 0;  // highest heartbeat sequence acknowledged in this term
  int64_t snapshot_sent_ns = 0;
};

}  // namespace spool::raft
