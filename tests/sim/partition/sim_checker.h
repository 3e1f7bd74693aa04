// The partition simulator's invariants (tests/sim/partition_sim_test.cc), checked over snapshots
// of the replicas' logs: pure functions, no I/O.
//
// For one partition:
//   * every acknowledged acks=all batch is in every replica's log at its acknowledged offset,
//     below that replica's high watermark, and on every ISR member of the current leader below
//     the leader's high watermark;
//   * no batch of an idempotent producer (producer id, sequence) appears twice below a
//     replica's high watermark;
//   * the replicas' logs are byte-identical, batch by batch, below the smallest high watermark;
//   * a batch acknowledged twice (a retry) was acknowledged at the same offset.
//
// Threading: none (plain values).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace spool::sim {

struct BatchInfo {
  int64_t base = 0;
  int64_t last = 0;
  int64_t producer_id = -1;
  int32_t sequence = -1;
  int32_t leader_epoch = -1;
  std::vector<std::byte> bytes;  // the whole batch as the log holds it
};

struct ReplicaSnapshot {
  int32_t node = -1;
  bool leader = false;  // leads in the controller's current leader epoch
  int64_t high_watermark = 0;
  int64_t log_end = 0;
  std::vector<int32_t> isr;  // the leader's committed ISR (leader only)
  std::vector<BatchInfo> batches;
};

struct AckedBatch {
  int64_t base = 0;
  int64_t producer_id = -1;
  int32_t sequence = -1;
};

// Splits a log's bytes (whole batches from its start) into batches. kDataLoss for a bad header.
[[nodiscard]] StatusOr<std::vector<BatchInfo>> SplitLog(std::span<const std::byte> bytes);

// The first violated invariant for partition `partition`, or "" (see the header).
[[nodiscard]] std::string CheckPartition(int32_t partition,
                                         const std::vector<ReplicaSnapshot>& replicas,
                                         const std::vector<AckedBatch>& acked);

}  // namespace spool::sim
