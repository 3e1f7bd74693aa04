#include "broker/topic_config.h"

#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "log/record/batch_header.h"

namespace spool::broker {

namespace {

absl::string_view View(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

Status BadValue(const std::string& key, const std::string& value, const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("config ", key, "=\"", value, "\" is invalid: ", why));
}

// Parses a decimal int64 in [lo, hi].
StatusOr<int64_t> ParseRange(const std::string& key, const std::string& value, int64_t lo,
                             int64_t hi) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(value, &v)) return BadValue(key, value, "not a decimal integer");
  if (v < lo || v > hi) {
    return BadValue(key, value, absl::StrCat("must be in [", lo, ", ", hi, "]"));
  }
  return v;
}

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

}  // namespace

Status ValidateTopicName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("topic name is empty");
  if (name.size() > kMaxTopicNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("topic name of ", name.size(), " characters is over ", kMaxTopicNameLength));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError("topic name cannot be \".\" or \"..\"");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("topic name \"", View(name), "\" has a character outside [a-zA-Z0-9._-]"));
    }
  }
  return Status();
}

StatusOr<TopicConfig> ParseTopicConfig(const std::map<std::string, std::string>& overrides,
                                       const TopicConfig& defaults, int32_t replication_factor) {
  TopicConfig c = defaults;
  for (const auto& [key, value] : overrides) {
    if (key == "retention.ms") {
      ASSIGN_OR_RETURN(c.log.retention_ms, ParseRange(key, value, -1, kInt64Max));
    } else if (key == "retention.bytes") {
      ASSIGN_OR_RETURN(c.log.retention_bytes, ParseRange(key, value, -1, kInt64Max));
    } else if (key == "segment.bytes") {
      ASSIGN_OR_RETURN(int64_t v,
                       ParseRange(key, value, 1024, std::numeric_limits<uint32_t>::max()));
      c.log.segment_bytes = static_cast<uint64_t>(v);
    } else if (key == "segment.ms") {
      ASSIGN_OR_RETURN(c.log.segment_ms, ParseRange(key, value, 1, kInt64Max));
    } else if (key == "max.message.bytes") {
      ASSIGN_OR_RETURN(int64_t v,
                       ParseRange(key, value, record::kHeaderSize, kMaxMessageBytesLimit));
      c.log.max_message_bytes = static_cast<uint32_t>(v);
    } else if (key == "min.insync.replicas") {
      ASSIGN_OR_RETURN(int64_t v, ParseRange(key, value, 1, replication_factor));
      c.min_insync_replicas = static_cast<int32_t>(v);
    } else if (key == "flush.messages") {
      ASSIGN_OR_RETURN(c.log.flush_messages, ParseRange(key, value, 1, kInt64Max));
    } else if (key == "flush.ms") {
      ASSIGN_OR_RETURN(c.log.flush_ms, ParseRange(key, value, 1, kInt64Max));
    } else if (key == "flush.policy") {
      if (value == "durable") {
        c.log.flush_policy = log::FlushPolicy::kGroupCommit;
      } else if (value == "interval") {
        c.log.flush_policy = log::FlushPolicy::kInterval;
      } else {
        return BadValue(key, value, "must be \"durable\" or \"interval\"");
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown topic config key \"", key, "\""));
    }
  }
  return c;
}

std::map<std::string, std::string> EffectiveConfig(const TopicConfig& c) {
  return {
      {"retention.ms", absl::StrCat(c.log.retention_ms)},
      {"retention.bytes", absl::StrCat(c.log.retention_bytes)},
      {"segment.bytes", absl::StrCat(c.log.segment_bytes)},
      {"segment.ms", absl::StrCat(c.log.segment_ms)},
      {"max.message.bytes", absl::StrCat(c.log.max_message_bytes)},
      {"min.insync.replicas", absl::StrCat(c.min_insync_replicas)},
      {"flush.messages", absl::StrCat(c.log.flush_messages)},
      {"flush.ms", absl::StrCat(c.log.flush_ms)},
      {"flush.policy",
       c.log.flush_policy == log::FlushPolicy::kGroupCommit ? "durable" : "interval"},
  };
}

}  // namespace spool::broker
