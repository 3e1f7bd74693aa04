// Replication support: follower appends (append_replica) and a new leader's assign_epoch.
//
// append_replica verifies the whole run before it takes the append mutex (one VerifyBatch pass
// per batch), so a bad batch anywhere in the run writes nothing. Under the mutex it checks that
// the run continues the log, then writes it with as few writes as the segments allow: one
// PendingAppend per write, published by the same pipeline as append(). It keeps the mutex until
// its last write is published, so a run split across a roll is never interleaved with another
// append, and a concurrent append() that got offsets first makes the run non-contiguous.
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "log/partition_log_impl.h"

namespace spool::log {

namespace {

// The headers of the run of whole batches in `bytes`, each verified (length, magic, CRC) and
// following the previous one's last offset.
StatusOr<std::vector<record::BatchHeader>> VerifyRun(std::span<const std::byte> bytes,
                                                     size_t max_on_disk,
                                                     uint32_t max_message_bytes) {
  if (bytes.empty()) return absl::InvalidArgumentError("append_replica of no batch");
  std::vector<record::BatchHeader> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    StatusOr<record::BatchHeader> h = record::VerifyBatch(bytes.subspan(pos), max_on_disk);
    if (!h.ok()) {
      const std::string where = absl::StrCat("batch ", out.size(), " of the run (position ", pos,
                                             "): ", h.status().message());
      if (absl::IsOutOfRange(h.status())) {
        return absl::InvalidArgumentError(absl::StrCat("torn ", where));
      }
      return Status(h.status().code(), where);  // kInvalidArgument or kDataLoss (CRC)
    }
    if (h->total_size() > max_message_bytes) {
      return absl::OutOfRangeError(
          absl::StrCat("batch at offset ", h->base_offset, " of ", h->total_size(),
                       " bytes is over max_message_bytes ", max_message_bytes));
    }
    if (h->records_count < 1 || h->records_count > h->last_offset_delta + 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch at offset ", h->base_offset, " with ", h->records_count,
                       " records and lastOffsetDelta ", h->last_offset_delta));
    }
    if (!out.empty() && h->base_offset != out.back().last_offset() + 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("run not contiguous: batch ", out.size(), " has base offset ",
                       h->base_offset, ", the previous one ends at ", out.back().last_offset()));
    }
    pos += h->total_size();
    out.push_back(*h);
  }
  return out;
}

}  // namespace

Task<StatusOr<AppendResult>> PartitionLogImpl::append_replica(std::span<std::byte> batches) {
  CO_RETURN_IF_ERROR(CheckWritable());
  CO_ASSIGN_OR_RETURN(std::vector<record::BatchHeader> headers,
                      VerifyRun(batches, max_batch_on_disk_, config_.max_message_bytes));
  const AppendResult result{Offset(headers.front().base_offset),
                            Offset(headers.back().last_offset())};

  co_await append_mutex_.lock();
  AsyncLockGuard guard(append_mutex_);
  while (cutting_back_ || cut_back_needed_) co_await appends_changed_.wait();
  CO_RETURN_IF_ERROR(CheckWritable());
  if (result.base_offset != next_offset_) {
    co_return absl::FailedPreconditionError(
        absl::StrCat("replica batches not contiguous: they start at offset ",
                     result.base_offset.value(), ", the log ends at ", next_offset_.value()));
  }
  size_t i = 0;
  size_t position = 0;  // in `batches`
  while (i < headers.size()) {
    if (NeedsRoll(headers[i].total_size(), headers[i].last_offset_delta)) {
      CO_RETURN_IF_ERROR(co_await RollLocked());
    }
    // As many batches as the active segment takes (at least one: an empty segment takes any).
    size_t j = i + 1;
    uint64_t bytes = headers[i].total_size();
    while (j < headers.size() &&
           FitsActive(bytes + headers[j].total_size(), Offset(headers[j].last_offset()))) {
      bytes += headers[j].total_size();
      ++j;
    }
    std::shared_ptr<Segment> seg = segments_.back();
    PendingAppend p;
    p.base = Offset(headers[i].base_offset);
    p.last = Offset(headers[j - 1].last_offset());
    p.position = seg->reserved;
    p.header = headers[i];
    p.run.assign(headers.begin() + static_cast<ptrdiff_t>(i),
                 headers.begin() + static_cast<ptrdiff_t>(j));
    if (seg->first_append_ms < 0) seg->first_append_ms = clock_.wall_ms();
    seg->reserved += bytes;
    next_offset_ = p.last + 1;
    pending_.push_back(&p);
    ++writes_in_flight_;
    const std::span<const std::byte> chunk = batches.subspan(position, bytes);
    CO_RETURN_IF_ERROR(co_await WritePending(*seg, p, chunk));
    position += bytes;
    i = j;
  }
  co_return result;
}

Task<Status> PartitionLogImpl::assign_epoch(int32_t epoch, Offset start) {
  CO_RETURN_IF_ERROR(CheckWritable());
  if (epoch < 0) {
    co_return absl::InvalidArgumentError(absl::StrCat("leader epoch ", epoch, " is negative"));
  }
  co_await append_mutex_.lock();
  AsyncLockGuard guard(append_mutex_);
  co_await DrainAppends();
  CO_RETURN_IF_ERROR(CheckWritable());
  if (const std::optional<LeaderEpochEntry> latest = epochs_.latest();
      latest.has_value() && epoch <= latest->epoch) {
    co_return Status();
  }
  if (start != next_offset_) {
    co_return absl::InvalidArgumentError(absl::StrCat("assign_epoch(", epoch, ") at offset ",
                                                      start.value(), " but the log ends at ",
                                                      next_offset_.value()));
  }
  // Every batch before the new entry is made durable first, so the checkpoint's list stays a
  // prefix of the log's (LeaderEpochCache::Persistable): the entries of those batches are
  // stored with it, and none is lost if a crash keeps the sticky entry.
  co_await sync_mutex_.lock();
  AsyncLockGuard sync_guard(sync_mutex_);
  CO_RETURN_IF_ERROR(co_await SyncLocked());
  const LeaderEpochCache before = epochs_;
  epochs_.Add(epoch, start, /*sticky=*/true);
  Status st = co_await WriteCheckpointNow();
  if (!st.ok()) epochs_ = before;  // the next checkpoint write stores the list without it
  co_return st;
}

}  // namespace spool::log
