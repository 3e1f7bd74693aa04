// The per-partition steps of replication, without sockets or protos (broker/REPLICATION.md,
// "Follower fetches"): what a partition leader answers to one follower's fetch of one partition,
// what a follower does with one such answer, and the leader's ISR decision. The broker's
// handler (replica_fetch_handler.cc), its ReplicaFetcher and its ReplicaManager call these; the
// partition simulator (tests/sim/partition_sim_test.cc) drives the same functions with virtual
// time and a simulated network.
//
// Ownership and threading: free functions over a Partition, called on the partition's shard
// (its reactor's thread). They keep no state. Durability is the Partition's and its log's: the
// follower step waits until what it appended is durable under flush.policy=durable before it
// takes the leader's HW.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "broker/fetch_wait.h"
#include "broker/partition.h"
#include "common/status.h"
#include "common/task.h"
#include "log/partition_log.h"
#include "proto/errors.h"
#include "replication/partition/replica_progress.h"

namespace spool::broker {

// One partition of a follower's fetch (the FetchPartition fields that matter).
struct ReplicaFetchAsk {
  Offset fetch_offset;                // the follower's log end (durable under durable policy)
  int32_t current_leader_epoch = -1;  // the epoch the follower follows (-1: not checked)
  int32_t last_fetched_epoch = -1;    // the latest epoch in the follower's log (-1: none)
  int32_t max_bytes = 0;              // partition_max_bytes (<= 0: the default)
};

// The leader's answer for one partition (the FetchPartitionResponse fields + record bytes).
struct ReplicaFetchAnswer {
  proto::ErrorCode error = proto::ErrorCode::NONE;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  // Set when the follower's log diverges: truncate there, no records.
  std::optional<log::EpochEndOffset> diverging;
  std::shared_ptr<const std::vector<std::byte>> data;  // whole batches, or null
  bool progressed = false;  // the fetch counted as the follower's progress (OnReplicaFetch)
};

// Leader side: answers `ask` from follower `replica` on `p` (nullptr or closed: unknown). In
// order: UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER (not leading, or `replica` is not a
// replica), FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH (current_leader_epoch older / newer),
// then the divergence check (diverging set), OFFSET_OUT_OF_RANGE outside [log start, log end],
// else the fetch counts as progress at `now_ns` (unless answer.progressed already: a long poll
// reading again) and up to min(max_bytes, budget) bytes of whole batches are read (none when
// budget is 0). `waiter`, when set, is registered for the next append. Writes into `answer`
// (kept by the caller across long-poll rounds).
Task<void> AnswerReplicaFetch(Partition* p, const ReplicaFetchAsk& ask, int32_t replica,
                              int64_t now_ns, size_t budget, std::shared_ptr<FetchWaiter> waiter,
                              ReplicaFetchAnswer& answer);

// What the follower step did with an answer.
enum class FollowerAction {
  kTookHighWatermark,   // no records (or appended ones, see `appended`) and took the leader's HW
  kTruncated,           // diverging epoch: cut the log (to `offset`)
  kRestarted,           // OFFSET_OUT_OF_RANGE below the leader's log start: restarted at `offset`
  kCutToHighWatermark,  // OFFSET_OUT_OF_RANGE past the leader's end: cut to its HW (`offset`)
  kMetadataLag,         // a leadership error: ask again soon (metadata differs for a moment)
  kAborted,             // the partition no longer follows at that epoch: answer dropped
  kFailed,              // another error (`status`): back off
};
struct FollowerOutcome {
  FollowerAction action = FollowerAction::kTookHighWatermark;
  bool backoff = false;   // wait replica.fetch.backoff.ms before fetching this partition again
  Offset offset{-1};      // truncation / restart target
  Offset end_before{-1};  // the log end before the step
  std::optional<log::AppendResult> appended;  // records appended (and made durable)
  Status status;
};

// Follower side: applies `answer` (its record bytes in `data`) to `p`, which follows at
// `leader_epoch`: truncates by the diverging epoch (KIP-279's rule), restarts at the leader's
// log start or cuts to its HW on OFFSET_OUT_OF_RANGE, or appends the records, waits until they
// are durable (flush.policy=durable) and takes the leader's HW.
Task<FollowerOutcome> ApplyReplicaFetchAnswer(Partition& p, int32_t leader_epoch,
                                              const ReplicaFetchAnswer& answer,
                                              std::span<const std::byte> data);

// The leader's ISR decision: the ISR to ask the controller for (committed ISR minus followers
// lagging past `lag_ns`, plus followers ready to join that `is_live` accepts), or nullopt when
// it stays. `leader_end` is the leader's log end, `hw` its high watermark.
[[nodiscard]] std::optional<std::vector<int32_t>> DecideIsrChange(
    const replication::ReplicaProgress& progress, int64_t now_ns, int64_t lag_ns,
    int64_t leader_end, int64_t hw, const std::function<bool(int32_t)>& is_live);

}  // namespace spool::broker
