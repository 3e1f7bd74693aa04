// The partition checkpoint, log.checkpoint (log/FORMAT.md, "Checkpoint"): the small state
// recovery starts from. Version 1 holds the recovery point, the log start offset, the high
// watermark the broker last reported, and the durable part of the leader-epoch list (what each
// field means and what recovery does with it: FORMAT.md section 6).
//
// Durability: WriteCheckpoint() replaces the file atomically (temp file, fdatasync, rename,
// directory fsync); when it returns OK the new content survives a crash, and until then the old
// one does. The whole file is covered by a CRC-32C, so a torn or damaged checkpoint is rejected
// (kDataLoss with no errno) and the caller falls back to a full recovery scan; it is never
// trusted. A read error is reported as such (its errno attached), and is not damage.
//
// Threading: call on the FileSystem's reactor thread. Encode/Decode are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/io/file_system.h"
#include "common/status.h"
#include "common/strong_int.h"
#include "common/task.h"
#include "log/leader_epoch.h"

namespace spool::log {

struct CheckpointData {
  // Every batch below it is durable, and every segment that ends at or below it has complete,
  // durable index files. Recovery scans from the segment that contains it.
  Offset recovery_point;
  Offset log_start_offset;
  std::optional<Offset> high_watermark;  // written as -1 when unset
  // Strictly increasing epochs (>= 0), non-decreasing start offsets, at most
  // kCheckpointMaxEpochs entries.
  std::vector<LeaderEpochEntry> leader_epochs;
  friend bool operator==(const CheckpointData&, const CheckpointData&) = default;
};

[[nodiscard]] std::vector<std::byte> EncodeCheckpoint(const CheckpointData& data);
// Errors: kDataLoss for a short file, bad magic, unknown version or must-understand flags, a
// body length that does not match the file, negative offsets, a CRC mismatch, or leader epochs
// out of order.
[[nodiscard]] StatusOr<CheckpointData> DecodeCheckpoint(std::span<const std::byte> file);

// Atomically replaces dir/log.checkpoint.
[[nodiscard]] Task<Status> WriteCheckpoint(io::FileSystem& fs, std::string dir,
                                           CheckpointData data);
// Reads dir/log.checkpoint. kNotFound when there is none, kDataLoss when it is damaged.
[[nodiscard]] Task<StatusOr<CheckpointData>> ReadCheckpoint(io::FileSystem& fs, std::string dir);

}  // namespace spool::log
