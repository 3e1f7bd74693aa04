// ControllerService: the controller listener's RequestHandler (controller_service.h). Checks on
// the connection's shard (API and version, payload, body), then one hop to the controller's shard
// where the QuorumController is called and the answer is encoded; proto <-> controller_logic
// conversions are at the bottom of the anonymous namespace.
#include "broker/controller_service.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/str_cat.h"
#include "proto/body.h"
#include "proto/controller.pb.h"
#include "proto/errors.h"
#include "proto/raft.pb.h"
#include "replication/controller/controller_errors.h"
#include "replication/raft/raft_node.h"
#include "replication/raft/raft_service.h"

namespace spool::broker {
namespace {

using controller::QuorumController;
using proto::ErrorCode;

// What a controller listener serves (and lists in ApiVersions): the internal APIs, plus the two
// admin calls brokers forward and DescribeQuorum.
constexpr std::array<proto::ApiVersionSupport, 4> kAlsoServed = {{
    {v1::API_KEY_API_VERSIONS, 0, 0},
    {v1::API_KEY_CREATE_TOPICS, 0, 0},
    {v1::API_KEY_DELETE_TOPICS, 0, 0},
    {v1::API_KEY_DESCRIBE_QUORUM, 0, 0},
}};

// FetchMetadata's long poll is capped here, whatever max_wait_ms asks.
constexpr int32_t kMaxFetchWaitMs = 10'000;
// FetchMetadata stops adding batches past this many body bytes (at least one is sent), so an
// answer stays well inside a client's frame limit.
constexpr size_t kFetchAnswerBytes = size_t{4} << 20;
// Responses are encoded with the client's body limit (client::ConnectionOptions::limits).
constexpr proto::FrameLimits kResponseLimits{.max_frame_bytes = 256u << 20,
                                             .max_body_bytes = 16u << 20};

const proto::ApiVersionSupport* Served(int16_t api_key) {
  for (const proto::ApiVersionSupport& api : proto::InternalApis()) {
    if (api.api_key == api_key) return &api;
  }
  for (const proto::ApiVersionSupport& api : kAlsoServed) {
    if (api.api_key == api_key) return &api;
  }
  return nullptr;
}

Response ErrorFrame(const proto::FrameHeader& request, ErrorCode code, const std::string& message,
                    int32_t controller_id = -1) {
  StatusOr<proto::OutgoingFrame> frame =
      proto::EncodeErrorResponse(request, code, message, controller_id);
  if (!frame.ok()) frame = proto::EncodeErrorResponse(request, code, "", controller_id);
  // An ErrorResponse with an empty message always encodes.
  return Response{*std::move(frame), {}};
}

Response Encode(const proto::FrameHeader& request, const google::protobuf::MessageLite& body) {
  proto::FrameHeader h;
  h.flags = proto::kFlagResponse;
  h.api_key = request.api_key;
  h.api_version = request.api_version;
  h.correlation_id = request.correlation_id;
  StatusOr<proto::OutgoingFrame> frame = proto::EncodeFrame(h, body, {}, kResponseLimits);
  if (!frame.ok()) {
    return ErrorFrame(request, ErrorCode::UNKNOWN,
                      absl::StrCat("cannot encode the response: ", frame.status().message()));
  }
  return Response{*std::move(frame), {}};
}

// The answer to a QuorumController call that failed as a whole: this voter cannot decide (not
// active, lost leadership before the entry committed, stopping, or its driver failed), so the
// sender moves on: NOT_CONTROLLER, naming the leader it knows.
Response OuterFailure(const proto::FrameHeader& request, const Status& st) {
  const raft::NodeId leader = controller::ControllerLeaderHint(st);
  const int32_t id = leader == raft::kNoNode ? -1 : static_cast<int32_t>(leader.value());
  return ErrorFrame(request, ErrorCode::NOT_CONTROLLER, std::string(st.message()), id);
}

// A controller decision's status as (error_code, error_message): Kafka's exact number.
template <typename M>
void SetError(M* response, const Status& st) {
  if (st.ok()) return;
  response->set_error_code(static_cast<int32_t>(controller::ControllerErrorOf(st)));
  response->set_error_message(std::string(st.message()));
}

template <typename M>
bool WrongCluster(const std::string& ours, const std::string& theirs, M* response) {
  if (theirs == ours) return false;
  response->set_error_code(ErrorCode::INCONSISTENT_CLUSTER_ID);
  response->set_error_message(
      absl::StrCat("the request names cluster '", theirs, "', this controller is '", ours, "'"));
  return true;
}

// ---- conversions ----

controller::Endpoint FromProto(const v1::BrokerEndpoint& e) {
  return controller::Endpoint{e.listener_name(), e.host(), e.port()};
}

void ToProto(const controller::Endpoint& e, v1::BrokerEndpoint* out) {
  out->set_listener_name(e.listener_name);
  out->set_host(e.host);
  out->set_port(e.port);
}

void ToProto(const controller::TopicId& id, int32_t partition, const controller::PartitionState& p,
             v1::PartitionRecord* out) {
  out->set_topic_id(id.ToBytes());
  out->set_partition(partition);
  for (int32_t r : p.replicas) out->add_replicas(r);
  for (int32_t r : p.isr) out->add_isr(r);
  out->set_leader(p.leader);
  out->set_leader_epoch(p.leader_epoch);
  out->set_partition_epoch(p.partition_epoch);
}

// ---- the APIs, on the controller's shard ----

class Calls {
 public:
  Calls(QuorumController& c, const std::string& cluster_id) : c_(c), cluster_id_(cluster_id) {}

