#include "proto/frame.h"

#include <array>
#include <cstring>

#include "gtest/gtest.h"

namespace spool::proto {
namespace {

std::array<std::byte, kFrameHeaderSize> Encode(const FrameHeader& h) {
  std::array<std::byte, kFrameHeaderSize> out{};
  EncodeFrameHeader(h, out);
  return out;
}

TEST(FrameHeader, RoundTrip) {
  FrameHeader h;
  h.flags = kFlagResponse;
  h.frame_size = 1000;
  h.api_key = 3;
  h.api_version = 7;
  h.correlation_id = -123456;
  h.body_size = 300;
  auto bytes = Encode(h);
  StatusOr<FrameHeader> back = DecodeFrameHeader(bytes, FrameLimits{});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, h);
  EXPECT_TRUE(back->is_response());
  EXPECT_EQ(back->payload_size(), 1000u - kFrameHeaderSize - 300u);
}

TEST(FrameHeader, LayoutIsBigEndian) {
  FrameHeader h;
  h.frame_size = 0x01020304;
  h.api_key = 0x0506;
  h.api_version = 0x0708;
  h.correlation_id = 0x090a0b0c;
  h.body_size = 0x0d0e0f10;
  const auto b = Encode(h);
  const unsigned char want[kFrameHeaderSize] = {'S', 'P', 1, 0,  1,  2,  3,    4,    5,    6,
                                                7,   8,   9, 10, 11, 12, 0x0d, 0x0e, 0x0f, 0x10};
  EXPECT_EQ(std::memcmp(b.data(), want, kFrameHeaderSize), 0);
}

TEST(FrameHeader, BadMagicIsRecognisedFromTheFirstByte) {
  const std::byte http[] = {std::byte{'G'}};
  EXPECT_EQ(CheckHeaderPrefix(http).code(), absl::StatusCode::kInvalidArgument);
  const std::byte half[] = {std::byte{'S'}, std::byte{'Q'}};
  EXPECT_FALSE(CheckHeaderPrefix(half).ok());
  const std::byte good[] = {std::byte{'S'}, std::byte{'P'}};
  EXPECT_TRUE(CheckHeaderPrefix(good).ok());
  EXPECT_TRUE(CheckHeaderPrefix({}).ok());
}

TEST(FrameHeader, BadVersion) {
  auto b = Encode(FrameHeader{});
  b[kVersionPos] = std::byte{2};
  EXPECT_FALSE(CheckHeaderPrefix(std::span(b).first(3)).ok());
  StatusOr<FrameHeader> h = DecodeFrameHeader(b, FrameLimits{});
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("version"), std::string_view::npos) << h.status();
}

TEST(FrameHeader, UnknownFlagBits) {
  auto b = Encode(FrameHeader{});
  b[kFlagsPos] = std::byte{0x80};
  EXPECT_FALSE(DecodeFrameHeader(b, FrameLimits{}).ok());
}

TEST(FrameHeader, FrameSizeSmallerThanHeader) {
  FrameHeader h;
  h.frame_size = kFrameHeaderSize - 1;
  EXPECT_EQ(DecodeFrameHeader(Encode(h), FrameLimits{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FrameHeader, FrameSizeOverLimit) {
  FrameLimits limits{.max_frame_bytes = 1024, .max_body_bytes = 512};
  FrameHeader h;
  h.frame_size = 1025;
  EXPECT_EQ(DecodeFrameHeader(Encode(h), limits).status().code(),
            absl::StatusCode::kResourceExhausted);
  h.frame_size = 1024;
  EXPECT_TRUE(DecodeFrameHeader(Encode(h), limits).ok());
}

TEST(FrameHeader, BodySizeOverLimit) {
  FrameLimits limits{.max_frame_bytes = 1024, .max_body_bytes = 512};
  FrameHeader h;
  h.frame_size = 1024;
  h.body_size = 513;
  EXPECT_EQ(DecodeFrameHeader(Encode(h), limits).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(FrameHeader, BodyLargerThanFrame) {
  FrameHeader h;
  h.frame_size = 100;
  h.body_size = 100 - kFrameHeaderSize + 1;
  StatusOr<FrameHeader> r = DecodeFrameHeader(Encode(h), FrameLimits{});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  h.body_size = 100 - kFrameHeaderSize;
  EXPECT_TRUE(DecodeFrameHeader(Encode(h), FrameLimits{}).ok());
}

TEST(FrameHeader, Truncated) {
  auto b = Encode(FrameHeader{});
  EXPECT_FALSE(DecodeFrameHeader(std::span(b).first(kFrameHeaderSize - 1), FrameLimits{}).ok());
}

}  // namespace
}  // namespace spool::proto
