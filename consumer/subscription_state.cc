#include "consumer/subscription_state.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_format.h"

namespace spool::consumer {

void SubscriptionState::Assign(const std::vector<TopicPartition>& partitions) {
  std::map<TopicPartition, PartitionState> next;
  std::map<std::string, std::shared_ptr<const std::string>> topics;
  for (const auto& [tp, ps] : partitions_) topics.emplace(tp.topic, ps.topic);
  for (const TopicPartition& tp : partitions) {
    if (next.count(tp) != 0) continue;
    if (auto it = partitions_.find(tp); it != partitions_.end()) {
      next.emplace(tp, std::move(it->second));
      continue;
    }
    auto [t, inserted] = topics.emplace(tp.topic, nullptr);
    if (inserted) t->second = std::make_shared<const std::string>(tp.topic);
    PartitionState ps;
    ps.topic = t->second;
    ps.partition = tp.partition;
    ps.generation = next_generation_++;
    ps.awaiting_committed = options_.use_committed;
    next.emplace(tp, std::move(ps));
  }
  partitions_ = std::move(next);
  ++work_epoch_;
  // Queued data of partitions no longer assigned goes.
  std::erase_if(queue_, [&](const Completed& c) {
    if (partitions_.count(c.tp) != 0) return false;
    queued_bytes_ -= c.bytes.size();
    return true;
  });
  if (in_progress_ && partitions_.count(in_progress_->tp) == 0) in_progress_.reset();
}

std::vector<TopicPartition> SubscriptionState::AwaitingCommitted() const {
  std::vector<TopicPartition> out;
  for (const auto& [tp, ps] : partitions_) {
    if (ps.awaiting_committed) out.push_back(tp);
  }
  return out;
}

void SubscriptionState::SetCommitted(const TopicPartition& tp, std::optional<int64_t> offset) {
  PartitionState* ps = FindMutable(tp);
  if (ps == nullptr || !ps->awaiting_committed) return;
  if (offset && *offset >= 0) {
    PermitUncheckedError(Seek(tp, *offset));  // assigned and non-negative: cannot fail
  } else {
    ps->awaiting_committed = false;
    ++work_epoch_;
  }
}

std::vector<TopicPartition> SubscriptionState::Assignment() const {
  std::vector<TopicPartition> out;
  out.reserve(partitions_.size());
  for (const auto& [tp, ps] : partitions_) out.push_back(tp);
  return out;
}

const PartitionState* SubscriptionState::Find(const TopicPartition& tp) const {
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? nullptr : &it->second;
}

PartitionState* SubscriptionState::FindMutable(const TopicPartition& tp) {
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? nullptr : &it->second;
}

void SubscriptionState::Invalidate(const TopicPartition& tp, PartitionState& ps) {
  ps.generation = next_generation_++;
  ps.fetch_blocked = false;
  ++work_epoch_;
  std::erase_if(queue_, [&](const Completed& c) {
    if (c.tp != tp) return false;
    queued_bytes_ -= c.bytes.size();
    return true;
  });
  if (in_progress_ && in_progress_->tp == tp) in_progress_.reset();
}

static Status NotAssigned(const TopicPartition& tp) {
  return absl::FailedPreconditionError(
      absl::StrFormat("partition %s is not assigned to this consumer", tp.ToString()));
}

Status SubscriptionState::Seek(const TopicPartition& tp, int64_t offset) {
  PartitionState* ps = FindMutable(tp);
  if (ps == nullptr) return NotAssigned(tp);
  if (offset < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("seek of %s to a negative offset (%d)", tp.ToString(), offset));
  }
  Invalidate(tp, *ps);
  ps->position = offset;
  ps->fetch_position = offset;
  ps->reset.reset();
  ps->awaiting_committed = false;
  ps->retry_at_ns = 0;
  ps->min_fetch_bytes = 0;
  return absl::OkStatus();
}

Status SubscriptionState::RequestReset(const TopicPartition& tp, ResetKind kind) {
  PartitionState* ps = FindMutable(tp);
  if (ps == nullptr) return NotAssigned(tp);
  Invalidate(tp, *ps);
  ps->position.reset();
  ps->reset = kind;
  ps->awaiting_committed = false;
  ps->retry_at_ns = 0;
  return absl::OkStatus();
}

