// Encoding frames for the wire: header + Protobuf body in one small owned buffer, followed by the
// caller's payload spans, handed to the kernel as an iovec list (writev / sendmsg / io_uring
// SENDMSG) so record batches are never copied on the way out.
//
// Ownership: an OutgoingFrame owns its header and body bytes; it only points at the payload.
// The payload's bytes must stay alive and unchanged until the frame has been sent. Iovecs from
// AppendIovecs() point into the frame and the payload: do not move or destroy the frame while
// they are in use. Thread-compatible value type.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "google/protobuf/message_lite.h"
#include "proto/frame.h"

namespace spool::proto {

class OutgoingFrame {
 public:
  const FrameHeader& header() const { return header_; }
  // Header and body: the first kFrameHeaderSize + body_size bytes of the frame.
  std::span<const std::byte> prefix() const { return prefix_; }
  std::span<const std::span<const std::byte>> payload() const { return payload_; }
  size_t size() const { return header_.frame_size; }

  // Appends one iovec for the prefix and one per non-empty payload span.
  void AppendIovecs(std::vector<iovec>* out) const;
  // The whole frame as one contiguous copy (tests, small control frames).
  std::vector<std::byte> Flatten() const;

 private:
  friend StatusOr<OutgoingFrame> EncodeFrame(const FrameHeader&,
                                             const google::protobuf::MessageLite&,
                                             std::span<const std::span<const std::byte>>,
                                             const FrameLimits&);
  FrameHeader header_;
  std::vector<std::byte> prefix_;
  std::vector<std::span<const std::byte>> payload_;
};

// Builds a frame. From `header` only flags, api_key, api_version and correlation_id are used;
// frame_size and body_size are computed. Fails with kResourceExhausted when the body or the whole
// frame is over `limits` (what the peer would refuse) or over the 4 GiB the header can express,
// and kInternal when the body cannot be serialized.
[[nodiscard]] StatusOr<OutgoingFrame> EncodeFrame(
    const FrameHeader& header, const google::protobuf::MessageLite& body,
    std::span<const std::span<const std::byte>> payload = {}, const FrameLimits& limits = {});

}  // namespace spool::proto
