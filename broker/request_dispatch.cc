// The RequestHandler of the data plane: checks what every request must satisfy before its API
// handler sees it (proto/README.md, "Limits and what a broker does on each violation"):
//   unknown API key or version  -> error response UNSUPPORTED_VERSION (ApiVersions: its own
//                                  response at version 0 with the list, as api.proto says)
//   a payload on a frame that takes none, or a body that does not parse -> INVALID_REQUEST
// and logs at most one line per second about rejected requests.
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/request_handlers.h"
#include "broker/request_log.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;

StatusOr<Response> MakeResponse(const proto::FrameHeader& request,
                                const google::protobuf::MessageLite& body,
                                std::span<const std::span<const std::byte>> payload,
                                std::vector<std::shared_ptr<const void>> keep_alive) {
  proto::FrameHeader header;
  header.flags = proto::kFlagResponse;
  header.api_key = request.api_key;
  header.api_version = request.api_version;
  header.correlation_id = request.correlation_id;
  proto::FrameLimits limits;
  limits.max_frame_bytes = std::numeric_limits<uint32_t>::max();
  limits.max_body_bytes = std::numeric_limits<uint32_t>::max();
  ASSIGN_OR_RETURN(proto::OutgoingFrame frame, proto::EncodeFrame(header, body, payload, limits));
  return Response{std::move(frame), std::move(keep_alive)};
}

namespace {

std::optional<Response> ErrorResponse(const proto::FrameHeader& request, ErrorCode code,
                                      const std::string& message) {
  LogRateLimited(
      LogKind::kRejectedRequest,
      absl::StrCat("rejected api_key=", request.api_key, " api_version=", request.api_version,
                   " error=", std::string(proto::ErrorName(code)), " reason=\"", message, "\""));
  StatusOr<proto::OutgoingFrame> frame = proto::EncodeErrorResponse(request, code, message);
  if (!frame.ok()) {
    // Only an absurdly long message could fail; answer without one.
    frame = proto::EncodeErrorResponse(request, code, "");
    if (!frame.ok()) return std::nullopt;
  }
  return Response{*std::move(frame), {}};
}

template <typename T>
std::unique_ptr<T> Downcast(std::unique_ptr<google::protobuf::Message> m) {
  return std::unique_ptr<T>(static_cast<T*>(m.release()));
}

std::optional<Response> OrError(const proto::FrameHeader& header, StatusOr<Response> r) {
  if (r.ok()) return *std::move(r);
  return ErrorResponse(header, ErrorCode::UNKNOWN,
                       absl::StrCat("cannot encode the response: ", r.status().message()));
}

}  // namespace

Task<std::optional<Response>> RequestDispatcher::Handle(const RequestContext& context,
                                                        proto::Frame request) {
  in_flight_.fetch_add(1);
  std::optional<Response> response = co_await Dispatch(std::move(request), context.peer);
  Finished();
  co_return response;
}

void RequestDispatcher::Finished() {
  if (in_flight_.fetch_sub(1) == 1 && core_.closing.load()) {
    core_.shards.post(0, [idle = idle_] {
      if (idle) idle->set();
    });
  }
}

Task<void> RequestDispatcher::WaitIdle() {
  core_.closing.store(true);
  while (in_flight_.load() > 0) {
    idle_->reset();
    if (in_flight_.load() == 0) break;
    co_await idle_->wait();
  }
}

