// Frame bodies: which Protobuf message goes with which API key and direction, parsing a body
// with a clear status, and splitting a frame's raw payload into per-partition record bytes as
// the body describes (Produce requests and Fetch responses; proto/README.md).
//
// The payload is only sliced, never parsed or copied: the spans point wherever the payload
// points (into the receive buffer of a FrameDecoder, see frame_decoder.h), and stay valid as
// long as that buffer does (the Frame's lifetime). Whether each partition's bytes are valid
// record batches is the record codec's business (log/record/batch_header.h), not the protocol's.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "google/protobuf/message.h"
#include "proto/admin.pb.h"
#include "proto/api.pb.h"
#include "proto/fetch.pb.h"
#include "proto/frame.h"
#include "proto/frame_encoder.h"
#include "proto/group.pb.h"
#include "proto/list_offsets.pb.h"
#include "proto/metadata.pb.h"
#include "proto/produce.pb.h"
#include "proto/producer_id.pb.h"

namespace spool::proto {

using ApiKey = ::spool::v1::ApiKey;

// The versions of each API this build can encode and decode. Every API is at version 0 now; a
// broker lists these in its ApiVersionsResponse and answers UNSUPPORTED_VERSION outside them.
struct ApiVersionSupport {
  ApiKey api_key;
  int16_t min_version;
  int16_t max_version;
};
// The client APIs: what a broker's client listener lists in ApiVersions and what a client
// requires of every broker.
[[nodiscard]] std::span<const ApiVersionSupport> SupportedApis();
// Spool-internal APIs (Raft messages, broker registration, heartbeats, metadata fetches between
// brokers and controllers: proto/controller.proto), served on controller listeners
// only and never listed to clients.
[[nodiscard]] std::span<const ApiVersionSupport> InternalApis();
// Whether `api_key` is known (either table) and `api_version` is within its supported range.
[[nodiscard]] bool IsSupported(int16_t api_key, int16_t api_version);

// A fresh, empty message of the type that goes with (api_key, response?), or
// kUnimplemented for an unknown key.
[[nodiscard]] StatusOr<std::unique_ptr<google::protobuf::Message>> NewBody(int16_t api_key,
                                                                           bool response);

// Parses `body` into `message`. Fails with kInvalidArgument naming the message type when the
// bytes are not a valid encoding.
[[nodiscard]] Status ParseBody(std::span<const std::byte> body, google::protobuf::Message* message);

// NewBody + ParseBody for a frame's header and body.
[[nodiscard]] StatusOr<std::unique_ptr<google::protobuf::Message>> ParseFrameBody(
    const FrameHeader& header, std::span<const std::byte> body);

// Whether frames of this API and direction carry a raw payload (Produce requests and Fetch
// responses). A receiver refuses a payload on any other frame with INVALID_REQUEST.
[[nodiscard]] bool CarriesPayload(int16_t api_key, bool response);

// One partition's record bytes inside a frame's payload.
struct PartitionPayload {
  std::string_view topic;  // points into the message the payload was split by
  int32_t partition = 0;
  std::span<const std::byte> bytes;
};

// Splits a Produce request's payload: partitions in body order, each payload_bytes long.
// kInvalidArgument when the lengths do not add up to exactly the payload's size.
[[nodiscard]] StatusOr<std::vector<PartitionPayload>> SplitPayload(
    const v1::ProduceRequest& request, std::span<const std::byte> payload);
// The same for a Fetch response.
[[nodiscard]] StatusOr<std::vector<PartitionPayload>> SplitPayload(
    const v1::FetchResponse& response, std::span<const std::byte> payload);
// The topics in the result point into the message, so a temporary message is refused.
StatusOr<std::vector<PartitionPayload>> SplitPayload(const v1::ProduceRequest&& request,
                                                     std::span<const std::byte> payload) = delete;
StatusOr<std::vector<PartitionPayload>> SplitPayload(const v1::FetchResponse&& response,
                                                     std::span<const std::byte> payload) = delete;

// The error response to `request` (see kFlagError in frame.h): the header echoes its API key,
// version and correlation id with the response and error flags set; the body is an ErrorResponse
// with `code` and `message`, and the supported API list when `code` is UNSUPPORTED_VERSION.
[[nodiscard]] StatusOr<OutgoingFrame> EncodeErrorResponse(const FrameHeader& request,
                                                          v1::ErrorCode code,
                                                          std::string_view message);
// The same with ErrorResponse.controller_id: a controller listener's NOT_CONTROLLER names the
// active controller it knows (-1: none; voter ids are >= 1). Ignored for other codes.
[[nodiscard]] StatusOr<OutgoingFrame> EncodeErrorResponse(const FrameHeader& request,
                                                          v1::ErrorCode code,
                                                          std::string_view message,
                                                          int32_t controller_id);
// A response frame's outcome as a Status: OK for a normal response; for one with the error flag,
// ErrorToStatus() of its ErrorResponse (kInvalidArgument when that body does not parse). A
// NOT_CONTROLLER error with controller_id >= 1 carries that id too (ErrorControllerId).
[[nodiscard]] Status ErrorResponseStatus(const FrameHeader& header,
                                         std::span<const std::byte> body);
// The payload type URL under which ErrorResponseStatus() stores controller_id (decimal).
inline constexpr char kControllerIdPayloadUrl[] =
    "type.spool.dev/spool.v1.ErrorResponse.controller_id";
// The controller id a NOT_CONTROLLER status from ErrorResponseStatus() names, or -1.
[[nodiscard]] int32_t ErrorControllerId(const Status& status);

// Everything a receiver does to untrusted bytes, for the fuzz target: decodes every frame in
// `bytes` with default limits, parses each body for its API key and direction, and splits the
// payload of Produce requests and Fetch responses (refusing a payload elsewhere). Returns the first
// error, or OK when `bytes` is whole, valid frames (a trailing partial frame is an error too).
[[nodiscard]] Status DecodeOneFrameForFuzz(std::span<const std::byte> bytes);

}  // namespace spool::proto
