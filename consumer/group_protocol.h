// The "consumer" protocol type's bytes (proto/consumer_protocol.proto): the ConsumerSubscription a
// member sends as JoinGroupProtocol.metadata and the ConsumerAssignment the leader sends for each
// member in SyncGroup (internal; pure).
//
// Threading: pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "consumer/assignor.h"
#include "consumer/consumer.h"

namespace spool::consumer {

inline constexpr std::string_view kConsumerProtocolType = "consumer";

// Serialized ConsumerSubscription: the subscribed topics, and (cooperative members) the owned
// partitions with their generation (-1: none).
std::string EncodeSubscription(const std::vector<std::string>& topics,
                               const std::vector<TopicPartition>& owned, int32_t generation);
// A member's metadata from JoinGroup into a MemberSubscription. kInvalidArgument naming the
// member when the bytes are not a ConsumerSubscription.
[[nodiscard]] StatusOr<MemberSubscription> DecodeSubscription(std::string member_id,
                                                              std::string group_instance_id,
                                                              std::string_view metadata);

// Serialized ConsumerAssignment of `partitions` (grouped by topic, in order).
std::string EncodeAssignment(const std::vector<TopicPartition>& partitions);
// The partitions of a ConsumerAssignment, sorted. Empty bytes are an empty assignment.
[[nodiscard]] StatusOr<std::vector<TopicPartition>> DecodeAssignment(std::string_view bytes);

}  // namespace spool::consumer
