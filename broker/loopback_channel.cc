#include "broker/loopback_channel.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/body.h"
#include "proto/errors.h"
#include "proto/frame_encoder.h"

namespace spool::broker {
namespace {

using Clock = std::chrono::steady_clock;

// Metadata images can be large; nothing crosses a socket here.
constexpr proto::FrameLimits kLimits{.max_frame_bytes = 1u << 30, .max_body_bytes = 1u << 30};

class LoopbackChannel final : public ControllerChannel {
 public:
  LoopbackChannel(io::Reactor& reactor, RequestHandler& service)
      : reactor_(reactor), service_(service) {}

  Task<StatusOr<v1::BrokerRegistrationResponse>> BrokerRegistration(
      v1::BrokerRegistrationRequest request, std::chrono::milliseconds timeout) override {
    co_return co_await Call<v1::BrokerRegistrationResponse>(v1::API_KEY_BROKER_REGISTRATION,
                                                            request, timeout);
  }
  Task<StatusOr<v1::BrokerHeartbeatResponse>> BrokerHeartbeat(
      v1::BrokerHeartbeatRequest request, std::chrono::milliseconds timeout) override {
    co_return co_await Call<v1::BrokerHeartbeatResponse>(v1::API_KEY_BROKER_HEARTBEAT, request,
                                                         timeout);
  }
  Task<StatusOr<v1::FetchMetadataResponse>> FetchMetadata(
      v1::FetchMetadataRequest request, std::chrono::milliseconds timeout) override {
    co_return co_await Call<v1::FetchMetadataResponse>(v1::API_KEY_FETCH_METADATA, request,
                                                       timeout);
  }
  Task<StatusOr<v1::AlterPartitionResponse>> AlterPartition(
      v1::AlterPartitionRequest request, std::chrono::milliseconds timeout) override {
    co_return co_await Call<v1::AlterPartitionResponse>(v1::API_KEY_ALTER_PARTITION, request,
                                                        timeout);
  }
  Task<StatusOr<v1::AllocateProducerIdsResponse>> AllocateProducerIds(
      v1::AllocateProducerIdsRequest request, std::chrono::milliseconds timeout) override {
    co_return co_await Call<v1::AllocateProducerIdsResponse>(v1::API_KEY_ALLOCATE_PRODUCER_IDS,
                                                             request, timeout);
  }
  Task<StatusOr<v1::DescribeQuorumResponse>> DescribeQuorum(
      v1::DescribeQuorumRequest request, std::chrono::milliseconds timeout) override {
    co_return co_await Call<v1::DescribeQuorumResponse>(v1::API_KEY_DESCRIBE_QUORUM, request,
                                                        timeout);
  }
  Task<StatusOr<v1::CreateTopicsResponse>> CreateTopics(
      v1::CreateTopicsRequest request, std::chrono::milliseconds timeout) override {
    co_return co_await Call<v1::CreateTopicsResponse>(v1::API_KEY_CREATE_TOPICS, request, timeout);
  }
  Task<StatusOr<v1::DeleteTopicsResponse>> DeleteTopics(
      v1::DeleteTopicsRequest request, std::chrono::milliseconds timeout) override {
    co_return co_await Call<v1::DeleteTopicsResponse>(v1::API_KEY_DELETE_TOPICS, request, timeout);
  }

  Task<void> Close() override {
    closed_ = true;
    co_return;
  }

 private:
  // One attempt: the request frame through the service, the response frame parsed.
  template <typename Response>
  Task<StatusOr<Response>> Once(v1::ApiKey api, const google::protobuf::MessageLite& request) {
    proto::FrameHeader header;
    header.api_key = static_cast<int16_t>(api);
    header.correlation_id = next_correlation_id_++;
    StatusOr<proto::OutgoingFrame> out = proto::EncodeFrame(header, request, {}, kLimits);
    if (!out.ok()) co_return out.status();
    std::vector<std::byte> flat = out->Flatten();
    std::shared_ptr<std::byte[]> owner(new std::byte[flat.size()]);
    std::memcpy(owner.get(), flat.data(), flat.size());
    proto::Frame frame(out->header(), std::span<const std::byte>(owner.get(), flat.size()), owner);
    RequestContext context;
    context.peer = "loopback";
    std::optional<broker::Response> answered = co_await service_.Handle(context, std::move(frame));
    if (!answered.has_value()) co_return absl::InternalError("the controller sent no response");
    std::vector<std::byte> bytes = answered->frame.Flatten();
    const proto::FrameHeader& rh = answered->frame.header();
    std::span<const std::byte> body =
        std::span<const std::byte>(bytes).subspan(proto::kFrameHeaderSize, rh.body_size);
    if (rh.is_error()) co_return proto::ErrorResponseStatus(rh, body);
    Response response;
    if (!response.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      co_return absl::InternalError(
          absl::StrCat("the controller's ", response.GetTypeName(), " does not parse"));
    }
    co_return response;
  }

  template <typename Response>
  Task<StatusOr<Response>> Call(v1::ApiKey api, const google::protobuf::MessageLite& request,
                                std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::chrono::milliseconds backoff{5};
    for (;;) {
      if (closed_) co_return absl::CancelledError("the controller channel is closed");
      StatusOr<Response> r = co_await Once<Response>(api, request);
      if (r.ok() || proto::ErrorFromStatus(r.status()) != proto::ErrorCode::NOT_CONTROLLER) {
        co_return r;
      }
      const auto now = Clock::now();
      if (now + backoff >= deadline) {
        co_return absl::DeadlineExceededError(absl::StrCat(
            "no active controller within ", timeout.count(), " ms: ", r.status().message()));
      }
      co_await reactor_.sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
    }
  }

  io::Reactor& reactor_;
  RequestHandler& service_;
  int32_t next_correlation_id_ = 1;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<ControllerChannel> MakeLoopbackChannel(io::Reactor& reactor,
                                                       RequestHandler& service) {
  return std::make_unique<LoopbackChannel>(reactor, service);
}

}  // namespace spool::broker
