#include "log/record/varint.h"

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::record {
namespace {

constexpr int32_t kMin32 = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMin64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();

std::vector<std::byte> Bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::vector<std::byte> Encode32(int32_t v) {
  std::vector<std::byte> out(kMaxVarintSize);
  out.resize(static_cast<size_t>(EncodeVarint(v, out.data()) - out.data()));
  return out;
}

std::vector<std::byte> Encode64(int64_t v) {
  std::vector<std::byte> out(kMaxVarlongSize);
  out.resize(static_cast<size_t>(EncodeVarlong(v, out.data()) - out.data()));
  return out;
}

TEST(VarintTest, ZigZagMapsSmallMagnitudesToSmallCodes) {
  EXPECT_EQ(ZigZagEncode32(0), 0u);
  EXPECT_EQ(ZigZagEncode32(-1), 1u);
  EXPECT_EQ(ZigZagEncode32(1), 2u);
  EXPECT_EQ(ZigZagEncode32(-2), 3u);
  EXPECT_EQ(ZigZagEncode32(kMax32), 0xFFFFFFFEu);
  EXPECT_EQ(ZigZagEncode32(kMin32), 0xFFFFFFFFu);
  EXPECT_EQ(ZigZagEncode64(kMax64), 0xFFFFFFFFFFFFFFFEull);
  EXPECT_EQ(ZigZagEncode64(kMin64), 0xFFFFFFFFFFFFFFFFull);
  for (int32_t v : {0, 1, -1, 2, -2, 1000, -1000, kMin32, kMax32}) {
    EXPECT_EQ(ZigZagDecode32(ZigZagEncode32(v)), v);
  }
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1} << 40, kMin64, kMax64}) {
    EXPECT_EQ(ZigZagDecode64(ZigZagEncode64(v)), v);
  }
}

TEST(VarintTest, KnownEncodings) {
  EXPECT_EQ(Encode32(0), Bytes({0x00}));
  EXPECT_EQ(Encode32(-1), Bytes({0x01}));
  EXPECT_EQ(Encode32(1), Bytes({0x02}));
  EXPECT_EQ(Encode32(63), Bytes({0x7e}));
  EXPECT_EQ(Encode32(-64), Bytes({0x7f}));
  EXPECT_EQ(Encode32(64), Bytes({0x80, 0x01}));
  EXPECT_EQ(Encode32(-65), Bytes({0x81, 0x01}));
  EXPECT_EQ(Encode32(150), Bytes({0xac, 0x02}));
  EXPECT_EQ(Encode32(kMax32), Bytes({0xfe, 0xff, 0xff, 0xff, 0x0f}));
  EXPECT_EQ(Encode32(kMin32), Bytes({0xff, 0xff, 0xff, 0xff, 0x0f}));
  EXPECT_EQ(Encode64(kMax64), Bytes({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  EXPECT_EQ(Encode64(kMin64), Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
}

TEST(VarintTest, EdgeValuesRoundTrip) {
  for (int32_t v :
       {0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, kMin32, kMax32, kMin32 + 1, kMax32 - 1}) {
    const std::vector<std::byte> enc = Encode32(v);
    EXPECT_EQ(enc.size(), VarintSize(v));
    size_t pos = 0;
    StatusOr<int32_t> got = ReadVarint(enc, &pos);
    ASSERT_TRUE(got.ok()) << v << ": " << got.status();
    EXPECT_EQ(*got, v);
    EXPECT_EQ(pos, enc.size());
  }
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{kMin32} - 1, int64_t{kMax32} + 1, kMin64,
                    kMax64, kMin64 + 1, kMax64 - 1}) {
    const std::vector<std::byte> enc = Encode64(v);
    EXPECT_EQ(enc.size(), VarlongSize(v));
    size_t pos = 0;
    StatusOr<int64_t> got = ReadVarlong(enc, &pos);
    ASSERT_TRUE(got.ok()) << v << ": " << got.status();
    EXPECT_EQ(*got, v);
    EXPECT_EQ(pos, enc.size());
  }
}

TEST(VarintTest, RandomValuesRoundTripInSequence) {
  std::mt19937_64 rng(testing::TestSeed());
  std::vector<int32_t> v32;
  std::vector<int64_t> v64;
  std::vector<std::byte> buf;
  for (int i = 0; i < 2000; ++i) {
    // Spread over every encoded length, not just the (mostly 5- or 10-byte) uniform values.
    const int shift32 = static_cast<int>(rng() % 32);
    const int shift64 = static_cast<int>(rng() % 64);
    v32.push_back(static_cast<int32_t>(static_cast<uint32_t>(rng()) >> shift32));
    v64.push_back(static_cast<int64_t>(rng() >> shift64));
    if (rng() % 2) v32.back() = -v32.back() - 1;
    if (rng() % 2) v64.back() = -v64.back() - 1;
    const size_t at = buf.size();
    buf.resize(at + VarintSize(v32.back()) + VarlongSize(v64.back()));
    std::byte* p = EncodeVarint(v32.back(), buf.data() + at);
    p = EncodeVarlong(v64.back(), p);
    ASSERT_EQ(p, buf.data() + buf.size());
  }
  size_t pos = 0;
  for (size_t i = 0; i < v32.size(); ++i) {
    StatusOr<int32_t> a = ReadVarint(buf, &pos);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_EQ(*a, v32[i]);
    StatusOr<int64_t> b = ReadVarlong(buf, &pos);
    ASSERT_TRUE(b.ok()) << b.status();
    ASSERT_EQ(*b, v64[i]);
  }
  EXPECT_EQ(pos, buf.size());
}

void ExpectRejected32(const std::vector<std::byte>& in, std::string_view why) {
  size_t pos = 0;
  StatusOr<int32_t> got = ReadVarint(in, &pos);
  ASSERT_FALSE(got.ok()) << why;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << why;
  EXPECT_EQ(pos, 0u) << "position must not move on error: " << why;
}

void ExpectRejected64(const std::vector<std::byte>& in, std::string_view why) {
  size_t pos = 0;
  StatusOr<int64_t> got = ReadVarlong(in, &pos);
  ASSERT_FALSE(got.ok()) << why;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << why;
  EXPECT_EQ(pos, 0u) << "position must not move on error: " << why;
}

TEST(VarintTest, Int32OverflowRejected) {
  // Six bytes.
  ExpectRejected32(Bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x00}), "six bytes");
  // Five bytes whose last one carries bits past bit 31.
  ExpectRejected32(Bytes({0xff, 0xff, 0xff, 0xff, 0x1f}), "bit 32 set");
  ExpectRejected32(Bytes({0x80, 0x80, 0x80, 0x80, 0x10}), "bit 32 set alone");
  // The largest five-byte value that fits is accepted (INT32_MIN).
  size_t pos = 0;
  StatusOr<int32_t> got = ReadVarint(Bytes({0xff, 0xff, 0xff, 0xff, 0x0f}), &pos);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, kMin32);
}

