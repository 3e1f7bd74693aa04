// PartitionLog: open, close, accessors, checkpoint writes and the failed state. See
// partition_log_impl.h for how the implementation is split.
#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "log/clean_shutdown.h"
#include "log/file_util.h"
#include "log/partition_log_impl.h"

namespace spool::log {

Status ValidateLogConfig(const LogConfig& c) {
  if (c.segment_bytes == 0 || c.segment_bytes > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("segment_bytes ", c.segment_bytes,
                                                   " is not in [1, 2^32): positions in "
                                                   "the offset index are 32 bits"));
  }
  if (c.max_message_bytes < record::kHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message_bytes ", c.max_message_bytes, " cannot hold a batch header"));
  }
  if (c.segment_ms <= 0) return absl::InvalidArgumentError("segment_ms must be positive");
  if (c.retention_ms < -1) return absl::InvalidArgumentError("retention_ms must be >= -1");
  if (c.retention_bytes < -1) return absl::InvalidArgumentError("retention_bytes must be >= -1");
  if (c.flush_messages < 1) return absl::InvalidArgumentError("flush_messages must be >= 1");
  if (c.flush_ms < 1) return absl::InvalidArgumentError("flush_ms must be >= 1");
  return Status();
}

Task<StatusOr<std::unique_ptr<PartitionLog>>> PartitionLog::Open(io::FileSystem& fs, Clock& clock,
                                                                 std::string dir,
                                                                 LogConfig config) {
  io::Reactor* reactor = io::Reactor::current();
  if (reactor == nullptr) {
    co_return absl::FailedPreconditionError("PartitionLog::Open must run on a reactor thread");
  }
  CO_RETURN_IF_ERROR(ValidateLogConfig(config));
  CO_ASSIGN_OR_RETURN(LoadedLog loaded, co_await LoadLog(fs, dir, config));
  auto log = std::make_unique<PartitionLogImpl>(fs, clock, *reactor, std::move(dir), config,
                                                std::move(loaded));
  if (config.flush_policy == FlushPolicy::kInterval) log->StartFlusher();
  co_return std::unique_ptr<PartitionLog>(std::move(log));
}

Task<StatusOr<std::vector<std::byte>>> PartitionLog::ReadAll(const ReadResult& result) {
  std::vector<std::byte> out(result.total_bytes);
  size_t at = 0;
  for (const ReadSlice& slice : result.slices) {
    if (slice.file == nullptr || at + slice.length > out.size()) {
      co_return absl::InvalidArgumentError("ReadResult slices do not match its total_bytes");
    }
    uint64_t done = 0;
    while (done < slice.length) {
      CO_ASSIGN_OR_RETURN(size_t n, co_await slice.file->read_at(
                                        slice.position + done,
                                        std::span(out).subspan(at + done, slice.length - done)));
      if (n == 0) {
        co_return absl::AbortedError(absl::StrCat("segment file ends inside a slice at position ",
                                                  slice.position + done,
                                                  " (truncated after the read)"));
      }
      done += n;
    }
    at += slice.length;
  }
  co_return out;
}

PartitionLogImpl::PartitionLogImpl(io::FileSystem& fs, Clock& clock, io::Reactor& reactor,
                                   std::string dir, LogConfig config, LoadedLog loaded)
    : fs_(fs),
      clock_(clock),
      reactor_(reactor),
      dir_(std::move(dir)),
      config_(config),
      max_batch_on_disk_(MaxBatchOnDisk(config)),
      segments_(std::move(loaded.segments)),
      log_start_(loaded.log_start_offset),
      recovery_point_(loaded.recovery_point),
      checkpoint_(std::move(loaded.checkpoint)),
      append_mutex_(reactor),
      sync_mutex_(reactor),
      checkpoint_mutex_(reactor),
      appends_changed_(reactor),
      visible_changed_(reactor),
      durable_changed_(reactor),
      recovery_stats_(std::move(loaded.stats)) {
  next_offset_ = visible_end_ = durable_end_ = active().end_offset;
  // LoadLog kept only entries at or below the log end; one at the end has no batch yet, so it
  // was assigned by assign_epoch() and stays sticky.
  epochs_ = LeaderEpochCache(checkpoint_.leader_epochs, /*sticky_from=*/next_offset_);
  recovered_hw_ = high_watermark_ = checkpoint_.high_watermark;
  // segment.ms counts from the first append this process made, or from now for a segment that
  // already holds batches (the file does not record when it was started).
  if (!active().empty()) active().first_append_ms = clock_.wall_ms();
  last_sync_ns_ = clock_.monotonic_ns();
  stats_.checkpoints = loaded.checkpoints_written;
}

