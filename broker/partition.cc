#include "broker/partition.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "log/record/batch_header.h"

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
  co_return std::shared_ptr<Partition>(
      new Partition(*reactor, timers, std::move(options), std::move(log)));
}

Partition::Partition(io::Reactor& reactor, RequestTimers& timers, Options options,
                     std::unique_ptr<log::PartitionLog> log)
    : reactor_(reactor),
      timers_(timers),
      options_(std::move(options)),
      log_(std::move(log)),
      pump_idle_(reactor),
      ops_idle_(reactor) {
  pump_idle_.set();
  ops_idle_.set();
  // After Open() every recovered batch is durable, so both policies start at the visible end.
  hw_ = durable_policy() ? log_->durable_end_offset() : log_->visible_end_offset();
}

Partition::~Partition() = default;

Status Partition::Usable() const {
  if (!close_reason_.ok()) return close_reason_;
  return failure_;
}

Task<StatusOr<log::AppendResult>> Partition::Append(std::span<std::byte> batch) {
  CO_RETURN_IF_ERROR(Usable());
  OpGuard guard(*this);
  record::StampLeaderEpoch(batch, options_.leader_epoch.value());
  // No suspension before log_->append(): it assigns the offsets in call order.
  StatusOr<log::AppendResult> result = co_await log_->append(batch);
  if (result.ok()) {
    if (durable_policy()) {
      KickPump();
    } else {
      AdvanceHighWatermark(log_->visible_end_offset());
    }
  }
  co_return result;
}

void Partition::KickPump() {
  if (pump_running_ || closed() || !failure_.ok()) return;
  pump_running_ = true;
  pump_idle_.reset();
  reactor_.spawn(Pump(shared_from_this()));
}

Task<void> Partition::Pump(std::shared_ptr<Partition> self) {
  Offset last_target(-1);
  while (self->failure_.ok()) {
    const Offset target = self->log_->visible_end_offset();
    if (target <= self->hw_) break;
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
    self->AdvanceHighWatermark(self->log_->durable_end_offset());
  }
  self->pump_running_ = false;
  self->pump_idle_.set();
}

void Partition::AdvanceHighWatermark(Offset hw) {
  if (hw <= hw_) return;
  hw_ = hw;
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

Task<Status> Partition::WaitCommitted(Offset last, int64_t deadline_ns) {
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
  if (from < start || from > hw_) {
    co_return absl::OutOfRangeError(absl::StrCat("offset ", from.value(), " is outside [",
                                                 start.value(), ", ", hw_.value(), "] of ",
                                                 options_.topic, "-", options_.index));
  }
  if (from == hw_) {
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
  // Let the HW catch up first (see the header). Appends that land between this check and the
  // log's choice of segments stay in the active segment unless they roll it, which only a
  // retention limit below one segment could then reach.
  while (durable_policy() && failure_.ok() && !closed() && hw_ < log_->visible_end_offset()) {
    KickPump();
    co_await pump_idle_.wait();
  }
  CO_RETURN_IF_ERROR(close_reason_);
  StatusOr<size_t> deleted = co_await log_->apply_retention();
  CO_RETURN_IF_ERROR(deleted.status());
  co_return co_await log_->maybe_roll();
}

Task<Status> Partition::Close(Status reason) {
  if (closed()) co_return Status();
  close_reason_ = reason.ok() ? absl::UnavailableError("partition closed") : std::move(reason);
  while (!commit_waiters_.empty()) Complete(*commit_waiters_.begin()->second, close_reason_);
  NotifyFetchWaiters();
  co_await pump_idle_.wait();
  co_await ops_idle_.wait();
  // Waiters that registered while the pump finished.
  while (!commit_waiters_.empty()) Complete(*commit_waiters_.begin()->second, close_reason_);
  log_closed_ = true;
  co_return co_await log_->close();
}

}  // namespace spool::broker
