// ClusterImage::Apply and the per-record rules (replication/controller/README.md, "Records").
// Every handler checks everything first and mutates last, so a refused record changes nothing.
#include <algorithm>
#include <charconv>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replication/controller/metadata_image.h"

namespace spool::controller {
namespace {

Status Corrupt(std::string_view what) {
  return absl::DataLossError(absl::StrCat("metadata record refused: ", std::string(what)));
}

std::vector<int32_t> ToVector(const google::protobuf::RepeatedField<int32_t>& f) {
  return std::vector<int32_t>(f.begin(), f.end());
}

bool Contains(const std::vector<int32_t>& v, int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

bool HasDuplicates(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  return std::adjacent_find(v.begin(), v.end()) != v.end();
}

bool IsBrokerResourceName(std::string_view name) {
  if (name.empty()) return true;
  int32_t id = -1;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
  return ec == std::errc() && end == name.data() + name.size() && id >= 0 &&
         std::to_string(id) == name;
}

}  // namespace

Status ClusterImage::Apply(const v1::MetadataRecord& record) {
  switch (record.record_case()) {
    case v1::MetadataRecord::kRegisterBroker:
      return ApplyRegisterBroker(record.register_broker());
    case v1::MetadataRecord::kBrokerFenced:
      return ApplyBrokerFenced(record.broker_fenced());
    case v1::MetadataRecord::kBrokerUnfenced:
      return ApplyBrokerUnfenced(record.broker_unfenced());
    case v1::MetadataRecord::kUnregisterBroker:
      return ApplyUnregisterBroker(record.unregister_broker());
    case v1::MetadataRecord::kTopic:
      return ApplyTopic(record.topic());
    case v1::MetadataRecord::kPartition:
      return ApplyPartition(record.partition());
    case v1::MetadataRecord::kPartitionChange:
      return ApplyPartitionChange(record.partition_change());
    case v1::MetadataRecord::kRemoveTopic:
      return ApplyRemoveTopic(record.remove_topic());
    case v1::MetadataRecord::kConfig:
      return ApplyConfig(record.config());
    case v1::MetadataRecord::kProducerIds:
      return ApplyProducerIds(record.producer_ids());
    case v1::MetadataRecord::RECORD_NOT_SET:
      break;
  }
  return Corrupt("empty or unknown record type");
}

Status ClusterImage::ApplyBatch(std::span<const v1::MetadataRecord> records) {
  ClusterImage next = *this;
  for (size_t i = 0; i < records.size(); ++i) {
    if (Status st = next.Apply(records[i]); !st.ok()) {
      return Status(st.code(), absl::StrCat("record ", i, " of ", records.size(), ": ",
                                            std::string(st.message())));
    }
  }
  *this = std::move(next);
  return absl::OkStatus();
}

StatusOr<BrokerRegistration*> ClusterImage::BrokerWithEpoch(int32_t id, int64_t epoch) {
  auto it = brokers_.find(id);
  if (it == brokers_.end()) return Corrupt(absl::StrCat("broker ", id, " is not registered"));
  if (it->second.epoch != epoch) {
    return Corrupt(absl::StrCat("broker ", id, " has epoch ", it->second.epoch, ", not ", epoch));
  }
  return &it->second;
}

Status ClusterImage::CheckLeadsNothing(int32_t id) const {
  for (const auto& [topic_id, topic] : topics_) {
    for (size_t p = 0; p < topic.partitions.size(); ++p) {
      if (topic.partitions[p].leader == id) {
        return Corrupt(absl::StrCat("broker ", id, " still leads ", topic.name, "-", p));
      }
    }
  }
  return absl::OkStatus();
}

Status ClusterImage::CheckPartition(const PartitionState& p) const {
  if (p.replicas.empty()) return Corrupt("a partition without replicas");
  if (HasDuplicates(p.replicas)) return Corrupt("duplicate replicas");
  if (HasDuplicates(p.isr)) return Corrupt("duplicate ISR members");
  for (int32_t r : p.replicas) {
    if (r < 0) return Corrupt(absl::StrCat("replica id ", r));
  }
  if (p.isr.empty()) return Corrupt("an empty ISR");
  for (int32_t m : p.isr) {
    if (!Contains(p.replicas, m)) return Corrupt(absl::StrCat("ISR member ", m, " not a replica"));
  }
  if (p.leader != kNoLeader) {
    if (!Contains(p.isr, p.leader)) {
      return Corrupt(absl::StrCat("leader ", p.leader, " not in the ISR"));
    }
    if (!IsLive(p.leader)) return Corrupt(absl::StrCat("leader ", p.leader, " is not live"));
  }
  if (p.leader_epoch < 0 || p.partition_epoch < 0) return Corrupt("negative epoch");
  return absl::OkStatus();
}

Status ClusterImage::ApplyRegisterBroker(const v1::RegisterBrokerRecord& r) {
  if (r.broker_id() < 0) return Corrupt(absl::StrCat("broker id ", r.broker_id()));
  if (r.broker_epoch() <= 0) return Corrupt(absl::StrCat("broker epoch ", r.broker_epoch()));
  BrokerRegistration reg;
  reg.id = r.broker_id();
  reg.incarnation_id = r.incarnation_id();
  reg.epoch = r.broker_epoch();
  reg.fenced = r.fenced();
  if (r.has_rack()) reg.rack = r.rack();
  std::set<std::string> listeners;
  for (const v1::BrokerEndpoint& e : r.endpoints()) {
    if (e.port() < 1 || e.port() > 65535) return Corrupt(absl::StrCat("port ", e.port()));
    if (!listeners.insert(e.listener_name()).second) {
      return Corrupt(absl::StrCat("listener ", e.listener_name(), " given twice"));
    }
    reg.endpoints.push_back(Endpoint{e.listener_name(), e.host(), e.port()});
  }
  if (auto it = brokers_.find(reg.id); it != brokers_.end()) {
    if (reg.epoch <= it->second.epoch) {
      return Corrupt(absl::StrCat("broker ", reg.id, " registered with epoch ", reg.epoch,
                                  " after epoch ", it->second.epoch));
    }
    if (reg.fenced) RETURN_IF_ERROR(CheckLeadsNothing(reg.id));
  }
  brokers_[reg.id] = std::move(reg);
  return absl::OkStatus();
}

Status ClusterImage::ApplyBrokerFenced(const v1::BrokerFencedRecord& r) {
  ASSIGN_OR_RETURN(BrokerRegistration * broker, BrokerWithEpoch(r.broker_id(), r.broker_epoch()));
  RETURN_IF_ERROR(CheckLeadsNothing(r.broker_id()));
  broker->fenced = true;
  return absl::OkStatus();
}

Status ClusterImage::ApplyBrokerUnfenced(const v1::BrokerUnfencedRecord& r) {
  ASSIGN_OR_RETURN(BrokerRegistration * broker, BrokerWithEpoch(r.broker_id(), r.broker_epoch()));
  broker->fenced = false;
  return absl::OkStatus();
}

Status ClusterImage::ApplyUnregisterBroker(const v1::UnregisterBrokerRecord& r) {
  RETURN_IF_ERROR(BrokerWithEpoch(r.broker_id(), r.broker_epoch()).status());
  RETURN_IF_ERROR(CheckLeadsNothing(r.broker_id()));
  brokers_.erase(r.broker_id());
  broker_configs_.erase(std::to_string(r.broker_id()));
  return absl::OkStatus();
}

Status ClusterImage::ApplyTopic(const v1::CreateTopicRecord& r) {
  if (!IsValidTopicName(r.name())) return Corrupt(absl::StrCat("topic name '", r.name(), "'"));
  const std::optional<TopicId> id = TopicId::FromBytes(r.topic_id());
  if (!id) return Corrupt("a topic id that is not 16 non-zero bytes");
  if (topic_ids_.contains(r.name())) return Corrupt(absl::StrCat("topic ", r.name(), " exists"));
  if (topics_.contains(*id)) return Corrupt(absl::StrCat("topic id ", id->ToString(), " in use"));
  TopicImage topic;
  topic.name = r.name();
  topic.id = *id;
  for (const auto& [key, value] : r.configs()) {
    if (key.empty()) return Corrupt("an empty config key");
    topic.configs[key] = value;
  }
  topic_ids_[topic.name] = *id;
  topics_[*id] = std::move(topic);
  return absl::OkStatus();
}

Status ClusterImage::ApplyPartition(const v1::PartitionRecord& r) {
  const std::optional<TopicId> id = TopicId::FromBytes(r.topic_id());
  auto it = id ? topics_.find(*id) : topics_.end();
  if (it == topics_.end()) return Corrupt("a partition of an unknown topic id");
  TopicImage& topic = it->second;
  if (r.partition() != static_cast<int32_t>(topic.partitions.size())) {
    return Corrupt(absl::StrCat("partition ", r.partition(), " of ", topic.name, " (next is ",
                                topic.partitions.size(), ")"));
  }
  PartitionState p;
  p.replicas = ToVector(r.replicas());
  p.isr = ToVector(r.isr());
  p.leader = r.leader();
  p.leader_epoch = r.leader_epoch();
  p.partition_epoch = r.partition_epoch();
  RETURN_IF_ERROR(CheckPartition(p));
  topic.partitions.push_back(std::move(p));
  return absl::OkStatus();
}

Status ClusterImage::ApplyPartitionChange(const v1::PartitionChangeRecord& r) {
  const std::optional<TopicId> id = TopicId::FromBytes(r.topic_id());
  auto it = id ? topics_.find(*id) : topics_.end();
  if (it == topics_.end()) return Corrupt("a partition change of an unknown topic id");
  TopicImage& topic = it->second;
  if (r.partition() < 0 || r.partition() >= static_cast<int32_t>(topic.partitions.size())) {
    return Corrupt(absl::StrCat("change of unknown partition ", topic.name, "-", r.partition()));
  }
  if (!r.has_leader() && !r.has_isr() && !r.has_replicas()) return Corrupt("an empty change");
  PartitionState& current = topic.partitions[r.partition()];
  PartitionState next = current;
  if (r.has_replicas()) next.replicas = ToVector(r.replicas().values());
  if (r.has_isr()) next.isr = ToVector(r.isr().values());
  if (r.has_leader() && r.leader() != current.leader) {
    next.leader = r.leader();
    if (next.leader_epoch == INT32_MAX) return Corrupt("leader epoch overflow");
    ++next.leader_epoch;
  }
  if (next.partition_epoch == INT32_MAX) return Corrupt("partition epoch overflow");
  ++next.partition_epoch;
  RETURN_IF_ERROR(CheckPartition(next));
  current = std::move(next);
  return absl::OkStatus();
}

Status ClusterImage::ApplyRemoveTopic(const v1::RemoveTopicRecord& r) {
  const std::optional<TopicId> id = TopicId::FromBytes(r.topic_id());
  auto it = id ? topics_.find(*id) : topics_.end();
  if (it == topics_.end()) return Corrupt("removal of an unknown topic id");
  topic_ids_.erase(it->second.name);
  topics_.erase(it);
  return absl::OkStatus();
}

Status ClusterImage::ApplyConfig(const v1::ConfigRecord& r) {
  if (r.key().empty()) return Corrupt("an empty config key");
  std::map<std::string, std::string>* configs = nullptr;
  switch (r.resource_type()) {
    case v1::CONFIG_RESOURCE_TOPIC: {
      auto it = topic_ids_.find(r.resource_name());
      if (it == topic_ids_.end()) {
        return Corrupt(absl::StrCat("config of unknown topic ", r.resource_name()));
      }
      configs = &topics_.at(it->second).configs;
      break;
    }
    case v1::CONFIG_RESOURCE_BROKER:
      if (!IsBrokerResourceName(r.resource_name())) {
        return Corrupt(absl::StrCat("broker config resource '", r.resource_name(), "'"));
      }
      if (r.delete_key()) {
        auto it = broker_configs_.find(r.resource_name());
        if (it == broker_configs_.end()) return absl::OkStatus();
        it->second.erase(r.key());
        if (it->second.empty()) broker_configs_.erase(it);
        return absl::OkStatus();
      }
      configs = &broker_configs_[r.resource_name()];
      break;
    case v1::CONFIG_RESOURCE_UNKNOWN:
    default:  // an enum value from a newer writer: not ours to guess
      return Corrupt(absl::StrCat("config resource type ", r.resource_type()));
  }
  if (r.delete_key()) {
    configs->erase(r.key());
  } else {
    (*configs)[r.key()] = r.value();
  }
  return absl::OkStatus();
}

Status ClusterImage::ApplyProducerIds(const v1::ProducerIdsRecord& r) {
  RETURN_IF_ERROR(BrokerWithEpoch(r.broker_id(), r.broker_epoch()).status());
  if (r.next_producer_id_block_end() <= next_producer_id_) {
    return Corrupt(absl::StrCat("producer id block end ", r.next_producer_id_block_end(),
                                " not after ", next_producer_id_));
  }
  next_producer_id_ = r.next_producer_id_block_end();
  return absl::OkStatus();
}

}  // namespace spool::controller
