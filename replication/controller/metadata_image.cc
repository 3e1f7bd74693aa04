// ClusterImage: look-ups and the snapshot form. The record rules are in image_apply.cc.
#include "replication/controller/metadata_image.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace spool::controller {

bool TopicId::IsZero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

std::string TopicId::ToBytes() const {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string TopicId::ToString() const {
  std::string out;
  out.reserve(2 * bytes.size());
  for (uint8_t b : bytes) {
    char hex[3];
    std::snprintf(hex, sizeof(hex), "%02x", b);
    out += hex;
  }
  return out;
}

std::optional<TopicId> TopicId::FromBytes(std::string_view b) {
  TopicId id;
  if (b.size() != id.bytes.size()) return std::nullopt;
  std::copy(b.begin(), b.end(), id.bytes.begin());
  if (id.IsZero()) return std::nullopt;
  return id;
}

bool IsValidTopicName(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

const BrokerRegistration* ClusterImage::FindBroker(int32_t id) const {
  auto it = brokers_.find(id);
  return it == brokers_.end() ? nullptr : &it->second;
}

const TopicImage* ClusterImage::FindTopic(const TopicId& id) const {
  auto it = topics_.find(id);
  return it == topics_.end() ? nullptr : &it->second;
}

const TopicImage* ClusterImage::FindTopic(std::string_view name) const {
  auto it = topic_ids_.find(std::string(name));
  return it == topic_ids_.end() ? nullptr : FindTopic(it->second);
}

const PartitionState* ClusterImage::FindPartition(const TopicId& id, int32_t partition) const {
  const TopicImage* topic = FindTopic(id);
  if (topic == nullptr || partition < 0 ||
      partition >= static_cast<int32_t>(topic->partitions.size())) {
    return nullptr;
  }
  return &topic->partitions[partition];
}

bool ClusterImage::IsLive(int32_t broker_id) const {
  const BrokerRegistration* b = FindBroker(broker_id);
  return b != nullptr && !b->fenced;
}

std::optional<std::string> ClusterImage::TopicConfig(const TopicId& id,
                                                     std::string_view key) const {
  const TopicImage* topic = FindTopic(id);
  if (topic == nullptr) return std::nullopt;
  auto it = topic->configs.find(std::string(key));
  if (it == topic->configs.end()) return std::nullopt;
  return it->second;
}

v1::MetadataImage ClusterImage::ToProto() const {
  v1::MetadataImage out;
  for (const auto& [id, b] : brokers_) {
    v1::RegisterBrokerRecord* r = out.add_brokers();
    r->set_broker_id(b.id);
    r->set_incarnation_id(b.incarnation_id);
    r->set_broker_epoch(b.epoch);
    for (const Endpoint& e : b.endpoints) {
      v1::BrokerEndpoint* ep = r->add_endpoints();
      ep->set_listener_name(e.listener_name);
      ep->set_host(e.host);
      ep->set_port(e.port);
    }
    if (b.rack) r->set_rack(*b.rack);
    r->set_fenced(b.fenced);
  }
  // By name, so equal images encode equally whatever their ids.
  for (const auto& [name, id] : topic_ids_) {
    const TopicImage& topic = topics_.at(id);
    v1::CreateTopicRecord* t = out.add_topics();
    t->set_name(topic.name);
    t->set_topic_id(topic.id.ToBytes());
    for (const auto& [key, value] : topic.configs) (*t->mutable_configs())[key] = value;
    for (size_t i = 0; i < topic.partitions.size(); ++i) {
      const PartitionState& p = topic.partitions[i];
      v1::PartitionRecord* r = out.add_partitions();
      r->set_topic_id(topic.id.ToBytes());
      r->set_partition(static_cast<int32_t>(i));
      for (int32_t x : p.replicas) r->add_replicas(x);
      for (int32_t x : p.isr) r->add_isr(x);
      r->set_leader(p.leader);
      r->set_leader_epoch(p.leader_epoch);
      r->set_partition_epoch(p.partition_epoch);
    }
  }
  for (const auto& [resource, configs] : broker_configs_) {
    for (const auto& [key, value] : configs) {
      v1::ConfigRecord* c = out.add_broker_configs();
      c->set_resource_type(v1::CONFIG_RESOURCE_BROKER);
      c->set_resource_name(resource);
      c->set_key(key);
      c->set_value(value);
    }
  }
  out.set_next_producer_id(next_producer_id_);
  return out;
}

StatusOr<ClusterImage> ClusterImage::FromProto(const v1::MetadataImage& image) {
  ClusterImage out;
  v1::MetadataRecord record;
  for (const v1::RegisterBrokerRecord& b : image.brokers()) {
    if (out.brokers_.contains(b.broker_id())) {
      return absl::DataLossError(absl::StrCat("snapshot lists broker ", b.broker_id(), " twice"));
    }
    *record.mutable_register_broker() = b;
    RETURN_IF_ERROR(out.Apply(record));
  }
  for (const v1::CreateTopicRecord& t : image.topics()) {
    *record.mutable_topic() = t;
    RETURN_IF_ERROR(out.Apply(record));
  }
  for (const v1::PartitionRecord& p : image.partitions()) {
    *record.mutable_partition() = p;
    RETURN_IF_ERROR(out.Apply(record));
  }
  for (const v1::ConfigRecord& c : image.broker_configs()) {
    if (c.resource_type() != v1::CONFIG_RESOURCE_BROKER || c.delete_key()) {
      return absl::DataLossError("snapshot broker configs hold a topic config or a deletion");
    }
    *record.mutable_config() = c;
    RETURN_IF_ERROR(out.Apply(record));
  }
  if (image.next_producer_id() < 0) {
    return absl::DataLossError(
        absl::StrCat("snapshot next producer id ", image.next_producer_id()));
  }
  out.next_producer_id_ = image.next_producer_id();
  return out;
}

}  // namespace spool::controller