  Task<Response> Registration(const proto::FrameHeader& h, const v1::BrokerRegistrationRequest& r) {
    v1::BrokerRegistrationResponse out;
    if (WrongCluster(cluster_id_, r.cluster_id(), &out)) co_return Encode(h, out);
    controller::RegisterBrokerRequest request;
    request.broker_id = r.broker_id();
    request.incarnation_id = r.incarnation_id();
    for (const v1::BrokerEndpoint& e : r.endpoints()) request.endpoints.push_back(FromProto(e));
    if (r.has_rack()) request.rack = r.rack();
    StatusOr<controller::RegisterBrokerReply> reply =
        co_await c_.RegisterBroker(std::move(request));
    if (!reply.ok()) co_return OuterFailure(h, reply.status());
    SetError(&out, reply->status);
    out.set_broker_epoch(reply->status.ok() ? reply->broker_epoch : -1);
    co_return Encode(h, out);
  }

  Task<Response> Heartbeat(const proto::FrameHeader& h, const v1::BrokerHeartbeatRequest& r) {
    v1::BrokerHeartbeatResponse out;
    if (WrongCluster(cluster_id_, r.cluster_id(), &out)) co_return Encode(h, out);
    controller::HeartbeatRequest request;
    request.broker_id = r.broker_id();
    request.broker_epoch = r.broker_epoch();
    request.metadata_offset = r.current_metadata_offset();
    request.want_shutdown = r.want_shut_down();
    StatusOr<controller::HeartbeatReply> reply = co_await c_.BrokerHeartbeat(request);
    if (!reply.ok()) co_return OuterFailure(h, reply.status());
    SetError(&out, reply->status);
    out.set_is_fenced(reply->fenced);
    out.set_should_shut_down(reply->shutdown_ready);
    co_return Encode(h, out);
  }

  Task<Response> FetchMetadata(const proto::FrameHeader& h, const v1::FetchMetadataRequest& r) {
    v1::FetchMetadataResponse out;
    if (WrongCluster(cluster_id_, r.cluster_id(), &out)) co_return Encode(h, out);
    if (r.from_index() < 0 || r.max_wait_ms() < 0 || r.max_batches() < 0) {
      out.set_error_code(ErrorCode::INVALID_REQUEST);
      out.set_error_message("from_index, max_wait_ms and max_batches must not be negative");
      co_return Encode(h, out);
    }
    const int32_t wait_ms = std::min(r.max_wait_ms(), kMaxFetchWaitMs);
    if (wait_ms > 0) {
      const std::chrono::nanoseconds max_wait = std::chrono::milliseconds(wait_ms);
      co_await c_.WaitForCommitAfter(r.from_index(), max_wait);
    }
    const size_t max_batches =
        r.max_batches() == 0 ? SIZE_MAX : static_cast<size_t>(r.max_batches());
    controller::MetadataDelta delta = c_.FetchMetadata(r.from_index(), max_batches);
    if (delta.snapshot_needed && delta.image.has_value()) {
      *out.mutable_image() = delta.image->ToProto();
      out.set_up_to(delta.up_to);
      co_return Encode(h, out);
    }
    size_t bytes = 0;
    int64_t up_to = delta.up_to;
    for (controller::MetadataBatch& b : delta.batches) {
      v1::MetadataLogBatch entry;
      entry.set_index(b.index);
      for (v1::MetadataRecord& rec : b.records) *entry.mutable_batch()->add_records() = rec;
      bytes += entry.ByteSizeLong();
      if (out.batches_size() > 0 && bytes > kFetchAnswerBytes) {
        up_to = out.batches(out.batches_size() - 1).index();
        break;
      }
      *out.add_batches() = std::move(entry);
    }
    out.set_up_to(up_to);
    co_return Encode(h, out);
  }

