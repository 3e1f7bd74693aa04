// QuorumController: start-up and Stop(), the state machine adapter, the active-controller role,
// proposing a decision, sessions, metadata reads and the status view. The request API is in
// quorum_controller_requests.cc.
#include "replication/controller/quorum_controller.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "replication/controller/controller_errors.h"
#include "replication/controller/leadership.h"

namespace spool::controller {
namespace {

// The payload of a NOT_CONTROLLER status: the leader's id in decimal.
constexpr char kLeaderPayload[] = "spool.controller/leader";

// Snapshot image: index (8 bytes, little-endian) then a serialized v1::MetadataImage.
constexpr size_t kIndexBytes = 8;

Status NotController(raft::NodeId self, raft::NodeId leader) {
  std::string msg = absl::StrCat("node ", self.value(), " is not the active controller");
  if (leader != raft::kNoNode) {
    absl::StrAppend(&msg, " (leader: node ", leader.value(), ")");
  } else {
    absl::StrAppend(&msg, " (no leader known)");
  }
  Status st = ControllerStatus(ControllerError::kNotController, msg);
  if (leader != raft::kNoNode) {
    st.SetPayload(kLeaderPayload, absl::Cord(absl::StrCat(leader.value())));
  }
  return st;
}

// Long-poll deadlines are network time: the steady clock, not the controller's (maybe manual)
// clock.
int64_t SteadyNs() {
  return SystemClock::Get().monotonic_ns();
}

Status Stopped() {
  return absl::UnavailableError("controller stopped");
}

}  // namespace

raft::NodeId ControllerLeaderHint(const Status& status) {
  auto p = status.GetPayload(kLeaderPayload);
  uint32_t id = 0;
  if (!p.has_value() || !absl::SimpleAtoi(std::string(*p), &id)) return raft::kNoNode;
  return raft::NodeId{id};
}

// ---- start and stop ----

QuorumController::QuorumController(io::Reactor& reactor, QuorumControllerOptions options)
    : reactor_(reactor),
      options_(std::move(options)),
      clock_(options_.driver.clock != nullptr ? options_.driver.clock : &SystemClock::Get()),
      machine_(*this),
      role_changed_(reactor),
      commit_waits_(std::make_shared<CommitWaits>(reactor)),
      idle_(reactor),
      poll_done_(reactor),
      stop_done_(reactor) {
  uint64_t seed = options_.seed;
  if (seed == 0) {
    seed = static_cast<uint64_t>(clock_->monotonic_ns()) ^
           (uint64_t{options_.driver.raft.id.value()} * 0x9e3779b97f4a7c15ULL);
  }
  rng_.seed(seed);
  if (options_.poll_interval_ms <= 0) {
    options_.poll_interval_ms =
        std::clamp<int64_t>(options_.driver.raft.election_timeout_ns / 4'000'000, 1, 50);
  }
  if (options_.retained_batches == 0) options_.retained_batches = 1;
}

Task<StatusOr<std::unique_ptr<QuorumController>>> QuorumController::Start(
    io::Reactor& reactor, io::FileSystem& fs, QuorumControllerOptions options,
    raft::Transport& transport) {
  std::unique_ptr<QuorumController> c(new QuorumController(reactor, std::move(options)));
  raft::DriverOptions driver_options = c->options_.driver;
  StatusOr<std::unique_ptr<raft::RaftDriver>> driver = co_await raft::RaftDriver::Start(
      reactor, fs, std::move(driver_options), c->machine_, transport);
  if (!driver.ok()) {
    c->stopping_ = true;
    c->stopped_ = true;
    co_return driver.status();
  }
  c->driver_ = std::move(driver).value();
  c->poll_running_ = true;
  reactor.spawn(c->PollLoop());
  c->CheckRole();
  co_return c;
}

QuorumController::~QuorumController() {
  if (!stopped_) {
    std::fprintf(stderr, "spool: QuorumController destroyed before Stop() completed\n");
    std::abort();
  }
}

QuorumController::Running::~Running() {
  if (--c_.running_ == 0) c_.idle_.notify_all();
}

Task<Status> QuorumController::Stop() {
  if (stopping_) {
    if (!stopped_) co_await stop_done_.wait();
    co_return stop_status_;
  }
  stopping_ = true;
  active_ = false;
  state_.OnLeadershipLost();
  role_changed_.notify_all();
  commit_waits_->advanced.notify_all();
  stop_status_ = co_await driver_->Stop();
  while (running_ > 0) co_await idle_.wait();
  if (poll_running_) co_await poll_done_.wait();
  stopped_ = true;
  stop_done_.set();
  co_return stop_status_;
}

// ---- the state machine ----

Status QuorumController::Machine::Apply(raft::Index index, std::string_view data) {
  ASSIGN_OR_RETURN(std::vector<v1::MetadataRecord> records, DecodeBatch(data));
  const int64_t i = static_cast<int64_t>(index.value());
  ASSIGN_OR_RETURN(bool ours, c_.state_.ApplyCommitted(i, records));
  static_cast<void>(ours);  // the driver's Propose resolves our own entries
  c_.Retain(i, std::move(records));
  c_.commit_waits_->advanced.notify_all();
  return absl::OkStatus();
}

std::string QuorumController::Machine::Snapshot() {
  const uint64_t index = static_cast<uint64_t>(c_.state_.committed_index());
  std::string out(kIndexBytes, '\0');
  for (size_t b = 0; b < kIndexBytes; ++b) out[b] = static_cast<char>((index >> (8 * b)) & 0xff);
  std::string body;
  c_.state_.committed().ToProto().SerializeToString(&body);
  out += body;
  return out;
}

Status QuorumController::Machine::Restore(std::string_view image) {
  if (image.size() < kIndexBytes) {
    return absl::DataLossError("controller snapshot: shorter than its index");
  }
  uint64_t index = 0;
  for (size_t b = 0; b < kIndexBytes; ++b) {
    index |= uint64_t{static_cast<uint8_t>(image[b])} << (8 * b);
  }
  v1::MetadataImage proto;
  if (!proto.ParseFromArray(image.data() + kIndexBytes,
                            static_cast<int>(image.size() - kIndexBytes))) {
    return absl::DataLossError("controller snapshot: not a MetadataImage");
  }
  ASSIGN_OR_RETURN(ClusterImage restored, ClusterImage::FromProto(proto));
  c_.state_.Restore(std::move(restored), static_cast<int64_t>(index));
  c_.batches_.clear();
  c_.window_start_ = static_cast<int64_t>(index);
  c_.commit_waits_->advanced.notify_all();
  return absl::OkStatus();
}

void QuorumController::Retain(int64_t index, std::vector<v1::MetadataRecord> records) {
  batches_.push_back(MetadataBatch{index, std::move(records)});
  while (batches_.size() > options_.retained_batches) {
    window_start_ = batches_.front().index;
    batches_.pop_front();
  }
}

// ---- the active-controller role ----

void QuorumController::CheckRole() {
  if (stopping_) return;
  const raft::DriverStatus s = driver_->status();
  const bool leading = s.role == raft::Role::kLeader && s.error.ok() && !s.stopped;
  if (active_ && (!leading || s.term != active_term_)) Deactivate();
  if (leading && !active_ && !activating_) reactor_.spawn(Activate(s.term));
}

void QuorumController::Deactivate() {
  active_ = false;
  state_.OnLeadershipLost();
  role_changed_.notify_all();
}

Task<void> QuorumController::Activate(raft::Term term) {
  Running running(*this);
  activating_ = true;
  // Resolves once this leader has committed its term's no-op and applied everything before it.
  Status st = co_await driver_->ReadBarrier();
  activating_ = false;
  if (st.ok() && !stopping_ && !active_) {
    const raft::DriverStatus s = driver_->status();
    if (s.role == raft::Role::kLeader && s.term == term) {
      state_.OnLeadershipLost();  // nothing of an earlier term may stay pending
      liveness_.Reset(state_.committed(), NowMs());
      active_ = true;
      active_term_ = term;
      last_session_check_ms_ = NowMs();
    }
  }
  role_changed_.notify_all();
  // A newer term may have started meanwhile: look again.
  CheckRole();
}

Task<Status> QuorumController::AwaitActive() {
  for (;;) {
    if (stopping_) co_return Stopped();
    CheckRole();
    if (active_) co_return absl::OkStatus();
    const raft::DriverStatus s = driver_->status();
    if (!s.error.ok()) co_return s.error;
    if (s.role != raft::Role::kLeader) co_return NotController(id(), s.leader);
    // Leading but not active yet: the activation (or the poller) wakes us.
    co_await role_changed_.wait();
  }
}

Status QuorumController::Refusal(const Status& st) const {
  if (stopping_) return Stopped();
  const raft::DriverStatus s = driver_->status();
  if (!s.error.ok()) return s.error;
  if (!st.ok() && st.code() != absl::StatusCode::kUnavailable) return st;
  raft::NodeId leader = raft::LeaderHint(st);
  if (leader == raft::kNoNode && s.leader != id()) leader = s.leader;
  return NotController(id(), leader);
}

Task<Status> QuorumController::ProposeAndCommit(std::vector<v1::MetadataRecord> records,
                                                int64_t expected_index) {
  if (records.empty()) co_return absl::OkStatus();
  const int64_t index = static_cast<int64_t>(driver_->next_index().value());
  if (expected_index != 0 && expected_index != index) {
    co_return absl::InternalError(absl::StrCat("controller: decided for entry ", expected_index,
                                               " but the next entry is ", index));
  }
  std::string data = EncodeBatch(records);
  if (Status st = state_.Propose(index, std::move(records)); !st.ok()) {
    co_return absl::InternalError(
        absl::StrCat("controller: a decision does not apply: ", st.message()));
  }
  // No suspension between next_index() and the append inside Propose (driver.h).
  StatusOr<raft::Index> r = co_await driver_->Propose(std::move(data));
  if (!r.ok()) {
    CheckRole();
    // Not appended (not the leader any more): our speculative entry must go.
    if (active_ && state_.latest_index() >= index &&
        static_cast<int64_t>(driver_->status().last_index.value()) < index) {
      Deactivate();
    }
    co_return Refusal(r.status());
  }
  if (static_cast<int64_t>(r->value()) != index) {
    co_return absl::InternalError(
        absl::StrCat("controller: proposed at ", index, " but committed at ", r->value()));
  }
  co_return absl::OkStatus();
}

// ---- timers ----

Task<void> QuorumController::PollLoop() {
  const std::chrono::milliseconds interval(options_.poll_interval_ms);
  while (!stopping_) {
    co_await reactor_.sleep_for(interval);
    if (stopping_) break;
    CheckRole();
    role_changed_.notify_all();  // waiters in AwaitActive look again
    const int64_t session_every = std::max<int64_t>(options_.config.session_timeout_ms / 4, 1);
    if (active_ && !session_check_running_ && NowMs() - last_session_check_ms_ >= session_every) {
      last_session_check_ms_ = NowMs();
      reactor_.spawn(CheckSessionsNow());
    }
    if (active_ && options_.config.auto_leader_rebalance && !rebalance_running_ &&
        NowMs() - last_rebalance_ms_ >= options_.config.leader_imbalance_check_interval_ms) {
      last_rebalance_ms_ = NowMs();
      reactor_.spawn(RebalanceLeadersNow());
    }
  }
  poll_running_ = false;
  poll_done_.set();
}

Task<void> QuorumController::CheckSessionsNow() {
  Running running(*this);
  session_check_running_ = true;
  Status ready = co_await AwaitActive();
  if (ready.ok()) {
    ControllerResult<SessionExpiry> r =
        CheckSessions(state_.latest(), liveness_, NowMs(), options_.config);
    if (r.reply.status.ok() && !r.records.empty()) {
      Status st = co_await ProposeAndCommit(std::move(r.records), 0);
      PermitUncheckedError(st);  // retried at the next check if the entry did not commit
    }
  }
  session_check_running_ = false;
}

Task<void> QuorumController::RebalanceLeadersNow() {
  Running running(*this);
  rebalance_running_ = true;
  Status ready = co_await AwaitActive();
  if (ready.ok()) {
    RecordBuilder builder(state_.latest());
    Status st =
        ElectPreferredLeaders(builder, options_.config.leader_imbalance_per_broker_percentage);
    std::vector<v1::MetadataRecord> records = std::move(builder).Take();
    if (st.ok() && !records.empty()) {
      Status committed = co_await ProposeAndCommit(std::move(records), 0);
      PermitUncheckedError(committed);  // tried again at the next check
    }
  }
  rebalance_running_ = false;
}

// ---- metadata ----

Task<StatusOr<MetadataView>> QuorumController::ReadMetadata() {
  Running running(*this);
  if (stopping_) co_return Stopped();
  Status st = co_await driver_->ReadBarrier();
  if (!st.ok()) {
    CheckRole();
    co_return Refusal(st);
  }
  MetadataView view;
  view.index = state_.committed_index();
  view.image = state_.committed();
  co_return view;
}

MetadataDelta QuorumController::FetchMetadata(int64_t from_index, size_t max_batches) const {
  MetadataDelta d;
  if (from_index < window_start_) {
    d.snapshot_needed = true;
    d.image = state_.committed();
    d.up_to = state_.committed_index();
    return d;
  }
  auto it = std::upper_bound(batches_.begin(), batches_.end(), from_index,
                             [](int64_t from, const MetadataBatch& b) { return from < b.index; });
  for (; it != batches_.end() && d.batches.size() < max_batches; ++it) d.batches.push_back(*it);
  if (it != batches_.end()) {
    d.up_to = d.batches.empty() ? from_index : d.batches.back().index;
  } else {
    d.up_to = std::max(from_index, state_.committed_index());
  }
  return d;
}

Task<void> QuorumController::WaitForCommitAfter(int64_t index, std::chrono::nanoseconds max_wait) {
  if (stopping_ || long_polls_ended_ || committed_index() > index || max_wait.count() <= 0) {
    co_return;
  }
  Running running(*this);
  std::shared_ptr<CommitWaits> w = commit_waits_;
  const int64_t deadline = SteadyNs() + max_wait.count();
  const auto mine = w->deadlines.insert(deadline);
  if (w->armed.empty() || *w->armed.begin() > deadline) {
    w->armed.insert(deadline);
    reactor_.spawn(CommitWaitTimer(w, reactor_, deadline));
  }
  while (!stopping_ && !long_polls_ended_ && committed_index() <= index && SteadyNs() < deadline) {
    co_await w->advanced.wait();
  }
  w->deadlines.erase(mine);
}

void QuorumController::EndLongPolls() {
  long_polls_ended_ = true;
  commit_waits_->advanced.notify_all();
}

Task<void> QuorumController::CommitWaitTimer(std::shared_ptr<CommitWaits> waits,
                                             io::Reactor& reactor, int64_t target) {
  for (;;) {
    const int64_t before = SteadyNs();
    if (target > before) co_await reactor.sleep_for(std::chrono::nanoseconds(target - before));
    waits->armed.erase(waits->armed.find(target));
    const int64_t now = SteadyNs();
    if (!waits->deadlines.empty() && *waits->deadlines.begin() <= now) {
      waits->advanced.notify_all();
    }
    const auto next = waits->deadlines.upper_bound(now);
    if (next == waits->deadlines.end()) co_return;
    if (!waits->armed.empty() && *waits->armed.begin() <= *next) co_return;
    target = *next;
    waits->armed.insert(target);
  }
}

QuorumStatus QuorumController::status() const {
  QuorumStatus s;
  s.raft = driver_->status();
  s.active = active_;
  s.metadata_index = state_.committed_index();
  s.pending = state_.pending_count();
  const int64_t now = NowMs();
  for (const auto& [id, b] : state_.committed().brokers()) {
    BrokerStatus bs;
    bs.id = id;
    bs.epoch = b.epoch;
    bs.fenced = b.fenced;
    bs.rack = b.rack;
    bs.endpoints = b.endpoints;
    if (active_) {
      if (std::optional<int64_t> last = liveness_.LastContact(id); last.has_value()) {
        bs.ms_since_contact = now - *last;
      }
    }
    s.brokers.push_back(std::move(bs));
  }
  return s;
}

}  // namespace spool::controller
