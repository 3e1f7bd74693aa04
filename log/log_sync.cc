// Durability: sync rounds, group commit, flush() and the interval flusher.
//
// A sync round (SyncLocked, one at a time under sync_mutex_) walks the segments that are not
// yet durable, oldest first: it syncs the directory if a name was created since the last time,
// datasyncs each sealed segment's .log and index files (then the recovery point may pass it and
// the checkpoint is rewritten), and finally datasyncs the active segment. The durable end
// becomes what was visible just before that last datasync started: an fdatasync covers every
// write that completed before it was issued.
//
// Group commit: a waiter whose offset is not durable takes the sync mutex in arrival order;
// if an earlier round already covered it, it leaves at once, otherwise it runs a round that
// covers every append published so far. So one fdatasync serves every waiter that arrived
// while the previous one ran.
#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "log/partition_log_impl.h"

namespace spool::log {

struct PartitionLogImpl::FlusherState {
  explicit FlusherState(io::Reactor& reactor) : wake(reactor), exited(reactor) {}
  io::Event wake;    // set by the timer, by appends that make a flush due, and by StopFlusher
  io::Event exited;  // set when FlusherLoop returns
  bool stopped = false;
  bool timer_armed = false;
};

PartitionLogImpl::~PartitionLogImpl() {
  // Destroyed without close(): the flusher must not touch this object again. It is parked on
  // its event (no sync round is in flight unless the caller broke the destruction rule).
  if (flusher_ != nullptr) {
    flusher_->stopped = true;
    flusher_->wake.set();
  }
}

Task<Status> PartitionLogImpl::flush() {
  CO_RETURN_IF_ERROR(CheckWritable());
  if (visible_end_ == durable_end_) co_return Status();
  co_return co_await WaitDurable(visible_end_ - 1, /*force=*/true);
}

Task<Status> PartitionLogImpl::WaitDurable(Offset offset, bool force) {
  if (offset < durable_end_) co_return Status();
  // While close() runs, waiters keep waiting: its final sync round releases them.
  CO_RETURN_IF_ERROR(CheckSyncable());
  if (offset >= next_offset_) {
    co_return absl::OutOfRangeError(absl::StrCat(
        "offset ", offset.value(), " has not been appended (log end ", next_offset_.value(), ")"));
  }
  auto gone = [&] {
    return absl::AbortedError(
        absl::StrCat("offset ", offset.value(), " was removed (failed append or truncate_to)"));
  };
  // An append still in flight: wait until it is visible.
  while (offset >= visible_end_) {
    CO_RETURN_IF_ERROR(CheckSyncable());
    if (offset >= next_offset_) co_return gone();
    co_await visible_changed_.wait();
  }
  if (config_.flush_policy == FlushPolicy::kInterval && !force) {
    while (offset >= durable_end_) {
      CO_RETURN_IF_ERROR(CheckSyncable());
      if (offset >= next_offset_) co_return gone();
      co_await durable_changed_.wait();
    }
    co_return Status();
  }
  while (offset >= durable_end_) {
    co_await sync_mutex_.lock();
    AsyncLockGuard guard(sync_mutex_);
    if (offset < durable_end_) break;
    CO_RETURN_IF_ERROR(CheckSyncable());
    if (offset >= visible_end_) co_return gone();
    CO_RETURN_IF_ERROR(co_await SyncLocked());
  }
  co_return Status();
}

Task<Status> PartitionLogImpl::SyncLocked() {
  if (!failed_.ok()) co_return absl::FailedPreconditionError(failed_.ToString());
  std::vector<std::shared_ptr<Segment>> todo;
  for (const auto& seg : segments_) {
    if (!seg->fully_durable) todo.push_back(seg);
  }
  bool passed_segment = false;
  for (const std::shared_ptr<Segment>& seg : todo) {
    if (dir_dirty_) {
      dir_dirty_ = false;
      Status st = co_await fs_.sync_dir(dir_);
      if (!st.ok()) {
        Fail(st);
        co_return st;
      }
    }
    if (seg->sealed) {
      // Final: a sealed segment gets no more bytes.
      if (seg->synced_size < seg->size) {
        const uint64_t covered = seg->size;
        Status st = co_await seg->file->datasync();
        ++stats_.fdatasyncs;
        if (!st.ok()) {
          Fail(st);
          co_return st;
        }
        seg->synced_size = covered;
      }
      Status st = co_await SyncIndexFiles(*seg);
      if (!st.ok()) {
        Fail(st);
        co_return st;
      }
      seg->fully_durable = true;
      durable_end_ = std::max(durable_end_, seg->end_offset);
      recovery_point_ = std::max(recovery_point_, seg->end_offset);
      passed_segment = true;
      continue;
    }
    // The active segment (a roll can only happen between our suspensions, and then `seg` is
    // sealed and took the branch above).
    const uint64_t covered = seg->size;
    const Offset target = seg->end_offset;
    const uint64_t batches = stats_.appends;
    const uint64_t records = published_records_;
    if (seg->synced_size >= covered && durable_end_ >= target) continue;
    Status st = co_await seg->file->datasync();
    ++stats_.fdatasyncs;
    if (!st.ok()) {
      Fail(st);
      co_return st;
    }
    seg->synced_size = std::max(seg->synced_size, covered);
    durable_end_ = std::max(durable_end_, target);
    stats_.batches_per_sync_max =
        std::max(stats_.batches_per_sync_max, batches - batches_at_last_sync_);
    batches_at_last_sync_ = batches;
    records_at_last_sync_ = records;
  }
  last_sync_ns_ = clock_.monotonic_ns();
  durable_changed_.notify_all();
  if (passed_segment || checkpoint_dirty_) {
    // The data is durable whatever happens here; a checkpoint that cannot be written only
    // means a longer scan after a crash. It is retried by the next round and by close(),
    // which reports the error.
    PermitUncheckedError(co_await WriteCheckpointNow());
  }
  co_return Status();
}

// ---- FlushPolicy::kInterval ----

bool PartitionLogImpl::FlushDue() const {
  const uint64_t unflushed = published_records_ - records_at_last_sync_;
  if (unflushed == 0) return false;
  if (unflushed >= static_cast<uint64_t>(config_.flush_messages)) return true;
  return clock_.monotonic_ns() - last_sync_ns_ >= config_.flush_ms * 1'000'000;
}

void PartitionLogImpl::MaybeWakeFlusher() {
  if (flusher_ != nullptr && FlushDue()) flusher_->wake.set();
}

void PartitionLogImpl::StartFlusher() {
  flusher_ = std::make_shared<FlusherState>(reactor_);
  reactor_.spawn(FlusherLoop(this, flusher_));
}

Task<void> PartitionLogImpl::StopFlusher() {
  if (flusher_ == nullptr) co_return;
  std::shared_ptr<FlusherState> state = flusher_;
  state->stopped = true;
  state->wake.set();
  co_await state->exited.wait();
}

// Runs until stopped. Between wake-ups it holds no reference into the log other than `log`,
// and it reads `state->stopped` before touching the log after every suspension.
Task<void> PartitionLogImpl::FlusherLoop(PartitionLogImpl* log,
                                         std::shared_ptr<FlusherState> state) {
  while (true) {
    if (!state->timer_armed) {
      state->timer_armed = true;
      log->reactor_.spawn(FlusherTimer(&log->reactor_, state, log->config_.flush_ms));
    }
    co_await state->wake.wait();
    state->wake.reset();
    if (state->stopped) break;
    if (!log->FlushDue() || !log->failed_.ok()) continue;
    co_await log->sync_mutex_.lock();
    AsyncLockGuard guard(log->sync_mutex_);
    if (log->FlushDue()) {
      // A failure puts the log in the failed state; waiters see it there.
      PermitUncheckedError(co_await log->SyncLocked());
    }
  }
  state->exited.set();
}

// One tick of flush_ms. Touches only the shared state, so it may outlive the log.
Task<void> PartitionLogImpl::FlusherTimer(io::Reactor* reactor, std::shared_ptr<FlusherState> state,
                                          int64_t ms) {
  co_await reactor->sleep_for(std::chrono::milliseconds(ms));
  state->timer_armed = false;
  if (!state->stopped) state->wake.set();
}

}  // namespace spool::log