  Task<Response> AlterPartition(const proto::FrameHeader& h, const v1::AlterPartitionRequest& r) {
    v1::AlterPartitionResponse out;
    if (WrongCluster(cluster_id_, r.cluster_id(), &out)) co_return Encode(h, out);
    std::optional<controller::TopicId> id = controller::TopicId::FromBytes(r.topic_id());
    if (!id.has_value()) {
      out.set_error_code(ErrorCode::UNKNOWN_TOPIC_ID);
      out.set_error_message("topic_id is not 16 bytes, or all zero");
      co_return Encode(h, out);
    }
    controller::AlterPartitionRequest request;
    request.broker_id = r.broker_id();
    request.broker_epoch = r.broker_epoch();
    request.topic_id = *id;
    request.partition = r.partition();
    request.leader_epoch = r.leader_epoch();
    request.partition_epoch = r.partition_epoch();
    request.new_isr.assign(r.new_isr().begin(), r.new_isr().end());
    StatusOr<controller::AlterPartitionReply> reply =
        co_await c_.AlterPartition(std::move(request));
    if (!reply.ok()) co_return OuterFailure(h, reply.status());
    SetError(&out, reply->status);
    if (reply->status.ok()) ToProto(*id, r.partition(), reply->partition, out.mutable_partition());
    co_return Encode(h, out);
  }

  Task<Response> AllocateProducerIds(const proto::FrameHeader& h,
                                     const v1::AllocateProducerIdsRequest& r) {
    v1::AllocateProducerIdsResponse out;
    if (WrongCluster(cluster_id_, r.cluster_id(), &out)) co_return Encode(h, out);
    controller::BrokerRef broker{r.broker_id(), r.broker_epoch()};
    StatusOr<controller::ProducerIdBlock> reply = co_await c_.AllocateProducerIds(broker);
    if (!reply.ok()) co_return OuterFailure(h, reply.status());
    SetError(&out, reply->status);
    if (reply->status.ok()) {
      out.set_producer_id_start(reply->first_id);
      out.set_producer_id_len(static_cast<int32_t>(reply->count));
    }
    co_return Encode(h, out);
  }

  Response DescribeQuorum(const proto::FrameHeader& h, const v1::DescribeQuorumRequest& r) {
    v1::DescribeQuorumResponse out;
    if (WrongCluster(cluster_id_, r.cluster_id(), &out)) return Encode(h, out);
    const controller::QuorumStatus s = c_.status();
    out.set_node_id(static_cast<int32_t>(s.raft.id.value()));
    out.set_role(raft::RoleName(s.raft.role));
    out.set_term(static_cast<int64_t>(s.raft.term.value()));
    out.set_leader_id(s.raft.leader == raft::kNoNode ? -1
                                                     : static_cast<int32_t>(s.raft.leader.value()));
    out.set_active(s.active);
    out.set_commit_index(static_cast<int64_t>(s.raft.commit.value()));
    out.set_applied_index(static_cast<int64_t>(s.raft.applied.value()));
    out.set_metadata_index(s.metadata_index);
    for (const raft::VoterStatus& v : s.raft.voters) {
      v1::QuorumVoterState* o = out.add_voters();
      o->set_voter_id(static_cast<int32_t>(v.id.value()));
      o->set_log_end_offset(static_cast<int64_t>(v.match.value()));
      o->set_lag(static_cast<int64_t>(v.lag));
      o->set_active(v.active);
    }
    for (const controller::BrokerStatus& b : s.brokers) {
      v1::QuorumBrokerState* o = out.add_brokers();
      o->set_broker_id(b.id);
      o->set_broker_epoch(b.epoch);
      o->set_fenced(b.fenced);
      if (b.rack.has_value()) o->set_rack(*b.rack);
      for (const controller::Endpoint& e : b.endpoints) ToProto(e, o->add_endpoints());
      o->set_ms_since_heartbeat(b.ms_since_contact.value_or(-1));
    }
    return Encode(h, out);
  }

