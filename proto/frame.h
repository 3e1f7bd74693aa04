// The fixed binary header of a Spool native-protocol frame (proto/README.md has the byte table).
//
//   frame := header(20 bytes) body(body_size bytes, Protobuf) payload(the rest, record batches)
//
// All integers are big-endian. A frame starts with the magic "SP" and a header version, so a
// peer speaking something else (HTTP, Kafka, TLS, garbage) is recognised from its first bytes.
// Requests and responses share the header; the response flag tells them apart, and a response
// repeats the request's API key, API version and correlation id.
//
// Every length is checked against FrameLimits before any buffer is sized from it.
// Pure functions and value types; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/status.h"

namespace spool::proto {

inline constexpr size_t kFrameHeaderSize = 20;
inline constexpr std::byte kMagic0{0x53};  // 'S'
inline constexpr std::byte kMagic1{0x50};  // 'P'
inline constexpr uint8_t kHeaderVersion = 1;

// Byte offsets of the header fields.
inline constexpr size_t kMagicPos = 0;  // 2 bytes
inline constexpr size_t kVersionPos = 2;
inline constexpr size_t kFlagsPos = 3;
inline constexpr size_t kFrameSizePos = 4;       // uint32, the whole frame including this header
inline constexpr size_t kApiKeyPos = 8;          // int16
inline constexpr size_t kApiVersionPos = 10;     // int16
inline constexpr size_t kCorrelationIdPos = 12;  // int32
inline constexpr size_t kBodySizePos = 16;       // uint32
static_assert(kBodySizePos + 4 == kFrameHeaderSize);

// Flag bits. Bits not defined for the header version must be zero (a framing error otherwise):
// new meanings come with a new header version.
inline constexpr uint8_t kFlagResponse = 0x01;
// Response only: the body is a spool.v1.ErrorResponse instead of the API's response message,
// because the request could not be handled at all (unknown API key or version, a body that does
// not parse, a payload that does not add up). The header still echoes the request's API key,
// version and correlation id. A request with this bit set is a framing error.
inline constexpr uint8_t kFlagError = 0x02;
inline constexpr uint8_t kKnownFlags = kFlagResponse | kFlagError;

// Limits a reader enforces before allocating. A broker's defaults; clients usually raise
// max_frame_bytes for fetch responses.
struct FrameLimits {
  uint32_t max_frame_bytes = 100u << 20;  // like Kafka's socket.request.max.bytes
  uint32_t max_body_bytes = 4u << 20;     // Protobuf bodies are metadata, never records
};

struct FrameHeader {
  uint8_t flags = 0;
  uint32_t frame_size = kFrameHeaderSize;
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  uint32_t body_size = 0;

  bool is_response() const { return (flags & kFlagResponse) != 0; }
  bool is_error() const { return (flags & kFlagError) != 0; }
  uint32_t payload_size() const {
    return frame_size - static_cast<uint32_t>(kFrameHeaderSize) - body_size;
  }
  friend bool operator==(const FrameHeader&, const FrameHeader&) = default;
};

// Writes `h` into the first kFrameHeaderSize bytes of `out`. Does not validate.
void EncodeFrameHeader(const FrameHeader& h, std::span<std::byte, kFrameHeaderSize> out);

// Checks the bytes of a header that have arrived so far (any length, even 1): the magic, the
// version and the flags are judged as soon as they are there. OK means "no error yet".
[[nodiscard]] Status CheckHeaderPrefix(std::span<const std::byte> prefix);

// Parses and validates a whole header (`bytes` holds at least kFrameHeaderSize bytes; the rest is
// ignored): magic, version, flags, frame_size within [kFrameHeaderSize, max_frame_bytes],
// body_size <= max_body_bytes and body_size fits in the frame. Errors are kInvalidArgument
// (not this protocol / inconsistent sizes) or kResourceExhausted (over a limit); either way the
// stream cannot be resynchronised and the connection must be closed.
[[nodiscard]] StatusOr<FrameHeader> DecodeFrameHeader(std::span<const std::byte> bytes,
                                                      const FrameLimits& limits);

}  // namespace spool::proto
