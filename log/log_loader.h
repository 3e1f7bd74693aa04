// LoadLog: the recovery half of PartitionLog::Open (log/FORMAT.md, "Recovery"). Brings a
// partition directory into a state where every segment is whole, every batch below the log end
// has passed a CRC check (at append or here), and every sealed segment has valid, durable index
// files; then removes the clean-shutdown marker so a crash from now on is seen as unclean.
//
// What it does, in order:
//   1. creates the directory if missing, removes leftover *.tmp files and index files whose
//      segment is gone; other unknown names are left alone;
//   2. reads the clean-shutdown marker and the checkpoint (a damaged one is never trusted);
//   3. deletes segments wholly below the checkpoint's log start offset, and empty segments that
//      are not the last;
//   4. clean shutdown (marker valid and matching the files, checkpoint valid): loads every
//      index file, no scan. Otherwise: loads the index files of the segments before the one
//      holding the recovery point and scans that segment and all later ones batch by batch;
//   5. an index file that is missing or fails its checks makes its segment be scanned too;
//   6. at the first bad byte found by a scan, the segment is truncated there and every later
//      segment deleted (nothing after a hole can be trusted); so is a gap between segments.
//      Damage or a gap below the checkpoint's recovery point is not cut: it cannot come from a
//      crash, and cutting would delete durable batches, so LoadLog fails with kDataLoss;
//   6b. rebuilds the leader-epoch list: the checkpoint's entries, then every scanned batch
//      whose epoch is above the latest entry's, in offset order; entries above the recovered
//      log end are dropped and the first one is moved up to the log start (FORMAT.md 6);
//      the high watermark is capped at the recovered log end;
//   7. makes the result durable: datasyncs the scanned (and truncated) segments, writes and
//      syncs the index files of every scanned segment (the active one too: the new recovery
//      point is the log end), removes the marker, and writes a fresh checkpoint (recovery
//      point = log end) unless a clean open changed nothing; the directory is synced (by the
//      checkpoint's atomic write, or on its own) before LoadLog returns.
//
// Errors: a file that cannot be read (an I/O error, or one that shrinks during the read) fails
// LoadLog at once, and no segment is cut or deleted because of it: only files read whole and
// found damaged are ignored, rebuilt or cut. kDataLoss for damage below the recovery point
// (see 6), with the segments left as they are.
//
// Reactor thread only; `fs` must outlive the Task.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/io/file_system.h"
#include "common/status.h"
#include "common/strong_int.h"
#include "common/task.h"
#include "log/checkpoint_file.h"
#include "log/partition_log.h"
#include "log/segment.h"

namespace spool::log {

struct LoadedLog {
  std::vector<std::shared_ptr<Segment>> segments;  // by base offset; never empty
  Offset log_start_offset;
  Offset recovery_point;
  RecoveryStats stats;
  CheckpointData checkpoint;  // as now on disk: the rebuilt epoch list, the capped HW
  uint64_t checkpoints_written = 0;
};

[[nodiscard]] Task<StatusOr<LoadedLog>> LoadLog(io::FileSystem& fs, std::string dir,
                                                LogConfig config);

// The largest batch the storage engine accepts when it reads or scans files: a batch written
// under a larger max.message.bytes earlier is still readable.
size_t MaxBatchOnDisk(const LogConfig& config);

}  // namespace spool::log
