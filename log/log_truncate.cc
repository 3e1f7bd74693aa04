// truncate_to and retention: the two ways whole batches leave the log.
//
// Both change the checkpoint *before* they remove anything, so a crash in the middle leaves a
// checkpoint that is safe for the files that remain (recovery clamps the log start to the first
// segment and scans from a recovery point at or below the cut). Both make their deletions
// durable (directory sync) before the log accepts appends that could reuse the names; appends
// go on while retention deletes its files (they never reuse a name below the log start), and
// truncate_to, which can, waits for it.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "log/file_util.h"
#include "log/header_scanner.h"
#include "log/partition_log_impl.h"

namespace spool::log {

Task<Status> PartitionLogImpl::DeleteSegment(std::shared_ptr<Segment> seg) {
  Status st;
  // Someone else holding the segment (a reader's slice, a sync round datasyncing its files)
  // keeps all its files open: they are only unlinked, and the last holder's destructor closes
  // them. Closing one under a sync round would pull the File from under its datasync.
  if (seg.use_count() == 1) {
    st = co_await CloseFile(std::exchange(seg->unsynced_index, nullptr));
    st = co_await CloseFile(std::exchange(seg->unsynced_time_index, nullptr), st);
    st = co_await CloseFile(std::exchange(seg->file, nullptr), st);
  }
  Status unlinked = co_await UnlinkSegmentFiles(fs_, *seg);
  dir_dirty_ = true;
  co_return st.ok() ? unlinked : st;
}

Task<Status> PartitionLogImpl::truncate_to(Offset offset) {
  CO_RETURN_IF_ERROR(CheckWritable());
  co_await append_mutex_.lock();
  AsyncLockGuard guard(append_mutex_);
  co_await DrainAppends();
  // Retention may still be deleting segments below the log start, whose names a truncation
  // below the log start reuses.
  while (retention_deletions_ > 0) co_await appends_changed_.wait();
  CO_RETURN_IF_ERROR(CheckWritable());
  if (offset >= next_offset_) {
    // No batch to cut, but an epoch assigned at the end (a leadership that wrote nothing) goes:
    // a follower cutting back to where it diverged must stop claiming that epoch.
    const std::optional<LeaderEpochEntry> latest = epochs_.latest();
    if (!latest.has_value() || latest->start_offset < offset) co_return Status();
    co_await sync_mutex_.lock();
    AsyncLockGuard sync_guard(sync_mutex_);
    const LeaderEpochCache before = epochs_;
    epochs_.TruncateFromEnd(offset);
    Status written = co_await WriteCheckpointNow();
    if (!written.ok()) epochs_ = before;
    co_return written;
  }
  co_await sync_mutex_.lock();
  AsyncLockGuard sync_guard(sync_mutex_);
  Status st;
  if (offset < log_start_) {
    st = co_await TruncateFully(offset);
  } else {
    st = co_await TruncateLocked(offset);
  }
  if (!st.ok()) Fail(st);
  // Waiters for offsets that are gone see it and return kAborted.
  visible_changed_.notify_all();
  durable_changed_.notify_all();
  co_return st;
}

Task<Status> PartitionLogImpl::TruncateLocked(Offset offset) {
  const size_t idx = FloorSegment(offset);
  std::shared_ptr<Segment> seg = segments_[idx];
  // The batch that holds `offset`: the cut goes at its start.
  const std::optional<OffsetIndex::Entry> floor = seg->index.Floor(seg->relative(offset));
  HeaderScanner scanner(*seg->file, floor ? floor->position : 0, seg->size, max_batch_on_disk_);
  uint64_t cut_pos = seg->size;
  Offset cut_offset = seg->end_offset;
  while (true) {
    CO_ASSIGN_OR_RETURN(std::optional<ScannedBatch> batch, co_await scanner.Next());
    if (!batch) break;
    if (batch->header.last_offset() >= offset.value()) {
      cut_pos = batch->position;
      cut_offset = Offset(batch->header.base_offset);
      break;
    }
  }

  // 1. A checkpoint that is safe once the cut is made (no epoch entry at or past the cut).
  epochs_.TruncateFromEnd(cut_offset);
  recovery_point_ = std::min(recovery_point_, cut_offset);
  durable_end_ = std::min(durable_end_, cut_offset);
  log_start_ = std::min(log_start_, cut_offset);
  CO_RETURN_IF_ERROR(co_await WriteCheckpointNow());

  // 2. Later segments, newest first.
  while (segments_.size() > idx + 1) {
    std::shared_ptr<Segment> victim = std::move(segments_.back());
    segments_.pop_back();
    CO_RETURN_IF_ERROR(co_await DeleteSegment(std::move(victim)));
  }

  // 3. Cut the segment and its in-memory indexes; it becomes the active segment again.
  CO_RETURN_IF_ERROR(co_await seg->file->truncate(cut_pos));
  ++seg->truncations;
  CO_RETURN_IF_ERROR(co_await CloseFile(std::exchange(seg->unsynced_index, nullptr)));
  CO_RETURN_IF_ERROR(co_await CloseFile(std::exchange(seg->unsynced_time_index, nullptr)));
  seg->index.TruncateToPosition(cut_pos);
  seg->time_index.TruncateToOffset(seg->relative(cut_offset));
  // Recompute the tail state from the last kept index entry: a time-index entry is added at
  // every offset-index entry where the running maximum grew, so the maximum up to that batch is
  // the last kept time entry's and only the batches after it need reading.
  const uint64_t tail = seg->index.last_position();
  seg->max_timestamp = seg->time_index.empty() ? kNoTimestamp : seg->time_index.last()->timestamp;
  seg->last_batch_base.reset();
  HeaderScanner rest(*seg->file, tail, cut_pos, max_batch_on_disk_);
  while (true) {
    CO_ASSIGN_OR_RETURN(std::optional<ScannedBatch> batch, co_await rest.Next());
    if (!batch) break;
    seg->max_timestamp = std::max(seg->max_timestamp, batch->header.max_timestamp);
    seg->last_batch_base = Offset(batch->header.base_offset);
  }
  seg->size = seg->reserved = cut_pos;
  seg->synced_size = std::min(seg->synced_size, cut_pos);
  seg->end_offset = cut_offset;
  seg->sealed = false;
  seg->fully_durable = false;
  if (seg->first_append_ms < 0 && !seg->empty()) seg->first_append_ms = clock_.wall_ms();
  next_offset_ = visible_end_ = cut_offset;

  // 4. Durable before the next append: the new size, then (in the sync round) the deletions
  //    and whatever older segment was not durable yet.
  Status st = co_await seg->file->datasync();
  ++stats_.fdatasyncs;
  CO_RETURN_IF_ERROR(st);
  seg->synced_size = cut_pos;
  co_return co_await SyncLocked();
}

Task<Status> PartitionLogImpl::restart_at(Offset offset) {
  CO_RETURN_IF_ERROR(CheckWritable());
  co_await append_mutex_.lock();
  AsyncLockGuard guard(append_mutex_);
  co_await DrainAppends();
  while (retention_deletions_ > 0) co_await appends_changed_.wait();
  CO_RETURN_IF_ERROR(CheckWritable());
  if (offset <= next_offset_) {
    co_return absl::InvalidArgumentError(absl::StrCat(
        "restart_at(", offset.value(), ") is not above the log end ", next_offset_.value()));
  }
  co_await sync_mutex_.lock();
  AsyncLockGuard sync_guard(sync_mutex_);
  Status st = co_await TruncateFully(offset);
  if (!st.ok()) Fail(st);
  visible_changed_.notify_all();
  durable_changed_.notify_all();
  co_return st;
}

Task<Status> PartitionLogImpl::TruncateFully(Offset offset) {
  // `offset` is below the log start (so below every segment's base) or above the log end (so
  // above every base): the new segment's name is free, and it is created before anything is
  // deleted. The checkpoint names the new log start first, so a crash before the old segments
  // are gone leaves them below it, where recovery deletes them.
  recovery_point_ = log_start_ = durable_end_ = offset;
  epochs_.TruncateFromEnd(offset);  // every entry: they all start at or above the old log start
  CO_RETURN_IF_ERROR(co_await WriteCheckpointNow());
  auto seg = std::make_shared<Segment>(dir_, offset, nullptr);
  CO_ASSIGN_OR_RETURN(seg->file, co_await fs_.open(seg->log_path, io::OpenMode::kCreateExclusive));
  dir_dirty_ = true;
  std::vector<std::shared_ptr<Segment>> old;
  old.swap(segments_);
  segments_.push_back(std::move(seg));
  next_offset_ = visible_end_ = offset;
  for (auto it = old.rbegin(); it != old.rend(); ++it) {
    CO_RETURN_IF_ERROR(co_await DeleteSegment(std::move(*it)));
  }
  co_return co_await SyncLocked();
}

Task<StatusOr<size_t>> PartitionLogImpl::apply_retention(Offset max_log_start) {
  CO_RETURN_IF_ERROR(CheckWritable());
  co_await append_mutex_.lock();
  AsyncLockGuard guard(append_mutex_);
  CO_RETURN_IF_ERROR(CheckWritable());
  const int64_t now = clock_.wall_ms();
  uint64_t total = 0;
  for (const auto& seg : segments_) total += seg->size;
  // Oldest first, never the active segment, and only a prefix (like Kafka): the first segment
  // that is within both limits stops the deletion.
  size_t victims = 0;
  while (victims + 1 < segments_.size() && segments_[victims + 1]->base <= max_log_start) {
    const Segment& seg = *segments_[victims];
    const bool too_old = config_.retention_ms >= 0 && seg.max_timestamp != kNoTimestamp &&
                         now - seg.max_timestamp > config_.retention_ms;
    const bool too_big = config_.retention_bytes >= 0 &&
                         total - seg.size >= static_cast<uint64_t>(config_.retention_bytes);
    if (!too_old && !too_big) break;
    total -= seg.size;
    ++victims;
  }
  if (victims == 0) co_return size_t{0};
  std::vector<std::shared_ptr<Segment>> removed(
      segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(victims));
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(victims));
  log_start_ = std::max(log_start_, segments_.front()->base);
  recovery_point_ = std::max(recovery_point_, log_start_);
  epochs_.TruncateFromStart(log_start_);
  // Appends go on while the files are removed; truncate_to waits for the deletions.
  ++retention_deletions_;
  guard.release();
  struct DeletionsDone {
    PartitionLogImpl* log;
    ~DeletionsDone() {
      --log->retention_deletions_;
      log->appends_changed_.notify_all();
    }
  } deletions_done{this};

  // The new log start is durable before any file goes, so a crash cannot bring back a
  // segment below it as readable data.
  CO_RETURN_IF_ERROR(co_await WriteCheckpointNow());
  for (std::shared_ptr<Segment>& seg : removed) {
    CO_RETURN_IF_ERROR(co_await DeleteSegment(std::move(seg)));
  }
  // dir_dirty_ stays set: only a sync round may clear it, because it clears it before its own
  // directory sync completes and then reports durability (a roll may have created a segment).
  CO_RETURN_IF_ERROR(co_await fs_.sync_dir(dir_));
  co_return victims;
}

}  // namespace spool::log
