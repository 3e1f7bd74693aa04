// RoutePartition (request_handlers.h): the existence and leader-epoch checks shared by every
// request addressed to a partition (Produce, Fetch, ListOffsets): existence, leadership (from
// the cluster metadata) and the leader epoch.
#include "broker/request_handlers.h"

namespace spool::broker {

PartitionRoute RoutePartition(const BrokerCore& core, const TopicInfo* info,
                              const std::string& topic, int32_t partition,
                              int32_t current_leader_epoch) {
  using proto::ErrorCode;
  if (info == nullptr || partition < 0 || partition >= info->num_partitions) {
    return {ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, -1};
  }
  const int32_t leader = info->LeaderOf(partition, core.config.node_id);
  if (leader < 0) return {ErrorCode::LEADER_NOT_AVAILABLE, -1};
  if (leader != core.config.node_id) return {ErrorCode::NOT_LEADER_OR_FOLLOWER, -1};
  const int32_t epoch = info->LeaderEpochOf(partition);
  if (current_leader_epoch >= 0 && current_leader_epoch != epoch) {
    return {current_leader_epoch < epoch ? ErrorCode::FENCED_LEADER_EPOCH
                                         : ErrorCode::UNKNOWN_LEADER_EPOCH,
            -1};
  }
  return {ErrorCode::NONE, core.partitions.OwnerShard(topic, partition), epoch};
}

}  // namespace spool::broker
