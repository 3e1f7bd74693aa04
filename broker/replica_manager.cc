// ReplicaManager (replica_manager.h).
#include "broker/replica_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/replica_fetch_partition.h"
#include "broker/request_log.h"
#include "common/io/when_all.h"
#include "proto/errors.h"
#include "replication/controller/controller_errors.h"

namespace spool::broker {

// How long an ISR change whose outcome is unknown waits before it is asked again.
constexpr int64_t kAlterRetryNs = 1'000'000'000;

struct ReplicaManager::ShardState {
  explicit ShardState(io::Reactor& reactor)
      : applies_idle(std::make_unique<io::Notifier>(reactor)) {}
  std::map<int32_t, std::unique_ptr<ReplicaFetcher>> fetchers;  // by leader broker id
  RequestTimers::Id isr_timer = RequestTimers::kNoTimer;
  bool stopped = false;
  int applies = 0;  // ApplyOnShard calls running
  std::unique_ptr<io::Notifier> applies_idle;
};

ReplicaManager::ReplicaManager(ShardSet& shards, PartitionManager& partitions,
                               const BrokerConfig& config)
    : shards_(shards),
      partitions_(partitions),
      config_(config),
      sends_idle_(std::make_unique<io::Notifier>(*shards.shard(0).reactor)) {
  for (int i = 0; i < shards_.size(); i++) {
    locals_.push_back(std::make_unique<ShardState>(*shards_.shard(i).reactor));
  }
}

ReplicaManager::~ReplicaManager() = default;

ReplicaManager::ShardState& ReplicaManager::local() {
  return *locals_[static_cast<size_t>(shards_.current())];
}

std::chrono::milliseconds ReplicaManager::isr_check_interval() const {
  return std::chrono::milliseconds(
      std::clamp<int64_t>(config_.replica_lag_time_max_ms / 4, 50, 250));
}

Task<void> ReplicaManager::Start() {
  absl::AnyInvocable<Task<void>(Shard&)> arm = [this](Shard& s) -> Task<void> {
    ArmIsrCheck(s.id);
    co_return;
  };
  co_await shards_.on_all(std::move(arm));
}

Task<void> ReplicaManager::ApplyRoles(std::vector<std::shared_ptr<const TopicInfo>> topics) {
  const std::vector<std::shared_ptr<const TopicInfo>>* all = &topics;
  absl::AnyInvocable<Task<void>(Shard&)> work = [this, all](Shard& s) -> Task<void> {
    co_await ApplyOnShard(s.id, *all);
  };
  co_await shards_.on_all(std::move(work));
}

Task<void> ReplicaManager::ApplyOnShard(
    int shard, const std::vector<std::shared_ptr<const TopicInfo>>& topics) {
  ShardState& here = *locals_[static_cast<size_t>(shard)];
  if (here.stopped) co_return;
  // Stop() waits for this apply to end (it may be suspended in a role change meanwhile).
  here.applies++;
  struct Done {
    ShardState& s;
    ~Done() {
      if (--s.applies == 0) s.applies_idle->notify_all();
    }
  } done{here};
  const int32_t self = config_.node_id;
  for (const std::shared_ptr<const TopicInfo>& topic : topics) {
    for (int32_t i = 0; i < static_cast<int32_t>(topic->partitions.size()); i++) {
      if (partitions_.OwnerShard(topic->name, i) != shard) continue;
      std::shared_ptr<Partition> p = partitions_.LocalPartition(topic->name, i);
      if (p == nullptr || p->closed()) continue;
      const PartitionInfo& info = topic->partitions[static_cast<size_t>(i)];
      // Out of every fetcher first; back into the right one below.
      for (auto& [leader, fetcher] : here.fetchers) {
        if (leader != info.leader) fetcher->Remove(p.get());
      }
      Status st;
      if (here.stopped) co_return;  // checked again after every suspension below
      if (info.leader == self) {
        Partition::LeaderRole role;
        role.self = self;
        role.leader_epoch = info.leader_epoch;
        role.partition_epoch = info.partition_epoch;
        role.replicas = info.replicas;
        role.isr = info.isr;
        st = co_await p->BecomeLeader(std::move(role));
        if (st.ok() && p->is_leader() && p->leader_epoch().value() == info.leader_epoch) {
          LogInfo(absl::StrCat("partition=", topic->name, "-", i, " leading at epoch ",
                               info.leader_epoch, " isr=", info.isr.size()));
        }
      } else {
        st = co_await p->BecomeFollower(info.leader, info.leader_epoch);
        if (here.stopped) co_return;
        if (st.ok() && info.leader >= 0 && p->leader_epoch().value() == info.leader_epoch) {
          std::unique_ptr<ReplicaFetcher>& f = here.fetchers[info.leader];
          if (f == nullptr) {
            f = std::make_unique<ReplicaFetcher>(partitions_, config_, partitions_.LocalTimers(),
                                                 broker_epoch_, info.leader);
            f->Start();
          }
          f->Add(p, info.leader_epoch);
        }
      }
      if (!st.ok()) {
        LogRateLimited(LogKind::kStorage,
                       absl::StrCat("partition=", topic->name, "-", i,
                                    " role change failed error=\"", st.ToString(), "\""));
      }
    }
  }
  // Fetchers left without partitions stop.
  std::vector<std::unique_ptr<ReplicaFetcher>> idle;
  for (auto it = here.fetchers.begin(); it != here.fetchers.end();) {
    if (it->second->empty()) {
      idle.push_back(std::move(it->second));
      it = here.fetchers.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& f : idle) co_await f->Stop();
}

void ReplicaManager::ArmIsrCheck(int shard) {
  ShardState& here = *locals_[static_cast<size_t>(shard)];
  if (here.stopped) return;
  const int64_t at = RequestTimers::NowNs() + int64_t{isr_check_interval().count()} * 1'000'000;
  here.isr_timer = partitions_.LocalTimers().Arm(at, [this, shard] {
    locals_[static_cast<size_t>(shard)]->isr_timer = RequestTimers::kNoTimer;
    CheckIsrs(shard);
    ArmIsrCheck(shard);
  });
}

void ReplicaManager::CheckIsrs(int shard) {
  const int64_t now = RequestTimers::NowNs();
  const int64_t lag_ns = config_.replica_lag_time_max_ms * 1'000'000;
  for (const std::shared_ptr<Partition>& p : partitions_.LocalPartitions()) {
    const replication::ReplicaProgress* progress = p->progress();
    if (!p->is_leader() || progress == nullptr || progress->replicas().size() < 2) continue;
    Partition::AlterState& alter = p->alter_state();
    if (alter.in_flight) continue;
    if (progress->pending().has_value()) {
      // An outcome unknown (see AlterIsr) and no newer metadata yet: ask again, now and then.
      if (now - alter.sent_ns < kAlterRetryNs) continue;
      std::shared_ptr<const TopicInfo> topic = partitions_.FindTopic(p->topic());
      if (topic == nullptr || topic->topic_id.empty()) continue;
      alter.in_flight = true;
      alter.sent_ns = now;
      shards_.shard(shard).reactor->spawn(AlterIsr(this, p, topic->topic_id, *progress->pending()));
      continue;
    }
    // Only live brokers may join (the controller refuses the whole change otherwise).
    std::shared_ptr<const BrokerList> live = partitions_.Brokers();
    const std::function<bool(int32_t)> is_live = [&live](int32_t id) {
      return live != nullptr && std::any_of(live->begin(), live->end(),
                                            [id](const BrokerInfo& b) { return b.id == id; });
    };
    std::optional<std::vector<int32_t>> change = DecideIsrChange(
        *progress, now, lag_ns, p->log_end_offset().value(), p->high_watermark().value(), is_live);
    if (!change.has_value()) continue;
    std::vector<int32_t> isr = *std::move(change);
    std::shared_ptr<const TopicInfo> topic = partitions_.FindTopic(p->topic());
    if (topic == nullptr || topic->topic_id.empty()) continue;
    p->SetPendingIsr(isr);
    alter.in_flight = true;
    alter.sent_ns = now;
    shards_.shard(shard).reactor->spawn(AlterIsr(this, p, topic->topic_id, std::move(isr)));
  }
}

Task<void> ReplicaManager::AlterIsr(ReplicaManager* self, std::shared_ptr<Partition> p,
                                    std::string topic_id, std::vector<int32_t> isr) {
  v1::AlterPartitionRequest request;
  request.set_topic_id(topic_id);
  request.set_partition(p->index());
  request.set_leader_epoch(p->leader_epoch().value());
  request.set_partition_epoch(p->partition_epoch());
  for (int32_t id : isr) request.add_new_isr(id);
  // On shard 0, counted, so Stop() can wait for the calls into the MetadataFollower.
  absl::AnyInvocable<Task<StatusOr<v1::AlterPartitionResponse>>()> send =
      [self, request]() -> Task<StatusOr<v1::AlterPartitionResponse>> {
    if (self->sends_closed_ || !self->alter_) {
      co_return absl::UnavailableError("the replica manager is stopping");
    }
    self->sends_++;
    StatusOr<v1::AlterPartitionResponse> r = co_await self->alter_(request);
    if (--self->sends_ == 0) self->sends_idle_->notify_all();
    co_return r;
  };
  StatusOr<v1::AlterPartitionResponse> answer =
      co_await self->shards_.submit_to<StatusOr<v1::AlterPartitionResponse>>(0, std::move(send));
  p->alter_state().in_flight = false;
  // The change stays pending (its joining members keep counting for the HW) unless the
  // controller surely did not make it: a transport error or timeout may have committed it, and
  // a stale partition epoch means the controller has a newer state the metadata is bringing.
  // Either way the metadata resolves it (a same-epoch role with a newer partition epoch clears
  // the pending change).
  const bool unknown =
      !answer.ok() || answer->error_code() ==
                          static_cast<int32_t>(controller::ControllerError::kInvalidUpdateVersion);
  if (!answer.ok() || answer->error_code() != 0) {
    if (!unknown) p->SetPendingIsr(std::nullopt);
    LogRateLimited(
        LogKind::kStorage,
        absl::StrCat("AlterPartition partition=", p->topic(), "-", p->index(), " refused error=\"",
                     answer.ok() ? answer->error_message() : answer.status().ToString(), "\""));
    co_return;
  }
  const v1::PartitionRecord& r = answer->partition();
  if (!p->is_leader() || r.leader() != self->config_.node_id ||
      r.leader_epoch() != p->leader_epoch().value()) {
    p->SetPendingIsr(std::nullopt);
    co_return;  // leadership moved meanwhile; the metadata will say so
  }
  Partition::LeaderRole role;
  role.self = self->config_.node_id;
  role.leader_epoch = r.leader_epoch();
  role.partition_epoch = r.partition_epoch();
  role.replicas.assign(r.replicas().begin(), r.replicas().end());
  role.isr.assign(r.isr().begin(), r.isr().end());
  // The pending change counts (joining members hold the HW) until the new ISR is in place;
  // taking the ISR clears it.
  Status st = co_await p->BecomeLeader(std::move(role));
  p->SetPendingIsr(std::nullopt);
  if (st.ok()) {
    LogInfo(absl::StrCat("partition=", p->topic(), "-", p->index(), " ISR is now ", r.isr_size(),
                         " replicas (partition epoch ", r.partition_epoch(), ")"));
  }
}

Task<void> ReplicaManager::Stop() {
  sends_closed_ = true;
  absl::AnyInvocable<Task<void>(Shard&)> work = [this](Shard& s) -> Task<void> {
    ShardState& here = *locals_[static_cast<size_t>(s.id)];
    here.stopped = true;
    partitions_.LocalTimers().Cancel(here.isr_timer);
    here.isr_timer = RequestTimers::kNoTimer;
    while (here.applies > 0) co_await here.applies_idle->wait();
    std::map<int32_t, std::unique_ptr<ReplicaFetcher>> fetchers = std::move(here.fetchers);
    here.fetchers.clear();
    for (auto& [leader, f] : fetchers) co_await f->Stop();
  };
  co_await shards_.on_all(std::move(work));
  while (sends_ > 0) co_await sends_idle_->wait();
}

}  // namespace spool::broker
