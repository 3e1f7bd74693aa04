// PartitionManager's side of the cluster metadata (partition_manager.h): validating a topic to
// create, applying a ClusterImage to the local topics and partitions, and auto-creation through
// the topic creator.
#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/partition_manager.h"
#include "broker/request_log.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;
using proto::ErrorToStatus;

bool TopicInfo::Hosts(int32_t node, int32_t p) const {
  if (partitions.empty()) return true;  // a topic from before the controller quorum
  if (p < 0 || p >= static_cast<int32_t>(partitions.size())) return false;
  const std::vector<int32_t>& r = partitions[static_cast<size_t>(p)].replicas;
  return std::find(r.begin(), r.end(), node) != r.end();
}

int32_t TopicInfo::LeaderOf(int32_t p, int32_t self) const {
  if (partitions.empty()) return self;
  if (p < 0 || p >= static_cast<int32_t>(partitions.size())) return -1;
  return partitions[static_cast<size_t>(p)].leader;
}

int32_t TopicInfo::LeaderEpochOf(int32_t p) const {
  if (p < 0 || p >= static_cast<int32_t>(partitions.size())) return 0;
  return partitions[static_cast<size_t>(p)].leader_epoch;
}

StatusOr<TopicInfo> PartitionManager::CheckCreate(const CreateTopicSpec& spec) const {
  if (Status st = ValidateTopicName(spec.name); !st.ok()) {
    return ErrorToStatus(ErrorCode::INVALID_TOPIC, std::string(st.message()));
  }
  TopicInfo info;
  info.name = spec.name;
  info.num_partitions = spec.num_partitions == 0 ? config_.default_partitions : spec.num_partitions;
  if (info.num_partitions < 1 || info.num_partitions > kMaxPartitionsPerTopic) {
    return ErrorToStatus(ErrorCode::INVALID_PARTITIONS,
                         absl::StrCat("num_partitions ", info.num_partitions, " is not in [1, ",
                                      kMaxPartitionsPerTopic, "]"));
  }
  info.replication_factor =
      spec.replication_factor == 0 ? config_.default_replication_factor : spec.replication_factor;
  if (info.replication_factor < 1 || info.replication_factor > kMaxReplicationFactor) {
    return ErrorToStatus(ErrorCode::INVALID_REPLICATION_FACTOR,
                         absl::StrCat("replication_factor ", info.replication_factor,
                                      " is not in [1, ", kMaxReplicationFactor, "]"));
  }
  info.overrides = spec.configs;
  StatusOr<TopicConfig> config =
      ParseTopicConfig(info.overrides, DefaultTopicConfig(), info.replication_factor);
  if (!config.ok()) {
    return ErrorToStatus(ErrorCode::INVALID_CONFIG, std::string(config.status().message()));
  }
  info.config = *config;
  return info;
}

StatusOr<TopicInfo> PartitionManager::InfoFromImage(const controller::TopicImage& topic) const {
  TopicInfo info;
  info.name = topic.name;
  info.topic_id = topic.id.ToBytes();
  info.num_partitions = static_cast<int32_t>(topic.partitions.size());
  info.replication_factor = 1;
  for (const controller::PartitionState& s : topic.partitions) {
    PartitionInfo p;
    p.replicas = s.replicas;
    p.isr = s.isr;
    p.leader = s.leader;
    p.leader_epoch = s.leader_epoch;
    p.partition_epoch = s.partition_epoch;
    info.replication_factor =
        std::max(info.replication_factor, static_cast<int32_t>(p.replicas.size()));
    info.partitions.push_back(std::move(p));
  }
  info.overrides = topic.configs;
  ASSIGN_OR_RETURN(info.config,
                   ParseTopicConfig(info.overrides, DefaultTopicConfig(), info.replication_factor));
  return info;
}

