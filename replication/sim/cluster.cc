// Cluster: the event loop, nodes, disks and the client of the Raft simulator. Faults and the
// network are in faults.cc.
#include "replication/sim/cluster.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace spool::raft::sim {

RunResult RunSimulation(const SimOptions& options) {
  Cluster cluster(options);
  return cluster.Run();
}

Cluster::Cluster(const SimOptions& options) : options_(options), rng_(options.seed) {
  int voters = options_.voters;
  if (voters == 0) {
    const int64_t r = Uniform(0, 9);
    voters = r == 0 ? 1 : (r <= 6 ? 3 : 5);
  }
  result_.voters = voters;
  for (int i = 0; i < voters; ++i)
    base_config_.voters.push_back(NodeId{static_cast<uint32_t>(i + 1)});
  nodes_.resize(static_cast<size_t>(voters));
  group_.assign(static_cast<size_t>(voters), 0);
  for (int i = 0; i < voters; ++i) nodes_[i].id = NodeId{static_cast<uint32_t>(i + 1)};
  checker_ = std::make_unique<Checker>(static_cast<size_t>(voters));
  compact_every_ = static_cast<int>(Uniform(8, 64));
  // Small appends make runs where an old-term entry reaches a majority before the new
  // leader's no-op does (the Figure 8 shape) common.
  leader_kill_ = Chance(0.2) ? 0.0 : static_cast<double>(Uniform(200, 800)) / 1000.0;
  base_config_.max_entries_per_append = Chance(0.6) ? 1 : static_cast<int>(Uniform(2, 64));
  max_delay_ns_ = Uniform(1'000'000, 30'000'000);
  fsync_ns_ = Uniform(50'000, 5'000'000);
}

Cluster::~Cluster() = default;

int64_t Cluster::Uniform(int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
}

bool Cluster::Chance(double p) {
  return p > 0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < p;
}

void Cluster::Push(Event e) {
  e.seq = next_seq_++;
  queue_.push(std::move(e));
}

void Cluster::Hash(uint64_t v) {
  result_.trace_hash ^=
      v + 0x9e3779b97f4a7c15ULL + (result_.trace_hash << 6) + (result_.trace_hash >> 2);
}

void Cluster::Trace(const std::string& line) {
  if (options_.keep_trace) result_.trace.push_back(absl::StrCat(now_ / 1000, "us ", line));
}

RunResult Cluster::Run() {
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) StartNode(i);
  Push(Event{.at = Uniform(200'000'000, 2'000'000'000), .kind = EventKind::kFault});
  Push(Event{.at = 50'000'000, .kind = EventKind::kPropose});
  Push(Event{.at = 300'000'000, .kind = EventKind::kRead});
  Push(Event{.at = options_.fault_phase_ns, .kind = EventKind::kHeal});
  const int64_t end = options_.fault_phase_ns + options_.liveness_bound_ns;
  while (!queue_.empty() && checker_->ok()) {
    Event e = queue_.top();
    queue_.pop();
    if (e.at > end) break;
    if (live_at_ >= 0 && e.at > live_at_ + 1'000'000'000) break;  // settled after recovery
    now_ = e.at;
    ++result_.events;
    Hash(static_cast<uint64_t>(now_));
    Hash(static_cast<uint64_t>(e.kind) * 131 + static_cast<uint64_t>(e.node));
    SimNode& n = nodes_[static_cast<size_t>(e.node)];
    switch (e.kind) {
      case EventKind::kDeliver:
        Deliver(e);
        break;
      case EventKind::kTimer:
        if (n.up && e.generation == n.timer_generation) {
          n.raft->Tick(now_);
          Process(e.node);
        }
        break;
      case EventKind::kPersisted:
        if (n.up && e.generation == n.generation) HandlePersisted(e.node);
        break;
      case EventKind::kFault:
        if (!healed_) InjectFault();
        break;
      case EventKind::kCrash:
        if (n.up && e.generation == n.generation) {
          CrashNode(e.node);
          Push(Event{.at = now_ + Uniform(10'000'000, 2'000'000'000),
                     .kind = EventKind::kRestart,
                     .node = e.node,
                     .generation = n.generation});
        }
        break;
      case EventKind::kIsolate:
        if (!healed_) {
          for (int& g : group_) g = 0;
          group_[static_cast<size_t>(e.node)] = 1;
          Push(Event{.at = now_ + Uniform(200'000'000, 2'000'000'000),
                     .kind = EventKind::kHealLinks});
        }
        break;
      case EventKind::kHealLinks:
        for (int& g : group_) g = 0;
        break;
      case EventKind::kRestart:
        if (!n.up && e.generation == n.generation) StartNode(e.node);
        break;
      case EventKind::kPropose:
        Propose();
        break;
      case EventKind::kRead:
        Read();
        break;
      case EventKind::kHeal:
        Heal();
        break;
    }
    CheckGlobal();
  }
  result_.ok = checker_->ok();
  result_.violation = checker_->violation();
  result_.live = live_at_ >= 0;
  result_.recovery_ns = live_at_ >= 0 ? live_at_ - heal_at_ : -1;
  result_.sim_time_ns = now_;
  result_.committed = checker_->committed_index().value();
  Hash(result_.committed);
  return result_;
}

void Cluster::StartNode(int i) {
  SimNode& n = nodes_[static_cast<size_t>(i)];
  n.up = true;
  n.pending.clear();
  n.last_persist_done = now_;
  RecoveredState state = n.disk.Recover();
  n.sm = ListStateMachine();
  if (state.snapshot) {
    if (Status st = n.sm.Restore(*state.snapshot); !st.ok()) {
      checker_->Fail(absl::StrCat("node ", n.id.value(), " restore: ", st.ToString()));
      return;
    }
    checker_->OnRestore(n.id, state.snapshot->meta, n.sm.hash());
  }
  Config config = base_config_;
  config.id = n.id;
  auto node = RaftNode::Create(config, std::move(state), rng_(), now_);
  if (!node.ok()) {
    checker_->Fail(absl::StrCat("node ", n.id.value(), " start: ", node.status().ToString()));
    return;
  }
  n.raft = std::move(node).value();
  logs_changed_ = true;
  Trace(absl::StrCat("start ", n.id.value(), " term ", n.raft->term().value(), " last ",
                     n.raft->log().last_index().value()));
  Process(i);
}

void Cluster::CrashNode(int i) {
  SimNode& n = nodes_[static_cast<size_t>(i)];
  n.up = false;
  ++n.generation;
  n.pending.clear();
  n.disk.Crash();
  n.raft.reset();
  ++result_.crashes;
  logs_changed_ = true;
  disks_changed_ = true;
  Trace(absl::StrCat("crash ", n.id.value()));
}

void Cluster::Process(int i) {
  SimNode& n = nodes_[static_cast<size_t>(i)];
  RaftNode& r = *n.raft;
  for (;;) {
    checker_->CheckNode(r);
    if (!checker_->ok() || !r.HasReady()) break;
    Ready rd = r.TakeReady();
    if (rd.restore) {
      if (Status st = n.sm.Restore(*rd.restore); !st.ok()) {
        checker_->Fail(absl::StrCat("node ", n.id.value(), " restore: ", st.ToString()));
        return;
      }
      checker_->OnRestore(n.id, rd.restore->meta, n.sm.hash());
    }
    for (const Entry& e : rd.committed) {
      if (Status st = n.sm.Apply(e); !st.ok()) {
        checker_->Fail(absl::StrCat("node ", n.id.value(), ": ", st.ToString()));
        return;
      }
      checker_->OnApply(n.id, e, n.sm.hash());
      Hash(e.index.value() * 7 + e.term.value());
      uint64_t seq = 0;
      if (live_at_ < 0 && healed_ && e.type == EntryType::kNormal && e.data.size() > 1 &&
          absl::SimpleAtoi(absl::string_view(e.data).substr(1), &seq) && seq > heal_mark_) {
        live_at_ = now_;
      }
    }
    for (const ReadState& rs : rd.reads) checker_->OnReadConfirmed(n.id, rs.request_id, rs.index);
    if (n.sm.applied_index() - r.log().snapshot_index() >= static_cast<uint64_t>(compact_every_)) {
      if (Status st = r.Compact(n.sm.applied_index(), n.sm.Serialize()); !st.ok()) {
        checker_->Fail(absl::StrCat("node ", n.id.value(), " compact: ", st.ToString()));
        return;
      }
    }
    PendingPersist p;
    p.writes = rd.hard_state.has_value() || rd.snapshot != nullptr || !rd.entries.empty();
    if (rd.snapshot != nullptr || !rd.entries.empty()) logs_changed_ = true;
    int64_t delay = 0;
    if (p.writes) {
      n.disk.Write(rd);
      p.image = n.disk.CaptureForSync();
      delay = Uniform(fsync_ns_ / 2, fsync_ns_);
      if (Chance(slow_fsync_)) delay += Uniform(50'000'000, 400'000'000);
      if (!rd.entries.empty()) {
        p.last_index = rd.entries.back().index;
        p.last_term = rd.entries.back().term;
      }
      if (rd.snapshot) p.snapshot_index = rd.snapshot->meta.index;
    }
    p.done_at = std::max(n.last_persist_done, now_ + delay);
    n.last_persist_done = p.done_at;
    p.messages = std::move(rd.messages);
    if (!p.writes && n.pending.empty()) {
      SendAll(std::move(p.messages));
    } else {
      Push(Event{
          .at = p.done_at, .kind = EventKind::kPersisted, .node = i, .generation = n.generation});
      n.pending.push_back(std::move(p));
    }
  }
  if (options_.keep_trace && (r.role() != n.traced_role || r.term() != n.traced_term)) {
    n.traced_role = r.role();
    n.traced_term = r.term();
    Trace(absl::StrCat("node ", n.id.value(), " is ", RoleName(r.role()), " in term ",
                       r.term().value(), " (commit ", r.commit_index().value(), ", last ",
                       r.log().last_index().value(), ")"));
  }
  if (r.role() == Role::kLeader && r.term() > n.led) {
    n.led = r.term();
    if (!healed_ && (crash_next_leader_ || Chance(leader_kill_))) {
      crash_next_leader_ = false;
      Push(Event{.at = now_ + Uniform(0, 30'000'000),
                 .kind = Chance(0.5) ? EventKind::kCrash : EventKind::kIsolate,
                 .node = i,
                 .generation = n.generation});
    }
  }
  ++n.timer_generation;
  Push(Event{.at = std::max(now_, r.next_deadline_ns()),
             .kind = EventKind::kTimer,
             .node = i,
             .generation = n.timer_generation});
}

void Cluster::HandlePersisted(int i) {
  SimNode& n = nodes_[static_cast<size_t>(i)];
  while (!n.pending.empty() && n.pending.front().done_at <= now_) {
    PendingPersist p = std::move(n.pending.front());
    n.pending.erase(n.pending.begin());
    if (p.writes) {
      disks_changed_ = true;
      n.disk.CompleteSync(std::move(p.image), options_.bug_skip_hard_state_sync);
      if (p.snapshot_index > Index{0}) n.raft->OnSnapshotPersisted(p.snapshot_index);
      if (p.last_index > Index{0}) n.raft->OnPersisted(p.last_index, p.last_term);
    }
    SendAll(std::move(p.messages));
  }
  Process(i);
}

void Cluster::Propose() {
  Push(Event{.at = now_ + Uniform(10'000'000, 150'000'000), .kind = EventKind::kPropose});
  int leader = -1;
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    const SimNode& n = nodes_[static_cast<size_t>(i)];
    if (!n.up || n.raft->role() != Role::kLeader) continue;
    if (leader < 0 || n.raft->term() > nodes_[static_cast<size_t>(leader)].raft->term()) leader = i;
  }
  if (leader < 0) return;
  ++proposals_;
  RaftNode& r = *nodes_[static_cast<size_t>(leader)].raft;
  r.Tick(now_);
  if (r.Propose(absl::StrCat("c", proposals_)).ok()) {
    Trace(absl::StrCat("propose c", proposals_, " at ", r.id().value()));
  }
  Process(leader);
}

void Cluster::Read() {
  Push(Event{.at = now_ + Uniform(50'000'000, 500'000'000), .kind = EventKind::kRead});
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    SimNode& n = nodes_[static_cast<size_t>(i)];
    if (!n.up || n.raft->role() != Role::kLeader) continue;
    ++reads_;
    checker_->OnReadRequested(reads_);
    n.raft->Tick(now_);
    if (n.raft->RequestRead(reads_).ok()) Process(i);
  }
}

void Cluster::CheckGlobal() {
  if (!checker_->ok()) return;
  if (checker_->committed_index() != checked_commit_) {
    checked_commit_ = checker_->committed_index();
    disks_changed_ = true;
  }
  if (!logs_changed_ && !disks_changed_) return;
  std::vector<const RaftNode*> live;
  std::vector<const DiskImage*> synced;
  for (const SimNode& n : nodes_) {
    live.push_back(n.up ? n.raft.get() : nullptr);
    synced.push_back(&n.disk.synced());
  }
  if (logs_changed_) checker_->CheckLogMatching(live);
  if (disks_changed_) checker_->CheckDurable(synced);
  logs_changed_ = false;
  disks_changed_ = false;
}

}  // namespace spool::raft::sim
