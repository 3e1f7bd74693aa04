// ScanSegment: the recovery scan of one segment file (log/FORMAT.md, "Recovery"). Reads the
// file from position 0 in large chunks and accepts batches while each one
//   - has a well-formed header (magic 2, sane lengths) and lies wholly inside the file,
//   - passes VerifyBatch (CRC-32C over attributes..end),
//   - starts at the expected offset: the segment's base for the first batch, then the previous
//     batch's last offset + 1 (so offsets strictly increase with no gap),
//   - keeps positions and relative offsets inside the index's 32-bit fields.
// The first batch that fails stops the scan; everything from its position on is the damaged
// tail (a torn write, zeroed or preallocated space, garbage, a hole). The scan rebuilds the
// segment's in-memory indexes with the same IndexPolicy as appends.
//
// It does not change the file; the caller truncates it at `valid_size`.
// Ownership: borrows `seg` and its file for the duration of the Task. Reactor thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/task.h"
#include "log/leader_epoch.h"
#include "log/segment.h"

namespace spool::log {

struct ScanOptions {
  size_t max_batch_size = 64 << 20;
  uint32_t index_interval_bytes = 4096;
  size_t read_chunk = 1 << 20;
};

struct ScanReport {
  uint64_t valid_size = 0;  // bytes of whole, valid batches from position 0
  uint64_t batches = 0;
  std::string stop_reason;  // empty when the scan reached the end of the file
  // The valid batches whose partitionLeaderEpoch (>= 0) is above every earlier valid batch's
  // of the segment: (epoch, base offset), in order. Recovery rebuilds the leader-epoch list
  // from them (log/FORMAT.md section 6).
  std::vector<LeaderEpochEntry> epoch_starts;
};

// Refills `seg` (size, end offset, indexes, max timestamp) from its file. Returns an error only
// for I/O failures and for a file shorter than `file_size` (kAborted: it changed during the
// scan); damage is reported in the ScanReport.
[[nodiscard]] Task<StatusOr<ScanReport>> ScanSegment(Segment& seg, uint64_t file_size,
                                                     const ScanOptions& options);

}  // namespace spool::log
