#include "proto/frame.h"

#include "absl/strings/str_format.h"
#include "common/byte_order.h"

namespace spool::proto {

void EncodeFrameHeader(const FrameHeader& h, std::span<std::byte, kFrameHeaderSize> out) {
  std::byte* p = out.data();
  p[kMagicPos] = kMagic0;
  p[kMagicPos + 1] = kMagic1;
  p[kVersionPos] = std::byte{kHeaderVersion};
  p[kFlagsPos] = std::byte{h.flags};
  StoreBigEndian<uint32_t>(p + kFrameSizePos, h.frame_size);
  StoreBigEndian<int16_t>(p + kApiKeyPos, h.api_key);
  StoreBigEndian<int16_t>(p + kApiVersionPos, h.api_version);
  StoreBigEndian<int32_t>(p + kCorrelationIdPos, h.correlation_id);
  StoreBigEndian<uint32_t>(p + kBodySizePos, h.body_size);
}

Status CheckHeaderPrefix(std::span<const std::byte> prefix) {
  if ((prefix.size() > kMagicPos && prefix[kMagicPos] != kMagic0) ||
      (prefix.size() > kMagicPos + 1 && prefix[kMagicPos + 1] != kMagic1)) {
    return absl::InvalidArgumentError("not a Spool frame: bad magic (expected \"SP\")");
  }
  if (prefix.size() > kVersionPos) {
    const auto version = static_cast<uint8_t>(prefix[kVersionPos]);
    if (version != kHeaderVersion) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "unsupported frame header version %d (this build speaks %d)", version, kHeaderVersion));
    }
  }
  if (prefix.size() > kFlagsPos) {
    const auto flags = static_cast<uint8_t>(prefix[kFlagsPos]);
    if ((flags & ~kKnownFlags) != 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("frame header has unknown flag bits 0x%02x", flags & ~kKnownFlags));
    }
    if ((flags & kFlagError) != 0 && (flags & kFlagResponse) == 0) {
      return absl::InvalidArgumentError("frame header has the error flag on a request");
    }
  }
  return absl::OkStatus();
}

StatusOr<FrameHeader> DecodeFrameHeader(std::span<const std::byte> bytes,
                                        const FrameLimits& limits) {
  if (bytes.size() < kFrameHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("truncated frame header: %d of %d bytes", bytes.size(), kFrameHeaderSize));
  }
  RETURN_IF_ERROR(CheckHeaderPrefix(bytes.first(kFrameHeaderSize)));
  const std::byte* p = bytes.data();
  FrameHeader h;
  h.flags = static_cast<uint8_t>(p[kFlagsPos]);
  h.frame_size = LoadBigEndian<uint32_t>(p + kFrameSizePos);
  h.api_key = LoadBigEndian<int16_t>(p + kApiKeyPos);
  h.api_version = LoadBigEndian<int16_t>(p + kApiVersionPos);
  h.correlation_id = LoadBigEndian<int32_t>(p + kCorrelationIdPos);
  h.body_size = LoadBigEndian<uint32_t>(p + kBodySizePos);
  if (h.frame_size < kFrameHeaderSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "frame size %d is smaller than the %d-byte header", h.frame_size, kFrameHeaderSize));
  }
  if (h.frame_size > limits.max_frame_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "frame size %d is over the limit of %d bytes", h.frame_size, limits.max_frame_bytes));
  }
  if (h.body_size > limits.max_body_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "body size %d is over the limit of %d bytes", h.body_size, limits.max_body_bytes));
  }
  if (h.body_size > h.frame_size - kFrameHeaderSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "body size %d does not fit in a frame of %d bytes", h.body_size, h.frame_size));
  }
  return h;
}

}  // namespace spool::proto
