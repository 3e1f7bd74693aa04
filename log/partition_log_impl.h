// PartitionLogImpl: the storage engine behind PartitionLog (internal to log/). The public
// contract is partition_log.h; the files are log/FORMAT.md. The members are split by job:
//   partition_log.cc   open, close, accessors, checkpoint writes, failure state
//   log_append.cc      the append pipeline (offsets, concurrent writes, visibility, cut-back
//                      after a failed write) and segment rolls
//   log_sync.cc        durability: group commit, flush(), the interval flusher
//   log_read.cc        read by offset, lookup by timestamp
//   log_truncate.cc    truncate_to and retention
//   log_replica.cc     replication support: append_replica, assign_epoch, epoch lookups
//
// Internal invariants (all on the reactor thread):
//   - segments_ is never empty; segments_.back() is the active segment; a segment's base is
//     the previous segment's end offset.
//   - durable_end_ <= visible_end_ <= next_offset_. Appends in pending_ hold the offsets
//     [visible_end_, next_offset_) and the active segment's bytes [size, reserved), in order.
//   - Only the active segment has appends in flight: a roll first drains pending_.
//   - The durable end enters a segment only after every older segment is fully_durable
//     (its .log and index files datasync'd) and the new segment's name is dir-synced.
//   - Every batch below recovery_point_ is durable; it passes a sealed segment only once that
//     segment is fully_durable (log/FORMAT.md, "Recovery point", says what recovery relies on).
//   - epochs_ describes the published batches (entries are added as batches become visible)
//     plus sticky entries assign_epoch added at the log end; every entry starts below or at
//     next_offset_. A checkpoint write stores epochs_.Persistable(durable_end_), which recovery
//     completes from the batches it scans (log/FORMAT.md section 6).
//   - Segments apply_retention removed are deleted outside the append mutex, while
//     retention_deletions_ > 0; truncate_to and close wait for it to drop to 0.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/event.h"
#include "common/io/file_system.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/strong_int.h"
#include "common/task.h"
#include "log/checkpoint_file.h"
#include "log/coro_sync.h"
#include "log/leader_epoch_cache.h"
#include "log/log_loader.h"
#include "log/partition_log.h"
#include "log/record/batch_header.h"
#include "log/segment.h"

namespace spool::log {

class PartitionLogImpl final : public PartitionLog {
 public:
  PartitionLogImpl(io::FileSystem& fs, Clock& clock, io::Reactor& reactor, std::string dir,
                   LogConfig config, LoadedLog loaded);
  ~PartitionLogImpl() override;

  Task<StatusOr<AppendResult>> append(std::span<std::byte> batch) override;
  Task<Status> wait_durable(Offset offset) override { return WaitDurable(offset, /*force=*/false); }
  Task<Status> flush() override;
  Task<StatusOr<ReadResult>> read(Offset from, size_t max_bytes, Offset upper) override;
  Task<StatusOr<std::optional<Offset>>> offset_for_timestamp(int64_t timestamp_ms) override;
  Task<Status> truncate_to(Offset offset) override;
  Task<StatusOr<size_t>> apply_retention(Offset max_log_start) override;
  Task<Status> restart_at(Offset offset) override;
  Task<Status> maybe_roll() override;
  Task<Status> close() override;

  std::optional<LeaderEpochEntry> latest_epoch() const override { return epochs_.latest(); }
  std::vector<LeaderEpochEntry> leader_epochs() const override { return epochs_.entries(); }
  EpochEndOffset end_offset_for_epoch(int32_t epoch) const override {
    return epochs_.EndOffsetFor(epoch, next_offset_);
  }
  Task<Status> assign_epoch(int32_t epoch, Offset start) override;
  Task<StatusOr<AppendResult>> append_replica(std::span<std::byte> batches) override;
  void set_high_watermark(Offset hw) override {
    if (hw.value() >= 0) high_watermark_ = hw;
  }
  std::optional<Offset> recovered_high_watermark() const override { return recovered_hw_; }

  Offset log_start_offset() const override { return log_start_; }
  Offset log_end_offset() const override { return next_offset_; }
  Offset visible_end_offset() const override { return visible_end_; }
  Offset durable_end_offset() const override { return durable_end_; }
  LogStats stats() const override;
  const RecoveryStats& recovery_stats() const override { return recovery_stats_; }

  // Starts the background flusher of FlushPolicy::kInterval (called once by Open()).
  void StartFlusher();