Status SubscriptionState::EnsurePositionPending(const TopicPartition& tp) {
  PartitionState* ps = FindMutable(tp);
  if (ps == nullptr) return NotAssigned(tp);
  if (ps->position || ps->reset || ps->awaiting_committed) return absl::OkStatus();
  switch (options_.reset_policy) {
    case OffsetResetPolicy::kEarliest:
      ps->reset = ResetKind::kEarliest;
      ++work_epoch_;
      return absl::OkStatus();
    case OffsetResetPolicy::kLatest:
      ps->reset = ResetKind::kLatest;
      ++work_epoch_;
      return absl::OkStatus();
    case OffsetResetPolicy::kNone:
      return absl::OutOfRangeError(absl::StrFormat(
          "partition %s has no position and auto_offset_reset is none: seek() first",
          tp.ToString()));
  }
  return absl::InternalError("unknown OffsetResetPolicy");
}

Status SubscriptionState::EnsureAllPositionsPending() {
  Status first;
  for (const auto& [tp, ps] : partitions_) {
    if (Status st = EnsurePositionPending(tp); !st.ok() && first.ok()) first = st;
  }
  return first;
}

void SubscriptionState::Enqueue(Completed c) {
  queued_bytes_ += c.bytes.size();
  queue_.push_back(std::move(c));
}

void SubscriptionState::Refetch(const TopicPartition& tp, PartitionState& ps, int64_t now_ns) {
  Invalidate(tp, ps);
  if (ps.position) ps.fetch_position = *ps.position;
  ps.retry_at_ns = now_ns + options_.retry_backoff_ns;
}

Status SubscriptionState::HandleMarker(const Completed& c, PartitionState& ps, int64_t now_ns) {
  if (c.code == proto::ErrorCode::OFFSET_OUT_OF_RANGE) {
    switch (options_.reset_policy) {
      case OffsetResetPolicy::kEarliest:
      case OffsetResetPolicy::kLatest:
        Invalidate(c.tp, ps);
        ps.position.reset();
        ps.reset = options_.reset_policy == OffsetResetPolicy::kEarliest ? ResetKind::kEarliest
                                                                         : ResetKind::kLatest;
        ps.retry_at_ns = 0;
        return absl::OkStatus();
      case OffsetResetPolicy::kNone:
        Refetch(c.tp, ps, now_ns);
        return absl::OutOfRangeError(absl::StrFormat(
            "offset %d of %s is out of range (log start %d, high watermark %d) and "
            "auto_offset_reset is none",
            c.fetch_offset, c.tp.ToString(), ps.log_start_offset, ps.high_watermark));
    }
  }
  Refetch(c.tp, ps, now_ns);
  return c.error;
}

Status SubscriptionState::Collect(size_t max_records, ConsumerRecords* out, int64_t now_ns) {
  if (!pending_error_.ok()) {
    if (!out->empty()) return absl::OkStatus();
    return std::exchange(pending_error_, absl::OkStatus());
  }
  auto report = [&](Status error) {
    if (out->empty()) return error;
    pending_error_ = std::move(error);
    return absl::OkStatus();
  };
  while (out->size() < max_records) {
    if (in_progress_) {
      PartitionState* ps = FindMutable(in_progress_->tp);
      if (ps == nullptr || ps->generation != in_progress_->generation) {
        in_progress_.reset();
        continue;
      }
      in_progress_->records.Drain(max_records - out->size(), out);
      ps->position = in_progress_->records.next_offset();
      if (!in_progress_->records.done()) break;  // `out` is full
      Status error = in_progress_->records.error();
      const TopicPartition tp = in_progress_->tp;
      in_progress_.reset();
      if (!error.ok()) {
        Refetch(tp, *ps, now_ns);
        return report(std::move(error));
      }
      continue;
    }
    if (queue_.empty()) break;
    Completed c = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= c.bytes.size();
    PartitionState* ps = FindMutable(c.tp);
    if (ps == nullptr || ps->generation != c.generation) continue;
    if (!ps->position || *ps->position != c.fetch_offset) {
      // Cannot happen while the fetch and decode bookkeeping agree; resynchronise if it does.
      Refetch(c.tp, *ps, now_ns);
      continue;
    }
    if (c.code != proto::ErrorCode::NONE || !c.error.ok()) {
      if (Status st = HandleMarker(c, *ps, now_ns); !st.ok()) return report(std::move(st));
      continue;
    }
    in_progress_.emplace(
        InProgress{c.tp, c.generation,
                   PartitionRecords(c.topic, c.tp.partition, c.fetch_offset, c.bytes,
                                    std::move(c.owner), options_.decode)});
  }
  return absl::OkStatus();
}

