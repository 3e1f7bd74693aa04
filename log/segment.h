// Segment: one %020d.log file of a partition and its in-memory indexes (internal to log/).
//
// A segment holds whole v2 batches back to back, exactly their wire bytes, from position 0;
// its name is the base offset of its first batch. Only the last segment of a log is *active*
// (appended to); the others are *sealed*: their index files have been written whole and, once
// `fully_durable`, datasync'd together with the .log file.
//
// Sizes, from small to large: synced_size <= size <= reserved. `size` is what readers may see
// (whole published batches); `reserved` includes appends still being written.
//
// Ownership and threading: segments are shared_ptrs owned by the PartitionLog; a ReadSlice
// holds one too, so a segment deleted by retention stays readable (its file stays open) while a
// reader uses it. Everything runs on the partition's reactor thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/io/file_system.h"
#include "common/status.h"
#include "common/strong_int.h"
#include "common/task.h"
#include "log/log_format.h"
#include "log/offset_index.h"
#include "log/record/batch_header.h"
#include "log/time_index.h"

namespace spool::log {

struct Segment {
  Segment(std::string_view dir, Offset base_offset, std::unique_ptr<io::File> log_file);
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  // Offset `o` relative to the base (callers keep it inside the segment).
  int64_t relative(Offset o) const { return o - base; }
  bool empty() const { return size == 0; }
  // Resets what is known about the contents (before a scan refills it).
  void ClearContents();

  const Offset base;
  const std::string log_path;
  const std::string index_path;
  const std::string time_index_path;
  std::unique_ptr<io::File> file;

  uint64_t size = 0;         // published bytes: whole batches readers may see
  uint64_t reserved = 0;     // bytes handed to appends, in-flight writes included
  uint64_t synced_size = 0;  // bytes covered by the last datasync that returned OK
  Offset end_offset;         // the offset after the last published batch (base when empty)
  std::optional<Offset> last_batch_base;  // base offset of the last batch, when known
  int64_t max_timestamp = kNoTimestamp;   // largest batch maxTimestamp in the segment
  int64_t first_append_ms = -1;           // wall clock when this process first appended
  OffsetIndex index;
  TimeIndex time_index;

  bool sealed = false;         // not active: index files written whole
  bool fully_durable = false;  // sealed and .log + index files datasync'd
  // Index files written at seal time, kept open until the sync that makes them durable.
  std::unique_ptr<io::File> unsynced_index;
  std::unique_ptr<io::File> unsynced_time_index;
  uint64_t truncations = 0;  // bumped by truncate_to; a read that sees it change aborts
};

// IndexPolicy: records a batch that was just published (or found by a recovery scan) at
// `position`: advances size / end_offset / max_timestamp / last_batch_base, and adds an
// offset-index entry (and a time-index entry when the running maximum timestamp grew) when the
// batch starts at least `interval_bytes` after the previous entry's position (or after the
// segment start if there is none). Appends and index rebuilds share this rule, so a rebuilt
// index equals the one written while appending.
void IndexBatch(Segment& seg, uint64_t position, const record::BatchHeader& header,
                uint32_t interval_bytes);

// Adds the time-index entry that records the segment's largest timestamp (at seal and close).
void AddFinalTimeEntry(Segment& seg);

// Writes both index files whole; leaves them open in unsynced_index / unsynced_time_index.
[[nodiscard]] Task<Status> WriteIndexFiles(io::FileSystem& fs, Segment& seg);
// Datasyncs and closes the files WriteIndexFiles() left open (no-op when there are none).
[[nodiscard]] Task<Status> SyncIndexFiles(Segment& seg);
// Unlinks the segment's .log, .index and .timeindex (missing index files are fine).
[[nodiscard]] Task<Status> UnlinkSegmentFiles(io::FileSystem& fs, const Segment& seg);

}  // namespace spool::log