LogStats PartitionLogImpl::stats() const {
  LogStats s = stats_;
  s.segments = segments_.size();
  s.size_bytes = 0;
  for (const auto& seg : segments_) s.size_bytes += seg->size;
  return s;
}

Status PartitionLogImpl::CheckOpen() const {
  if (closed_ || closing_) return absl::FailedPreconditionError("partition log is closed");
  return Status();
}

Status PartitionLogImpl::CheckWritable() const {
  RETURN_IF_ERROR(CheckOpen());
  if (!failed_.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "partition log failed (close and reopen it to recover): ", failed_.ToString()));
  }
  return Status();
}

Status PartitionLogImpl::CheckSyncable() const {
  if (closed_) return absl::FailedPreconditionError("partition log is closed");
  if (!failed_.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "partition log failed (close and reopen it to recover): ", failed_.ToString()));
  }
  return Status();
}

void PartitionLogImpl::Fail(Status status) {
  if (failed_.ok()) failed_ = std::move(status);
  appends_changed_.notify_all();
  visible_changed_.notify_all();
  durable_changed_.notify_all();
}

Task<Status> PartitionLogImpl::WriteCheckpointNow() {
  co_await checkpoint_mutex_.lock();
  AsyncLockGuard guard(checkpoint_mutex_);
  checkpoint_.recovery_point = recovery_point_;
  checkpoint_.log_start_offset = log_start_;
  checkpoint_.high_watermark = high_watermark_;
  checkpoint_.leader_epochs = epochs_.Persistable(durable_end_);
  Status st = co_await WriteCheckpoint(fs_, dir_, checkpoint_);
  checkpoint_dirty_ = !st.ok();
  if (st.ok()) ++stats_.checkpoints;
  co_return st;
}

Task<Status> PartitionLogImpl::close() {
  if (closed_ || closing_) co_return Status();
  closing_ = true;
  co_await append_mutex_.lock();
  AsyncLockGuard guard(append_mutex_);
  co_await DrainAppends();
  // A retention still deleting its segments would touch the files after close() returned.
  while (retention_deletions_ > 0) co_await appends_changed_.wait();
  co_await StopFlusher();

  Status result;
  if (!failed_.ok()) {
    result = absl::FailedPreconditionError(
        absl::StrCat("partition log closed without a clean shutdown after an earlier failure: ",
                     failed_.ToString()));
    // After a failed fdatasync Linux may have dropped the pages it could not write while the
    // page cache still serves them: the next Open()'s scan would read them back as whole
    // batches, and its fdatasync would then call them durable. Cut every segment back to what
    // the last successful fdatasync covered (every acknowledged batch lies below it), so the
    // reopened log holds only bytes known to be on disk. Best effort: the log is failed anyway.
    for (const auto& seg : segments_) {
      if (seg->fully_durable || seg->file == nullptr) continue;
      Status st = co_await seg->file->truncate(seg->synced_size);
      if (st.ok()) st = co_await seg->file->datasync();
      PermitUncheckedError(st);
    }
  } else {
    co_await sync_mutex_.lock();
    AsyncLockGuard sync_guard(sync_mutex_);
    result = co_await SyncLocked();
    if (result.ok()) {
      Segment& seg = active();
      AddFinalTimeEntry(seg);
      result = co_await WriteIndexFiles(fs_, seg);
      if (result.ok()) result = co_await SyncIndexFiles(seg);
      // The checkpoint's directory sync below also makes the index files' names durable (a
      // crash before it leaves them missing, which recovery rebuilds).
    }
    if (result.ok()) {
      recovery_point_ = visible_end_;
      result = co_await WriteCheckpointNow();
    }
    if (result.ok()) {
      result = co_await WriteCleanShutdown(
          fs_, dir_, CleanShutdownMarker{visible_end_, active().base, active().size});
    }
    if (result.ok()) result = co_await fs_.sync_dir(dir_);
  }
  closed_ = true;
  // Files a reader still holds (through a ReadSlice) close when it lets go of them.
  for (auto& seg : segments_) {
    Status st = co_await CloseFile(std::exchange(seg->unsynced_index, nullptr));
    st = co_await CloseFile(std::exchange(seg->unsynced_time_index, nullptr), st);
    if (seg.use_count() == 1) st = co_await CloseFile(std::exchange(seg->file, nullptr), st);
    if (result.ok()) result = st;
  }
  co_return result;
}

}  // namespace spool::log
