// Rebuilding a partition's ProducerStateTable (producer_state.h) from its log after a restart or
// when it becomes leader: every batch header from a starting offset to the visible end is
// applied in offset order (ProducerStateTable::Apply), so a retry that crosses a failover or a
// restart is still recognised as a duplicate.
//
// It reads the batches through PartitionLog::read (whole batches, chunk_bytes at a time) and
// looks only at their headers; the CRC was checked when each batch was appended or recovered.
// LoadProducerStateWithSnapshots starts from the newest usable producer-state snapshot
// (producer_snapshot.h), so its cost is the log after that snapshot; without one it reads a
// bounded tail of the log.
//
// Threading: on the log's reactor, like every PartitionLog call. Ownership: borrows `fs`, `log`
// and `table` until the Task completes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "broker/producer_state.h"
#include "common/io/file_system.h"
#include "common/status.h"
#include "common/task.h"
#include "log/partition_log.h"

namespace spool::broker {

// Applies the headers of the batches of `log` that end at or after `from` (up to the visible
// end when the call starts) to `table`. Errors: the log's read errors (kOutOfRange when `from`
// is outside the log, kAborted when a truncation cut the log under the scan: start again),
// kDataLoss for a batch header that does not parse.
[[nodiscard]] Task<Status> ApplyLogToProducerState(log::PartitionLog& log, Offset from,
                                                   ProducerStateTable& table,
                                                   size_t chunk_bytes = 1 << 20);

// A table rebuilt from the whole log (from log_start_offset()).
[[nodiscard]] Task<StatusOr<ProducerStateTable>> LoadProducerState(log::PartitionLog& log,
                                                                   size_t chunk_bytes = 1 << 20);

struct LoadedProducerState {
  ProducerStateTable table;
  std::optional<Offset> snapshot;  // the snapshot it started from, if any
  size_t damaged_snapshots = 0;    // skipped (and deleted) because they did not decode
  Offset scanned_from;             // where the log's headers were applied from
};

// The table of the partition whose log is `log` and whose directory is `dir`:
//   1. deletes (durably) the snapshots below the log start or above the log end: a snapshot
//      above the end describes a history the log no longer has (broker/STATE.md);
//   2. reads the newest remaining snapshot; a damaged one (kDataLoss) is logged as a warning,
//      deleted and the next older one tried; any other read error fails the load (unreadable
//      is not damaged);
//   3. applies the log's batch headers from the snapshot's offset, or without a snapshot from
//      max(log start, log end - tail_scan_offsets) (producers older than that are unknown);
//   4. RemoveBelow(log start).
// Errors: the file system's, ApplyLogToProducerState's.
[[nodiscard]] Task<StatusOr<LoadedProducerState>> LoadProducerStateWithSnapshots(
    io::FileSystem& fs, std::string dir, log::PartitionLog& log, int64_t tail_scan_offsets,
    size_t chunk_bytes = 1 << 20);

}  // namespace spool::broker
