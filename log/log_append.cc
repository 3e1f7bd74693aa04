// The append pipeline and segment rolls.
//
// An append is verified (one VerifyBatch pass: length, magic, CRC; no per-record work), then,
// under the append mutex and without suspending unless a roll is due, it is given its offsets
// and its byte range in the active segment, its base offset is stamped into the caller's
// buffer, and it joins pending_. The mutex is released before the write, so many writes of the
// caller's own buffers (no copy) are in flight at once. Whenever a write completes, the written
// prefix of pending_ is published in order: indexes, segment size, visible end. An append's Task
// completes once it is published (or failed).
//
// append_replica (log_replica.cc) uses the same pending_ entries, one per write of a run.
//
// A failed write makes the batch at the front of pending_ a failure: once every write still in
// flight has completed, the active file is cut back to that batch's position, it fails with the
// write's error and every append behind it with kAborted (their offsets are handed out again).
#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "log/file_util.h"
#include "log/partition_log_impl.h"

namespace spool::log {

Task<StatusOr<AppendResult>> PartitionLogImpl::append(std::span<std::byte> batch) {
  CO_RETURN_IF_ERROR(CheckWritable());
  if (batch.size() > config_.max_message_bytes) {
    co_return absl::OutOfRangeError(absl::StrCat(
        "batch of ", batch.size(), " bytes is over max_message_bytes ", config_.max_message_bytes));
  }
  StatusOr<record::BatchHeader> header = record::VerifyBatch(batch, max_batch_on_disk_);
  if (!header.ok()) {
    if (absl::IsOutOfRange(header.status())) {
      co_return absl::InvalidArgumentError(
          absl::StrCat("batch is shorter than its header says: ", header.status().message()));
    }
    co_return header.status();  // kInvalidArgument (malformed) or kDataLoss (CRC)
  }
  if (header->total_size() != batch.size()) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("append takes exactly one batch: ", batch.size() - header->total_size(),
                     " bytes follow it"));
  }
  if (header->records_count < 1 || header->records_count > header->last_offset_delta + 1) {
    co_return absl::InvalidArgumentError(absl::StrCat("batch with ", header->records_count,
                                                      " records and lastOffsetDelta ",
                                                      header->last_offset_delta));
  }

  co_await append_mutex_.lock();
  AsyncLockGuard guard(append_mutex_);
  while (cutting_back_ || cut_back_needed_) co_await appends_changed_.wait();
  CO_RETURN_IF_ERROR(CheckWritable());
  if (NeedsRoll(batch.size(), header->last_offset_delta)) CO_RETURN_IF_ERROR(co_await RollLocked());

  std::shared_ptr<Segment> seg = segments_.back();
  PendingAppend p;
  p.base = next_offset_;
  p.last = next_offset_ + header->last_offset_delta;
  p.position = seg->reserved;
  p.header = *header;
  p.header.base_offset = p.base.value();
  record::StampBaseOffset(batch, p.base.value());
  if (seg->first_append_ms < 0) seg->first_append_ms = clock_.wall_ms();
  seg->reserved += batch.size();
  next_offset_ = p.last + 1;
  pending_.push_back(&p);
  ++writes_in_flight_;
  guard.release();

  CO_RETURN_IF_ERROR(co_await WritePending(*seg, p, batch));
  co_return AppendResult{p.base, p.last};
}

Task<Status> PartitionLogImpl::WritePending(Segment& seg, PendingAppend& p,
                                            std::span<const std::byte> bytes) {
  Status written = co_await seg.file->write_at(p.position, bytes);
  --writes_in_flight_;
  p.written = true;
  p.write_status = std::move(written);
  PublishWritten();
  if (cut_back_needed_ && !cutting_back_) {
    co_await CutBack();
  } else if (cutting_back_ && writes_in_flight_ == 0) {
    appends_changed_.notify_all();  // the cut-back waits for the last write in flight
  }
  co_await FinishAwaiter{p};
  if (!p.result.ok()) {
    ++stats_.append_errors;
    co_return p.result;
  }
  co_return Status();
}

bool PartitionLogImpl::FitsActive(uint64_t bytes, Offset last) const {
  const Segment& seg = active();
  return seg.reserved + bytes <= config_.segment_bytes &&
         last - seg.base <= std::numeric_limits<int32_t>::max();
}

void PartitionLogImpl::PublishBatch(Segment& seg, uint64_t position,
                                    const record::BatchHeader& header) {
  IndexBatch(seg, position, header, config_.index_interval_bytes);
  epochs_.Add(header.leader_epoch, Offset(header.base_offset));
  ++stats_.appends;
  published_records_ += static_cast<uint64_t>(header.records_count);
}

