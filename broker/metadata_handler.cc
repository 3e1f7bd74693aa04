// Metadata and ApiVersions, answered from this broker's applied cluster metadata: the live
// (registered, unfenced) brokers, and each partition's leader, leader epoch, replicas and ISR. A
// partition without a leader has LEADER_NOT_AVAILABLE. The all-topics listing leaves out
// internal topics (__consumer_offsets); asking for one by name describes it.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "broker/group_records.h"
#include "broker/request_handlers.h"
#include "broker/topic_config.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;

namespace {

void FillTopic(const BrokerCore& core, const TopicInfo& topic, v1::TopicMetadata* out) {
  out->set_error_code(ErrorCode::NONE);
  out->set_name(topic.name);
  for (int32_t p = 0; p < topic.num_partitions; p++) {
    v1::PartitionMetadata* pm = out->add_partitions();
    pm->set_partition(p);
    const int32_t leader = topic.LeaderOf(p, core.config.node_id);
    pm->set_error_code(leader < 0 ? ErrorCode::LEADER_NOT_AVAILABLE : ErrorCode::NONE);
    pm->set_leader_id(leader);
    pm->set_leader_epoch(topic.LeaderEpochOf(p));
    if (topic.partitions.empty()) {
      pm->add_replicas(core.config.node_id);
      pm->add_isr(core.config.node_id);
      continue;
    }
    const PartitionInfo& info = topic.partitions[static_cast<size_t>(p)];
    for (int32_t r : info.replicas) pm->add_replicas(r);
    for (int32_t r : info.isr) pm->add_isr(r);
  }
}

}  // namespace

Task<StatusOr<Response>> HandleMetadata(BrokerCore& core, proto::Frame frame,
                                        std::unique_ptr<v1::MetadataRequest> request) {
  v1::MetadataResponse response;
  std::shared_ptr<const BrokerList> brokers = core.partitions.Brokers();
  bool self_listed = false;
  for (const BrokerInfo& b : *brokers) {
    v1::BrokerMetadata* m = response.add_brokers();
    m->set_node_id(b.id);
    m->set_host(b.host);
    m->set_port(b.port);
    self_listed = self_listed || b.id == core.config.node_id;
  }
  if (!self_listed) {
    // Not (yet, or no longer) unfenced in the metadata: still list the broker answering. The
    // advertised address, read per request: the network layer may fill in an ephemeral port.
    const io::HostPort& adv =
        core.config.advertised.host.empty() ? core.config.listen : core.config.advertised;
    v1::BrokerMetadata* self = response.add_brokers();
    self->set_node_id(core.config.node_id);
    self->set_host(adv.host);
    self->set_port(adv.port != 0 ? adv.port : core.config.listen.port);
  }
  response.set_cluster_id(core.config.cluster_id);
  // Clients cannot reach the controllers; like KRaft, a broker names itself (it forwards).
  response.set_controller_id(core.config.node_id);

  if (request->all_topics()) {
    std::shared_ptr<const TopicSnapshot> topics = core.partitions.Topics();
    std::vector<std::shared_ptr<const TopicInfo>> sorted;
    for (const auto& [name, info] : *topics) {
      // Internal topics (__consumer_offsets) are listed only when asked for by name.
      if (!IsInternalTopic(name)) sorted.push_back(info);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a->name < b->name; });
    for (const auto& info : sorted) FillTopic(core, *info, response.add_topics());
  } else {
    for (const std::string& name : request->topics()) {
      v1::TopicMetadata* tm = response.add_topics();
      tm->set_name(name);
      if (Status valid = ValidateTopicName(name); !valid.ok()) {
        tm->set_error_code(ErrorCode::INVALID_TOPIC);
        continue;
      }
      std::shared_ptr<const TopicInfo> info = core.partitions.FindTopic(name);
      if (info == nullptr && request->allow_auto_topic_creation() &&
          core.config.auto_create_topics) {
        CreateTopicSpec spec;
        spec.name = name;
        Status made = co_await core.partitions.EnsureTopic(std::move(spec));
        if (!made.ok()) {
          tm->set_error_code(proto::ErrorFromStatus(made));
          continue;
        }
        info = core.partitions.FindTopic(name);
      }
      if (info == nullptr) {
        tm->set_error_code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
        continue;
      }
      FillTopic(core, *info, tm);
    }
  }
  co_return MakeResponse(frame.header(), response);
}

StatusOr<Response> HandleApiVersions(BrokerCore& core, const proto::FrameHeader& header) {
  v1::ApiVersionsResponse response;
  response.set_error_code(ErrorCode::NONE);
  for (const proto::ApiVersionSupport& api : proto::SupportedApis()) {
    v1::ApiVersionRange* range = response.add_api_keys();
    range->set_api_key(api.api_key);
    range->set_min_version(api.min_version);
    range->set_max_version(api.max_version);
  }
  response.set_broker_id(core.config.node_id);
  response.set_cluster_id(core.config.cluster_id);
  return MakeResponse(header, response);
}

}  // namespace spool::broker