TEST(VarintTest, Int64OverflowRejected) {
  ExpectRejected64(Bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}),
                   "eleven bytes");
  ExpectRejected64(Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}),
                   "bit 64 set");
  ExpectRejected64(Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00}),
                   "continuation on the tenth byte");
}

TEST(VarintTest, TruncatedRejected) {
  ExpectRejected32({}, "empty");
  ExpectRejected32(Bytes({0x80}), "one continuation byte");
  ExpectRejected32(Bytes({0xff, 0xff, 0xff, 0xff}), "four continuation bytes");
  ExpectRejected64({}, "empty");
  ExpectRejected64(Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), "nine bytes");
  // Truncated at a later position: the error names that byte.
  std::vector<std::byte> in = Bytes({0x02, 0x80});
  size_t pos = 1;
  StatusOr<int32_t> got = ReadVarint(in, &pos);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(std::string(got.status().message()).find("byte 1"), std::string_view::npos)
      << got.status();
  EXPECT_EQ(pos, 1u);
}

TEST(VarintTest, NonMinimalEncodingAccepted) {
  size_t pos = 0;
  StatusOr<int32_t> got = ReadVarint(Bytes({0x82, 0x80, 0x00}), &pos);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 1);
  EXPECT_EQ(pos, 3u);
}

TEST(VarintTest, ReadsOnlyItsOwnBytes) {
  const std::vector<std::byte> in = Bytes({0xac, 0x02, 0x7f, 0x01});
  size_t pos = 0;
  EXPECT_EQ(*ReadVarint(in, &pos), 150);
  EXPECT_EQ(pos, 2u);
  EXPECT_EQ(*ReadVarlong(in, &pos), -64);
  EXPECT_EQ(pos, 3u);
  EXPECT_EQ(*ReadVarint(in, &pos), -1);
  EXPECT_EQ(pos, 4u);
  EXPECT_FALSE(ReadVarint(in, &pos).ok());
}

}  // namespace
}  // namespace spool::record
