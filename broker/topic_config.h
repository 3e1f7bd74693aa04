// Topic names and per-topic configuration (CreateTopics' `configs`, proto/admin.proto).
//
// Keys use Kafka's names and decimal values (proto/README.md, "Topic configuration"):
//   retention.ms       int64 >= -1 (-1: keep forever)
//   retention.bytes    int64 >= -1 (-1: no size limit)
//   segment.bytes      [1024, 2^32 - 1]
//   segment.ms         >= 1
//   max.message.bytes  [61 (one batch header), 64 MiB] (per batch)
//   min.insync.replicas  >= 1, and <= the replication factor
//   flush.messages     >= 1 (flush.policy=interval only)
//   flush.ms           >= 1 (flush.policy=interval only)
//   flush.policy       "durable" (acks=all after the covering fdatasync) or "interval"
// A topic stores only the keys it was created with; the effective configuration is those over
// the broker's defaults (BrokerConfig::log_defaults), computed again at every start.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "log/partition_log.h"

namespace spool::broker {

inline constexpr size_t kMaxTopicNameLength = 249;  // Kafka's limit
inline constexpr int32_t kMaxPartitionsPerTopic = 10000;
inline constexpr int32_t kMaxReplicationFactor = 64;
inline constexpr uint32_t kMaxMessageBytesLimit = 64u << 20;

struct TopicConfig {
  log::LogConfig log;
  int32_t min_insync_replicas = 1;
};

// Kafka's rules: 1..249 characters of [a-zA-Z0-9._-], not "." or "..". kInvalidArgument with
// the reason otherwise.
[[nodiscard]] Status ValidateTopicName(std::string_view name);

// `overrides` over `defaults`. kInvalidArgument naming the key for an unknown key or a bad value.
[[nodiscard]] StatusOr<TopicConfig> ParseTopicConfig(
    const std::map<std::string, std::string>& overrides, const TopicConfig& defaults,
    int32_t replication_factor);

// Every key above with its value in `config` (what CreateTopics answers with).
[[nodiscard]] std::map<std::string, std::string> EffectiveConfig(const TopicConfig& config);

}  // namespace spool::broker
