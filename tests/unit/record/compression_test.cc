#include "log/record/compression.h"

#include <lz4frame.h>
#include <zstd.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::record {
namespace {

constexpr size_t kNoLimit = 1 << 30;

// Random bytes, or (compressible) a random 64-byte pattern repeated with 1% of bytes changed.
std::vector<std::byte> RandomData(std::mt19937_64& rng, size_t n, bool compressible) {
  std::vector<std::byte> pattern(64);
  for (auto& b : pattern) b = static_cast<std::byte>(rng());
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) {
    const bool noise = !compressible || rng() % 100 == 0;
    v[i] = noise ? static_cast<std::byte>(rng()) : pattern[i % pattern.size()];
  }
  return v;
}

class CompressionTest : public ::testing::TestWithParam<Compression> {};

TEST_P(CompressionTest, RoundTrip) {
  std::mt19937_64 rng(testing::TestSeed());
  for (size_t n : {size_t{0}, size_t{1}, size_t{100}, size_t{65535}, size_t{65536}, size_t{65537},
                   size_t{1} << 20}) {
    for (bool compressible : {false, true}) {
      const std::vector<std::byte> in = RandomData(rng, n, compressible);
      std::vector<std::byte> frame;
      ASSERT_TRUE(Compress(GetParam(), in, &frame).ok());
      std::vector<std::byte> out;
      const Status st = Decompress(GetParam(), frame, kNoLimit, &out);
      ASSERT_TRUE(st.ok()) << st << " n=" << n;
      EXPECT_EQ(out, in) << "n=" << n << " compressible=" << compressible;
      if (compressible && n >= 65536 && GetParam() != Compression::kNone) {
        EXPECT_LT(frame.size(), n / 2) << "compressible data should shrink";
      }
    }
  }
}

TEST_P(CompressionTest, AppendsAfterExistingBytes) {
  const std::vector<std::byte> in(1000, std::byte{7});
  std::vector<std::byte> frame = {std::byte{1}, std::byte{2}};
  ASSERT_TRUE(Compress(GetParam(), in, &frame).ok());
  EXPECT_EQ(frame[0], std::byte{1});
  EXPECT_EQ(frame[1], std::byte{2});
  std::vector<std::byte> out = {std::byte{9}};
  ASSERT_TRUE(Decompress(GetParam(), std::span(frame).subspan(2), kNoLimit, &out).ok());
  ASSERT_EQ(out.size(), 1 + in.size());
  EXPECT_EQ(out[0], std::byte{9});
  EXPECT_EQ(std::vector<std::byte>(out.begin() + 1, out.end()), in);
}

