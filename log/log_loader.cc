#include "log/log_loader.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "log/checkpoint_file.h"
#include "log/clean_shutdown.h"
#include "log/file_util.h"
#include "log/header_scanner.h"
#include "log/index_file.h"
#include "log/leader_epoch_cache.h"
#include "log/log_format.h"
#include "log/segment_scan.h"

namespace spool::log {

namespace {

// A file that is missing, or that fails its own checks (kDataLoss with no errno: a bad magic,
// CRC or length), is rebuilt or ignored. Anything else is an I/O error (EIO, ENOMEM, ...) or a
// file that changed under the read: Open fails, so that a transient error can never make
// recovery ignore a good checkpoint, cut a segment or delete one (log/FORMAT.md, "Recovery").
bool MissingOrDamaged(const Status& st) {
  return absl::IsNotFound(st) || (absl::IsDataLoss(st) && ErrnoOf(st) == 0);
}

struct DirListing {
  std::vector<Offset> logs;  // sorted (list_dir sorts names; fixed-width names sort by offset)
  std::set<Offset> index_bases;
  std::vector<std::string> tmp_files;
  std::vector<std::string> index_files;  // with their base in index_bases
  bool has_checkpoint = false;
  bool has_marker = false;
};

DirListing Classify(const std::vector<std::string>& names) {
  DirListing out;
  for (const std::string& name : names) {
    if (std::string_view(name).ends_with(kTmpSuffix)) {
      out.tmp_files.push_back(name);
    } else if (auto base = ParseSegmentName(name, kLogSuffix)) {
      out.logs.push_back(*base);
    } else if (auto ibase = ParseSegmentName(name, kIndexSuffix)) {
      out.index_bases.insert(*ibase);
      out.index_files.push_back(name);
    } else if (auto tbase = ParseSegmentName(name, kTimeIndexSuffix)) {
      out.index_bases.insert(*tbase);
      out.index_files.push_back(name);
    } else if (name == kCheckpointName) {
      out.has_checkpoint = true;
    } else if (name == kCleanShutdownName) {
      out.has_marker = true;
    }
  }
  std::sort(out.logs.begin(), out.logs.end());
  return out;
}

// Loads both index files of `seg`, whose batches end at `end_offset`, and checks them against
// the file: see OffsetIndex::Decode / TimeIndex::Decode; a non-empty segment must have a
// time-index entry (its largest timestamp); the batches from the last offset-index entry to the
// end of the file must start where the entry says and end at `end_offset`; and none of them may
// have a timestamp above the time index's last entry (a stale index file, written when the
// segment was shorter, fails here instead of hiding the newer timestamps from retention and
// timestamp lookups).
Task<Status> LoadIndexes(io::FileSystem& fs, Segment& seg, uint64_t file_size, Offset end_offset,
                         size_t max_batch) {
  const int64_t rel_end = end_offset - seg.base;
  const uint64_t max_entries = file_size / record::kHeaderSize + 1;
  CO_ASSIGN_OR_RETURN(
      std::vector<std::byte> ib,
      co_await ReadWholeFile(fs, seg.index_path,
                             kIndexHeaderSize + max_entries * kOffsetIndexEntrySize));
  CO_ASSIGN_OR_RETURN(OffsetIndex index, OffsetIndex::Decode(ib, seg.base, file_size, rel_end));
  CO_ASSIGN_OR_RETURN(std::vector<std::byte> tb,
                      co_await ReadWholeFile(fs, seg.time_index_path,
                                             kIndexHeaderSize + max_entries * kTimeIndexEntrySize));
  CO_ASSIGN_OR_RETURN(TimeIndex time_index, TimeIndex::Decode(tb, seg.base, rel_end));
  if (file_size > 0 && time_index.empty()) {
    co_return absl::DataLossError(absl::StrCat(seg.time_index_path, ": no entry"));
  }
  // Walk the headers after the last entry (at most about one index interval of bytes): they
  // must continue its offsets without a gap and end exactly at the file's end and end_offset.
  uint64_t pos = 0;
  Offset expected = seg.base;
  if (!index.empty()) {
    pos = index.entries().back().position;
    expected = seg.base + index.entries().back().relative_offset;
  }
  HeaderScanner scanner(*seg.file, pos, file_size, max_batch);
  std::optional<Offset> last_batch_base;
  const int64_t indexed_max = time_index.empty() ? kNoTimestamp : time_index.last()->timestamp;
  while (true) {
    CO_ASSIGN_OR_RETURN(std::optional<ScannedBatch> batch, co_await scanner.Next());
    if (!batch) break;
    if (batch->header.base_offset != expected.value()) {
      co_return absl::DataLossError(
          absl::StrCat(seg.index_path, ": batch at position ", batch->position, " has offset ",
                       batch->header.base_offset, ", the index says ", expected.value()));
    }
    if (batch->header.max_timestamp > indexed_max) {
      co_return absl::DataLossError(absl::StrCat(
          seg.time_index_path, ": ends at timestamp ", indexed_max, " but the batch at offset ",
          batch->header.base_offset, " has ", batch->header.max_timestamp, " (stale)"));
    }
    last_batch_base = Offset(batch->header.base_offset);
    expected = Offset(batch->header.last_offset() + 1);
  }
  if (expected != end_offset) {
    co_return absl::DataLossError(absl::StrCat(seg.log_path, " ends at offset ", expected.value(),
                                               ", expected ", end_offset.value()));
  }
  seg.ClearContents();
  seg.index = std::move(index);
  seg.time_index = std::move(time_index);
  seg.size = seg.reserved = seg.synced_size = file_size;
  seg.end_offset = end_offset;
  seg.last_batch_base = last_batch_base;
  if (auto last = seg.time_index.last()) seg.max_timestamp = last->timestamp;
  co_return Status();
}

}  // namespace

size_t MaxBatchOnDisk(const LogConfig& config) {
  return std::max<size_t>(64 << 20, config.max_message_bytes);
}

Task<StatusOr<LoadedLog>> LoadLog(io::FileSystem& fs, std::string dir, LogConfig config) {
  LoadedLog out;
  RecoveryStats& stats = out.stats;
  bool dir_changed = false;

  CO_RETURN_IF_ERROR(co_await io::CreateDirs(fs, dir));
  CO_ASSIGN_OR_RETURN(std::vector<std::string> names, co_await fs.list_dir(dir));
  const DirListing listing = Classify(names);

  // 1. Leftovers: temp files, and index files whose segment is gone.
  for (const std::string& name : listing.tmp_files) {
    Status st = co_await fs.unlink(JoinPath(dir, name));
    if (!st.ok() && !absl::IsNotFound(st)) co_return st;
    ++stats.tmp_files_removed;
    dir_changed = true;
  }
  const std::set<Offset> log_set(listing.logs.begin(), listing.logs.end());
  for (const std::string& name : listing.index_files) {
    auto base = ParseSegmentName(name, kIndexSuffix);
    if (!base) base = ParseSegmentName(name, kTimeIndexSuffix);
    if (log_set.contains(*base)) continue;
    Status st = co_await fs.unlink(JoinPath(dir, name));
    if (!st.ok() && !absl::IsNotFound(st)) co_return st;
    ++stats.orphan_files_removed;
    dir_changed = true;
  }

  // 2. The marker and the checkpoint; a damaged one is ignored, one that cannot be read fails
  //    the open (ignoring a good checkpoint would bring back segments below its log start and
  //    overwrite its replication state).
  std::optional<CleanShutdownMarker> marker;
  if (listing.has_marker) {
    StatusOr<CleanShutdownMarker> m = co_await ReadCleanShutdown(fs, dir);
    if (m.ok()) {
      marker = *m;
    } else if (!MissingOrDamaged(m.status())) {
      co_return m.status();
    }
  }
  std::optional<CheckpointData> ck;
  if (listing.has_checkpoint) {
    StatusOr<CheckpointData> c = co_await ReadCheckpoint(fs, dir);
    if (c.ok()) {
      ck = *c;
    } else if (!MissingOrDamaged(c.status())) {
      co_return c.status();
    }
  }
  stats.checkpoint_valid = ck.has_value();
  // Every batch below it was durable when the checkpoint was written.
  const Offset recovery_point = ck ? ck->recovery_point : Offset(0);

  // 3. Open the segments.
  std::vector<std::shared_ptr<Segment>> segs;
  std::vector<uint64_t> sizes;
  for (Offset base : listing.logs) {
    auto seg = std::make_shared<Segment>(dir, base, nullptr);
    CO_ASSIGN_OR_RETURN(seg->file, co_await fs.open(seg->log_path, io::OpenMode::kReadWrite));
    CO_ASSIGN_OR_RETURN(uint64_t size, co_await seg->file->size());
    segs.push_back(std::move(seg));
    sizes.push_back(size);
  }
  auto drop = [&](size_t i) -> Task<Status> {
    std::shared_ptr<Segment> seg = segs[i];
    segs.erase(segs.begin() + static_cast<ptrdiff_t>(i));
    const uint64_t size = sizes[i];
    sizes.erase(sizes.begin() + static_cast<ptrdiff_t>(i));
    ++stats.segments_deleted;
    stats.bytes_truncated += size;
    dir_changed = true;
    Status st = co_await CloseFile(std::move(seg->file));
    if (!st.ok()) co_return st;
    co_return co_await UnlinkSegmentFiles(fs, *seg);
  };
  if (ck) {
    while (segs.size() > 1 && segs[1]->base <= ck->log_start_offset) {
      CO_RETURN_IF_ERROR(co_await drop(0));
    }
  }
  for (size_t i = 0; i + 1 < segs.size();) {
    if (sizes[i] == 0) {
      CO_RETURN_IF_ERROR(co_await drop(i));
    } else {
      ++i;
    }
  }

  // 4. Clean shutdown, or scan from the segment holding the recovery point.
  const bool clean = marker && ck && !segs.empty() &&
                     marker->active_segment_base == segs.back()->base &&
                     marker->active_segment_size == sizes.back() &&
                     (sizes.back() > 0 || marker->log_end_offset == segs.back()->base);
  stats.clean_shutdown = clean;
  size_t scan_from = segs.size();
  if (!clean) {
    scan_from = 0;
    for (size_t i = 0; i < segs.size(); ++i) {
      if (segs[i]->base <= recovery_point) scan_from = i;
    }
  }

  // The leader-epoch list: the checkpoint's entries (those of durable batches, and epochs
  // assigned ahead of any batch), completed in offset order from every scanned batch.
  LeaderEpochCache epochs(ck ? ck->leader_epochs : std::vector<LeaderEpochEntry>{},
                          /*sticky_from=*/Offset(0));

  // 5-6. Load or rebuild each segment's indexes; cut at the first bad byte.
  const ScanOptions scan_options{MaxBatchOnDisk(config), config.index_interval_bytes};
  std::vector<bool> scanned(segs.size(), false);
  for (size_t i = 0; i < segs.size(); ++i) {
    Segment& seg = *segs[i];
    const bool last = i + 1 == segs.size();
    if (i < scan_from) {
      const Offset end = last ? marker->log_end_offset : segs[i + 1]->base;
      Status st = co_await LoadIndexes(fs, seg, sizes[i], end, scan_options.max_batch_size);
      if (st.ok()) continue;
      if (!MissingOrDamaged(st)) co_return st;
      ++stats.indexes_rebuilt;
    }
    CO_ASSIGN_OR_RETURN(ScanReport report, co_await ScanSegment(seg, sizes[i], scan_options));
    scanned[i] = true;
    for (const LeaderEpochEntry& e : report.epoch_starts) epochs.Add(e.epoch, e.start_offset);
    ++stats.segments_scanned;
    stats.batches_scanned += report.batches;
    stats.bytes_scanned += report.valid_size;
    std::string reason = report.stop_reason;
    Offset damaged_at = seg.end_offset;  // the first offset the damage takes away
    if (reason.empty() && !last && segs[i + 1]->base != seg.end_offset) {
      reason = absl::StrCat(seg.log_path, " ends at offset ", seg.end_offset.value(),
                            " but the next segment starts at ", segs[i + 1]->base.value());
      damaged_at = std::min(seg.end_offset, segs[i + 1]->base);
    }
    if (!reason.empty() && damaged_at < recovery_point) {
      // A crash cannot damage what was durable: this is a bad disk or a foreign hand. Cutting
      // here would delete acknowledged batches (and every later segment), so refuse instead and
      // leave the files as they are for an operator (or a replica) to repair.
      co_return absl::DataLossError(
          absl::StrCat(reason, ": the damage is below the recovery point ", recovery_point.value(),
                       ", in data that was durable; recovery does not cut durable data"));
    }
    if (report.valid_size < sizes[i]) {
      CO_RETURN_IF_ERROR(co_await seg.file->truncate(report.valid_size));
      stats.bytes_truncated += sizes[i] - report.valid_size;
      sizes[i] = report.valid_size;
    }
    if (!reason.empty()) {
      if (stats.truncation_reason.empty()) stats.truncation_reason = reason;
      while (segs.size() > i + 1) CO_RETURN_IF_ERROR(co_await drop(segs.size() - 1));
    }
  }

  // A fresh directory (or one whose only files were below the log start).
  if (segs.empty()) {
    const Offset base = ck ? ck->log_start_offset : Offset(0);
    auto seg = std::make_shared<Segment>(dir, base, nullptr);
    CO_ASSIGN_OR_RETURN(seg->file, co_await fs.open(seg->log_path, io::OpenMode::kCreateExclusive));
    segs.push_back(std::move(seg));
    scanned.assign(1, false);
    dir_changed = true;
  }

  // 7. Make the recovered state durable before anything is appended to it. Every scanned
  //    segment gets fresh index files, the active one too: the new checkpoint's recovery point
  //    is the log end, and a segment that ends at or below a recovery point must have durable
  //    index files that describe it (a later roll rewrites them in place, and a crash before
  //    that rewrite is durable must not leave the ones of an older, shorter segment).
  for (size_t i = 0; i < segs.size(); ++i) {
    Segment& seg = *segs[i];
    if (scanned[i]) {
      CO_RETURN_IF_ERROR(co_await seg.file->datasync());
      AddFinalTimeEntry(seg);
      CO_RETURN_IF_ERROR(co_await WriteIndexFiles(fs, seg));
      CO_RETURN_IF_ERROR(co_await SyncIndexFiles(seg));
      dir_changed = true;
    }
    if (i + 1 < segs.size()) seg.sealed = seg.fully_durable = true;
    seg.reserved = seg.synced_size = seg.size;
  }
  if (listing.has_marker) {
    Status st = co_await fs.unlink(JoinPath(dir, kCleanShutdownName));
    if (!st.ok() && !absl::IsNotFound(st)) co_return st;
    dir_changed = true;
  }
  const Offset log_end = segs.back()->end_offset;
  Offset log_start = segs.front()->base;
  if (ck) log_start = std::max(log_start, ck->log_start_offset);
  log_start = std::min(log_start, log_end);
  out.log_start_offset = log_start;
  out.recovery_point = log_end;
  if (ck) out.checkpoint = *ck;
  out.checkpoint.recovery_point = log_end;
  out.checkpoint.log_start_offset = log_start;
  // No entry above the recovered end (an entry at it is an epoch assigned before its first
  // batch), and the first one starts no lower than the log.
  epochs.DropAbove(log_end);
  epochs.TruncateFromStart(log_start);
  out.checkpoint.leader_epochs = epochs.entries();
  if (out.checkpoint.high_watermark && *out.checkpoint.high_watermark > log_end) {
    out.checkpoint.high_watermark = log_end;
  }
  if (!clean || ck->recovery_point != log_end || ck->log_start_offset != log_start ||
      ck->leader_epochs != out.checkpoint.leader_epochs ||
      ck->high_watermark != out.checkpoint.high_watermark) {
    // Its final directory sync also makes the deletions and the marker's removal durable.
    CO_RETURN_IF_ERROR(co_await WriteCheckpoint(fs, dir, out.checkpoint));
    out.checkpoints_written = 1;
  } else if (dir_changed) {
    CO_RETURN_IF_ERROR(co_await fs.sync_dir(dir));
  }
  out.segments = std::move(segs);
  co_return out;
}

}  // namespace spool::log