  Task<Response> CreateTopics(const proto::FrameHeader& h, const v1::CreateTopicsRequest& r) {
    v1::CreateTopicsResponse out;
    controller::CreateTopicsRequest request;
    request.validate_only = r.validate_only();
    std::vector<int> asked;  // request.topics[k] answers out.topics(asked[k])
    for (const v1::CreatableTopic& t : r.topics()) {
      v1::CreatableTopicResult* result = out.add_topics();
      result->set_name(t.name());
      if (t.assignments_size() > 0) {
        result->set_error_code(ErrorCode::INVALID_REQUEST);
        result->set_error_message("manual replica assignments are not supported");
        continue;
      }
      controller::CreatableTopic topic;
      topic.name = t.name();
      topic.num_partitions = t.num_partitions() == 0 ? -1 : t.num_partitions();
      topic.replication_factor = t.replication_factor() == 0 ? -1 : t.replication_factor();
      topic.configs.insert(t.configs().begin(), t.configs().end());
      request.topics.push_back(std::move(topic));
      asked.push_back(out.topics_size() - 1);
    }
    if (request.topics.empty()) co_return Encode(h, out);
    StatusOr<std::vector<controller::CreatedTopic>> reply =
        co_await c_.CreateTopics(std::move(request));
    if (!reply.ok()) co_return OuterFailure(h, reply.status());
    for (size_t k = 0; k < reply->size() && k < asked.size(); ++k) {
      const controller::CreatedTopic& created = (*reply)[k];
      v1::CreatableTopicResult* result = out.mutable_topics(asked[k]);
      const v1::CreatableTopic& given = r.topics(asked[k]);
      if (!created.status.ok()) {
        result->set_error_code(
            static_cast<ErrorCode>(controller::ControllerErrorOf(created.status)));
        result->set_error_message(std::string(created.status.message()));
        continue;
      }
      result->set_topic_id(created.topic_id.ToBytes());
      result->set_num_partitions(created.num_partitions);
      result->set_replication_factor(created.replication_factor);
      result->mutable_configs()->insert(given.configs().begin(), given.configs().end());
    }
    co_return Encode(h, out);
  }

  Task<Response> DeleteTopics(const proto::FrameHeader& h, const v1::DeleteTopicsRequest& r) {
    v1::DeleteTopicsResponse out;
    std::vector<std::string> names(r.topic_names().begin(), r.topic_names().end());
    StatusOr<std::vector<controller::DeletedTopic>> reply =
        co_await c_.DeleteTopics(std::move(names));
    if (!reply.ok()) co_return OuterFailure(h, reply.status());
    for (const controller::DeletedTopic& d : *reply) {
      v1::DeletableTopicResult* result = out.add_results();
      result->set_name(d.name);
      if (!d.status.ok()) {
        result->set_error_code(static_cast<ErrorCode>(controller::ControllerErrorOf(d.status)));
        result->set_error_message(std::string(d.status.message()));
      }
    }
    co_return Encode(h, out);
  }

  Task<Response> RaftMessages(const proto::FrameHeader& h, const v1::RaftMessagesRequest& r) {
    StatusOr<v1::RaftMessagesResponse> reply = co_await raft::HandleRaftMessages(c_.driver(), r);
    if (!reply.ok()) {
      co_return ErrorFrame(h, proto::ErrorFromStatus(reply.status()),
                           std::string(reply.status().message()));
    }
    co_return Encode(h, *reply);
  }