TEST_P(CompressionTest, LimitIsExactAndErrorsLeaveOutputAlone) {
  std::mt19937_64 rng(testing::TestSeed());
  const std::vector<std::byte> in = RandomData(rng, 200000, true);
  std::vector<std::byte> frame;
  ASSERT_TRUE(Compress(GetParam(), in, &frame).ok());
  std::vector<std::byte> out;
  EXPECT_TRUE(Decompress(GetParam(), frame, in.size(), &out).ok());
  EXPECT_EQ(out.size(), in.size());
  out = {std::byte{42}};
  const Status st = Decompress(GetParam(), frame, in.size() - 1, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(std::string(st.message()).find("configured maximum"), std::string_view::npos) << st;
  EXPECT_EQ(out, std::vector<std::byte>{std::byte{42}});
}

INSTANTIATE_TEST_SUITE_P(Codecs, CompressionTest,
                         ::testing::Values(Compression::kNone, Compression::kLz4,
                                           Compression::kZstd),
                         [](const ::testing::TestParamInfo<Compression>& info) {
                           return std::string(CompressionName(info.param));
                         });

class FrameTest : public ::testing::TestWithParam<Compression> {};

// Kafka's framing: an LZ4 frame (magic 0x184D2204) or a zstd frame (0xFD2FB528), little-endian.
TEST_P(FrameTest, FramesStartWithTheStandardMagic) {
  std::vector<std::byte> frame;
  ASSERT_TRUE(Compress(GetParam(), std::vector<std::byte>(10, std::byte{1}), &frame).ok());
  ASSERT_GE(frame.size(), 4u);
  const uint32_t magic = static_cast<uint32_t>(frame[0]) | static_cast<uint32_t>(frame[1]) << 8 |
                         static_cast<uint32_t>(frame[2]) << 16 |
                         static_cast<uint32_t>(frame[3]) << 24;
  EXPECT_EQ(magic, GetParam() == Compression::kLz4 ? 0x184D2204u : 0xFD2FB528u);
}

// 100 MiB of zeros: the frame is small, and decompressing under a 1 MiB cap fails without
// ever allocating anywhere near 100 MiB.
TEST_P(FrameTest, DecompressionBombStopsAtTheCap) {
  std::vector<std::byte> frame;
  {
    const std::vector<std::byte> zeros(100 << 20);
    ASSERT_TRUE(Compress(GetParam(), zeros, &frame).ok());
  }
  if (GetParam() == Compression::kZstd) {
    EXPECT_LT(frame.size(), 64u << 10);
  }
  EXPECT_LT(frame.size(), 1u << 20);
  std::vector<std::byte> out;
  const Status st = Decompress(GetParam(), frame, 1 << 20, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(std::string(st.message()).find("configured maximum"), std::string_view::npos) << st;
  EXPECT_TRUE(out.empty());
  // The buffer grew to the cap (plus the one byte that shows the overflow), not to 100 MiB.
  EXPECT_LE(out.capacity(), 4u << 20);
}

TEST_P(FrameTest, TwoConcatenatedFramesAreRefused) {
  std::vector<std::byte> frames;
  ASSERT_TRUE(Compress(GetParam(), std::vector<std::byte>(10, std::byte{1}), &frames).ok());
  ASSERT_TRUE(Compress(GetParam(), std::vector<std::byte>(10, std::byte{2}), &frames).ok());
  std::vector<std::byte> out;
  const Status st = Decompress(GetParam(), frames, kNoLimit, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(std::string(st.message()).find("after the end of the frame"), std::string_view::npos)
      << st;
}

TEST_P(FrameTest, GarbageAndEmptyInputAreRefused) {
  std::vector<std::byte> out;
  EXPECT_EQ(Decompress(GetParam(), {}, kNoLimit, &out).code(), absl::StatusCode::kInvalidArgument);
  const std::vector<std::byte> garbage(100, std::byte{0x5a});
  EXPECT_EQ(Decompress(GetParam(), garbage, kNoLimit, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(out.empty());
}

TEST_P(FrameTest, EveryTruncationIsRefused) {
  std::mt19937_64 rng(testing::TestSeed());
  const std::vector<std::byte> in = RandomData(rng, 3000, true);
  std::vector<std::byte> frame;
  ASSERT_TRUE(Compress(GetParam(), in, &frame).ok());
  for (size_t cut = 0; cut < frame.size(); ++cut) {
    std::vector<std::byte> out;
    const Status st = Decompress(GetParam(), std::span(frame).first(cut), kNoLimit, &out);
    ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << "cut at " << cut << ": " << st;
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, FrameTest,
                         ::testing::Values(Compression::kLz4, Compression::kZstd),
                         [](const ::testing::TestParamInfo<Compression>& info) {
                           return std::string(CompressionName(info.param));
                         });

TEST(CompressionTest, HigherLevelsRoundTrip) {
  std::mt19937_64 rng(testing::TestSeed());
  const std::vector<std::byte> in = RandomData(rng, 100000, true);
  for (Compression c : {Compression::kLz4, Compression::kZstd}) {
    std::vector<std::byte> frame;
    ASSERT_TRUE(Compress(c, in, &frame, 9).ok());
    std::vector<std::byte> out;
    ASSERT_TRUE(Decompress(c, frame, kNoLimit, &out).ok());
    EXPECT_EQ(out, in);
  }
}

TEST(CompressionTest, SupportAndNames) {
  EXPECT_TRUE(IsSupported(Compression::kNone));
  EXPECT_TRUE(IsSupported(Compression::kLz4));
  EXPECT_TRUE(IsSupported(Compression::kZstd));
  EXPECT_FALSE(IsSupported(Compression::kGzip));
  EXPECT_FALSE(IsSupported(Compression::kSnappy));
  EXPECT_FALSE(IsSupported(static_cast<Compression>(5)));
  EXPECT_EQ(CheckSupported(Compression::kGzip).code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(CheckSupported(static_cast<Compression>(7)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CompressionName(Compression::kLz4), "lz4");
  EXPECT_EQ(CompressionName(static_cast<Compression>(7)), "unknown");
  std::vector<std::byte> out;
  EXPECT_EQ(Compress(Compression::kSnappy, {}, &out).code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(Decompress(Compression::kGzip, {}, 10, &out).code(), absl::StatusCode::kUnimplemented);
}

// Frames written by other producers use other settings (content size, checksums, linked
// blocks, streaming zstd without a content size); all are standard frames and must decode.
TEST(CompressionTest, DecodesFramesWithOtherSettings) {
  std::mt19937_64 rng(testing::TestSeed());
  const std::vector<std::byte> in = RandomData(rng, 300000, true);

  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max4MB;
  prefs.frameInfo.blockMode = LZ4F_blockLinked;
  prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
  prefs.frameInfo.contentSize = in.size();
  std::vector<std::byte> lz4(LZ4F_compressFrameBound(in.size(), &prefs));
  const size_t n = LZ4F_compressFrame(lz4.data(), lz4.size(), in.data(), in.size(), &prefs);
  ASSERT_FALSE(LZ4F_isError(n));
  lz4.resize(n);
  std::vector<std::byte> out;
  ASSERT_TRUE(Decompress(Compression::kLz4, lz4, kNoLimit, &out).ok());
  EXPECT_EQ(out, in);
  // The content size written in the frame is not trusted: the cap still applies.
  out.clear();
  EXPECT_EQ(Decompress(Compression::kLz4, lz4, 1000, &out).code(),
            absl::StatusCode::kInvalidArgument);

  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ASSERT_NE(cctx, nullptr);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  std::vector<std::byte> zstd(ZSTD_compressBound(in.size()));
  ZSTD_outBuffer dst{zstd.data(), zstd.size(), 0};
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  const size_t left = ZSTD_compressStream2(cctx, &dst, &src, ZSTD_e_end);
  ZSTD_freeCCtx(cctx);
  ASSERT_EQ(left, 0u);
  zstd.resize(dst.pos);
  out.clear();
  ASSERT_TRUE(Decompress(Compression::kZstd, zstd, kNoLimit, &out).ok());
  EXPECT_EQ(out, in);
}

}  // namespace
}  // namespace spool::record
