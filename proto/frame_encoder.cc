#include "proto/frame_encoder.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace spool::proto {

void OutgoingFrame::AppendIovecs(std::vector<iovec>* out) const {
  out->push_back(iovec{const_cast<std::byte*>(prefix_.data()), prefix_.size()});
  for (std::span<const std::byte> part : payload_) {
    if (part.empty()) continue;
    out->push_back(iovec{const_cast<std::byte*>(part.data()), part.size()});
  }
}

std::vector<std::byte> OutgoingFrame::Flatten() const {
  std::vector<std::byte> out;
  out.reserve(size());
  out.insert(out.end(), prefix_.begin(), prefix_.end());
  for (std::span<const std::byte> part : payload_) out.insert(out.end(), part.begin(), part.end());
  return out;
}

StatusOr<OutgoingFrame> EncodeFrame(const FrameHeader& header,
                                    const google::protobuf::MessageLite& body,
                                    std::span<const std::span<const std::byte>> payload,
                                    const FrameLimits& limits) {
  if ((header.flags & ~kKnownFlags) != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("unknown frame flag bits 0x%02x", header.flags & ~kKnownFlags));
  }
  if ((header.flags & kFlagError) != 0 && (header.flags & kFlagResponse) == 0) {
    return absl::InvalidArgumentError("the error flag is for responses only");
  }
  const size_t body_size = body.ByteSizeLong();
  if (body_size > limits.max_body_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%s body of %d bytes is over the limit of %d", body.GetTypeName(),
                        body_size, limits.max_body_bytes));
  }
  uint64_t frame_size = kFrameHeaderSize + body_size;
  for (std::span<const std::byte> part : payload) frame_size += part.size();
  if (frame_size > limits.max_frame_bytes || frame_size > std::numeric_limits<uint32_t>::max()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "frame of %d bytes is over the limit of %d", frame_size,
        std::min<uint64_t>(limits.max_frame_bytes, std::numeric_limits<uint32_t>::max())));
  }
  OutgoingFrame frame;
  frame.header_ = header;
  frame.header_.frame_size = static_cast<uint32_t>(frame_size);
  frame.header_.body_size = static_cast<uint32_t>(body_size);
  frame.prefix_.resize(kFrameHeaderSize + body_size);
  EncodeFrameHeader(frame.header_,
                    std::span<std::byte, kFrameHeaderSize>(frame.prefix_.data(), kFrameHeaderSize));
  auto* out = reinterpret_cast<uint8_t*>(frame.prefix_.data() + kFrameHeaderSize);
  if (body_size > 0 && body.SerializeWithCachedSizesToArray(out) != out + body_size) {
    return absl::InternalError(absl::StrCat("cannot serialize ", body.GetTypeName()));
  }
  frame.payload_.assign(payload.begin(), payload.end());
  return frame;
}

}  // namespace spool::proto
