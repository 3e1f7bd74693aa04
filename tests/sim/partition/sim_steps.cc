// The partition simulator's steps: follower fetches, metadata, controller calls and clients
// (sim_state.h).
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "log/record/batch_builder.h"
#include "proto/errors.h"
#include "replication/controller/controller_errors.h"
#include "tests/sim/partition/sim_state.h"

namespace spool::sim {

using broker::FollowerAction;
using broker::Partition;
using proto::ErrorCode;

namespace {

// A far deadline on the real clock (RequestTimers::NowNs): the sim resolves outcomes itself.
int64_t FarDeadline() {
  return broker::RequestTimers::NowNs() + int64_t{3600} * 1'000'000'000;
}

const controller::PartitionState* FindState(const controller::ClusterImage* image, int32_t k) {
  if (image == nullptr) return nullptr;
  const controller::TopicImage* t = image->FindTopic(std::string_view(kTopic));
  if (t == nullptr || k >= static_cast<int32_t>(t->partitions.size())) return nullptr;
  return &t->partitions[static_cast<size_t>(k)];
}

std::vector<std::byte> BuildBatch(int64_t producer_id, int32_t sequence) {
  record::BuilderOptions o;
  o.producer_id = producer_id;
  o.producer_epoch = 0;
  o.base_sequence = sequence;
  record::BatchBuilder builder(o);
  builder.Append(1'700'000'000'000, "k", absl::StrCat("p", producer_id, "-s", sequence));
  StatusOr<std::vector<std::byte>> sealed = builder.Seal();
  return sealed.ok() ? *std::move(sealed) : std::vector<std::byte>();
}

}  // namespace

bool Cluster::Reachable(int32_t a, int32_t b) const {
  if (a == b) return true;
  return !cut_links_.contains(std::make_pair(std::min(a, b), std::max(a, b)));
}

bool Cluster::ControllerReachable(int32_t n) const {
  return nodes_[static_cast<size_t>(n)].alive && !cut_from_controller_.contains(n);
}

bool Cluster::Commit(const std::vector<v1::MetadataRecord>& records, const char* what) {
  if (records.empty()) return true;
  controller::ClusterImage next = image_;
  Status st = next.ApplyBatch(records);
  if (!st.ok()) {
    Violation(absl::StrCat("controller records of ", what, " do not apply: ", st.ToString()));
    return false;
  }
  // Count the leader epochs that began.
  for (const auto& [id, topic] : next.topics()) {
    const controller::TopicImage* before = image_.FindTopic(id);
    for (size_t k = 0; k < topic.partitions.size(); k++) {
      const int32_t old_epoch = before != nullptr && k < before->partitions.size()
                                    ? before->partitions[k].leader_epoch
                                    : -1;
      if (topic.partitions[k].leader_epoch != old_epoch && topic.partitions[k].leader >= 0) {
        result_.elections++;
        Trace(absl::StrCat("controller: partition ", k, " leader ", topic.partitions[k].leader,
                           " epoch ", topic.partitions[k].leader_epoch, " isr size ",
                           topic.partitions[k].isr.size()));
      }
    }
  }
  image_ = std::move(next);
  index_++;
  latest_ = std::make_shared<const controller::ClusterImage>(image_);
  return true;
}

void Cluster::HeartbeatStep(int32_t n) {
  Node& node = nodes_[static_cast<size_t>(n)];
  if (!ControllerReachable(n)) return;
  if (node.broker_epoch < 0) {
    controller::RegisterBrokerRequest r;
    r.broker_id = n;
    r.incarnation_id = absl::StrCat("node-", n, "-", node.incarnation);
    r.endpoints.push_back(controller::Endpoint{"PLAINTEXT", "127.0.0.1", 9000 + n});
    auto res = controller::RegisterBroker(image_, liveness_, r, index_ + 1, now_ms(), config_);
    if (!res.reply.status.ok()) return;  // an older session still alive: later
    if (!Commit(res.records, "RegisterBroker")) return;
    node.broker_epoch = res.reply.broker_epoch;
    node.joined = true;
    Trace(absl::StrCat("node ", n, " registered epoch ", node.broker_epoch));
    return;
  }
  controller::HeartbeatRequest h;
  h.broker_id = n;
  h.broker_epoch = node.broker_epoch;
  h.metadata_offset = node.view_index;
  auto res = controller::Heartbeat(image_, liveness_, h, now_ms());
  if (!res.reply.status.ok()) {
    const controller::ControllerError e = controller::ControllerErrorOf(res.reply.status);
    if (e == controller::ControllerError::kStaleBrokerEpoch ||
        e == controller::ControllerError::kBrokerIdNotRegistered) {
      node.broker_epoch = -1;
    }
    return;
  }
  Commit(res.records, "Heartbeat");
}

void Cluster::SessionStep() {
  auto res = controller::CheckSessions(image_, liveness_, now_ms(), config_);
  if (!res.reply.fenced.empty()) {
    Trace(absl::StrCat("controller: fenced ", res.reply.fenced.size(), " broker(s), first ",
                       res.reply.fenced.front()));
  }
  Commit(res.records, "CheckSessions");
}

Task<void> Cluster::DeliverMetadata(int32_t n) {
  Node& node = nodes_[static_cast<size_t>(n)];
  if (!ControllerReachable(n) || node.held || latest_ == nullptr || !node.joined) co_return;
  if (node.view == latest_) co_return;
  node.view = latest_;
  node.view_index = index_;
  co_await ApplyRoles(node);
}

// ReplicaManager::ApplyOnShard for one node.
Task<void> Cluster::ApplyRoles(Node& node) {
  const int32_t self = node.id;
  for (size_t k = 0; k < node.replicas.size(); k++) {
    Replica& r = node.replicas[k];
    if (r.p == nullptr || r.p->closed()) continue;
    const controller::PartitionState* ps = FindState(node.view.get(), static_cast<int32_t>(k));
    if (ps == nullptr) continue;
    std::shared_ptr<Partition> p = r.p;
    if (ps->leader == self) {
      r.follow_leader = -1;
      Partition::LeaderRole role;
      role.self = self;
      role.leader_epoch = ps->leader_epoch;
      role.partition_epoch = ps->partition_epoch;
      role.replicas = ps->replicas;
      role.isr = ps->isr;
      Status st = co_await p->BecomeLeader(std::move(role));
      if (st.ok() && p->is_leader() && r.lead_epoch != ps->leader_epoch &&
          p->leader_epoch().value() == ps->leader_epoch) {
        r.lead_epoch = ps->leader_epoch;
        r.lead_start_ns = now_ns_;
        Trace(absl::StrCat("node ", self, " leads partition ", k, " at epoch ", ps->leader_epoch,
                           " end ", p->log_end_offset().value(), " hw ",
                           p->high_watermark().value()));
      }
    } else {
      Status st = co_await p->BecomeFollower(ps->leader, ps->leader_epoch);
      r.lead_epoch = -1;
      if (st.ok() && ps->leader >= 0 && p->leader_epoch().value() == ps->leader_epoch) {
        r.follow_leader = ps->leader;
        r.follow_epoch = ps->leader_epoch;
        r.generation++;
        r.fetch_in_flight = false;
      } else {
        r.follow_leader = -1;
      }
    }
  }
}

// One round of ReplicaFetcher::FetchOnce for one partition, and the leader's answer.
Task<void> Cluster::FetchStep(int32_t f, int32_t k) {
  Node& node = nodes_[static_cast<size_t>(f)];
  if (!node.alive || node.held) co_return;
  Replica& r = node.replicas[static_cast<size_t>(k)];
  if (r.p == nullptr || r.follow_leader < 0 || r.fetch_in_flight || r.retry_at_step > step_) {
    co_return;
  }
  std::shared_ptr<Partition> p = r.p;
  // The fetch offset tells the leader what this replica has made durable: sync first.
  if (p->log().durable_end_offset() < p->log_end_offset()) {
    const Offset last = p->log_end_offset() - 1;
    Status st = co_await p->log().wait_durable(last);
    if (!st.ok()) {
      r.retry_at_step = step_ + 10;
      co_return;
    }
  }
  broker::ReplicaFetchAsk ask;
  ask.fetch_offset = p->log_end_offset();
  ask.current_leader_epoch = r.follow_epoch;
  std::optional<log::LeaderEpochEntry> latest = p->log().latest_epoch();
  ask.last_fetched_epoch = latest.has_value() ? latest->epoch : -1;
  ask.max_bytes = 64 << 10;
  const int32_t l = r.follow_leader;
  Node& leader = nodes_[static_cast<size_t>(l)];
  if (!leader.alive || !Reachable(f, l) || Chance(loss_)) {
    r.retry_at_step = step_ + 10;  // a broken connection or a timeout: the fetcher backs off
    co_return;
  }
  InFlight m;
  m.follower = f;
  m.partition = k;
  m.generation = r.generation;
  m.incarnation = node.incarnation;
  m.leader_epoch = r.follow_epoch;
  m.due_step = step_ + 1 + Rand(3);
  Partition* lp = leader.replicas[static_cast<size_t>(k)].p.get();
  const std::shared_ptr<broker::FetchWaiter> no_waiter;
  const size_t budget = 1 << 20;
  co_await broker::AnswerReplicaFetch(lp, ask, f, now_ns_, budget, no_waiter, m.answer);
  if (Chance(loss_)) {
    r.retry_at_step = step_ + 10;  // the answer is lost: the fetch times out, then again
    co_return;
  }
  r.fetch_in_flight = true;
  in_flight_.push_back(std::move(m));
}

Task<void> Cluster::DeliverAnswers() {
  std::deque<InFlight> later;
  while (!in_flight_.empty()) {
    InFlight m = std::move(in_flight_.front());
    in_flight_.pop_front();
    Node& node = nodes_[static_cast<size_t>(m.follower)];
    if (!node.alive || node.incarnation != m.incarnation) continue;
    Replica& r = node.replicas[static_cast<size_t>(m.partition)];
    if (r.generation != m.generation || r.p == nullptr) continue;  // removed or moved meanwhile
    if (m.due_step > step_ || node.held) {
      later.push_back(std::move(m));
      continue;
    }
    r.fetch_in_flight = false;
    if (options_.bug_skip_divergence_truncation) m.answer.diverging.reset();
    std::shared_ptr<Partition> p = r.p;
    const std::span<const std::byte> data = m.answer.data != nullptr
                                                ? std::span<const std::byte>(*m.answer.data)
                                                : std::span<const std::byte>();
    const broker::FollowerOutcome out =
        co_await broker::ApplyReplicaFetchAnswer(*p, m.leader_epoch, m.answer, data);
    if ((out.action == FollowerAction::kTruncated ||
         out.action == FollowerAction::kCutToHighWatermark) &&
        p->log_end_offset() < out.end_before) {
      result_.truncations++;
      Trace(absl::StrCat("node ", m.follower, " partition ", m.partition, " truncated from ",
                         out.end_before.value(), " to ", p->log_end_offset().value()));
    }
    if (out.action == FollowerAction::kMetadataLag) {
      r.retry_at_step = step_ + 2;
    } else if (out.backoff) {
      r.retry_at_step = step_ + 10;
    }
  }
  in_flight_ = std::move(later);
}

// ReplicaManager::CheckIsrs + AlterIsr for one led partition, the controller answering at once
// (or the answer lost).
Task<void> Cluster::IsrStep(int32_t n, int32_t k) {
  Node& node = nodes_[static_cast<size_t>(n)];
  if (!node.alive) co_return;
  Replica& r = node.replicas[static_cast<size_t>(k)];
  if (r.p == nullptr) co_return;
  std::shared_ptr<Partition> p = r.p;
  const replication::ReplicaProgress* progress = p->progress();
  if (!p->is_leader() || progress == nullptr || progress->replicas().size() < 2) co_return;
  // See sim_cluster.h: the leadership's start is on the real clock inside ReplicaProgress.
  if (now_ns_ - r.lead_start_ns < lag_ns_) co_return;
  std::optional<std::vector<int32_t>> isr;
  if (progress->pending().has_value()) {
    if (now_ns_ - r.alter_sent_ns < 1'000'000'000) co_return;
    isr = *progress->pending();
  } else {
    const controller::ClusterImage* view = node.view.get();
    const std::function<bool(int32_t)> is_live = [view](int32_t id) {
      return view != nullptr && view->IsLive(id);
    };
    isr = broker::DecideIsrChange(*progress, now_ns_, lag_ns_, p->log_end_offset().value(),
                                  p->high_watermark().value(), is_live);
    if (!isr.has_value()) co_return;
    p->SetPendingIsr(isr);
  }
  r.alter_sent_ns = now_ns_;
  const controller::TopicImage* topic = image_.FindTopic(std::string_view(kTopic));
  if (topic == nullptr) co_return;
  const bool reached = ControllerReachable(n) && !Chance(loss_);
  if (!reached) co_return;  // unknown outcome: stays pending, asked again
  controller::AlterPartitionRequest req;
  req.broker_id = n;
  req.broker_epoch = node.broker_epoch;
  req.topic_id = topic->id;
  req.partition = k;
  req.leader_epoch = p->leader_epoch().value();
  req.partition_epoch = p->partition_epoch();
  req.new_isr = *isr;
  auto res = controller::AlterPartition(image_, req);
  if (res.reply.status.ok() && !Commit(res.records, "AlterPartition")) co_return;
  if (Chance(loss_)) co_return;  // made, but the answer is lost
  if (!res.reply.status.ok()) {
    const bool unknown = controller::ControllerErrorOf(res.reply.status) ==
                         controller::ControllerError::kInvalidUpdateVersion;
    if (!unknown) p->SetPendingIsr(std::nullopt);
    co_return;
  }
  const controller::PartitionState& s = res.reply.partition;
  if (!p->is_leader() || s.leader != n || s.leader_epoch != p->leader_epoch().value()) {
    p->SetPendingIsr(std::nullopt);
    co_return;
  }
  Partition::LeaderRole role;
  role.self = n;
  role.leader_epoch = s.leader_epoch;
  role.partition_epoch = s.partition_epoch;
  role.replicas = s.replicas;
  role.isr = s.isr;
  Status st = co_await p->BecomeLeader(std::move(role));
  p->SetPendingIsr(std::nullopt);
  if (st.ok()) {
    Trace(absl::StrCat("node ", n, " partition ", k, " ISR now ", s.isr.size(), " (epoch ",
                       s.partition_epoch, ")"));
  }
}

namespace {

Task<void> AwaitCommit(std::shared_ptr<Partition> p, Offset last, uint64_t term,
                       std::shared_ptr<ProduceWait> w) {
  const int64_t deadline = FarDeadline();
  Status st = co_await p->WaitCommitted(last, deadline, term);
  w->status = st;
  w->hw_at_ack = p->high_watermark().value();
  w->done = true;
}

}  // namespace

Task<void> Cluster::ProduceStep(int32_t c, int32_t k) {
  Client& client = clients_[static_cast<size_t>(c)];
  Producer& pr = client.producers[static_cast<size_t>(k)];
  if (pr.wait != nullptr) co_return;  // one batch in flight
  const controller::PartitionState* ps = FindState(client.view.get(), k);
  if (ps == nullptr || ps->leader < 0 || !nodes_[static_cast<size_t>(ps->leader)].alive) {
    const int32_t from = static_cast<int32_t>(Rand(nodes_.size()));
    if (nodes_[static_cast<size_t>(from)].alive)
      client.view = nodes_[static_cast<size_t>(from)].view;
    co_return;
  }
  const int32_t n = ps->leader;
  std::shared_ptr<Partition> p = nodes_[static_cast<size_t>(n)].replicas[static_cast<size_t>(k)].p;
  if (p == nullptr) co_return;
  Status admit = p->CheckAcksAll();
  if (!admit.ok()) {
    client.view = nodes_[static_cast<size_t>(n)].view;  // refresh from that broker
    co_return;
  }
  const uint64_t term = p->term();
  std::vector<std::byte> batch = BuildBatch(pr.producer_id, pr.sequence);
  StatusOr<log::AppendResult> appended = co_await p->Append(batch);
  if (!appended.ok()) {
    const ErrorCode code = proto::ErrorFromStatus(appended.status());
    if (code == ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER || code == ErrorCode::UNKNOWN_PRODUCER_ID) {
      // The producer starts over with a new id; the batch never committed (the leader has
      // every committed batch, and it does not know this one's predecessor).
      Trace(absl::StrCat("client ", c, " partition ", k, " producer ", pr.producer_id,
                         " restarts: ", appended.status().ToString()));
      pr.producer_id = next_producer_id_++;
      pr.sequence = 0;
    }
    client.view = nodes_[static_cast<size_t>(n)].view;
    co_return;
  }
  auto w = std::make_shared<ProduceWait>();
  w->base = appended->base_offset.value();
  w->last = appended->last_offset.value();
  pr.wait = w;
  pr.node = n;
  reactor_.spawn(AwaitCommit(p, appended->last_offset, term, w));
}

void Cluster::CollectProduces() {
  for (size_t c = 0; c < clients_.size(); c++) {
    for (size_t k = 0; k < clients_[c].producers.size(); k++) {
      Producer& pr = clients_[c].producers[k];
      if (pr.wait == nullptr) continue;
      if (!pr.wait->done && !pr.wait->abandoned) continue;
      std::shared_ptr<ProduceWait> w = std::move(pr.wait);
      pr.wait = nullptr;
      if (w->done && w->status.ok() && !w->abandoned) {
        if (w->hw_at_ack <= w->last) {
          Violation(absl::StrCat("partition ", k, ": acks=all acknowledged offset ", w->last,
                                 " with the HW at ", w->hw_at_ack));
        }
        acked_[k].push_back(AckedBatch{w->base, pr.producer_id, pr.sequence});
        result_.acked++;
        Trace(absl::StrCat("client ", c, " acked partition ", k, " producer ", pr.producer_id,
                           " seq ", pr.sequence, " at ", w->base, " via node ", pr.node));
        pr.sequence++;
      }
      // Otherwise indeterminate or refused: the same batch (same sequence) is retried.
    }
  }
}

}  // namespace spool::sim
