// The per-partition replication steps (replica_fetch_partition.h).
#include "broker/replica_fetch_partition.h"

#include <algorithm>
#include <utility>

#include "broker/request_handlers.h"

namespace spool::broker {

using proto::ErrorCode;

namespace {

bool IsReplica(const Partition& p, int32_t id) {
  const replication::ReplicaProgress* progress = p.progress();
  if (progress == nullptr) return false;
  const std::vector<int32_t>& r = progress->replicas();
  return std::find(r.begin(), r.end(), id) != r.end();
}

}  // namespace

Task<void> AnswerReplicaFetch(Partition* p, const ReplicaFetchAsk& ask, int32_t replica,
                              int64_t now_ns, size_t budget, std::shared_ptr<FetchWaiter> waiter,
                              ReplicaFetchAnswer& answer) {
  answer.data = nullptr;
  answer.diverging.reset();
  if (p == nullptr || p->closed()) {
    answer.error = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
    co_return;
  }
  if (!p->is_leader()) {
    answer.error = ErrorCode::NOT_LEADER_OR_FOLLOWER;
    co_return;
  }
  const int32_t epoch = p->leader_epoch().value();
  const int32_t asked = ask.current_leader_epoch;
  if (asked >= 0 && asked != epoch) {
    answer.error = asked < epoch ? ErrorCode::FENCED_LEADER_EPOCH : ErrorCode::UNKNOWN_LEADER_EPOCH;
    co_return;
  }
  if (!IsReplica(*p, replica)) {
    answer.error = ErrorCode::NOT_LEADER_OR_FOLLOWER;
    co_return;
  }
  answer.error = ErrorCode::NONE;
  const Offset fetch_offset = ask.fetch_offset;
  const int32_t last_epoch = ask.last_fetched_epoch;
  if (last_epoch >= 0) {
    const log::EpochEndOffset e = p->log().end_offset_for_epoch(last_epoch);
    if (e.epoch != last_epoch || e.end_offset < fetch_offset) {
      answer.diverging = e;
      answer.high_watermark = p->high_watermark().value();
      answer.log_start_offset = p->log_start_offset().value();
      co_return;
    }
  }
  if (fetch_offset > p->log_end_offset() || fetch_offset < p->log_start_offset()) {
    answer.error = ErrorCode::OFFSET_OUT_OF_RANGE;
    answer.high_watermark = p->high_watermark().value();
    answer.log_start_offset = p->log_start_offset().value();
    co_return;
  }
  if (!answer.progressed) {
    p->OnReplicaFetch(replica, fetch_offset, now_ns);
    answer.progressed = true;
  }
  answer.high_watermark = p->high_watermark().value();
  answer.log_start_offset = p->log_start_offset().value();
  if (waiter != nullptr) p->AddReplicaWaiter(std::move(waiter));
  const int32_t pmax = ask.max_bytes > 0 ? ask.max_bytes : kDefaultPartitionMaxBytes;
  if (budget == 0) co_return;
  const size_t limit = std::min<size_t>(static_cast<size_t>(pmax), budget);
  StatusOr<log::ReadResult> read = co_await p->ReadForReplica(fetch_offset, limit);
  if (!read.ok()) {
    answer.error = absl::IsOutOfRange(read.status()) ? ErrorCode::OFFSET_OUT_OF_RANGE
                                                     : ErrorCode::KAFKA_STORAGE_ERROR;
    co_return;
  }
  if (read->total_bytes == 0) co_return;
  StatusOr<std::vector<std::byte>> bytes = co_await log::PartitionLog::ReadAll(*read);
  if (!bytes.ok()) {
    answer.error = ErrorCode::KAFKA_STORAGE_ERROR;
    co_return;
  }
  answer.data = std::make_shared<const std::vector<std::byte>>(*std::move(bytes));
}

Task<FollowerOutcome> ApplyReplicaFetchAnswer(Partition& p, int32_t leader_epoch,
                                              const ReplicaFetchAnswer& answer,
                                              std::span<const std::byte> data) {
  FollowerOutcome out;
  out.end_before = p.log_end_offset();
  const ErrorCode error = answer.error;
  if (error == ErrorCode::OFFSET_OUT_OF_RANGE) {
    // Below the leader's log start: start over there. Past its end: cut to its HW (committed,
    // so the leader has it).
    const Offset end = p.log_end_offset();
    if (end.value() < answer.log_start_offset) {
      out.action = FollowerAction::kRestarted;
      out.offset = Offset(answer.log_start_offset);
      out.status = co_await p.RestartAt(out.offset, leader_epoch);
    } else {
      out.action = FollowerAction::kCutToHighWatermark;
      out.offset = Offset(answer.high_watermark);
      out.status = co_await p.TruncateTo(out.offset, leader_epoch);
    }
    // A cut that did not move the log end would only repeat: wait before asking again.
    out.backoff = !out.status.ok() || p.log_end_offset() == end;
    co_return out;
  }
  if (error == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION || error == ErrorCode::UNKNOWN_LEADER_EPOCH ||
      error == ErrorCode::NOT_LEADER_OR_FOLLOWER || error == ErrorCode::FENCED_LEADER_EPOCH) {
    out.action = FollowerAction::kMetadataLag;
    co_return out;
  }
  if (error != ErrorCode::NONE) {
    out.action = FollowerAction::kFailed;
    out.status = proto::ErrorToStatus(error, "replica fetch answer");
    out.backoff = true;
    co_return out;
  }
  if (answer.diverging.has_value()) {
    const log::EpochEndOffset& d = *answer.diverging;
    Offset target;
    if (d.epoch < 0) {
      // The leader has no epoch at or below ours: nothing of ours is known to be shared.
      target = p.log_start_offset();
    } else {
      const log::EpochEndOffset local = p.log().end_offset_for_epoch(d.epoch);
      if (local.epoch == d.epoch) {
        target = std::min(d.end_offset, local.end_offset);
      } else if (local.epoch >= 0) {
        target = local.end_offset;  // the next round compares the epoch before it
      } else {
        target = p.log_start_offset();
      }
    }
    out.action = FollowerAction::kTruncated;
    out.offset = target;
    const Offset end = p.log_end_offset();
    std::optional<log::LeaderEpochEntry> latest = p.log().latest_epoch();
    out.status = co_await p.TruncateTo(target, leader_epoch);
    // Progress is a shorter log or a different latest epoch; anything else would only repeat.
    out.backoff =
        !out.status.ok() || (p.log_end_offset() == end && p.log().latest_epoch() == latest);
    co_return out;
  }
  if (!data.empty()) {
    std::span<std::byte> bytes(const_cast<std::byte*>(data.data()), data.size());
    StatusOr<log::AppendResult> appended = co_await p.AppendFromLeader(bytes, leader_epoch);
    if (!appended.ok()) {
      out.status = appended.status();
      if (absl::IsAborted(appended.status())) {
        out.action = FollowerAction::kAborted;
      } else {
        out.action = FollowerAction::kFailed;
        out.backoff = true;
      }
      co_return out;
    }
    out.appended = *appended;
    if (p.config().log.flush_policy == log::FlushPolicy::kGroupCommit) {
      Status st = co_await p.log().wait_durable(appended->last_offset);
      if (!st.ok()) {
        out.action = FollowerAction::kFailed;
        out.status = st;
        out.backoff = true;
        co_return out;
      }
    }
  }
  out.action = FollowerAction::kTookHighWatermark;
  p.SetFollowerHighWatermark(Offset(answer.high_watermark));
  co_return out;
}

std::optional<std::vector<int32_t>> DecideIsrChange(const replication::ReplicaProgress& progress,
                                                    int64_t now_ns, int64_t lag_ns,
                                                    int64_t leader_end, int64_t hw,
                                                    const std::function<bool(int32_t)>& is_live) {
  const std::vector<int32_t> lagging = progress.Lagging(now_ns, lag_ns, leader_end);
  std::vector<int32_t> joining = progress.ReadyToJoin(hw, now_ns, lag_ns);
  // Only live brokers may join (the controller refuses the whole change otherwise).
  std::erase_if(joining, [&is_live](int32_t id) { return !is_live(id); });
  if (lagging.empty() && joining.empty()) return std::nullopt;
  std::vector<int32_t> isr;
  for (int32_t id : progress.isr()) {
    if (std::find(lagging.begin(), lagging.end(), id) == lagging.end()) isr.push_back(id);
  }
  for (int32_t id : joining) isr.push_back(id);
  return isr;
}

}  // namespace spool::broker
