// ClusterImage: the cluster metadata that the controller quorum replicates (brokers, topics,
// partitions, configs, the producer id allocator), as the result of applying the metadata log's
// records (proto/cluster_metadata.proto) in order.
//
// Apply() is deterministic: every replica that applies the same records in the same order holds
// an equal image (operator==). A record that cannot apply to the current image (an unknown topic
// id, a partition whose ISR is not a subset of its replicas, a leader that is fenced, ...) is
// refused with kDataLoss — the log holds something no correct controller writes — and leaves the
// image unchanged. ApplyBatch() applies one Raft entry's records all or none.
//
// Liveness (when a broker last sent a heartbeat) is NOT part of the image: it is volatile state
// of the active controller (broker_liveness.h).
//
// ToProto()/FromProto() convert to and from the snapshot form (v1::MetadataImage); FromProto
// applies the same checks as Apply(), and FromProto(image.ToProto()) == image.
//
// Ownership and threading: a plain value type, no internal synchronisation; one thread at a time.
// Durability is the metadata log's (Raft) and its snapshots'; this class does no I/O.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "proto/cluster_metadata.pb.h"

namespace spool::controller {

inline constexpr int32_t kNoLeader = -1;

// A topic's id: 16 bytes (a version-4 UUID), never all zero.
struct TopicId {
  std::array<uint8_t, 16> bytes{};

  auto operator<=>(const TopicId&) const = default;
  bool IsZero() const;
  std::string ToBytes() const;   // the 16 bytes, as the records carry them
  std::string ToString() const;  // 32 hex digits, for messages
  // nullopt unless `b` is 16 bytes and not all zero.
  static std::optional<TopicId> FromBytes(std::string_view b);
};

struct Endpoint {
  std::string listener_name;
  std::string host;
  int32_t port = 0;
  auto operator<=>(const Endpoint&) const = default;
};

struct BrokerRegistration {
  int32_t id = 0;
  std::string incarnation_id;
  int64_t epoch = 0;
  std::vector<Endpoint> endpoints;
  std::optional<std::string> rack;
  bool fenced = true;
  bool operator==(const BrokerRegistration&) const = default;
};

struct PartitionState {
  std::vector<int32_t> replicas;  // the first is the preferred leader
  std::vector<int32_t> isr;
  int32_t leader = kNoLeader;
  int32_t leader_epoch = 0;
  int32_t partition_epoch = 0;
  bool operator==(const PartitionState&) const = default;
};

struct TopicImage {
  std::string name;
  TopicId id;
  std::map<std::string, std::string> configs;  // as given, without defaults
  std::vector<PartitionState> partitions;      // partition i at index i
  bool operator==(const TopicImage&) const = default;
};

// Kafka's topic name rule: 1..249 characters of [a-zA-Z0-9._-], not "." or "..".
[[nodiscard]] bool IsValidTopicName(std::string_view name);

class ClusterImage {
 public:
  // Applies one record; on error the image is unchanged (see the header comment).
  [[nodiscard]] Status Apply(const v1::MetadataRecord& record);
  // Applies the records in order, all or none.
  [[nodiscard]] Status ApplyBatch(std::span<const v1::MetadataRecord> records);

  [[nodiscard]] v1::MetadataImage ToProto() const;
  [[nodiscard]] static StatusOr<ClusterImage> FromProto(const v1::MetadataImage& image);

  const std::map<int32_t, BrokerRegistration>& brokers() const { return brokers_; }
  const std::map<TopicId, TopicImage>& topics() const { return topics_; }
  const std::map<std::string, TopicId>& topic_ids() const { return topic_ids_; }
  // Broker configs by resource name (the broker id in decimal, "" for the cluster default).
  const std::map<std::string, std::map<std::string, std::string>>& broker_configs() const {
    return broker_configs_;
  }
  // The first producer id not yet handed out.
  int64_t next_producer_id() const { return next_producer_id_; }

  const BrokerRegistration* FindBroker(int32_t id) const;
  const TopicImage* FindTopic(const TopicId& id) const;
  const TopicImage* FindTopic(std::string_view name) const;
  const PartitionState* FindPartition(const TopicId& id, int32_t partition) const;
  // Registered and not fenced.
  bool IsLive(int32_t broker_id) const;
  // A topic's config value, or nullopt when the topic does not set it.
  std::optional<std::string> TopicConfig(const TopicId& id, std::string_view key) const;

  bool operator==(const ClusterImage&) const = default;

 private:
  Status ApplyRegisterBroker(const v1::RegisterBrokerRecord& r);
  Status ApplyBrokerFenced(const v1::BrokerFencedRecord& r);
  Status ApplyBrokerUnfenced(const v1::BrokerUnfencedRecord& r);
  Status ApplyUnregisterBroker(const v1::UnregisterBrokerRecord& r);
  Status ApplyTopic(const v1::CreateTopicRecord& r);
  Status ApplyPartition(const v1::PartitionRecord& r);
  Status ApplyPartitionChange(const v1::PartitionChangeRecord& r);
  Status ApplyRemoveTopic(const v1::RemoveTopicRecord& r);
  Status ApplyConfig(const v1::ConfigRecord& r);
  Status ApplyProducerIds(const v1::ProducerIdsRecord& r);

  // kDataLoss unless the broker is registered with that epoch.
  StatusOr<BrokerRegistration*> BrokerWithEpoch(int32_t id, int64_t epoch);
  // kDataLoss when the broker leads any partition (it is about to be fenced or removed).
  Status CheckLeadsNothing(int32_t id) const;
  // kDataLoss unless `p` is well formed over this image (see PartitionRecord's comments).
  Status CheckPartition(const PartitionState& p) const;

  std::map<int32_t, BrokerRegistration> brokers_;
  std::map<TopicId, TopicImage> topics_;
  std::map<std::string, TopicId> topic_ids_;  // by name
  std::map<std::string, std::map<std::string, std::string>> broker_configs_;
  int64_t next_producer_id_ = 0;
};

}  // namespace spool::controller
