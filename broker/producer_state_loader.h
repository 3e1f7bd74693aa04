// Rebuilding a partition's ProducerStateTable (producer_state.h) from its log after a restart or
// when it becomes leader: every batch header from a starting offset to the visible end is
// applied in offset order (ProducerStateTable::Apply), so a retry that crosses a failover or a
// restart is still recognised as a duplicate.
//
// It reads the batches through PartitionLog::read (whole batches, chunk_bytes at a time) and
// looks only at their headers; the CRC was checked when each batch was appended or recovered.
// Without producer state snapshots (later) it starts at log_start_offset(), so its cost is one
// read of the log; with a snapshot it starts at the snapshot's offset.
//
// Threading: on the log's reactor, like every PartitionLog call. Ownership: borrows `log` and
// `table` until the Task completes.
#pragma once

#include <cstddef>

#include "broker/producer_state.h"
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

}  // namespace spool::broker
