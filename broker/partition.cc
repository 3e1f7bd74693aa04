#include "broker/partition.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/producer_snapshot.h"
#include "broker/producer_state_loader.h"
#include "broker/server_log.h"
#include "log/record/batch_header.h"
#include "proto/errors.h"

namespace spool::broker {

struct Partition::CommitWaiter {
  int64_t needed_hw = 0;
  std::multimap<int64_t, CommitWaiter*>::iterator position;
  RequestTimers::Id timer = RequestTimers::kNoTimer;
  std::coroutine_handle<> handle;
  bool done = false;
  Status result;

  struct Awaiter {
    CommitWaiter& w;
    bool await_ready() const noexcept { return w.done; }
    void await_suspend(std::coroutine_handle<> h) { w.handle = h; }
    void await_resume() const noexcept {}
  };
};

// Counts an operation that uses the log, so Close() waits for it.
class Partition::OpGuard {
 public:
  explicit OpGuard(Partition& p) : p_(p) {
    if (p_.ops_in_flight_++ == 0) p_.ops_idle_.reset();
  }
  ~OpGuard() {
    if (--p_.ops_in_flight_ == 0) p_.ops_idle_.set();
  }
  OpGuard(const OpGuard&) = delete;
  OpGuard& operator=(const OpGuard&) = delete;

