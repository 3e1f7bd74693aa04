// GroupConfig: the broker's consumer-group settings (the group.* and offsets.* keys, Kafka's
// names; broker/README.md lists them with their defaults). Part of BrokerConfig, read-only once
// the broker runs.
#pragma once

#include <cstdint>
#include <limits>

namespace spool::broker {

// The group.* and offsets.* settings (broker/README.md).
struct GroupConfig {
  int32_t min_session_timeout_ms = 6000;     // group.min.session.timeout.ms
  int32_t max_session_timeout_ms = 1800000;  // group.max.session.timeout.ms
  int32_t initial_rebalance_delay_ms = 100;  // group.initial.rebalance.delay.ms (Kafka: 3000)
  int32_t max_size = std::numeric_limits<int32_t>::max();  // group.max.size
  int64_t offsets_retention_ms = 7LL * 24 * 3600 * 1000;   // offsets.retention.ms
  int64_t offsets_retention_check_interval_ms = 600000;    // offsets.retention.check.interval.ms
  int32_t offset_metadata_max_bytes = 4096;                // offset.metadata.max.bytes
  int32_t offsets_topic_num_partitions = 8;                // offsets.topic.num.partitions
  // offsets.topic.replication.factor: the replication factor __consumer_offsets is created with
  // (group_manager.h says when; a single-node cluster makes it with 1).
  int32_t offsets_topic_replication_factor = 3;
  int32_t offsets_commit_timeout_ms = 5000;  // offsets.commit.timeout.ms
};

}  // namespace spool::broker
