// RaftDriver: start-up, inputs, the timer, the Ready loop and Stop(). Applying a Ready, the
// pending calls and the status view are in driver_apply.cc.
#include "replication/raft/driver.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replication/raft/wire.h"

namespace spool::raft {
namespace {

// A timer never sleeps less than this, so a deadline that does not move cannot spin the loop.
constexpr int64_t kMinTimerNs = 100'000;

}  // namespace

Task<StatusOr<std::unique_ptr<RaftDriver>>> RaftDriver::Start(io::Reactor& reactor,
                                                              io::FileSystem& fs,
                                                              DriverOptions options,
                                                              StateMachine& sm,
                                                              Transport& transport) {
  CO_RETURN_IF_ERROR(ValidateConfig(options.raft));
  std::string dir = options.dir;
  CO_ASSIGN_OR_RETURN(std::unique_ptr<FileStorage> storage, co_await FileStorage::Open(fs, dir));
  RecoveredState recovered = storage->TakeRecovered();
  Index applied{0};
  if (recovered.snapshot != nullptr) {
    Status st = sm.Restore(recovered.snapshot->data);
    if (!st.ok()) {
      PermitUncheckedError(co_await storage->Close());
      co_return st;
    }
    applied = recovered.snapshot->meta.index;
  }
  std::unique_ptr<RaftDriver> d(
      new RaftDriver(reactor, std::move(options), sm, transport, std::move(storage)));
  d->applied_ = applied;
  const int64_t now = d->Now();
  uint64_t seed = d->options_.seed;
  if (seed == 0) {
    seed = static_cast<uint64_t>(now) ^ (uint64_t{d->id().value()} * 0x9e3779b97f4a7c15ULL);
  }
  StatusOr<std::unique_ptr<RaftNode>> node =
      RaftNode::Create(d->options_.raft, std::move(recovered), seed, now);
  if (!node.ok()) {
    d->stopping_ = true;
    d->stopped_ = true;
    d->shared_->driver = nullptr;
    PermitUncheckedError(co_await d->storage_->Close());
    co_return node.status();
  }
  d->node_ = std::move(node).value();
  if (d->options_.raft.voters.size() == 1) d->node_->StartElection();
  d->loop_running_ = true;
  reactor.spawn(d->ReadyLoop());
  d->AfterInput();
  co_return d;
}

RaftDriver::RaftDriver(io::Reactor& reactor, DriverOptions options, StateMachine& sm,
                       Transport& transport, std::unique_ptr<FileStorage> storage)
    : reactor_(reactor),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &SystemClock::Get()),
      sm_(sm),
      transport_(transport),
      storage_(std::move(storage)),
      shared_(std::make_shared<Shared>()),
      wake_(reactor),
      loop_done_(reactor),
      stop_done_(reactor) {
  shared_->driver = this;
}

RaftDriver::~RaftDriver() {
  if (!stopped_) {
    std::fprintf(stderr, "spool: RaftDriver of node %u destroyed before Stop() completed\n",
                 id().value());
    std::abort();
  }
}

// ---- inputs ----

void RaftDriver::Deliver(Message m) {
  if (!Accepting()) return;
  if (m.to != id()) {
    ++counters_.dropped_misaddressed;
    return;
  }
  ++counters_.messages_received;
  node_->Tick(Now());
  node_->Step(m);
  AfterInput();
}

void RaftDriver::DeliverWire(std::string_view bytes) {
  if (!Accepting()) return;
  StatusOr<Envelope> env = DecodeEnvelope(bytes);
  if (!env.ok()) {
    ++counters_.dropped_malformed;
    return;
  }
  if (env->cluster_id != options_.cluster_id) {
    ++counters_.dropped_foreign_cluster;
    return;
  }
  Deliver(std::move(env->message));
}

Task<StatusOr<Index>> RaftDriver::Propose(std::string data) {
  if (!Accepting()) co_return Refusal();
  // No Tick here: nothing may change the log between next_index() and this append.
  StatusOr<Index> index = node_->Propose(std::move(data));
  if (!index.ok()) {
    AfterInput();
    co_return NotLeader();
  }
  auto w = std::make_shared<Waiter>(reactor_);
  w->term = node_->term();
  w->index = *index;
  proposals_[*index] = w;
  AfterInput();
  co_await w->done.wait();
  // Only the waiter is used from here: the driver may be gone.
  co_return w->result;
}

