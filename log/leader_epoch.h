// The value types of KIP-101 leader epochs as the partition log exposes them (partition_log.h)
// and stores them (log.checkpoint, log/FORMAT.md section 6). Plain values; no threading rules.
#pragma once

#include <cstdint>

#include "common/strong_int.h"

namespace spool::log {

// The first offset written under a leader epoch.
struct LeaderEpochEntry {
  int32_t epoch = 0;
  Offset start_offset;
  friend bool operator==(const LeaderEpochEntry&, const LeaderEpochEntry&) = default;
};

// An OffsetsForLeaderEpoch answer. {-1, -1}: undefined (the log knows no epoch <= the one asked).
struct EpochEndOffset {
  int32_t epoch = -1;
  Offset end_offset{-1};
  friend bool operator==(const EpochEndOffset&, const EpochEndOffset&) = default;
};

}  // namespace spool::log