  // One request, on the controller's shard.
  Task<Response> Dispatch(const proto::FrameHeader& h, const google::protobuf::Message& body) {
    switch (static_cast<v1::ApiKey>(h.api_key)) {
      case v1::API_KEY_BROKER_REGISTRATION:
        co_return co_await Registration(h, static_cast<const v1::BrokerRegistrationRequest&>(body));
      case v1::API_KEY_BROKER_HEARTBEAT:
        co_return co_await Heartbeat(h, static_cast<const v1::BrokerHeartbeatRequest&>(body));
      case v1::API_KEY_FETCH_METADATA:
        co_return co_await FetchMetadata(h, static_cast<const v1::FetchMetadataRequest&>(body));
      case v1::API_KEY_ALTER_PARTITION:
        co_return co_await AlterPartition(h, static_cast<const v1::AlterPartitionRequest&>(body));
      case v1::API_KEY_ALLOCATE_PRODUCER_IDS:
        co_return co_await AllocateProducerIds(
            h, static_cast<const v1::AllocateProducerIdsRequest&>(body));
      case v1::API_KEY_DESCRIBE_QUORUM:
        co_return DescribeQuorum(h, static_cast<const v1::DescribeQuorumRequest&>(body));
      case v1::API_KEY_CREATE_TOPICS:
        co_return co_await CreateTopics(h, static_cast<const v1::CreateTopicsRequest&>(body));
      case v1::API_KEY_DELETE_TOPICS:
        co_return co_await DeleteTopics(h, static_cast<const v1::DeleteTopicsRequest&>(body));
      case v1::API_KEY_RAFT_MESSAGES:
        co_return co_await RaftMessages(h, static_cast<const v1::RaftMessagesRequest&>(body));
      default:
        break;
    }
    co_return ErrorFrame(h, ErrorCode::UNSUPPORTED_VERSION,
                         absl::StrCat("API key ", h.api_key, " is not served here"));
  }

 private:
  QuorumController& c_;
  const std::string& cluster_id_;
};

class ControllerService final : public RequestHandler {
 public:
  ControllerService(ShardSet& shards, int controller_shard, QuorumController& controller,
                    std::string cluster_id)
      : shards_(shards),
        controller_shard_(controller_shard),
        node_id_(static_cast<int32_t>(controller.id().value())),
        cluster_id_(std::move(cluster_id)),
        calls_(controller, cluster_id_) {}

  Task<std::optional<Response>> Handle(const RequestContext&, proto::Frame request) override {
    const proto::FrameHeader header = request.header();
    const proto::ApiVersionSupport* api = Served(header.api_key);
    if (api == nullptr || header.api_version < api->min_version ||
        header.api_version > api->max_version) {
      co_return ErrorFrame(header, ErrorCode::UNSUPPORTED_VERSION,
                           absl::StrCat("a controller listener does not serve API key ",
                                        header.api_key, " version ", header.api_version));
    }
    if (!request.payload().empty()) {
      co_return ErrorFrame(header, ErrorCode::INVALID_REQUEST,
                           absl::StrCat("API key ", header.api_key, " takes no payload"));
    }
    StatusOr<std::unique_ptr<google::protobuf::Message>> body =
        proto::ParseFrameBody(header, request.body());
    if (!body.ok()) {
      co_return ErrorFrame(header, ErrorCode::INVALID_REQUEST,
                           std::string(body.status().message()));
    }
    if (header.api_key == v1::API_KEY_API_VERSIONS) co_return ApiVersions(header);
    std::shared_ptr<const google::protobuf::Message> parsed = *std::move(body);
    Calls* calls = &calls_;
    absl::AnyInvocable<Task<Response>()> work = [calls, header, parsed]() -> Task<Response> {
      co_return co_await calls->Dispatch(header, *parsed);
    };
    Response response = co_await shards_.submit_to<Response>(controller_shard_, std::move(work));
    co_return response;
  }

 private:
  Response ApiVersions(const proto::FrameHeader& h) const {
    v1::ApiVersionsResponse out;
    for (std::span<const proto::ApiVersionSupport> table :
         {proto::InternalApis(), std::span<const proto::ApiVersionSupport>(kAlsoServed)}) {
      for (const proto::ApiVersionSupport& api : table) {
        v1::ApiVersionRange* range = out.add_api_keys();
        range->set_api_key(api.api_key);
        range->set_min_version(api.min_version);
        range->set_max_version(api.max_version);
      }
    }
    out.set_broker_id(node_id_);
    out.set_cluster_id(cluster_id_);
    return Encode(h, out);
  }

  ShardSet& shards_;
  const int controller_shard_;
  const int32_t node_id_;
  const std::string cluster_id_;
  Calls calls_;
};

}  // namespace

std::unique_ptr<RequestHandler> MakeControllerService(ShardSet& shards, int controller_shard,
                                                      controller::QuorumController& controller,
                                                      std::string cluster_id) {
  return std::make_unique<ControllerService>(shards, controller_shard, controller,
                                             std::move(cluster_id));
}

}  // namespace spool::broker
