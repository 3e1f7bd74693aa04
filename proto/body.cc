#include "proto/body.h"

#include <array>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/controller.pb.h"
#include "proto/errors.h"
#include "proto/frame_decoder.h"
#include "proto/raft.pb.h"

namespace spool::proto {
namespace {

constexpr std::array<ApiVersionSupport, 19> kSupported = {{
    {v1::API_KEY_PRODUCE, 0, 0},
    {v1::API_KEY_FETCH, 0, 0},
    {v1::API_KEY_LIST_OFFSETS, 0, 0},
    {v1::API_KEY_METADATA, 0, 0},
    {v1::API_KEY_API_VERSIONS, 0, 0},
    {v1::API_KEY_CREATE_TOPICS, 0, 0},
    {v1::API_KEY_DELETE_TOPICS, 0, 0},
    {v1::API_KEY_OFFSET_COMMIT, 0, 0},
    {v1::API_KEY_OFFSET_FETCH, 0, 0},
    {v1::API_KEY_FIND_COORDINATOR, 0, 0},
    {v1::API_KEY_JOIN_GROUP, 0, 0},
    {v1::API_KEY_HEARTBEAT, 0, 0},
    {v1::API_KEY_LEAVE_GROUP, 0, 0},
    {v1::API_KEY_SYNC_GROUP, 0, 0},
    {v1::API_KEY_DESCRIBE_GROUPS, 0, 0},
    {v1::API_KEY_LIST_GROUPS, 0, 0},
    {v1::API_KEY_DELETE_GROUPS, 0, 0},
    // Brokers answer it by asking the controller quorum (`spool cluster`).
    {v1::API_KEY_DESCRIBE_QUORUM, 0, 0},
    // The idempotent producer's id (proto/producer_id.proto).
    {v1::API_KEY_INIT_PRODUCER_ID, 0, 0},
}};

// Spool-internal APIs, between brokers and controllers (controller listeners only).
constexpr std::array<ApiVersionSupport, 6> kInternal = {{
    {v1::API_KEY_ALTER_PARTITION, 0, 0},
    {v1::API_KEY_BROKER_REGISTRATION, 0, 0},
    {v1::API_KEY_BROKER_HEARTBEAT, 0, 0},
    {v1::API_KEY_ALLOCATE_PRODUCER_IDS, 0, 0},
    {v1::API_KEY_RAFT_MESSAGES, 0, 0},
    {v1::API_KEY_FETCH_METADATA, 0, 0},
}};

template <typename Request, typename Response>
std::unique_ptr<google::protobuf::Message> Make(bool response) {
  if (response) return std::make_unique<Response>();
  return std::make_unique<Request>();
}

// Slices `payload` by the payload_bytes of each partition of each topic, in order.
template <typename Message>
StatusOr<std::vector<PartitionPayload>> Split(const Message& message,
                                              std::span<const std::byte> payload) {
  std::vector<PartitionPayload> out;
  uint64_t pos = 0;
  for (const auto& topic : message.topics()) {
    for (const auto& partition : topic.partitions()) {
      const uint64_t length = partition.payload_bytes();
      if (length > payload.size() - pos) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s: partition %s-%d claims %d payload bytes, only %d are left of %d",
                            message.GetTypeName(), topic.name(), partition.partition(), length,
                            payload.size() - pos, payload.size()));
      }
      out.push_back(PartitionPayload{topic.name(), partition.partition(),
                                     payload.subspan(pos, static_cast<size_t>(length))});
      pos += length;
    }
  }
  if (pos != payload.size()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: partitions claim %d payload bytes but the frame carries %d",
                        message.GetTypeName(), pos, payload.size()));
  }
  return out;
}

}  // namespace

std::span<const ApiVersionSupport> SupportedApis() {
  return kSupported;
}

std::span<const ApiVersionSupport> InternalApis() {
  return kInternal;
}

bool IsSupported(int16_t api_key, int16_t api_version) {
  for (std::span<const ApiVersionSupport> table : {SupportedApis(), InternalApis()}) {
    for (const ApiVersionSupport& api : table) {
      if (api.api_key == api_key) {
        return api_version >= api.min_version && api_version <= api.max_version;
      }
    }
  }
  return false;
}