namespace {

v1::TopicRecord RecordOf(const TopicInfo& info) {
  v1::TopicRecord record;
  record.set_name(info.name);
  record.set_topic_id(info.topic_id);
  record.set_num_partitions(info.num_partitions);
  record.set_replication_factor(info.replication_factor);
  for (const auto& [k, v] : info.overrides) (*record.mutable_configs())[k] = v;
  for (const PartitionInfo& p : info.partitions) {
    v1::PartitionAssignment* a = record.add_partitions();
    for (int32_t r : p.replicas) a->add_replicas(r);
    for (int32_t r : p.isr) a->add_isr(r);
    a->set_leader(p.leader);
    a->set_leader_epoch(p.leader_epoch);
    a->set_partition_epoch(p.partition_epoch);
  }
  return record;
}

BrokerList LiveBrokers(const controller::ClusterImage& image) {
  BrokerList out;
  for (const auto& [id, b] : image.brokers()) {
    if (b.fenced || b.endpoints.empty()) continue;
    const controller::Endpoint* e = &b.endpoints.front();
    for (const controller::Endpoint& x : b.endpoints) {
      if (x.listener_name == "PLAINTEXT") e = &x;
    }
    out.push_back(BrokerInfo{id, e->host, e->port, b.rack});
  }
  return out;
}

bool SameBrokers(const BrokerList& a, const BrokerList& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (a[i].id != b[i].id || a[i].host != b[i].host || a[i].port != b[i].port ||
        a[i].rack != b[i].rack) {
      return false;
    }
  }
  return true;
}

}  // namespace

Task<Status> PartitionManager::ApplyMetadata(const controller::ClusterImage& image) {
  co_await admin_mutex_.lock();
  log::AsyncLockGuard guard(admin_mutex_);
  bool changed = false;
  std::vector<std::shared_ptr<const TopicInfo>> role_changes;
  // Topics gone from the metadata, or replaced by another topic of the same name.
  std::vector<std::pair<std::string, int32_t>> gone;
  for (const auto& [name, info] : topics_) {
    if (info->topic_id.empty()) continue;  // pre-quorum: registered first, never dropped here
    const controller::TopicImage* t = image.FindTopic(name);
    if (t == nullptr || t->id.ToBytes() != info->topic_id) {
      gone.emplace_back(name, info->num_partitions);
    }
  }
  for (auto& [name, partitions] : gone) {
    Status st = co_await RemoveTopic(name, partitions);
    if (!st.ok()) {
      LogRateLimited(LogKind::kStorage, absl::StrCat("removing topic=", name, " failed error=\"",
                                                     st.ToString(), "\""));
    }
    changed = true;
  }
  // New topics, and changes of the topics this broker has.
  for (const auto& [id, topic] : image.topics()) {
    StatusOr<TopicInfo> next = InfoFromImage(topic);
    if (!next.ok()) {
      LogRateLimited(LogKind::kStorage, absl::StrCat("topic=", topic.name,
                                                     " is not opened: its configs do not apply "
                                                     "here error=\"",
                                                     next.status().ToString(), "\""));
      continue;
    }
    auto it = topics_.find(topic.name);
    std::shared_ptr<const TopicInfo> before = it == topics_.end() ? nullptr : it->second;
    if (before != nullptr && before->topic_id == next->topic_id &&
        before->partitions == next->partitions && before->overrides == next->overrides) {
      if (!roles_applied_) role_changes.push_back(before);
      continue;
    }
    if (before != nullptr && before->topic_id.empty() && !HostedOnlyHere(*next)) {
      // A topic from before the quorum meets a cluster topic of its name that is not all here:
      // not this broker's registration. Keep serving the local one; never drop its data.
      LogRateLimited(LogKind::kStorage,
                     absl::StrCat("topic=", topic.name,
                                  " from before the controller quorum "
                                  "clashes with the cluster's topic of that name; keeping the "
                                  "local one"));
      continue;
    }
    Status st = co_await ApplyTopic(before, *std::move(next));
    if (!st.ok()) {
      // One topic's storage trouble does not hold up the others (nor leadership changes); the
      // next metadata applied tries this topic again.
      LogRateLimited(LogKind::kStorage, absl::StrCat("applying metadata of topic=", topic.name,
                                                     " failed error=\"", st.ToString(), "\""));
      continue;
    }
    role_changes.push_back(topics_[topic.name]);
    changed = true;
  }
  // Roles before publishing: a partition this broker now leads is ready when clients are told.
  if (role_listener_ && !role_changes.empty()) co_await role_listener_(std::move(role_changes));
  roles_applied_ = true;
  BrokerList brokers = LiveBrokers(image);
  if (!SameBrokers(brokers, brokers_)) {
    brokers_ = std::move(brokers);
    changed = true;
  }
  if (changed) co_await Publish();
  co_return Status();
}