 private:
  Partition& p_;
};

Task<StatusOr<std::shared_ptr<Partition>>> Partition::Open(io::FileSystem& fs, Clock& clock,
                                                           RequestTimers& timers, Options options) {
  io::Reactor* reactor = io::Reactor::current();
  if (reactor == nullptr) {
    co_return absl::FailedPreconditionError("Partition::Open must run on a reactor thread");
  }
  CO_ASSIGN_OR_RETURN(std::unique_ptr<log::PartitionLog> log,
                      co_await log::PartitionLog::Open(fs, clock, options.dir, options.config.log));
  std::shared_ptr<Partition> p(
      new Partition(*reactor, fs, timers, std::move(options), std::move(log)));
  if (p->leader_) {
    CO_RETURN_IF_ERROR(co_await p->LoadProducerState());
  } else {
    // A follower loads its table only when it leads, but the log it replicates meanwhile must
    // never meet a snapshot of a history recovery cut (see the header).
    CO_RETURN_IF_ERROR(co_await p->DropSnapshotsOutsideLog());
  }
  co_return p;
}

Task<Status> Partition::LoadProducerState() {
  if (producers_loaded_) co_return Status();
  OpGuard guard(*this);
  CO_ASSIGN_OR_RETURN(LoadedProducerState loaded,
                      co_await LoadProducerStateWithSnapshots(
                          fs_, options_.dir, *log_, options_.producer_state_scan_offsets));
  producers_ = std::move(loaded.table);
  producers_loaded_ = true;
  last_snapshot_ = loaded.snapshot;  // none left (all damaged): the next close writes one
  snapshot_base_ = loaded.snapshot.value_or(log_->log_start_offset());
  snapshot_rolls_ = log_->stats().rolls;
  co_return Status();
}

Task<Status> Partition::SnapshotProducerState(bool due_only) {
  if (!producers_loaded_ || !failure_.ok()) co_return Status();
  // Only the durable prefix: the snapshot is taken at the durable end D (a batch boundary), of
  // the table as it is now (taken synchronously) cut at D. Batches at or past D (appends being
  // written or synced, a leader's failed append that has not Forget() its batch yet) are left
  // out, and if leaving them out loses information no snapshot is written. A busy partition
  // always has appends in flight, so waiting for end == D could postpone its snapshots for good.
  const Offset end = log_->durable_end_offset();
  if (end <= log_->log_start_offset() || last_snapshot_ == end) co_return Status();
  const uint64_t rolls = log_->stats().rolls;
  if (due_only) {
    const int64_t interval = options_.producer_snapshot_interval_offsets;
    const bool grown = end.value() - snapshot_base_.value() >= interval;
    const bool rolled = rolls != snapshot_rolls_ && end > snapshot_base_;
    if (interval <= 0 || (!grown && !rolled)) co_return Status();
  }
  ProducerStateTable table = producers_;
  if (!table.TruncateTo(end)) co_return Status();
  // Whatever the outcome, the next attempt waits for the next interval or roll (an oversized or
  // failing write is not redone at every maintenance pass).
  snapshot_base_ = end;
  snapshot_rolls_ = rolls;
  CO_RETURN_IF_ERROR(co_await WriteProducerSnapshot(fs_, options_.dir, end, table));
  last_snapshot_ = end;
  co_return co_await KeepNewestProducerSnapshots(fs_, options_.dir, kProducerSnapshotsKept);
}

Task<Status> Partition::DropSnapshotsOutsideLog() {
  const Offset start = log_->log_start_offset();
  const Offset end = log_->log_end_offset();
  StatusOr<size_t> dropped = co_await DeleteProducerSnapshotsOutside(fs_, options_.dir, start, end);
  CO_RETURN_IF_ERROR(dropped.status());
  if (last_snapshot_.has_value() && (*last_snapshot_ < start || *last_snapshot_ > end)) {
    last_snapshot_.reset();
  }
  snapshot_base_ = std::min(std::max(snapshot_base_, start), end);
  co_return Status();
}

Partition::Partition(io::Reactor& reactor, io::FileSystem& fs, RequestTimers& timers,
                     Options options, std::unique_ptr<log::PartitionLog> log)
    : reactor_(reactor),
      fs_(fs),
      timers_(timers),
      options_(std::move(options)),
      log_(std::move(log)),
      pump_idle_(reactor),
      ops_idle_(reactor),
      role_mutex_(reactor) {
  pump_idle_.set();
  ops_idle_.set();
  // After Open() every recovered batch is durable, so both policies start at the visible end.
  hw_ = durable_policy() ? log_->durable_end_offset() : log_->visible_end_offset();
  // A standalone leader (see the header) until the metadata says otherwise.
  replication::ReplicaProgress::Options o;
  o.min_insync_replicas = 1;
  o.epoch_start_offset = log_->log_end_offset().value();
  o.now_ns = RequestTimers::NowNs();
  progress_ = std::make_unique<replication::ReplicaProgress>(std::move(o));
  if (options_.follower) {
    leader_ = false;
    leader_id_ = options_.leader_id;
    progress_.reset();
    // A replica's log may end past what its ISR had committed: start from the HW it last
    // stored (at most the true one), so that if it leads again it exposes nothing its ISR
    // lacks until the followers confirm it.
    const std::optional<Offset> stored = log_->recovered_high_watermark();
    hw_ = std::min(hw_, stored.value_or(log_->log_start_offset()));
    hw_ = std::max(hw_, log_->log_start_offset());
  }
}

Partition::~Partition() = default;

Status Partition::Usable() const {
  if (!close_reason_.ok()) return close_reason_;
  return failure_;
}

Status Partition::NotLeader() const {
  return proto::ErrorToStatus(
      proto::ErrorCode::NOT_LEADER_OR_FOLLOWER,
      absl::StrCat("this broker does not lead ", options_.topic, "-", options_.index, " (leader ",
                   leader_id_, ", epoch ", options_.leader_epoch.value(), ")"));
}

Task<StatusOr<log::AppendResult>> Partition::Append(std::span<std::byte> batch) {
  CO_RETURN_IF_ERROR(Usable());
  if (!leader_) co_return NotLeader();
  OpGuard guard(*this);
  BatchIdentity identity;
  const StatusOr<record::BatchHeader> header = record::ParseHeader(batch);
  if (header.ok()) identity = BatchIdentity::FromHeader(*header);
  Offset recorded_at(-1);
  if (identity.idempotent()) {
    if (!producers_loaded_) {
      co_return proto::ErrorToStatus(proto::ErrorCode::NOT_LEADER_OR_FOLLOWER,
                                     "the partition's producer state is not loaded yet");
    }
    const DedupCheck check = producers_.Check(identity);
    switch (check.kind) {
      case DedupCheck::kDuplicate:
        co_return log::AppendResult{check.base_offset, check.last_offset};
      case DedupCheck::kOutOfOrder:
        co_return proto::ErrorToStatus(
            proto::ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
            absl::StrCat("producer ", identity.producer_id, " sequence ", identity.base_sequence,
                         " is out of order on ", options_.topic, "-", options_.index));
      case DedupCheck::kInvalidEpoch:
        co_return proto::ErrorToStatus(
            proto::ErrorCode::INVALID_PRODUCER_EPOCH,
            absl::StrCat("producer ", identity.producer_id, " epoch ", identity.producer_epoch,
                         " is older than the partition's"));
      case DedupCheck::kUnknownProducer:
        co_return proto::ErrorToStatus(
            proto::ErrorCode::UNKNOWN_PRODUCER_ID,
            absl::StrCat("producer ", identity.producer_id, " is not known on ", options_.topic,
                         "-", options_.index, " (its batches are gone); it must start again"));
      case DedupCheck::kAppend:
        break;
    }
    // Recorded at offset assignment (the next offset, as no suspension comes before the
    // append), so a pipelined next batch of the producer is checked against this one.
    recorded_at = log_->log_end_offset();
    producers_.Record(identity, recorded_at,
                      Offset(recorded_at.value() + header->last_offset_delta));
  }
  record::StampLeaderEpoch(batch, options_.leader_epoch.value());
  const uint64_t term = term_;
  // No suspension before log_->append(): it assigns the offsets in call order.
  StatusOr<log::AppendResult> result = co_await log_->append(batch);
  if (!result.ok() && recorded_at.value() >= 0) producers_.Forget(identity, recorded_at);
  if (result.ok() && (term != term_ || !leader_)) {
    // The leadership ended while the batch was written: the next leader may not have it.
    co_return NotLeader();
  }
  if (result.ok()) {
    NotifyReplicaWaiters();
    if (durable_policy()) {
      KickPump();
    } else {
      UpdateLeaderHighWatermark();
    }
  }
  co_return result;
}

Status Partition::CheckAcksAll() const {
  RETURN_IF_ERROR(Usable());
  if (!leader_) return NotLeader();
  const size_t min_isr = static_cast<size_t>(std::max(1, options_.config.min_insync_replicas));
  if (progress_->replicas().size() > 1 && progress_->isr_size() < min_isr) {
    return proto::ErrorToStatus(
        proto::ErrorCode::NOT_ENOUGH_REPLICAS,
        absl::StrCat(options_.topic, "-", options_.index, " has ", progress_->isr_size(),
                     " in-sync replicas, fewer than min.insync.replicas=", min_isr));
  }
  return Status();
}

void Partition::UpdateLeaderHighWatermark() {
  if (!leader_ || progress_ == nullptr) return;
  const Offset own = durable_policy() ? log_->durable_end_offset() : log_->visible_end_offset();
  std::optional<int64_t> hw = progress_->HighWatermark(own.value());
  if (hw.has_value()) AdvanceHighWatermark(Offset(*hw));
}

void Partition::OnReplicaFetch(int32_t replica, Offset fetch_offset, int64_t now_ns) {
  if (!leader_ || progress_ == nullptr) return;
  progress_->OnFetch(replica, fetch_offset.value(), log_->log_end_offset().value(), now_ns);
  UpdateLeaderHighWatermark();
}

void Partition::SetPendingIsr(std::optional<std::vector<int32_t>> isr) {
  if (progress_ == nullptr) return;
  if (isr.has_value()) pending_base_epoch_ = partition_epoch_;
  progress_->SetPending(std::move(isr));
  UpdateLeaderHighWatermark();
}

Task<StatusOr<log::ReadResult>> Partition::ReadForReplica(Offset from, size_t max_bytes) {
  CO_RETURN_IF_ERROR(close_reason_);
  const Offset start = log_->log_start_offset();
  const Offset end = log_->log_end_offset();
  if (from < start || from > end) {
    co_return absl::OutOfRangeError(absl::StrCat("offset ", from.value(), " is outside [",
                                                 start.value(), ", ", end.value(), "] of ",
                                                 options_.topic, "-", options_.index));
  }
  const Offset visible = log_->visible_end_offset();
  if (from >= visible) {
    log::ReadResult empty;
    empty.next_offset = from;
    co_return empty;
  }
  OpGuard guard(*this);
  co_return co_await log_->read(from, max_bytes, visible);
}

void Partition::AddReplicaWaiter(std::shared_ptr<FetchWaiter> waiter) {
  if (closed() || !leader_) {
    waiter->Notify();
    return;
  }
  if (replica_waiters_.size() >= 64) {
    std::erase_if(replica_waiters_,
                  [](const std::shared_ptr<FetchWaiter>& w) { return w->fired(); });
  }
  replica_waiters_.push_back(std::move(waiter));
}

void Partition::NotifyReplicaWaiters() {
  if (replica_waiters_.empty()) return;
  std::vector<std::shared_ptr<FetchWaiter>> waiters = std::move(replica_waiters_);
  replica_waiters_.clear();
  for (auto& w : waiters) w->Notify();
}

void Partition::FailCommitWaiters(const Status& why) {
  while (!commit_waiters_.empty()) Complete(*commit_waiters_.begin()->second, why);
}

Task<Status> Partition::BecomeLeader(LeaderRole role) {
  CO_RETURN_IF_ERROR(close_reason_);
  if (role.leader_epoch < options_.leader_epoch.value()) co_return Status();
  co_await role_mutex_.lock();
  log::AsyncLockGuard lock(role_mutex_);
  CO_RETURN_IF_ERROR(close_reason_);
  const bool new_term = !leader_ || role.leader_epoch != options_.leader_epoch.value() ||
                        progress_ == nullptr || self_ != role.self;
  if (role.leader_epoch < options_.leader_epoch.value()) co_return Status();
  // A same-epoch change older than what this partition has (a late AlterPartition answer after
  // newer metadata) would bring back a stale ISR.
  if (!new_term && role.partition_epoch < partition_epoch_) co_return Status();
  partition_epoch_ = role.partition_epoch;
  leader_id_ = role.self;
  self_ = role.self;
  if (new_term) {
    // Not leading while the term is set up: appends in the meantime would be stamped with the
    // old epoch after the new one's start. The previous term's waiters fail (retriable).
    if (leader_) {
      leader_ = false;
      term_++;
      FailCommitWaiters(NotLeader());
    }
    progress_.reset();
    OpGuard guard(*this);
    // Recorded before any batch of the epoch, so a follower that asks where this epoch starts
    // is told even before the first append.
    Status st;
    for (int attempt = 0; attempt < 3; attempt++) {
      // kInvalidArgument: an append in flight failed and gave its offsets back meanwhile, so
      // the end moved; ask again at the new end.
      st = co_await log_->assign_epoch(role.leader_epoch, log_->log_end_offset());
      if (!absl::IsInvalidArgument(st)) break;
    }
    if (!st.ok()) co_return st;
    // The dedup table before the first append of this leadership.
    Status loaded = co_await LoadProducerState();
    if (!loaded.ok()) co_return loaded;
    options_.leader_epoch = LeaderEpoch(role.leader_epoch);
    replication::ReplicaProgress::Options o;
    o.self = role.self;
    o.replicas = role.replicas;
    o.isr = role.isr;
    o.min_insync_replicas = std::max(1, options_.config.min_insync_replicas);
    o.epoch_start_offset = log_->log_end_offset().value();
    o.now_ns = RequestTimers::NowNs();
    progress_ = std::make_unique<replication::ReplicaProgress>(std::move(o));
    leader_ = true;
    term_++;
  } else {
    progress_->SetIsr(role.isr);
    // Newer metadata resolves a pending change (made, or overtaken by another).
    if (progress_->pending().has_value() && role.partition_epoch > pending_base_epoch_) {
      progress_->SetPending(std::nullopt);
    }
    const size_t min_isr = static_cast<size_t>(std::max(1, options_.config.min_insync_replicas));
    if (progress_->replicas().size() > 1 && progress_->isr_size() < min_isr) {
      FailCommitWaiters(proto::ErrorToStatus(
          proto::ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
          absl::StrCat(options_.topic, "-", options_.index, " ISR shrank to ",
                       progress_->isr_size(), ", below min.insync.replicas=", min_isr)));
    }
  }
  UpdateLeaderHighWatermark();
  co_return Status();
}

Task<Status> Partition::BecomeFollower(int32_t leader, int32_t leader_epoch) {
  CO_RETURN_IF_ERROR(close_reason_);
  if (leader_epoch < options_.leader_epoch.value()) co_return Status();
  co_await role_mutex_.lock();
  log::AsyncLockGuard lock(role_mutex_);
  if (leader_epoch < options_.leader_epoch.value()) co_return Status();
  const bool was_leader = leader_;
  if (was_leader) term_++;
  leader_ = false;
  leader_id_ = leader;
  options_.leader_epoch = LeaderEpoch(leader_epoch);
  progress_.reset();
  if (was_leader) {
    FailCommitWaiters(NotLeader());
    NotifyReplicaWaiters();
    NotifyFetchWaiters();
  }
  // Whatever the previous leadership had not committed may be cut by the next truncation.
  if (hw_ > log_->log_end_offset()) hw_ = log_->log_end_offset();
  co_return Status();
}

Status Partition::StillFollowing(int32_t leader_epoch) const {
  RETURN_IF_ERROR(Usable());
  if (leader_ || leader_epoch != options_.leader_epoch.value()) {
    return absl::AbortedError(absl::StrCat(options_.topic, "-", options_.index,
                                           " no longer follows at leader epoch ", leader_epoch));
  }
  return Status();
}

Task<StatusOr<log::AppendResult>> Partition::AppendFromLeader(std::span<std::byte> batches,
                                                              int32_t leader_epoch) {
  CO_RETURN_IF_ERROR(StillFollowing(leader_epoch));
  co_await role_mutex_.lock();
  log::AsyncLockGuard lock(role_mutex_);
  CO_RETURN_IF_ERROR(StillFollowing(leader_epoch));
  OpGuard guard(*this);
  const Offset end_before = log_->log_end_offset();
  StatusOr<log::AppendResult> result = co_await log_->append_replica(batches);
  // A split run that failed part way keeps its first parts, which the table did not see: it is
  // loaded again when this partition next leads (and no snapshot is taken of it meanwhile).
  if (!result.ok() && log_->log_end_offset() != end_before) producers_loaded_ = false;
  if (result.ok() && producers_loaded_) {
    std::span<const std::byte> rest = batches;
    while (!rest.empty()) {
      StatusOr<record::BatchHeader> h = record::ParseHeader(rest);
      if (!h.ok() || h->total_size() > rest.size()) break;  // checked by the log already
      producers_.Apply(*h);
      rest = rest.subspan(h->total_size());
    }
  }
  co_return result;
}

Task<Status> Partition::TruncateTo(Offset offset, int32_t leader_epoch) {
  CO_RETURN_IF_ERROR(StillFollowing(leader_epoch));
  co_await role_mutex_.lock();
  log::AsyncLockGuard lock(role_mutex_);
  CO_RETURN_IF_ERROR(StillFollowing(leader_epoch));
  OpGuard guard(*this);
  Status st = co_await log_->truncate_to(offset);
  if (!st.ok()) {
    Fail(st);
    co_return st;
  }
  FailCommitWaiters(NotLeader());  // none should be left on a follower; never complete them
  // Inexact after the cut: loaded again from the log when this partition next leads.
  if (!producers_.TruncateTo(log_->log_end_offset())) producers_loaded_ = false;
  if (hw_ > log_->log_end_offset()) hw_ = log_->log_end_offset();
  // Before the log can grow again (the role mutex is held): a snapshot above the new end saw a
  // history that is gone.
  Status dropped = co_await DropSnapshotsOutsideLog();
  if (!dropped.ok()) {
    Fail(dropped);
    co_return dropped;
  }
  co_return Status();
}

Task<Status> Partition::RestartAt(Offset offset, int32_t leader_epoch) {
  CO_RETURN_IF_ERROR(StillFollowing(leader_epoch));
  co_await role_mutex_.lock();
  log::AsyncLockGuard lock(role_mutex_);
  CO_RETURN_IF_ERROR(StillFollowing(leader_epoch));
  OpGuard guard(*this);
  Status st = co_await log_->restart_at(offset);
  if (!st.ok()) {
    if (!absl::IsInvalidArgument(st)) Fail(st);
    co_return st;
  }
  FailCommitWaiters(NotLeader());
  hw_ = log_->log_start_offset();
  producers_ = ProducerStateTable();
  producers_loaded_ = false;
  // Every snapshot is below the new log start (see TruncateTo).
  Status dropped = co_await DropSnapshotsOutsideLog();
  if (!dropped.ok()) {
    Fail(dropped);
    co_return dropped;
  }
  co_return Status();
}

void Partition::SetFollowerHighWatermark(Offset leader_hw) {
  if (leader_) return;
  const Offset own = durable_policy() ? log_->durable_end_offset() : log_->visible_end_offset();
  AdvanceHighWatermark(std::min(leader_hw, own));
}

void Partition::KickPump() {
  if (pump_running_ || closed() || !failure_.ok()) return;
  pump_running_ = true;
  pump_idle_.reset();
  reactor_.spawn(Pump(shared_from_this()));
}

Task<void> Partition::Pump(std::shared_ptr<Partition> self) {
  // Makes the leader's own appends durable (its part of the HW) and recomputes the HW after
  // each round; the followers' part arrives with their fetches.
  Offset last_target(-1);
  while (self->failure_.ok()) {
    const Offset target = self->log_->visible_end_offset();
    if (target <= self->log_->durable_end_offset()) break;
    Status st = co_await self->log_->wait_durable(target - 1);
    if (!st.ok()) {
      if (absl::IsAborted(st) && target != last_target) {
        // A failed append gave its offsets back: try again with the new visible end.
        last_target = target;
        continue;
      }
      self->Fail(st);
      break;
    }
    last_target = target;
    self->UpdateLeaderHighWatermark();
  }
  self->UpdateLeaderHighWatermark();
  self->pump_running_ = false;
  self->pump_idle_.set();
}

void Partition::AdvanceHighWatermark(Offset hw) {
  if (hw <= hw_) return;
  hw_ = hw;
  log_->set_high_watermark(hw_);  // stored with the log's next checkpoint
  while (!commit_waiters_.empty() && commit_waiters_.begin()->first <= hw_.value()) {
    Complete(*commit_waiters_.begin()->second, Status());
  }
  std::vector<std::shared_ptr<FetchWaiter>> waiters = std::move(fetch_waiters_);
  fetch_waiters_.clear();
  fetch_waiters_purge_at_ = 16;
  for (auto& w : waiters) w->Notify();
}

void Partition::Fail(const Status& error) {
  if (failure_.ok()) {
    failure_ = error.ok() ? absl::InternalError("partition failed") : error;
  }
  while (!commit_waiters_.empty()) Complete(*commit_waiters_.begin()->second, failure_);
  NotifyFetchWaiters();
}

void Partition::Complete(CommitWaiter& w, Status result) {
  if (w.done) return;
  w.done = true;
  w.result = std::move(result);
  commit_waiters_.erase(w.position);
  timers_.Cancel(w.timer);
  if (w.handle) reactor_.schedule(std::exchange(w.handle, nullptr));
}

Task<Status> Partition::WaitCommitted(Offset last, int64_t deadline_ns,
                                      std::optional<uint64_t> term) {
  if (term.has_value() && (!leader_ || *term != term_)) co_return NotLeader();
  if (hw_ > last) co_return Status();
  CO_RETURN_IF_ERROR(Usable());
  CommitWaiter w;
  w.needed_hw = last.value() + 1;
  w.position = commit_waiters_.emplace(w.needed_hw, &w);
  w.timer = timers_.Arm(deadline_ns, [this, &w] {
    w.timer = RequestTimers::kNoTimer;
    Complete(w, absl::DeadlineExceededError(absl::StrCat("timed out waiting for offset ",
                                                         w.needed_hw - 1, " of ", options_.topic,
                                                         "-", options_.index, " to be committed")));
  });
  co_await CommitWaiter::Awaiter{w};
  co_return w.result;
}

Task<StatusOr<log::ReadResult>> Partition::Read(Offset from, size_t max_bytes) {
  CO_RETURN_IF_ERROR(close_reason_);
  const Offset start = log_->log_start_offset();
  // Above the HW but within the log: not committed yet (a new leader's HW may still be catching
  // up with what the previous leader had committed), so nothing to read, not out of range.
  const Offset end = std::max(hw_, log_->log_end_offset());
  if (from < start || from > end) {
    co_return absl::OutOfRangeError(absl::StrCat("offset ", from.value(), " is outside [",
                                                 start.value(), ", ", end.value(), "] of ",
                                                 options_.topic, "-", options_.index));
  }
  if (from >= hw_) {
    log::ReadResult empty;
    empty.next_offset = from;
    co_return empty;
  }
  OpGuard guard(*this);
  co_return co_await log_->read(from, max_bytes, hw_);
}

void Partition::AddFetchWaiter(std::shared_ptr<FetchWaiter> waiter) {
  if (closed()) {
    waiter->Notify();
    return;
  }
  if (fetch_waiters_.size() >= fetch_waiters_purge_at_) {
    std::erase_if(fetch_waiters_, [](const std::shared_ptr<FetchWaiter>& w) { return w->fired(); });
    fetch_waiters_purge_at_ = std::max<size_t>(16, 2 * fetch_waiters_.size());
  }
  fetch_waiters_.push_back(std::move(waiter));
}

void Partition::NotifyFetchWaiters() {
  std::vector<std::shared_ptr<FetchWaiter>> waiters = std::move(fetch_waiters_);
  fetch_waiters_.clear();
  for (auto& w : waiters) w->Notify();
}

Task<StatusOr<std::optional<Offset>>> Partition::OffsetForTimestamp(int64_t timestamp_ms) {
  CO_RETURN_IF_ERROR(close_reason_);
  OpGuard guard(*this);
  StatusOr<std::optional<Offset>> found = co_await log_->offset_for_timestamp(timestamp_ms);
  // Nothing at or above the HW is visible to clients yet.
  if (found.ok() && found->has_value() && **found >= hw_) co_return std::optional<Offset>();
  co_return found;
}

Task<Status> Partition::RunRetention() {
  CO_RETURN_IF_ERROR(close_reason_);
  OpGuard guard(*this);
  // Never past the HW (see the header): the log bounds the new log start by it.
  StatusOr<size_t> deleted = co_await log_->apply_retention(hw_);
  CO_RETURN_IF_ERROR(deleted.status());
  if (*deleted > 0) producers_.RemoveBelow(log_->log_start_offset());
  CO_RETURN_IF_ERROR(co_await log_->maybe_roll());
  // Snapshot files change only under the role mutex (see the header).
  co_await role_mutex_.lock();
  log::AsyncLockGuard lock(role_mutex_);
  if (closed()) co_return Status();
  if (*deleted > 0) CO_RETURN_IF_ERROR(co_await DropSnapshotsOutsideLog());
  co_return co_await SnapshotProducerState(/*due_only=*/true);
}

Task<Status> Partition::Close(Status reason) {
  if (closed()) co_return Status();
  close_reason_ = reason.ok() ? absl::UnavailableError("partition closed") : std::move(reason);
  while (!commit_waiters_.empty()) Complete(*commit_waiters_.begin()->second, close_reason_);
  NotifyFetchWaiters();
  NotifyReplicaWaiters();
  co_await pump_idle_.wait();
  co_await ops_idle_.wait();
  // Waiters that registered while the pump finished.
  while (!commit_waiters_.empty()) Complete(*commit_waiters_.begin()->second, close_reason_);
  // Nothing else runs now: make the log durable and snapshot the table at its end (a failure
  // costs only a longer load at the next start). A failed flush leaves the log failed, and
  // close() reports it.
  if (producers_loaded_ && failure_.ok()) {
    Status flushed;
    if (log_->durable_end_offset() != log_->visible_end_offset()) flushed = co_await log_->flush();
    Status snapshot;
    if (flushed.ok()) snapshot = co_await SnapshotProducerState(/*due_only=*/false);
    if (!snapshot.ok()) {
      LogEvent(LogLevel::kWarning, "partition",
               absl::StrCat("partition=", LogValue(options_.topic), "-", options_.index,
                            " producer_snapshot=failed error=", LogValue(snapshot.ToString())));
    }
  }
  log_closed_ = true;
  co_return co_await log_->close();
}

}  // namespace spool::broker
