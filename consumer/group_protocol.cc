#include "consumer/group_protocol.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "proto/consumer_protocol.pb.h"

namespace spool::consumer {
namespace {

template <typename Repeated>
void AddPartitions(const std::vector<TopicPartition>& partitions, Repeated* out) {
  std::map<std::string, std::vector<int32_t>> by_topic;
  for (const TopicPartition& tp : partitions) by_topic[tp.topic].push_back(tp.partition);
  for (auto& [topic, parts] : by_topic) {
    std::sort(parts.begin(), parts.end());
    v1::ConsumerTopicPartitions* t = out->Add();
    t->set_topic(topic);
    for (int32_t p : parts) t->add_partitions(p);
  }
}

template <typename Repeated>
std::vector<TopicPartition> ReadPartitions(const Repeated& in) {
  std::vector<TopicPartition> out;
  for (const v1::ConsumerTopicPartitions& t : in) {
    for (int32_t p : t.partitions()) out.push_back(TopicPartition{t.topic(), p});
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::string EncodeSubscription(const std::vector<std::string>& topics,
                               const std::vector<TopicPartition>& owned, int32_t generation) {
  v1::ConsumerSubscription s;
  for (const std::string& t : topics) s.add_topics(t);
  AddPartitions(owned, s.mutable_owned_partitions());
  s.set_generation_id(generation);
  return s.SerializeAsString();
}

StatusOr<MemberSubscription> DecodeSubscription(std::string member_id,
                                                std::string group_instance_id,
                                                std::string_view metadata) {
  v1::ConsumerSubscription s;
  if (!s.ParseFromArray(metadata.data(), static_cast<int>(metadata.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("member ", member_id, ": metadata is not a ConsumerSubscription"));
  }
  MemberSubscription m;
  m.member_id = std::move(member_id);
  m.group_instance_id = std::move(group_instance_id);
  m.topics.assign(s.topics().begin(), s.topics().end());
  std::sort(m.topics.begin(), m.topics.end());
  m.topics.erase(std::unique(m.topics.begin(), m.topics.end()), m.topics.end());
  m.owned = ReadPartitions(s.owned_partitions());
  m.generation = s.generation_id();
  return m;
}

std::string EncodeAssignment(const std::vector<TopicPartition>& partitions) {
  v1::ConsumerAssignment a;
  AddPartitions(partitions, a.mutable_partitions());
  return a.SerializeAsString();
}

StatusOr<std::vector<TopicPartition>> DecodeAssignment(std::string_view bytes) {
  v1::ConsumerAssignment a;
  if (!a.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("SyncGroup assignment is not a ConsumerAssignment");
  }
  return ReadPartitions(a.partitions());
}

}  // namespace spool::consumer