bool PartitionManager::HostedOnlyHere(const TopicInfo& topic) const {
  for (const PartitionInfo& p : topic.partitions) {
    if (p.replicas.size() != 1 || p.replicas[0] != config_.node_id) return false;
  }
  return true;
}

Task<Status> PartitionManager::ApplyTopic(std::shared_ptr<const TopicInfo> before, TopicInfo next) {
  // Durable first: a crash after this opens (or finishes deleting) what the store says.
  {
    v1::TopicRecord record = RecordOf(next);
    CO_RETURN_IF_ERROR(co_await store_->Put(std::move(record)));
  }
  {
    auto shared = std::make_shared<const TopicInfo>(std::move(next));
    std::vector<PartitionRef> open;
    std::vector<int32_t> drop;
    for (int32_t p = 0; p < shared->num_partitions; p++) {
      const bool now = shared->Hosts(config_.node_id, p);
      const bool was =
          before != nullptr && p < before->num_partitions && before->Hosts(config_.node_id, p);
      if (now && !was) open.push_back(PartitionRef{shared, p});
      if (was && !now) drop.push_back(p);
    }
    if (before != nullptr) {
      for (int32_t p = shared->num_partitions; p < before->num_partitions; p++) drop.push_back(p);
      if (before->overrides != shared->overrides) {
        LogInfo(absl::StrCat("topic=", shared->name,
                             " configs changed; open partitions keep theirs until a restart"));
      }
    }
    CO_RETURN_IF_ERROR(co_await OpenPartitions(std::move(open)));
    if (!drop.empty()) CO_RETURN_IF_ERROR(co_await DropPartitions(shared->name, std::move(drop)));
    if (before == nullptr) {
      LogInfo(absl::StrCat("created topic=", shared->name, " partitions=", shared->num_partitions));
    }
    topics_[shared->name] = std::move(shared);
  }
  co_return Status();
}

std::vector<TopicInfo> PartitionManager::LegacyTopicsMissingFrom(
    const controller::ClusterImage& image) const {
  std::vector<TopicInfo> out;
  for (const auto& [name, info] : topics_) {
    if (info->topic_id.empty() && image.FindTopic(name) == nullptr) out.push_back(*info);
  }
  return out;
}

Task<Status> PartitionManager::EnsureTopic(CreateTopicSpec spec) {
  if (FindTopic(spec.name) != nullptr) co_return Status();
  StatusOr<TopicInfo> checked = CheckCreate(spec);
  if (!checked.ok()) co_return checked.status();
  spec.num_partitions = checked->num_partitions;
  spec.replication_factor = checked->replication_factor;
  absl::AnyInvocable<Task<Status>()> create = [this, spec]() -> Task<Status> {
    if (FindTopic(spec.name) != nullptr) co_return Status();
    if (!creator_) co_return absl::FailedPreconditionError("no topic creator installed");
    co_return co_await creator_(spec);
  };
  Status st = co_await shards_.submit_to<Status>(0, std::move(create));
  if (proto::ErrorFromStatus(st) == ErrorCode::TOPIC_ALREADY_EXISTS) co_return Status();
  co_return st;
}

}  // namespace spool::broker
