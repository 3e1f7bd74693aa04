// AlterPartition (controller_logic.h): ISR changes asked by partition leaders.
#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replication/controller/controller_errors.h"
#include "replication/controller/controller_logic.h"
#include "replication/controller/record_builder.h"

namespace spool::controller {
namespace {

bool Contains(const std::vector<int32_t>& v, int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The refusal for `request` against `image`, or OK (the checks of controller_logic.h, in order).
Status CheckAlterPartition(const ClusterImage& image, const AlterPartitionRequest& request) {
  const BrokerRegistration* sender = image.FindBroker(request.broker_id);
  if (sender == nullptr) {
    return ControllerStatus(ControllerError::kBrokerIdNotRegistered,
                            absl::StrCat("broker ", request.broker_id, " is not registered"));
  }
  if (sender->epoch != request.broker_epoch) {
    return ControllerStatus(ControllerError::kStaleBrokerEpoch,
                            absl::StrCat("broker ", request.broker_id, " epoch ",
                                         request.broker_epoch, " is not ", sender->epoch));
  }
  const TopicImage* topic = image.FindTopic(request.topic_id);
  if (topic == nullptr) {
    return ControllerStatus(ControllerError::kUnknownTopicId,
                            absl::StrCat("no topic with id ", request.topic_id.ToString()));
  }
  const PartitionState* p = image.FindPartition(request.topic_id, request.partition);
  if (p == nullptr) {
    return ControllerStatus(ControllerError::kUnknownTopicOrPartition,
                            absl::StrCat("no partition ", topic->name, "-", request.partition));
  }
  const std::string name = absl::StrCat(topic->name, "-", request.partition);
  if (request.leader_epoch < p->leader_epoch) {
    return ControllerStatus(ControllerError::kFencedLeaderEpoch,
                            absl::StrCat(name, " leader epoch ", request.leader_epoch,
                                         " is older than ", p->leader_epoch));
  }
  if (request.leader_epoch > p->leader_epoch) {
    return ControllerStatus(ControllerError::kUnknownLeaderEpoch,
                            absl::StrCat(name, " leader epoch ", request.leader_epoch,
                                         " is newer than ", p->leader_epoch));
  }
  if (p->leader != request.broker_id) {
    return ControllerStatus(ControllerError::kNotLeaderOrFollower,
                            absl::StrCat("broker ", request.broker_id, " does not lead ", name,
                                         " (leader ", p->leader, ")"));
  }
  if (request.partition_epoch != p->partition_epoch) {
    return ControllerStatus(ControllerError::kInvalidUpdateVersion,
                            absl::StrCat(name, " partition epoch ", request.partition_epoch,
                                         " is not ", p->partition_epoch));
  }
  std::set<int32_t> members;
  for (int32_t m : request.new_isr) {
    if (!members.insert(m).second || !Contains(p->replicas, m)) {
      return ControllerStatus(
          ControllerError::kInvalidRequest,
          absl::StrCat(name, " ISR member ", m, " is given twice or is not a replica"));
    }
  }
  if (!members.contains(request.broker_id)) {
    return ControllerStatus(ControllerError::kInvalidRequest,
                            absl::StrCat(name, " ISR without its leader"));
  }
  for (int32_t m : request.new_isr) {
    if (!image.IsLive(m)) {
      return ControllerStatus(
          ControllerError::kIneligibleReplica,
          absl::StrCat(name, " ISR member ", m, " is fenced or not registered"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

ControllerResult<AlterPartitionReply> AlterPartition(const ClusterImage& image,
                                                     const AlterPartitionRequest& request) {
  ControllerResult<AlterPartitionReply> out;
  out.reply.status = CheckAlterPartition(image, request);
  if (!out.reply.status.ok()) return out;
  const PartitionState& current = *image.FindPartition(request.topic_id, request.partition);
  if (request.new_isr == current.isr) {
    out.reply.partition = current;
    return out;
  }
  RecordBuilder builder(image);
  out.reply.status = builder.Add(
      PartitionChange(request.topic_id, request.partition, std::nullopt, request.new_isr));
  if (!out.reply.status.ok()) return out;
  out.reply.partition = *builder.image().FindPartition(request.topic_id, request.partition);
  out.records = std::move(builder).Take();
  return out;
}

}  // namespace spool::controller
