// Replica placement for new partitions: which brokers hold each partition, and in which order
// (the first replica is the preferred leader).
//
// The scheme is Kafka's round-robin with a shifting start (AdminUtils): brokers are ordered (by
// id, or interleaved rack by rack when every broker has a rack); partition p's first replica is
// broker (start_index + p) mod n, so leaders go round the brokers; its other replicas follow the
// first at a distance 1 + (shift + j) mod (n - 1), where the shift grows by one every n
// partitions, so followers do not always pair up the same way. Without racks, within each round
// of n partitions (numbers kn .. kn + n - 1) every broker leads exactly one partition and holds
// exactly replication_factor replicas; leaders always differ by at most one over any range.
//
// Rack-aware (every broker has a rack): the interleaved order puts consecutive leaders on
// different racks, and each follower is the next broker in the shifted order whose rack the
// partition does not use yet, while such a rack remains; so a partition spans
// min(replication_factor, racks) racks.
//
// Deterministic: the result depends only on the arguments (the order of `brokers` does not
// matter). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace spool::controller {

struct PlacementBroker {
  int32_t id = 0;
  std::optional<std::string> rack;
};

struct PlacementOptions {
  uint32_t start_index = 0;    // which broker leads the first partition (taken mod n)
  uint32_t replica_shift = 0;  // the followers' starting shift (taken mod n - 1)
  // The number of the first new partition: partitions added later with the options the topic
  // was created with continue its layout.
  int32_t first_partition = 0;
};

// Replica lists for `num_partitions` partitions over `brokers` (the unfenced ones: the caller
// chooses). INVALID_REPLICATION_FACTOR (controller_errors.h) when replication_factor < 1 or more
// than the brokers, INVALID_PARTITIONS when num_partitions < 1, INVALID_REQUEST when a broker id
// is given twice.
[[nodiscard]] StatusOr<std::vector<std::vector<int32_t>>> AssignReplicas(
    std::vector<PlacementBroker> brokers, int32_t num_partitions, int32_t replication_factor,
    const PlacementOptions& options);

}  // namespace spool::controller