Task<std::optional<Response>> RequestDispatcher::Dispatch(proto::Frame request, std::string peer) {
  const proto::FrameHeader header = request.header();
  if (!proto::IsSupported(header.api_key, header.api_version)) {
    if (header.api_key == v1::API_KEY_API_VERSIONS) {
      // Answered at version 0 with the list, so a client can always find out what to speak.
      proto::FrameHeader v0 = header;
      v0.api_version = 0;
      v1::ApiVersionsResponse body;
      for (const proto::ApiVersionSupport& api : proto::SupportedApis()) {
        v1::ApiVersionRange* range = body.add_api_keys();
        range->set_api_key(api.api_key);
        range->set_min_version(api.min_version);
        range->set_max_version(api.max_version);
      }
      body.set_error_code(ErrorCode::UNSUPPORTED_VERSION);
      body.set_broker_id(core_.config.node_id);
      body.set_cluster_id(core_.config.cluster_id);
      co_return OrError(header, MakeResponse(v0, body));
    }
    co_return ErrorResponse(header, ErrorCode::UNSUPPORTED_VERSION,
                            absl::StrCat("api_key ", header.api_key, " version ",
                                         header.api_version, " is not supported"));
  }
  if (header.payload_size() > 0 && !proto::CarriesPayload(header.api_key, false)) {
    co_return ErrorResponse(header, ErrorCode::INVALID_REQUEST,
                            absl::StrCat("a payload of ", header.payload_size(),
                                         " bytes on a request that takes none"));
  }
  StatusOr<std::unique_ptr<google::protobuf::Message>> body =
      proto::ParseFrameBody(header, request.body());
  if (!body.ok()) {
    co_return ErrorResponse(header, ErrorCode::INVALID_REQUEST,
                            std::string(body.status().message()));
  }
  switch (static_cast<v1::ApiKey>(header.api_key)) {
    case v1::API_KEY_PRODUCE:
      co_return co_await HandleProduce(core_, std::move(request),
                                       Downcast<v1::ProduceRequest>(*std::move(body)));
    case v1::API_KEY_FETCH: {
      StatusOr<Response> r = co_await HandleFetch(core_, std::move(request),
                                                  Downcast<v1::FetchRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_LIST_OFFSETS: {
      StatusOr<Response> r = co_await HandleListOffsets(
          core_, std::move(request), Downcast<v1::ListOffsetsRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_METADATA: {
      StatusOr<Response> r = co_await HandleMetadata(
          core_, std::move(request), Downcast<v1::MetadataRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_API_VERSIONS:
      co_return OrError(header, HandleApiVersions(core_, header));
    case v1::API_KEY_CREATE_TOPICS: {
      StatusOr<Response> r = co_await HandleCreateTopics(
          core_, std::move(request), Downcast<v1::CreateTopicsRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_DELETE_TOPICS: {
      StatusOr<Response> r = co_await HandleDeleteTopics(
          core_, std::move(request), Downcast<v1::DeleteTopicsRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_DESCRIBE_QUORUM: {
      StatusOr<Response> r = co_await HandleDescribeQuorum(
          core_, std::move(request), Downcast<v1::DescribeQuorumRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_INIT_PRODUCER_ID: {
      StatusOr<Response> r = co_await HandleInitProducerId(
          core_, std::move(request), Downcast<v1::InitProducerIdRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_FIND_COORDINATOR: {
      StatusOr<Response> r = co_await HandleFindCoordinator(
          core_, std::move(request), Downcast<v1::FindCoordinatorRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_JOIN_GROUP: {
      StatusOr<Response> r = co_await HandleJoinGroup(
          core_, std::move(request), Downcast<v1::JoinGroupRequest>(*std::move(body)),
          std::move(peer));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_SYNC_GROUP: {
      StatusOr<Response> r = co_await HandleSyncGroup(
          core_, std::move(request), Downcast<v1::SyncGroupRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_HEARTBEAT: {
      StatusOr<Response> r = co_await HandleHeartbeat(
          core_, std::move(request), Downcast<v1::HeartbeatRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_LEAVE_GROUP: {
      StatusOr<Response> r = co_await HandleLeaveGroup(
          core_, std::move(request), Downcast<v1::LeaveGroupRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_OFFSET_COMMIT: {
      StatusOr<Response> r = co_await HandleOffsetCommit(
          core_, std::move(request), Downcast<v1::OffsetCommitRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_OFFSET_FETCH: {
      StatusOr<Response> r = co_await HandleOffsetFetch(
          core_, std::move(request), Downcast<v1::OffsetFetchRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_DESCRIBE_GROUPS: {
      StatusOr<Response> r = co_await HandleDescribeGroups(
          core_, std::move(request), Downcast<v1::DescribeGroupsRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_LIST_GROUPS: {
      StatusOr<Response> r = co_await HandleListGroups(
          core_, std::move(request), Downcast<v1::ListGroupsRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    case v1::API_KEY_DELETE_GROUPS: {
      StatusOr<Response> r = co_await HandleDeleteGroups(
          core_, std::move(request), Downcast<v1::DeleteGroupsRequest>(*std::move(body)));
      co_return OrError(header, std::move(r));
    }
    default:
      break;  // IsSupported() knows only the keys above; ApiKey is open (proto3)
  }
  co_return ErrorResponse(header, ErrorCode::UNSUPPORTED_VERSION,
                          absl::StrCat("api_key ", header.api_key, " is not served"));
}

}  // namespace spool::broker
