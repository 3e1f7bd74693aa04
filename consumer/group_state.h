// GroupState: what the user thread and the I/O thread share about the consumer's group
// membership (internal). It lives in SharedState (fetcher.h), under the same mutex as the
// partition bookkeeping, so one lock covers "what is assigned" and "what the group said".
//
// The hand-offs (consumer/README.md, "Consumer groups"):
//   - The I/O thread (Coordinator) sets rejoin_needed when the group needs a new generation
//     (REBALANCE_IN_PROGRESS, a subscription or metadata change, a fencing), lost when the
//     member was fenced, and publishes each SyncGroup result as `pending`.
//   - poll() (user thread) applies them in order, calling the rebalance listener with the lock
//     released: lost partitions first, then a pending assignment (cooperative: revoking what moved
//     and asking for another rebalance when something did), then the rejoin preparation (eager:
//     revoke everything; either: commit first with auto-commit), after which it sets
//     join_allowed and the I/O thread sends JoinGroup. So JoinGroup never goes out before the
//     listener ran, and partitions are never consumed by a member after it revoked them.
//
// Threading: guarded by SharedState::mu.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "common/status.h"
#include "consumer/consumer.h"

namespace spool::consumer {

struct PendingAssignment {
  int32_t generation = -1;
  std::vector<TopicPartition> partitions;  // sorted
};

// A finished commit_async(), waiting for the user thread to run its callback.
struct CompletedCommit {
  OffsetMap offsets;
  Status status;
  OffsetCommitCallback callback;
};

struct GroupState {
  // ---- set by the user thread ----
  bool subscribed = false;
  std::vector<std::string> topics;    // explicit subscription (sorted)
  std::optional<std::regex> pattern;  // or a pattern
  uint64_t subscription_version = 0;  // bumped by every subscribe()
  bool join_allowed = false;          // the rejoin was prepared; JoinGroup may go out
  std::vector<TopicPartition> owned;  // the group assignment poll() applied (sorted)
  int32_t owned_generation = -1;      // the generation `owned` came from
  int64_t last_poll_ns = 0;           // monotonic; for max.poll.interval.ms
  // Positions when the latest poll() began: the records returned before it were handed out by
  // an earlier poll(), so the user has processed them. Auto-commit commits these (at-least-once),
  // never the live positions, which include the batch the user may still be processing.
  std::map<TopicPartition, int64_t> polled_positions;
  bool in_poll = false;  // inside poll() now (time there does not count)
  // poll() found the session expired (session_renewed_ns below): the I/O thread forgets the
  // generation too.
  bool session_expired = false;

  // ---- set by the I/O thread ----
  bool rejoin_needed = false;
  bool lost = false;  // fenced: `owned` is lost, not revoked
  // Monotonic send time of the latest request the coordinator answered as this member's
  // (Heartbeat, SyncGroup): the coordinator renewed the session no earlier. Once
  // session_timeout_ms has passed since, it has dropped the member (the process stalled: a
  // SIGSTOP, swapping, a stuck disk) and its partitions may be consumed elsewhere, so poll()
  // reports them lost and hands out none of their records. While a JoinGroup is out it is
  // moved forward by the rebalance timeout (the coordinator keeps members it holds a join for).
  int64_t session_renewed_ns = 0;
  std::optional<PendingAssignment> pending;
  std::deque<CompletedCommit> completed_commits;
  Status fatal;                              // a non-retriable group error; poll() returns it
  std::string member_id;                     // as the coordinator knows the member
  int32_t generation = -1;                   // -1: not in a generation now
  std::vector<std::string> resolved_topics;  // the topics of the last JoinGroup (sorted)
  uint64_t joined_version = 0;               // subscription_version of the last JoinGroup

  // The member is out of its generation (fenced, or its session ran out): `owned` is lost, and
  // a rejoin is due once poll() has reported it. Under SharedState::mu.
  void Lose() {
    lost = true;
    rejoin_needed = true;
    join_allowed = false;
    pending.reset();
    generation = -1;
  }
};

}  // namespace spool::consumer
