#include "common/crc32c.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::crc32c {
namespace {

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

// A bit-at-a-time CRC-32C written straight from the definition, independent of the tables and
// of the instruction: the oracle the fast paths are checked against.
uint32_t BitwiseCrc(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return ~c;
}

std::vector<uint8_t> RandomBytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

struct Vector {
  std::vector<uint8_t> data;
  uint32_t crc;
};

// REFERENCE.md's vectors (RFC 3720 B.4 and the usual check value).
std::vector<Vector> ReferenceVectors() {
  std::vector<Vector> v;
  const std::string_view check = "123456789";
  v.push_back({std::vector<uint8_t>(check.begin(), check.end()), 0xE3069283u});
  v.push_back({std::vector<uint8_t>(32, 0x00), 0x8A9136AAu});
  v.push_back({std::vector<uint8_t>(32, 0xFF), 0x62A8AB43u});
  std::vector<uint8_t> up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<uint8_t>(i);
    down[i] = static_cast<uint8_t>(31 - i);
  }
  v.push_back({up, 0x46DD794Eu});
  v.push_back({down, 0x113FDB5Cu});
  return v;
}

void ExpectReferenceVectors(ExtendFn fn) {
  for (const Vector& v : ReferenceVectors()) {
    EXPECT_EQ(fn(0, v.data.data(), v.data.size()), v.crc) << "length " << v.data.size();
  }
}

TEST(Crc32cTest, EmptyInputIsZero) {
  EXPECT_EQ(Value(nullptr, 0), 0u);
  EXPECT_EQ(ExtendSoftware(0, nullptr, 0), 0u);
  EXPECT_EQ(Extend(0x12345678u, nullptr, 0), 0x12345678u);
}

TEST(Crc32cTest, ReferenceVectorsDispatched) {
  ExpectReferenceVectors(&Extend);
}

TEST(Crc32cTest, ReferenceVectorsSoftware) {
  ExpectReferenceVectors(&ExtendSoftware);
}

TEST(Crc32cTest, ReferenceVectorsBitwiseOracle) {
  for (const Vector& v : ReferenceVectors()) {
    EXPECT_EQ(BitwiseCrc(v.data.data(), v.data.size()), v.crc);
  }
}

TEST(Crc32cTest, ReferenceVectorsHardware) {
  if (!HasHardware()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  ExpectReferenceVectors(&ExtendHardware);
  ExpectReferenceVectors(&ExtendHardwareSerial);
}

TEST(Crc32cTest, SpanOverloadMatches) {
  const std::string_view s = "123456789";
  EXPECT_EQ(Value(std::as_bytes(std::span(s.data(), s.size()))), 0xE3069283u);
}

// Every start alignment 0..15 and every length 0..100: all paths agree with the oracle.
TEST(Crc32cTest, UnalignedShortInputsAllPathsAgree) {
  std::mt19937_64 rng(testing::TestSeed());
  const std::vector<uint8_t> buf = RandomBytes(rng, 128);
  for (size_t start = 0; start < 16; ++start) {
    for (size_t n = 0; n <= 100; ++n) {
      const uint8_t* p = buf.data() + start;
      const uint32_t want = BitwiseCrc(p, n);
      ASSERT_EQ(ExtendSoftware(0, p, n), want) << "start " << start << " length " << n;
      ASSERT_EQ(Value(p, n), want) << "start " << start << " length " << n;
      if (HasHardware()) {
        ASSERT_EQ(ExtendHardware(0, p, n), want) << "start " << start << " length " << n;
        ASSERT_EQ(ExtendHardwareSerial(0, p, n), want) << "start " << start << " length " << n;
      }
    }
  }
}

// Lengths around the three-lane block sizes (3 x 128, 3 x 1024 and 3 x 8192 bytes) and random
// long ones, so every lane join is exercised with every kind of tail.
TEST(Crc32cTest, LongInputsAllPathsAgree) {
  std::mt19937_64 rng(testing::TestSeed());
  const std::vector<uint8_t> buf = RandomBytes(rng, (1 << 20) + 64);
  std::vector<size_t> lengths;
  for (size_t block : {size_t{384}, size_t{3072}, size_t{24576}}) {
    for (size_t k : {1, 2, 3}) {
      for (int d = -9; d <= 9; ++d) lengths.push_back(k * block + d);
    }
  }
  lengths.push_back(4096);
  lengths.push_back(1 << 20);
  for (int i = 0; i < 40; ++i) lengths.push_back(rng() % (1 << 20));
  for (size_t n : lengths) {
    const size_t start = rng() % 64;
    const uint8_t* p = buf.data() + start;
    const uint32_t want = BitwiseCrc(p, n);
    ASSERT_EQ(ExtendSoftware(0, p, n), want) << "start " << start << " length " << n;
    ASSERT_EQ(Value(p, n), want) << "start " << start << " length " << n;
    if (HasHardware()) {
      ASSERT_EQ(ExtendHardware(0, p, n), want) << "start " << start << " length " << n;
      ASSERT_EQ(ExtendHardwareSerial(0, p, n), want) << "start " << start << " length " << n;
    }
  }
}

// Extend(Value(a), b) == Value(a + b) for any split, on every path.
TEST(Crc32cTest, ExtendChains) {
  std::mt19937_64 rng(testing::TestSeed());
  const std::vector<uint8_t> buf = RandomBytes(rng, 100000);
  std::vector<ExtendFn> paths = {&Extend, &ExtendSoftware};
  if (HasHardware()) {
    paths.push_back(&ExtendHardware);
    paths.push_back(&ExtendHardwareSerial);
  }
  const uint32_t whole = BitwiseCrc(buf.data(), buf.size());
  for (int i = 0; i < 50; ++i) {
    const size_t split = rng() % (buf.size() + 1);
    for (ExtendFn fn : paths) {
      const uint32_t head = fn(0, buf.data(), split);
      ASSERT_EQ(fn(head, buf.data() + split, buf.size() - split), whole) << "split " << split;
    }
  }
}

TEST(Crc32cTest, DetectsEverySingleBitFlip) {
  std::mt19937_64 rng(testing::TestSeed());
  std::vector<uint8_t> buf = RandomBytes(rng, 300);
  const uint32_t base = Value(buf.data(), buf.size());
  for (size_t bit = 0; bit < buf.size() * 8; ++bit) {
    buf[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    ASSERT_NE(Value(buf.data(), buf.size()), base) << "bit " << bit;
    buf[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
}

}  // namespace
}  // namespace spool::crc32c