StatusOr<std::unique_ptr<google::protobuf::Message>> NewBody(int16_t api_key, bool response) {
  if (!v1::ApiKey_IsValid(api_key)) {
    return absl::UnimplementedError(absl::StrCat("unknown API key ", api_key));
  }
  switch (static_cast<ApiKey>(api_key)) {
    case v1::API_KEY_PRODUCE:
      return Make<v1::ProduceRequest, v1::ProduceResponse>(response);
    case v1::API_KEY_FETCH:
      return Make<v1::FetchRequest, v1::FetchResponse>(response);
    case v1::API_KEY_LIST_OFFSETS:
      return Make<v1::ListOffsetsRequest, v1::ListOffsetsResponse>(response);
    case v1::API_KEY_METADATA:
      return Make<v1::MetadataRequest, v1::MetadataResponse>(response);
    case v1::API_KEY_API_VERSIONS:
      return Make<v1::ApiVersionsRequest, v1::ApiVersionsResponse>(response);
    case v1::API_KEY_CREATE_TOPICS:
      return Make<v1::CreateTopicsRequest, v1::CreateTopicsResponse>(response);
    case v1::API_KEY_DELETE_TOPICS:
      return Make<v1::DeleteTopicsRequest, v1::DeleteTopicsResponse>(response);
    case v1::API_KEY_OFFSET_COMMIT:
      return Make<v1::OffsetCommitRequest, v1::OffsetCommitResponse>(response);
    case v1::API_KEY_OFFSET_FETCH:
      return Make<v1::OffsetFetchRequest, v1::OffsetFetchResponse>(response);
    case v1::API_KEY_FIND_COORDINATOR:
      return Make<v1::FindCoordinatorRequest, v1::FindCoordinatorResponse>(response);
    case v1::API_KEY_JOIN_GROUP:
      return Make<v1::JoinGroupRequest, v1::JoinGroupResponse>(response);
    case v1::API_KEY_HEARTBEAT:
      return Make<v1::HeartbeatRequest, v1::HeartbeatResponse>(response);
    case v1::API_KEY_LEAVE_GROUP:
      return Make<v1::LeaveGroupRequest, v1::LeaveGroupResponse>(response);
    case v1::API_KEY_SYNC_GROUP:
      return Make<v1::SyncGroupRequest, v1::SyncGroupResponse>(response);
    case v1::API_KEY_DESCRIBE_GROUPS:
      return Make<v1::DescribeGroupsRequest, v1::DescribeGroupsResponse>(response);
    case v1::API_KEY_LIST_GROUPS:
      return Make<v1::ListGroupsRequest, v1::ListGroupsResponse>(response);
    case v1::API_KEY_DELETE_GROUPS:
      return Make<v1::DeleteGroupsRequest, v1::DeleteGroupsResponse>(response);
    case v1::API_KEY_INIT_PRODUCER_ID:
      return Make<v1::InitProducerIdRequest, v1::InitProducerIdResponse>(response);
    case v1::API_KEY_RAFT_MESSAGES:
      return Make<v1::RaftMessagesRequest, v1::RaftMessagesResponse>(response);
    case v1::API_KEY_DESCRIBE_QUORUM:
      return Make<v1::DescribeQuorumRequest, v1::DescribeQuorumResponse>(response);
    case v1::API_KEY_ALTER_PARTITION:
      return Make<v1::AlterPartitionRequest, v1::AlterPartitionResponse>(response);
    case v1::API_KEY_BROKER_REGISTRATION:
      return Make<v1::BrokerRegistrationRequest, v1::BrokerRegistrationResponse>(response);
    case v1::API_KEY_BROKER_HEARTBEAT:
      return Make<v1::BrokerHeartbeatRequest, v1::BrokerHeartbeatResponse>(response);
    case v1::API_KEY_ALLOCATE_PRODUCER_IDS:
      return Make<v1::AllocateProducerIdsRequest, v1::AllocateProducerIdsResponse>(response);
    case v1::API_KEY_FETCH_METADATA:
      return Make<v1::FetchMetadataRequest, v1::FetchMetadataResponse>(response);
    case v1::ApiKey_INT_MIN_SENTINEL_DO_NOT_USE_:
    case v1::ApiKey_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return absl::UnimplementedError(absl::StrCat("unknown API key ", api_key));
}

Status ParseBody(std::span<const std::byte> body, google::protobuf::Message* message) {
  // ParseFromArray takes an int size; the frame limits keep bodies far below 2 GiB, but check.
  if (body.size() > static_cast<size_t>(INT32_MAX) ||
      !message->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::InvalidArgumentError(
        absl::StrFormat("malformed %s body (%d bytes)", message->GetTypeName(), body.size()));
  }
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<google::protobuf::Message>> ParseFrameBody(
    const FrameHeader& header, std::span<const std::byte> body) {
  ASSIGN_OR_RETURN(std::unique_ptr<google::protobuf::Message> message,
                   NewBody(header.api_key, header.is_response()));
  RETURN_IF_ERROR(ParseBody(body, message.get()));
  return message;
}

bool CarriesPayload(int16_t api_key, bool response) {
  return (api_key == v1::API_KEY_PRODUCE && !response) ||
         (api_key == v1::API_KEY_FETCH && response);
}

StatusOr<std::vector<PartitionPayload>> SplitPayload(const v1::ProduceRequest& request,
                                                     std::span<const std::byte> payload) {
  return Split(request, payload);
}

StatusOr<std::vector<PartitionPayload>> SplitPayload(const v1::FetchResponse& response,
                                                     std::span<const std::byte> payload) {
  return Split(response, payload);
}

StatusOr<OutgoingFrame> EncodeErrorResponse(const FrameHeader& request, v1::ErrorCode code,
                                            std::string_view message) {
  return EncodeErrorResponse(request, code, message, -1);
}

StatusOr<OutgoingFrame> EncodeErrorResponse(const FrameHeader& request, v1::ErrorCode code,
                                            std::string_view message, int32_t controller_id) {
  v1::ErrorResponse body;
  if (code == v1::NOT_CONTROLLER) body.set_controller_id(controller_id);
  body.set_error_code(code);
  body.set_error_message(std::string(message));
  if (code == v1::UNSUPPORTED_VERSION) {
    for (const ApiVersionSupport& api : kSupported) {
      v1::ApiVersionRange* range = body.add_supported();
      range->set_api_key(api.api_key);
      range->set_min_version(api.min_version);
      range->set_max_version(api.max_version);
    }
  }
  FrameHeader h;
  h.flags = kFlagResponse | kFlagError;
  h.api_key = request.api_key;
  h.api_version = request.api_version;
  h.correlation_id = request.correlation_id;
  return EncodeFrame(h, body);
}

Status ErrorResponseStatus(const FrameHeader& header, std::span<const std::byte> body) {
  if (!header.is_error()) return absl::OkStatus();
  v1::ErrorResponse response;
  RETURN_IF_ERROR(ParseBody(body, &response));
  if (response.error_code() == v1::NONE) {
    return absl::InvalidArgumentError("error response without an error code");
  }
  Status st = ErrorToStatus(response.error_code(), response.error_message());
  if (response.error_code() == v1::NOT_CONTROLLER && response.controller_id() > 0) {
    st.SetPayload(kControllerIdPayloadUrl, absl::Cord(absl::StrCat(response.controller_id())));
  }
  return st;
}

int32_t ErrorControllerId(const Status& status) {
  auto p = status.GetPayload(kControllerIdPayloadUrl);
  int32_t id = -1;
  if (!p.has_value() || !absl::SimpleAtoi(std::string(*p), &id) || id <= 0) return -1;
  return id;
}

Status DecodeOneFrameForFuzz(std::span<const std::byte> bytes) {
  FrameDecoder decoder;
  decoder.Feed(bytes);
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<Frame> frame, decoder.Next());
    if (!frame) break;
    if (frame->header().is_error()) {
      v1::ErrorResponse error;
      RETURN_IF_ERROR(ParseBody(frame->body(), &error));
      if (!frame->payload().empty()) {
        return absl::InvalidArgumentError("error response carries a payload");
      }
      continue;
    }
    ASSIGN_OR_RETURN(std::unique_ptr<google::protobuf::Message> body,
                     ParseFrameBody(frame->header(), frame->body()));
    if (!CarriesPayload(frame->header().api_key, frame->header().is_response()) &&
        !frame->payload().empty()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s frame carries %d payload bytes but takes none", body->GetTypeName(),
                          frame->payload().size()));
    }
    if (const auto* produce = dynamic_cast<const v1::ProduceRequest*>(body.get())) {
      RETURN_IF_ERROR(SplitPayload(*produce, frame->payload()).status());
    } else if (const auto* fetch = dynamic_cast<const v1::FetchResponse*>(body.get())) {
      RETURN_IF_ERROR(SplitPayload(*fetch, frame->payload()).status());
    }
  }
  if (!decoder.at_frame_boundary()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("stream ends inside a frame (%d bytes pending)", decoder.buffered_bytes()));
  }
  return absl::OkStatus();
}

}  // namespace spool::proto
