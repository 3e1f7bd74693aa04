// CreateTopics and DeleteTopics (controller_logic.h).
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replication/controller/controller_errors.h"
#include "replication/controller/controller_logic.h"
#include "replication/controller/leadership.h"
#include "replication/controller/placement.h"

namespace spool::controller {
namespace {

// A random version-4 UUID not used by any topic of `image`.
TopicId NewTopicId(const ClusterImage& image, std::mt19937_64& rng) {
  for (;;) {
    TopicId id;
    for (size_t i = 0; i < id.bytes.size(); i += 8) {
      uint64_t r = rng();
      for (size_t j = 0; j < 8; ++j) id.bytes[i + j] = static_cast<uint8_t>(r >> (8 * j));
    }
    id.bytes[6] = static_cast<uint8_t>((id.bytes[6] & 0x0f) | 0x40);  // version 4
    id.bytes[8] = static_cast<uint8_t>((id.bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
    if (image.FindTopic(id) == nullptr) return id;
  }
}

Status ValidateConfigs(const std::map<std::string, std::string>& configs) {
  for (const auto& [key, value] : configs) {
    if (key.empty()) return ControllerStatus(ControllerError::kInvalidConfig, "an empty key");
    if (key == kUncleanLeaderElectionKey && value != "true" && value != "false") {
      return ControllerStatus(ControllerError::kInvalidConfig,
                              absl::StrCat(key, " must be true or false, not '", value, "'"));
    }
  }
  return absl::OkStatus();
}

std::vector<PlacementBroker> UnfencedBrokers(const ClusterImage& image) {
  std::vector<PlacementBroker> out;
  for (const auto& [id, broker] : image.brokers()) {
    if (!broker.fenced) out.push_back(PlacementBroker{id, broker.rack});
  }
  return out;
}

// Adds the topic's records to `builder`; on error nothing is added.
Status CreateOne(RecordBuilder& builder, const CreatableTopic& topic, CreatedTopic& result,
                 const ControllerConfig& config, std::mt19937_64& rng) {
  if (!IsValidTopicName(topic.name)) {
    return ControllerStatus(
        ControllerError::kInvalidTopic,
        absl::StrCat("topic name '", topic.name,
                     "' is not 1..249 characters of [a-zA-Z0-9._-], or is . or .."));
  }
  if (builder.image().FindTopic(topic.name) != nullptr) {
    return ControllerStatus(ControllerError::kTopicAlreadyExists,
                            absl::StrCat("topic ", topic.name, " already exists"));
  }
  const int32_t partitions =
      topic.num_partitions == -1 ? config.default_num_partitions : topic.num_partitions;
  const int32_t rf =
      topic.replication_factor == -1 ? config.default_replication_factor : topic.replication_factor;
  if (partitions < 1 || partitions > config.max_partitions_per_topic) {
    return ControllerStatus(ControllerError::kInvalidPartitions,
                            absl::StrCat("number of partitions ", partitions, " is not in [1, ",
                                         config.max_partitions_per_topic, "]"));
  }
  RETURN_IF_ERROR(ValidateConfigs(topic.configs));
  PlacementOptions placement;
  placement.start_index = static_cast<uint32_t>(rng());
  placement.replica_shift = static_cast<uint32_t>(rng());
  ASSIGN_OR_RETURN(std::vector<std::vector<int32_t>> assignment,
                   AssignReplicas(UnfencedBrokers(builder.image()), partitions, rf, placement));
  const TopicId id = NewTopicId(builder.image(), rng);

  RecordBuilder scratch = builder;
  v1::MetadataRecord record;
  v1::CreateTopicRecord* t = record.mutable_topic();
  t->set_name(topic.name);
  t->set_topic_id(id.ToBytes());
  for (const auto& [key, value] : topic.configs) (*t->mutable_configs())[key] = value;
  RETURN_IF_ERROR(scratch.Add(std::move(record)));
  for (int32_t p = 0; p < partitions; ++p) {
    v1::MetadataRecord part;
    v1::PartitionRecord* r = part.mutable_partition();
    r->set_topic_id(id.ToBytes());
    r->set_partition(p);
    for (int32_t b : assignment[p]) {
      r->add_replicas(b);
      r->add_isr(b);
    }
    r->set_leader(assignment[p].front());
    r->set_leader_epoch(0);
    r->set_partition_epoch(0);
    RETURN_IF_ERROR(scratch.Add(std::move(part)));
  }
  builder = std::move(scratch);
  result.topic_id = id;
  result.num_partitions = partitions;
  result.replication_factor = rf;
  return absl::OkStatus();
}

}  // namespace

ControllerResult<std::vector<CreatedTopic>> CreateTopics(const ClusterImage& image,
                                                         const CreateTopicsRequest& request,
                                                         const ControllerConfig& config,
                                                         std::mt19937_64& rng) {
  ControllerResult<std::vector<CreatedTopic>> out;
  std::map<std::string, int> seen;
  for (const CreatableTopic& t : request.topics) ++seen[t.name];
  RecordBuilder builder(image);
  for (const CreatableTopic& topic : request.topics) {
    CreatedTopic result;
    result.name = topic.name;
    if (seen[topic.name] > 1) {
      result.status = ControllerStatus(ControllerError::kInvalidRequest,
                                       absl::StrCat("topic ", topic.name, " given twice"));
    } else {
      result.status = CreateOne(builder, topic, result, config, rng);
    }
    out.reply.push_back(std::move(result));
  }
  if (!request.validate_only) out.records = std::move(builder).Take();
  return out;
}

ControllerResult<std::vector<DeletedTopic>> DeleteTopics(const ClusterImage& image,
                                                         const std::vector<std::string>& names) {
  ControllerResult<std::vector<DeletedTopic>> out;
  std::map<std::string, int> seen;
  for (const std::string& name : names) ++seen[name];
  RecordBuilder builder(image);
  for (const std::string& name : names) {
    DeletedTopic result;
    result.name = name;
    const TopicImage* topic = builder.image().FindTopic(name);
    if (seen[name] > 1) {
      result.status = ControllerStatus(ControllerError::kInvalidRequest,
                                       absl::StrCat("topic ", name, " given twice"));
    } else if (topic == nullptr) {
      result.status = ControllerStatus(ControllerError::kUnknownTopicOrPartition,
                                       absl::StrCat("no topic ", name));
    } else {
      v1::MetadataRecord record;
      record.mutable_remove_topic()->set_topic_id(topic->id.ToBytes());
      result.status = builder.Add(std::move(record));
    }
    out.reply.push_back(std::move(result));
  }
  out.records = std::move(builder).Take();
  return out;
}

}  // namespace spool::controller