 private:
  // ---- append pipeline (log_append.cc) ----
  // One append between offset assignment and completion; lives in the append's frame.
  struct PendingAppend {
    Offset base;
    Offset last;
    uint64_t position = 0;
    record::BatchHeader header;  // base_offset as stamped
    // append_replica: the header of every batch of the run, in order (empty for append(),
    // whose one batch is `header`).
    std::vector<record::BatchHeader> run;
    bool written = false;  // the write completed (write_status says how)
    Status write_status;
    bool finished = false;  // published, or failed by a cut-back
    Status result;
    std::coroutine_handle<> waiter;
  };
  struct FinishAwaiter {
    PendingAppend& p;
    bool await_ready() const noexcept { return p.finished; }
    void await_suspend(std::coroutine_handle<> h) { p.waiter = h; }
    void await_resume() const noexcept {}
  };
  bool NeedsRoll(uint64_t batch_size, int32_t last_offset_delta) const;
  // Whether `bytes` more, ending at offset `last`, still fit the active segment.
  bool FitsActive(uint64_t bytes, Offset last) const;
  // The second half of an append: writes `bytes` for `p` (already in pending_, its range
  // reserved), publishes, cuts back after a failure, and waits until `p` is finished.
  Task<Status> WritePending(Segment& seg, PendingAppend& p, std::span<const std::byte> bytes);
  // Indexes one published batch and adds its leader epoch.
  void PublishBatch(Segment& seg, uint64_t position, const record::BatchHeader& header);
  // Publishes the written prefix of pending_ in order; flags a cut-back at a failed write.
  void PublishWritten();
  // Cuts the active segment back to the failed append at the front of pending_ and fails it
  // and every append behind it.
  Task<void> CutBack();
  void Finish(PendingAppend& p, Status result);
  // Waits until no append is in flight (the append mutex is held, so none starts).
  Task<void> DrainAppends();
  // Seals the active segment and starts a new one at next_offset_. Append mutex held.
  Task<Status> RollLocked();

  // ---- durability (log_sync.cc) ----
  // Waits until `offset` is durable; drives the fdatasync itself under group commit or when
  // `force`, else waits for the interval flusher.
  Task<Status> WaitDurable(Offset offset, bool force);
  // One sync round over every segment that is not yet durable, oldest first. Sync mutex held.
  Task<Status> SyncLocked();
  bool FlushDue() const;
  void MaybeWakeFlusher();
  struct FlusherState;
  // Stops the interval flusher and waits until it has exited (no-op without one).
  Task<void> StopFlusher();
  static Task<void> FlusherLoop(PartitionLogImpl* log, std::shared_ptr<FlusherState> state);
  static Task<void> FlusherTimer(io::Reactor* reactor, std::shared_ptr<FlusherState> state,
                                 int64_t ms);

  // ---- reads (log_read.cc) ----
  struct SegmentRange {
    uint64_t position = 0;
    uint64_t length = 0;
    Offset next;
    bool stopped = false;  // stopped before the segment's end (budget or upper reached)
  };
  Task<StatusOr<SegmentRange>> ReadSegment(std::shared_ptr<Segment> seg, Offset from, Offset upper,
                                           uint64_t budget, bool first);
  // The index of the last segment whose base is <= `offset` (0 if none).
  size_t FloorSegment(Offset offset) const;

  // ---- truncation and retention (log_truncate.cc) ----
  Task<Status> TruncateLocked(Offset offset);
  Task<Status> TruncateFully(Offset offset);
  // Closes (when no reader holds it) and unlinks a segment removed from segments_.
  Task<Status> DeleteSegment(std::shared_ptr<Segment> seg);

  // ---- shared (partition_log.cc) ----
  Status CheckOpen() const;
  Status CheckWritable() const;
  // For durability waiters: not failed and not closed (a close in progress is fine).
  Status CheckSyncable() const;
  // Enters the failed state (first error wins) and wakes every waiter.
  void Fail(Status status);
  Task<Status> WriteCheckpointNow();
  Segment& active() { return *segments_.back(); }
  const Segment& active() const { return *segments_.back(); }

  io::FileSystem& fs_;
  Clock& clock_;
  io::Reactor& reactor_;
  const std::string dir_;
  const LogConfig config_;
  const size_t max_batch_on_disk_;

  std::vector<std::shared_ptr<Segment>> segments_;
  Offset log_start_;
  Offset next_offset_;
  Offset visible_end_;
  Offset durable_end_;
  Offset recovery_point_;
  CheckpointData checkpoint_;  // last written; recovery point and log start refreshed on write
  bool checkpoint_dirty_ = false;
  LeaderEpochCache epochs_;
  std::optional<Offset> high_watermark_;  // the broker's latest, stored at checkpoint writes
  std::optional<Offset> recovered_hw_;    // the checkpoint's, capped at the recovered end
  bool dir_dirty_ = false;                // a name was created in dir_ since the last sync_dir

  std::deque<PendingAppend*> pending_;
  size_t writes_in_flight_ = 0;
  bool cut_back_needed_ = false;
  bool cutting_back_ = false;
  size_t retention_deletions_ = 0;  // apply_retention calls still deleting their segments
  bool closing_ = false;
  bool closed_ = false;
  Status failed_;  // not OK: the failed state (see partition_log.h)

  AsyncMutex append_mutex_;      // offset assignment, rolls, truncation, retention, close
  AsyncMutex sync_mutex_;        // one sync round at a time
  AsyncMutex checkpoint_mutex_;  // one checkpoint write at a time
  Notifier appends_changed_;     // pending_ drained, a write finished during a cut-back,
                                 // a retention finished deleting its segments
  Notifier visible_changed_;     // visible_end_ moved
  Notifier durable_changed_;     // durable_end_ moved, or the log failed

  uint64_t batches_at_last_sync_ = 0;  // stats_.appends covered by the last active fdatasync
  uint64_t published_records_ = 0;
  uint64_t records_at_last_sync_ = 0;
  int64_t last_sync_ns_ = 0;
  std::shared_ptr<FlusherState> flusher_;

  LogStats stats_;
  RecoveryStats recovery_stats_;
};

// Checks a LogConfig before Open() uses it. kInvalidArgument says which field is wrong.
[[nodiscard]] Status ValidateLogConfig(const LogConfig& config);

}  // namespace spool::log
