// ConsumerConfig validation and the small value types of consumer.h.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/io/socket.h"
#include "consumer/assignor.h"
#include "consumer/consumer.h"

namespace spool {

std::string TopicPartition::ToString() const {
  return absl::StrCat(topic, "-", partition);
}

OwnedRecord ConsumerRecord::ToOwned() const {
  OwnedRecord o;
  o.topic = std::string(topic);
  o.partition = partition;
  o.offset = offset;
  o.timestamp = timestamp;
  if (key) o.key = std::string(*key);
  if (value) o.value = std::string(*value);
  for (const record::Header& h : headers) {
    std::optional<std::string> v;
    if (h.value) v = std::string(record::AsString(*h.value));
    o.headers.emplace_back(std::string(h.key), std::move(v));
  }
  return o;
}

Status ValidateConsumerConfig(const ConsumerConfig& c) {
  auto bad = [](std::string_view field, std::string_view why) {
    return absl::InvalidArgumentError(absl::StrFormat("ConsumerConfig.%s: %s", field, why));
  };
  if (c.bootstrap_servers.empty()) return bad("bootstrap_servers", "at least one is needed");
  for (const std::string& s : c.bootstrap_servers) {
    if (StatusOr<io::HostPort> hp = io::ParseHostPort(s); !hp.ok()) {
      return bad("bootstrap_servers", std::string(hp.status().message()));
    }
  }
  if (c.fetch_min_bytes < 0) return bad("fetch_min_bytes", "must be >= 0");
  if (c.fetch_max_wait_ms < 0) return bad("fetch_max_wait_ms", "must be >= 0");
  if (c.fetch_max_bytes <= 0) return bad("fetch_max_bytes", "must be > 0");
  if (c.max_partition_fetch_bytes <= 0) return bad("max_partition_fetch_bytes", "must be > 0");
  if (c.max_poll_records <= 0) return bad("max_poll_records", "must be > 0");
  if (c.request_timeout_ms <= 0) return bad("request_timeout_ms", "must be > 0");
  if (c.retry_backoff_ms < 0) return bad("retry_backoff_ms", "must be >= 0");
  if (c.metadata_max_age_ms <= 0) return bad("metadata_max_age_ms", "must be > 0");
  if (c.prefetch_max_bytes <= 0) return bad("prefetch_max_bytes", "must be > 0");
  if (!c.group_instance_id.empty() && c.group_id.empty()) {
    return bad("group_instance_id", "needs group_id");
  }
  if (c.session_timeout_ms <= 0) return bad("session_timeout_ms", "must be > 0");
  if (c.heartbeat_interval_ms <= 0 || c.heartbeat_interval_ms >= c.session_timeout_ms) {
    return bad("heartbeat_interval_ms", "must be > 0 and below session_timeout_ms");
  }
  if (c.max_poll_interval_ms <= 0) return bad("max_poll_interval_ms", "must be > 0");
  if (c.auto_commit_interval_ms <= 0) return bad("auto_commit_interval_ms", "must be > 0");
  if (c.partition_assignment_strategy.empty()) {
    return bad("partition_assignment_strategy", "at least one assignor is needed");
  }
  for (size_t i = 0; i < c.partition_assignment_strategy.size(); ++i) {
    const std::string& name = c.partition_assignment_strategy[i];
    if (StatusOr<std::unique_ptr<consumer::Assignor>> a = consumer::MakeAssignor(name); !a.ok()) {
      return bad("partition_assignment_strategy", std::string(a.status().message()));
    }
    for (size_t j = 0; j < i; ++j) {
      if (c.partition_assignment_strategy[j] == name) {
        return bad("partition_assignment_strategy", absl::StrCat("\"", name, "\" is listed twice"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace spool