FetchOutcome SubscriptionState::OnFetchResponse(const FetchTarget& sent, proto::ErrorCode code,
                                                int64_t high_watermark, int64_t log_start_offset,
                                                std::span<const std::byte> bytes,
                                                std::shared_ptr<const void> owner, int64_t now_ns) {
  PartitionState* ps = FindMutable(sent.tp);
  if (ps == nullptr) return FetchOutcome::kStale;
  if (ps->fetch_in_flight_gen == sent.generation) ps->fetch_in_flight_gen = 0;
  if (ps->generation != sent.generation || !ps->position || ps->reset ||
      ps->fetch_position != sent.offset) {
    return FetchOutcome::kStale;
  }
  if (high_watermark >= 0) ps->high_watermark = high_watermark;
  if (log_start_offset >= 0) ps->log_start_offset = log_start_offset;
  Completed marker{.tp = sent.tp,
                   .topic = ps->topic,
                   .generation = ps->generation,
                   .fetch_offset = sent.offset,
                   .code = code};
  if (code == proto::ErrorCode::NONE) {
    const BatchScan scan = ScanBatches(bytes, sent.offset, options_.decode.max_batch_bytes);
    if (scan.whole_batches > 0) {
      Enqueue(Completed{.tp = sent.tp,
                        .topic = ps->topic,
                        .generation = ps->generation,
                        .fetch_offset = sent.offset,
                        .bytes = bytes.first(scan.whole_bytes),
                        .owner = std::move(owner)});
      ps->fetch_position = scan.next_offset;
      ps->min_fetch_bytes = 0;
      return FetchOutcome::kData;
    }
    if (!scan.error.ok()) {
      marker.error = absl::DataLossError(absl::StrFormat(
          "fetch of %s at offset %d: %s", sent.tp.ToString(), sent.offset, scan.error.message()));
      marker.code = proto::ErrorCode::CORRUPT_MESSAGE;
      Enqueue(std::move(marker));
      ps->fetch_blocked = true;
      return FetchOutcome::kMarker;
    }
    if (scan.truncated_batch_size) {
      constexpr size_t kMax = std::numeric_limits<int32_t>::max();
      ps->min_fetch_bytes = static_cast<int32_t>(std::min(kMax, *scan.truncated_batch_size));
      return FetchOutcome::kGrow;
    }
    return FetchOutcome::kEmpty;
  }
  if (code == proto::ErrorCode::OFFSET_OUT_OF_RANGE) {
    Enqueue(std::move(marker));
    ps->fetch_blocked = true;
    return FetchOutcome::kMarker;
  }
  if (proto::IsRetriable(code)) {
    ps->retry_at_ns = now_ns + options_.retry_backoff_ns;
    return FetchOutcome::kRetry;
  }
  marker.error =
      proto::ErrorToStatus(code, absl::StrFormat("fetch of %s at offset %d: %s", sent.tp.ToString(),
                                                 sent.offset, proto::ErrorName(code)));
  Enqueue(std::move(marker));
  ps->fetch_blocked = true;
  return FetchOutcome::kMarker;
}

void SubscriptionState::OnFetchFailed(const FetchTarget& sent, int64_t now_ns) {
  PartitionState* ps = FindMutable(sent.tp);
  if (ps == nullptr) return;
  if (ps->fetch_in_flight_gen == sent.generation) ps->fetch_in_flight_gen = 0;
  ps->retry_at_ns = now_ns + options_.retry_backoff_ns;
}

std::vector<ResetTarget> SubscriptionState::TakeResetTargets(int64_t now_ns) {
  std::vector<ResetTarget> out;
  for (auto& [tp, ps] : partitions_) {
    if (!ps.reset || ps.reset_in_flight_gen == ps.generation || ps.retry_at_ns > now_ns) continue;
    ps.reset_in_flight_gen = ps.generation;
    out.push_back(ResetTarget{tp, ps.generation, *ps.reset});
  }
  return out;
}

void SubscriptionState::OnResetResolved(const ResetTarget& target, const StatusOr<int64_t>& offset,
                                        int64_t now_ns) {
  PartitionState* ps = FindMutable(target.tp);
  if (ps == nullptr) return;
  if (ps->reset_in_flight_gen == target.generation) ps->reset_in_flight_gen = 0;
  if (ps->generation != target.generation || !ps->reset) return;
  if (!offset.ok() || *offset < 0) {
    ps->retry_at_ns = now_ns + options_.retry_backoff_ns;
    return;
  }
  ps->position = *offset;
  ps->fetch_position = *offset;
  ps->reset.reset();
  ps->min_fetch_bytes = 0;
  ps->retry_at_ns = 0;
}

int64_t SubscriptionState::NextRetryNs(int64_t now_ns) const {
  int64_t next = 0;
  for (const auto& [tp, ps] : partitions_) {
    if (ps.retry_at_ns > now_ns && (next == 0 || ps.retry_at_ns < next)) next = ps.retry_at_ns;
  }
  return next;
}

bool SubscriptionState::AnyResetPending() const {
  return std::any_of(partitions_.begin(), partitions_.end(),
                     [](const auto& kv) { return kv.second.reset.has_value(); });
}

}  // namespace spool::consumer