Task<Status> RaftDriver::ReadBarrier() {
  std::shared_ptr<Shared> shared = shared_;
  for (;;) {
    if (shared->driver == nullptr) co_return StoppedError();
    if (!Accepting()) co_return Refusal();
    node_->Tick(Now());
    const uint64_t id = ++next_read_id_;
    Status st = node_->RequestRead(id);
    auto w = std::make_shared<Waiter>(reactor_);
    if (st.ok()) {
      reads_.emplace(id, w);
    } else if (st.code() == absl::StatusCode::kUnavailable && node_->role() == Role::kLeader) {
      // A new leader that has not committed its no-op yet: ask again after the next Ready.
      w->retry = true;
      read_retries_.push_back(w);
    } else {
      AfterInput();
      co_return NotLeader();
    }
    AfterInput();
    co_await w->done.wait();
    const bool again = w->retry && w->result.ok();
    if (!again) co_return w->result.status();
  }
}

// ---- time ----

void RaftDriver::AfterInput() {
  CheckLeadership();
  ArmTimer();
  if (node_->HasReady()) wake_.notify_all();
}

void RaftDriver::ArmTimer() {
  if (!Accepting()) return;
  const int64_t deadline = node_->next_deadline_ns();
  if (deadline >= armed_ns_) return;
  armed_ns_ = deadline;
  const int64_t wait = std::max(deadline - Now(), kMinTimerNs);
  reactor_.spawn(TimerTask(shared_, &reactor_, deadline, wait));
}

Task<void> RaftDriver::TimerTask(std::shared_ptr<Shared> shared, io::Reactor* reactor,
                                 int64_t deadline_ns, int64_t wait_ns) {
  const std::chrono::nanoseconds wait(wait_ns);
  co_await reactor->sleep_for(wait);
  if (shared->driver != nullptr) shared->driver->OnTimer(deadline_ns);
}

void RaftDriver::OnTimer(int64_t deadline_ns) {
  if (deadline_ns == armed_ns_) armed_ns_ = INT64_MAX;
  if (!Accepting()) return;
  ++counters_.timer_wakeups;
  node_->Tick(Now());
  AfterInput();
}

// ---- the Ready loop ----

Task<void> RaftDriver::ReadyLoop() {
  while (Accepting()) {
    if (!node_->HasReady()) {
      co_await wake_.wait();
      continue;
    }
    Ready rd = node_->TakeReady();
    ++counters_.readys;
    // 1. Persist.
    if (rd.hard_state.has_value() || rd.snapshot != nullptr || !rd.entries.empty()) {
      const Index snapshot_index = rd.snapshot ? rd.snapshot->meta.index : Index{0};
      const Index last_index = rd.entries.empty() ? Index{0} : rd.entries.back().index;
      const Term last_term = rd.entries.empty() ? Term{0} : rd.entries.back().term;
      std::optional<HardState> hard_state = rd.hard_state;
      std::shared_ptr<const raft::Snapshot> snapshot = std::move(rd.snapshot);
      std::vector<Entry> entries = std::move(rd.entries);
      Status st = co_await storage_->Persist(std::move(hard_state), std::move(snapshot),
                                             std::move(entries));
      if (stopping_) break;
      if (!st.ok()) {
        Fail(st);
        break;
      }
      ++counters_.persists;
      // 2. Report.
      if (snapshot_index > Index{0}) node_->OnSnapshotPersisted(snapshot_index);
      if (last_index > Index{0}) node_->OnPersisted(last_index, last_term);
    }
    // 3. Send.
    counters_.messages_sent += rd.messages.size();
    for (Message& m : rd.messages) transport_.Send(std::move(m));
    // 4. Apply.
    if (Status st = Apply(rd); !st.ok()) {
      Fail(st);
      break;
    }
    for (auto& w : read_retries_) w->Resolve(Index{0});
    read_retries_.clear();
    CheckLeadership();
    ArmTimer();
  }
  loop_running_ = false;
  loop_done_.set();
}

// ---- stop ----

Task<Status> RaftDriver::Stop() {
  if (stopping_) {
    if (!stopped_) co_await stop_done_.wait();
    co_return close_status_;
  }
  stopping_ = true;
  shared_->driver = nullptr;
  FailAll(StoppedError());
  wake_.notify_all();
  if (loop_running_) co_await loop_done_.wait();
  close_status_ = co_await storage_->Close();
  stopped_ = true;
  stop_done_.set();
  co_return close_status_;
}

}  // namespace spool::raft
