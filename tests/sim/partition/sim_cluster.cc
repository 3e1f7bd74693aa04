// The partition simulator's run loop, faults and checks (sim_cluster.h, sim_state.h).
#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replication/controller/leadership.h"
#include "tests/sim/partition/sim_state.h"
#include "tests/support/log_test_util.h"

namespace spool::sim {

using broker::Partition;

Cluster::Cluster(io::Reactor& reactor, PartitionSimOptions options)
    : reactor_(reactor),
      options_(std::move(options)),
      rng_(options_.seed),
      timers_(reactor),
      controller_rng_(options_.seed ^ 0x9e3779b97f4a7c15ull) {
  // Far past the real clock (see sim_cluster.h): a leadership's start as ReplicaProgress records
  // it (real time) is then always long ago in virtual time.
  now_ns_ = broker::RequestTimers::NowNs() + int64_t{1'000'000} * 1'000'000'000;
  config_.session_timeout_ms = 600;
  config_.auto_leader_rebalance = false;
  result_.nodes = options_.nodes > 0 ? options_.nodes : 3 + static_cast<int>(Rand(3));
  result_.partitions =
      options_.partitions > 0 ? options_.partitions : 1 + static_cast<int>(Rand(3));
}

void Cluster::Trace(std::string line) {
  std::string full = absl::StrCat("[", step_, "] ", line);
  for (char ch : full) hash_ = (hash_ ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  trace_.push_back(std::move(full));
  if (trace_.size() > options_.trace_lines) trace_.pop_front();
}

void Cluster::Violation(std::string what) {
  if (!result_.ok) return;
  result_.ok = false;
  result_.violation = absl::StrCat("step ", step_, ": ", what);
  Trace("VIOLATION " + what);
}

Task<Status> Cluster::OpenReplicas(Node& node) {
  for (int32_t k = 0; k < result_.partitions; k++) {
    Replica& r = node.replicas[static_cast<size_t>(k)];
    const controller::PartitionState* ps = nullptr;
    if (const controller::TopicImage* t = image_.FindTopic(std::string_view(kTopic))) {
      ps = &t->partitions[static_cast<size_t>(k)];
    }
    r = Replica();
    if (ps == nullptr ||
        std::find(ps->replicas.begin(), ps->replicas.end(), node.id) == ps->replicas.end()) {
      continue;
    }
    Partition::Options o;
    o.topic = kTopic;
    o.index = k;
    o.dir = absl::StrCat(node.root, "/", kTopic, "-", k);
    o.config.min_insync_replicas = 2;
    o.follower = true;
    o.leader_id = -1;
    StatusOr<std::shared_ptr<Partition>> p = co_await Partition::Open(*node.fs, clock_, timers_, o);
    if (!p.ok()) {
      co_return absl::InternalError(absl::StrCat("node ", node.id, " partition ", k,
                                                 " does not open: ", p.status().ToString()));
    }
    r.p = *std::move(p);
  }
  co_return Status();
}

Task<Status> Cluster::Setup() {
  for (int32_t n = 0; n < result_.nodes; n++) {
    Node node;
    node.id = n;
    node.root = absl::StrCat(options_.dir, "/node-", n);
    node.base = io::NewReactorFileSystem(reactor_);
    node.fs =
        std::make_unique<testing::FaultFileSystem>(reactor_, *node.base, node.root + "-scratch");
    node.replicas.resize(static_cast<size_t>(result_.partitions));
    nodes_.push_back(std::move(node));
  }
  for (int32_t n = 0; n < result_.nodes; n++) {
    Node& node = nodes_[static_cast<size_t>(n)];
    Status st = co_await node.fs->mkdir(node.root);
    CO_RETURN_IF_ERROR(st);
    // The node's directory must survive a power cut like the partitions' below it.
    st = co_await node.fs->sync_dir(options_.dir);
    CO_RETURN_IF_ERROR(st);
    HeartbeatStep(n);  // registers
  }
  for (Node& node : nodes_) {
    node.view = latest_;
    node.view_index = index_;
  }
  for (int32_t n = 0; n < result_.nodes; n++) HeartbeatStep(n);  // unfences
  controller::CreateTopicsRequest create;
  controller::CreatableTopic t;
  t.name = kTopic;
  t.num_partitions = result_.partitions;
  t.replication_factor = 3;
  if (options_.unclean_leader_election) t.configs[controller::kUncleanLeaderElectionKey] = "true";
  create.topics.push_back(t);
  auto created = controller::CreateTopics(image_, create, config_, controller_rng_);
  if (created.reply.empty() || !created.reply.front().status.ok()) {
    co_return absl::InternalError("CreateTopics failed");
  }
  if (!Commit(created.records, "CreateTopics")) co_return absl::InternalError("commit");
  for (Node& node : nodes_) CO_RETURN_IF_ERROR(co_await OpenReplicas(node));
  for (int32_t n = 0; n < result_.nodes; n++) co_await DeliverMetadata(n);
  clients_.resize(2);
  for (Client& c : clients_) {
    c.view = latest_;
    c.producers.resize(static_cast<size_t>(result_.partitions));
    for (Producer& pr : c.producers) pr.producer_id = next_producer_id_++;
  }
  acked_.resize(static_cast<size_t>(result_.partitions));
  co_return co_await Settle();
}

// Waits until no durability pump runs outside held nodes and the reactor ran the work they
// woke (commit waiters), so the next step sees a state that does not depend on I/O timing.
Task<Status> Cluster::Settle() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (true) {
    bool busy = false;
    for (const Node& node : nodes_) {
      if (!node.alive || node.held) continue;
      for (const Replica& r : node.replicas) busy |= r.p != nullptr && r.p->pump_running();
    }
    if (!busy) break;
    if (std::chrono::steady_clock::now() > deadline) {
      co_return absl::DeadlineExceededError("the partitions' pumps did not settle");
    }
    co_await reactor_.sleep_for(std::chrono::nanoseconds(0));
  }
  for (int i = 0; i < 4; i++) co_await reactor_.sleep_for(std::chrono::nanoseconds(0));
  co_return Status();
}

Task<void> Cluster::Kill(int32_t n, bool torn) {
  Node& node = nodes_[static_cast<size_t>(n)];
  if (!node.alive) co_return;
  node.alive = false;
  result_.kills++;
  result_.power_cuts++;
  Trace(absl::StrCat("kill node ", n, torn ? " (torn tails)" : ""));
  for (Replica& r : node.replicas) {
    if (r.p != nullptr) graveyard_.push_back(std::move(r.p));
    r = Replica();
  }
  // Connections to it break: the clients waiting there see an error.
  for (Client& c : clients_) {
    for (Producer& pr : c.producers) {
      if (pr.wait != nullptr && pr.node == n) pr.wait->abandoned = true;
    }
  }
  testing::PowerCutOptions cut;
  cut.torn_tail = torn;
  cut.seed = rng_();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (true) {
    Status st = co_await node.fs->SimulatePowerCut(cut);
    if (st.ok()) break;
    if (!absl::IsFailedPrecondition(st) || std::chrono::steady_clock::now() > deadline) {
      Violation(absl::StrCat("sim error: power cut of node ", n, ": ", st.ToString()));
      break;
    }
    co_await reactor_.sleep_for(std::chrono::nanoseconds(0));  // I/O in flight: let it end
  }
  if (node.held) node.fs->ReleaseSyncs();
  node.held = false;
  node.view = nullptr;
  node.view_index = 0;
  node.broker_epoch = -1;
  node.joined = false;
}

Task<Status> Cluster::Restart(int32_t n) {
  Node& node = nodes_[static_cast<size_t>(n)];
  if (node.alive) co_return Status();
  node.incarnation++;
  CO_RETURN_IF_ERROR(co_await OpenReplicas(node));
  node.alive = true;
  Trace(absl::StrCat("restart node ", n));
  HeartbeatStep(n);
  co_return Status();
}

void Cluster::CheckHighWatermarks() {
  for (Node& node : nodes_) {
    if (!node.alive) continue;
    for (size_t k = 0; k < node.replicas.size(); k++) {
      Replica& r = node.replicas[k];
      if (r.p == nullptr || !r.p->is_leader()) continue;
      const int64_t hw = r.p->high_watermark().value();
      if (r.seen_term == r.p->term() && hw < r.seen_hw) {
        Violation(absl::StrCat("node ", node.id, " partition ", k, ": the leader's HW went from ",
                               r.seen_hw, " to ", hw, " within one term"));
      }
      r.seen_term = r.p->term();
      r.seen_hw = hw;
    }
  }
}

Task<void> Cluster::FullCheck() {
  for (int32_t k = 0; k < result_.partitions && result_.ok; k++) {
    const controller::TopicImage* t = image_.FindTopic(std::string_view(kTopic));
    const controller::PartitionState& ps = t->partitions[static_cast<size_t>(k)];
    std::vector<ReplicaSnapshot> snaps;
    for (Node& node : nodes_) {
      if (!node.alive) continue;
      std::shared_ptr<Partition> p = node.replicas[static_cast<size_t>(k)].p;
      if (p == nullptr) continue;
      ReplicaSnapshot s;
      s.node = node.id;
      s.high_watermark = p->high_watermark().value();
      s.log_end = p->log_end_offset().value();
      s.leader =
          p->is_leader() && ps.leader == node.id && p->leader_epoch().value() == ps.leader_epoch;
      if (s.leader && p->progress() != nullptr) s.isr = p->progress()->isr();
      StatusOr<std::vector<std::byte>> bytes = co_await testing::ReadWholeLog(p->log());
      if (!bytes.ok()) {
        Violation(absl::StrCat("node ", node.id, " partition ", k,
                               " unreadable: ", bytes.status().ToString()));
        co_return;
      }
      StatusOr<std::vector<BatchInfo>> batches = SplitLog(*bytes);
      if (!batches.ok()) {
        Violation(
            absl::StrCat("node ", node.id, " partition ", k, ": ", batches.status().ToString()));
        co_return;
      }
      s.batches = *std::move(batches);
      snaps.push_back(std::move(s));
    }
    std::string v = CheckPartition(k, snaps, acked_[static_cast<size_t>(k)]);
    if (!v.empty()) Violation(v);
  }
}

bool Cluster::Converged() const {
  const controller::TopicImage* t = image_.FindTopic(std::string_view(kTopic));
  for (const Node& node : nodes_) {
    if (!node.alive || node.view != latest_ || !image_.IsLive(node.id)) return false;
  }
  for (int32_t k = 0; k < result_.partitions; k++) {
    const controller::PartitionState& ps = t->partitions[static_cast<size_t>(k)];
    if (ps.leader < 0 || ps.isr.size() != ps.replicas.size()) return false;
    const std::shared_ptr<Partition>& lp =
        nodes_[static_cast<size_t>(ps.leader)].replicas[static_cast<size_t>(k)].p;
    if (lp == nullptr || !lp->is_leader()) return false;
    const Offset end = lp->log_end_offset();
    if (lp->high_watermark() != end) return false;
    for (int32_t id : ps.replicas) {
      const std::shared_ptr<Partition>& p =
          nodes_[static_cast<size_t>(id)].replicas[static_cast<size_t>(k)].p;
      if (p == nullptr || p->log_end_offset() != end || p->high_watermark() != end) return false;
    }
  }
  return true;
}

void Cluster::TraceState() {
  for (const Node& node : nodes_) {
    Trace(absl::StrCat("state: node ", node.id, node.alive ? " alive" : " dead",
                       node.held ? " held" : "", " epoch ", node.broker_epoch, " live ",
                       image_.IsLive(node.id), " view ", node.view_index, "/", index_));
  }
  const controller::TopicImage* t = image_.FindTopic(std::string_view(kTopic));
  for (int32_t k = 0; k < result_.partitions; k++) {
    const controller::PartitionState& ps = t->partitions[static_cast<size_t>(k)];
    std::string isr;
    for (int32_t id : ps.isr) absl::StrAppend(&isr, id, ",");
    std::string reps;
    for (int32_t id : ps.replicas) absl::StrAppend(&reps, id, ",");
    Trace(absl::StrCat("state: partition ", k, " leader ", ps.leader, " epoch ", ps.leader_epoch,
                       " replicas ", reps, " isr ", isr));
    for (int32_t id : ps.replicas) {
      const Node& node = nodes_[static_cast<size_t>(id)];
      const Replica& r = node.replicas[static_cast<size_t>(k)];
      if (r.p == nullptr) continue;
      std::string pending;
      if (r.p->progress() != nullptr && r.p->progress()->pending().has_value())
        pending = " pending";
      Trace(absl::StrCat("state:   node ", id, r.p->is_leader() ? " leader" : " follower",
                         " epoch ", r.p->leader_epoch().value(), " end ",
                         r.p->log_end_offset().value(), " hw ", r.p->high_watermark().value(),
                         " follows ", r.follow_leader, "@", r.follow_epoch, " inflight ",
                         r.fetch_in_flight, " retry ", r.retry_at_step, pending));
    }
  }
}

// One step: answers that are due; each node's periodic work (heartbeat, metadata, follower
// fetches, ISR checks, each drawn from the seed); the controller's session check; the clients;
// and in the fault phase, now and then one fault.
Task<void> Cluster::Step(bool faults) {
  step_++;
  now_ns_ += kStepNs;
  clock_.advance_ms(kStepNs / 1'000'000);
  co_await DeliverAnswers();
  const int32_t nodes = result_.nodes;
  for (int32_t n = 0; n < nodes; n++) {
    Node& node = nodes_[static_cast<size_t>(n)];
    if (node.held && step_ >= node.held_until) {
      node.fs->ReleaseSyncs();
      node.held = false;
      Trace(absl::StrCat("node ", n, " disk fast again"));
    }
    if (!node.alive) continue;
    if (step_ >= node.next_heartbeat) {
      node.next_heartbeat = step_ + 10 + Rand(15);
      HeartbeatStep(n);
    }
    if (Chance(0.15)) co_await DeliverMetadata(n);
    for (int32_t k = 0; k < result_.partitions; k++) {
      if (Chance(0.4)) co_await FetchStep(n, k);
      if (Chance(0.05)) co_await IsrStep(n, k);
    }
  }
  if (step_ % 10 == 0) SessionStep();
  for (int32_t c = 0; c < static_cast<int32_t>(clients_.size()); c++) {
    if (Chance(0.1)) clients_[static_cast<size_t>(c)].view = latest_;  // a metadata refresh
    const int32_t k = static_cast<int32_t>(Rand(static_cast<uint64_t>(result_.partitions)));
    if (!clients_paused_ && Chance(0.4)) co_await ProduceStep(c, k);
  }
  if (faults && Chance(0.02)) co_await Fault();
  CollectProduces();
  Status settled = co_await Settle();
  if (!settled.ok()) Violation(absl::StrCat("sim error: ", settled.ToString()));
  CollectProduces();
  CheckHighWatermarks();
  if (options_.check_every > 0 && step_ % static_cast<uint64_t>(options_.check_every) == 0) {
    co_await FullCheck();
  }
}

Task<void> Cluster::Fault() {
  const int32_t nodes = result_.nodes;
  const int32_t n = static_cast<int32_t>(Rand(static_cast<uint64_t>(nodes)));
  Node& node = nodes_[static_cast<size_t>(n)];
  const uint64_t pick = Rand(100);
  if (pick < 18) {
    co_await Kill(n, Chance(0.5));
  } else if (pick < 40) {
    for (int32_t i = 0; i < nodes; i++) {
      if (nodes_[static_cast<size_t>(i)].alive) continue;
      Status st = co_await Restart(i);
      if (!st.ok()) Violation(absl::StrCat("sim error: ", st.ToString()));
      break;
    }
  } else if (pick < 58) {
    const int32_t m = static_cast<int32_t>(Rand(static_cast<uint64_t>(nodes)));
    if (m != n) {
      cut_links_.insert(std::make_pair(std::min(n, m), std::max(n, m)));
      Trace(absl::StrCat("cut link ", n, "-", m));
    }
  } else if (pick < 72) {
    cut_links_.clear();
    cut_from_controller_.clear();
    Trace("heal links");
  } else if (pick < 80) {
    cut_from_controller_.insert(n);
    Trace(absl::StrCat("cut node ", n, " from the controller"));
  } else if (pick < 83) {
    Trace("power cut on every node");
    for (int32_t i = 0; i < nodes; i++) co_await Kill(i, Chance(0.5));
    for (int32_t i = 0; i < nodes; i++) {
      Status st = co_await Restart(i);
      if (!st.ok()) Violation(absl::StrCat("sim error: ", st.ToString()));
    }
  } else if (pick < 93) {
    if (node.alive && !node.held) {
      node.fs->HoldSyncs();
      node.held = true;
      node.held_until = step_ + 20 + Rand(60);
      Trace(absl::StrCat("node ", n, " disk slow until step ", node.held_until));
    }
  } else {
    loss_ = Chance(0.5) ? 0.1 : 0.0;
    Trace(absl::StrCat("message loss ", loss_));
  }
}

void Cluster::Heal() {
  cut_links_.clear();
  cut_from_controller_.clear();
  loss_ = 0;
  for (Node& node : nodes_) {
    if (node.held) node.fs->ReleaseSyncs();
    node.held = false;
  }
  Trace("heal");
}

Task<void> Cluster::Teardown() {
  for (Node& node : nodes_) {
    if (node.held) node.fs->ReleaseSyncs();
    node.held = false;
  }
  for (Node& node : nodes_) {
    for (Replica& r : node.replicas) {
      if (r.p == nullptr) continue;
      std::shared_ptr<Partition> p = std::move(r.p);
      Status st = co_await p->Close(absl::CancelledError("the simulation ended"));
      (void)st;
    }
  }
  for (std::shared_ptr<Partition>& p : graveyard_) {
    Status st = co_await p->Close(absl::CancelledError("the simulation ended"));
    (void)st;
  }
  graveyard_.clear();
  Status settled = co_await Settle();
  (void)settled;
  timers_.Shutdown();
}

Task<PartitionSimResult> Cluster::Run() {
  Status st = co_await Setup();
  if (!st.ok()) Violation(absl::StrCat("sim error: setup: ", st.ToString()));
  for (int i = 0; i < options_.fault_steps && result_.ok; i++) co_await Step(true);
  // Heal: links, controller, disks, loss; dead nodes come back; no new writes until every
  // replica is back in the ISR and caught up.
  Heal();
  clients_paused_ = true;
  for (int32_t n = 0; n < result_.nodes && result_.ok; n++) {
    Status restarted = co_await Restart(n);
    if (!restarted.ok()) Violation(absl::StrCat("sim error: ", restarted.ToString()));
  }
  for (int i = 0; i < options_.heal_steps && result_.ok; i++) {
    co_await Step(false);
    if (Converged()) {
      result_.converged = true;
      break;
    }
  }
  if (!result_.converged) TraceState();
  if (result_.ok) co_await FullCheck();
  if (result_.ok && result_.converged) {
    // Liveness: a new acks=all write on every partition commits within the bound.
    clients_paused_ = false;
    const uint64_t acked_before = result_.acked;
    std::vector<size_t> before;
    for (const auto& a : acked_) before.push_back(a.size());
    for (int i = 0; i < options_.liveness_steps && result_.ok; i++) {
      co_await Step(false);
      bool all = true;
      for (size_t k = 0; k < acked_.size(); k++) all &= acked_[k].size() > before[k];
      if (all) {
        result_.live = true;
        break;
      }
    }
    (void)acked_before;
    if (result_.ok) co_await FullCheck();
  }
  for (int32_t k = 0; k < result_.partitions; k++) {
    uint64_t best = 0;
    for (const Node& node : nodes_) {
      const Replica& r = node.replicas[static_cast<size_t>(k)];
      if (node.alive && r.p != nullptr) {
        best = std::max<uint64_t>(best, static_cast<uint64_t>(r.p->high_watermark().value()));
      }
    }
    result_.committed += best;
  }
  co_await Teardown();
  result_.steps = step_;
  result_.trace_hash = hash_;
  result_.trace.assign(trace_.begin(), trace_.end());
  co_return result_;
}

Task<PartitionSimResult> RunPartitionSim(io::Reactor& reactor, PartitionSimOptions options) {
  Cluster cluster(reactor, std::move(options));
  co_return co_await cluster.Run();
}

}  // namespace spool::sim