bool PartitionLogImpl::NeedsRoll(uint64_t batch_size, int32_t last_offset_delta) const {
  const Segment& seg = active();
  if (seg.reserved == 0) return false;
  if (seg.reserved + batch_size > config_.segment_bytes) return true;
  if (seg.first_append_ms >= 0 && clock_.wall_ms() - seg.first_append_ms >= config_.segment_ms) {
    return true;
  }
  // Relative offsets in the indexes are 32 bits (kept below 2^31, like Kafka).
  return (next_offset_ + last_offset_delta) - seg.base > std::numeric_limits<int32_t>::max();
}

void PartitionLogImpl::PublishWritten() {
  bool published = false;
  while (!cutting_back_ && !pending_.empty() && pending_.front()->written) {
    PendingAppend& p = *pending_.front();
    if (!p.write_status.ok()) {
      cut_back_needed_ = true;
      break;
    }
    pending_.pop_front();
    Segment& seg = active();
    if (p.run.empty()) {
      PublishBatch(seg, p.position, p.header);
    } else {
      uint64_t position = p.position;
      for (const record::BatchHeader& h : p.run) {
        PublishBatch(seg, position, h);
        position += h.total_size();
      }
    }
    visible_end_ = seg.end_offset;
    published = true;
    Finish(p, Status());
  }
  if (!published) return;
  visible_changed_.notify_all();
  if (pending_.empty()) appends_changed_.notify_all();
  MaybeWakeFlusher();
}

Task<void> PartitionLogImpl::CutBack() {
  cutting_back_ = true;
  cut_back_needed_ = false;
  while (writes_in_flight_ > 0) co_await appends_changed_.wait();
  PendingAppend& bad = *pending_.front();
  const Status cause = bad.write_status;
  Segment& seg = active();
  Status st = co_await seg.file->truncate(bad.position);
  if (!st.ok()) {
    // The file may now hold bytes past the visible end that no one can remove: stop writing.
    Fail(absl::DataLossError(absl::StrCat("cannot cut ", seg.log_path, " back to position ",
                                          bad.position, " after a failed write (", cause.ToString(),
                                          "): ", st.ToString())));
  }
  seg.reserved = bad.position;
  next_offset_ = bad.base;
  const Status aborted = absl::AbortedError(absl::StrCat(
      "append not written: an earlier append in flight failed (", cause.ToString(), ")"));
  std::deque<PendingAppend*> failed;
  failed.swap(pending_);
  for (PendingAppend* p : failed) Finish(*p, p == &bad ? cause : aborted);
  cutting_back_ = false;
  appends_changed_.notify_all();
  visible_changed_.notify_all();
  durable_changed_.notify_all();
}

void PartitionLogImpl::Finish(PendingAppend& p, Status result) {
  p.finished = true;
  p.result = std::move(result);
  if (p.waiter) reactor_.schedule(std::exchange(p.waiter, nullptr));
}

Task<void> PartitionLogImpl::DrainAppends() {
  while (!pending_.empty() || cutting_back_ || cut_back_needed_) {
    co_await appends_changed_.wait();
  }
}

Task<Status> PartitionLogImpl::RollLocked() {
  co_await DrainAppends();
  CO_RETURN_IF_ERROR(CheckWritable());
  Segment& old = active();
  if (old.empty()) co_return Status();
  // Seal: the index files are written whole now and made durable (with the .log) by the next
  // sync round, before the durable end can pass into the new segment.
  AddFinalTimeEntry(old);
  CO_RETURN_IF_ERROR(co_await WriteIndexFiles(fs_, old));
  auto seg = std::make_shared<Segment>(dir_, next_offset_, nullptr);
  CO_ASSIGN_OR_RETURN(seg->file, co_await fs_.open(seg->log_path, io::OpenMode::kCreateExclusive));
  if (config_.preallocate_bytes > 0) {
    // Advisory: a file system without fallocate still works, and ENOSPC shows up on write.
    PermitUncheckedError(co_await seg->file->allocate(0, config_.preallocate_bytes));
  }
  old.sealed = true;
  dir_dirty_ = true;
  segments_.push_back(std::move(seg));
  ++stats_.rolls;
  co_return Status();
}

Task<Status> PartitionLogImpl::maybe_roll() {
  CO_RETURN_IF_ERROR(CheckWritable());
  co_await append_mutex_.lock();
  AsyncLockGuard guard(append_mutex_);
  CO_RETURN_IF_ERROR(CheckWritable());
  const Segment& seg = active();
  if (seg.reserved == 0) co_return Status();
  const bool full = seg.reserved >= config_.segment_bytes;
  const bool old =
      seg.first_append_ms >= 0 && clock_.wall_ms() - seg.first_append_ms >= config_.segment_ms;
  if (!full && !old) co_return Status();
  co_return co_await RollLocked();
}

}  // namespace spool::log
