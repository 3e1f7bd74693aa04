// Helpers shared by the protocol tests (header-only; tests/unit/proto is not a library).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/frame_encoder.h"

namespace spool::proto::testing {

inline std::vector<std::byte> Bytes(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

// Encodes a frame and returns its bytes; fails the test on error.
inline std::vector<std::byte> EncodeToBytes(
    const FrameHeader& header, const google::protobuf::MessageLite& body,
    std::span<const std::span<const std::byte>> payload = {}, const FrameLimits& limits = {}) {
  StatusOr<OutgoingFrame> frame = EncodeFrame(header, body, payload, limits);
  EXPECT_TRUE(frame.ok()) << frame.status();
  if (!frame.ok()) return {};
  return frame->Flatten();
}

inline std::string Hex(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    out.push_back(kDigits[static_cast<unsigned>(b) >> 4]);
    out.push_back(kDigits[static_cast<unsigned>(b) & 0xf]);
  }
  return out;
}

}  // namespace spool::proto::testing
