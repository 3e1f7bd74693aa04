#include "proto/frame_decoder.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "proto/api.pb.h"
#include "proto/metadata.pb.h"
#include "proto/produce.pb.h"
#include "tests/support/test_env.h"
#include "tests/unit/proto/proto_test_util.h"

namespace spool::proto {
namespace {

using testing::Bytes;
using testing::EncodeToBytes;

struct Expected {
  FrameHeader header;  // frame_size / body_size filled in by the encoder
  std::vector<std::byte> body;
  std::vector<std::byte> payload;
};

// A stream of three frames: an ApiVersions request, a Produce request with a payload split in
// two spans, and an empty-bodied response.
class Stream {
 public:
  Stream() {
    v1::ApiVersionsRequest hello;
    hello.set_client_software_name("spool-test");
    Add(FrameHeader{.api_key = v1::API_KEY_API_VERSIONS, .correlation_id = 1}, hello, {});

    v1::ProduceRequest produce;
    produce.set_acks(-1);
    auto* topic = produce.add_topics();
    topic->set_name("t");
    topic->add_partitions()->set_payload_bytes(5);
    topic->add_partitions()->set_payload_bytes(7);
    Add(FrameHeader{.api_key = v1::API_KEY_PRODUCE, .correlation_id = 2}, produce,
        Bytes("hello"
              "batches"));

    v1::MetadataResponse empty;
    Add(FrameHeader{.flags = kFlagResponse, .api_key = 3, .correlation_id = 3}, empty, {});
  }

  const std::vector<std::byte>& bytes() const { return bytes_; }
  const std::vector<Expected>& frames() const { return frames_; }

 private:
  void Add(FrameHeader header, const google::protobuf::MessageLite& body,
           std::vector<std::byte> payload) {
    std::span<const std::byte> parts[] = {payload};
    std::vector<std::byte> bytes = EncodeToBytes(header, body, parts);
    ASSERT_GE(bytes.size(), kFrameHeaderSize);
    Expected e;
    e.header = *DecodeFrameHeader(bytes, FrameLimits{});
    e.body.assign(bytes.begin() + kFrameHeaderSize,
                  bytes.begin() + kFrameHeaderSize + e.header.body_size);
    e.payload = std::move(payload);
    frames_.push_back(std::move(e));
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  }

  std::vector<std::byte> bytes_;
  std::vector<Expected> frames_;
};

// Drains every complete frame; fails the test on a framing error.
void Drain(FrameDecoder& d, std::vector<Frame>* out) {
  for (;;) {
    StatusOr<std::optional<Frame>> f = d.Next();
    ASSERT_TRUE(f.ok()) << f.status();
    if (!f->has_value()) return;
    out->push_back(**f);
  }
}

void ExpectFrames(const std::vector<Frame>& got, const Stream& s) {
  ASSERT_EQ(got.size(), s.frames().size());
  for (size_t i = 0; i < got.size(); ++i) {
    const Expected& want = s.frames()[i];
    EXPECT_EQ(got[i].header(), want.header) << "frame " << i;
    EXPECT_TRUE(std::ranges::equal(got[i].body(), want.body)) << "frame " << i;
    EXPECT_TRUE(std::ranges::equal(got[i].payload(), want.payload)) << "frame " << i;
  }
}

TEST(FrameDecoder, WholeStreamAtOnce) {
  Stream s;
  FrameDecoder d;
  d.Feed(s.bytes());
  std::vector<Frame> frames;
  Drain(d, &frames);
  ExpectFrames(frames, s);
  EXPECT_TRUE(d.at_frame_boundary());
}

TEST(FrameDecoder, EverySplitPoint) {
  Stream s;
  const std::span<const std::byte> all = s.bytes();
  for (size_t cut = 0; cut <= all.size(); ++cut) {
    SCOPED_TRACE(::testing::Message() << "cut at " << cut);
    FrameDecoder d(FrameLimits{}, /*read_ahead=*/kFrameHeaderSize);
    std::vector<Frame> frames;
    d.Feed(all.first(cut));
    Drain(d, &frames);
    d.Feed(all.subspan(cut));
    Drain(d, &frames);
    ExpectFrames(frames, s);
    EXPECT_TRUE(d.at_frame_boundary());
  }
}

TEST(FrameDecoder, OneByteAtATime) {
  Stream s;
  FrameDecoder d(FrameLimits{}, kFrameHeaderSize);
  std::vector<Frame> frames;
  for (std::byte b : s.bytes()) {
    d.Feed(std::span(&b, 1));
    Drain(d, &frames);
  }
  ExpectFrames(frames, s);
}

TEST(FrameDecoder, RandomChunksThroughWritableSpace) {
  const uint64_t seed = spool::testing::TestSeed();
  std::mt19937_64 rng(seed);
  Stream s;
  std::vector<std::byte> stream;
  for (int i = 0; i < 50; ++i) stream.insert(stream.end(), s.bytes().begin(), s.bytes().end());
  for (int round = 0; round < 20; ++round) {
    FrameDecoder d(FrameLimits{}, std::uniform_int_distribution<size_t>(20, 400)(rng));
    std::vector<Frame> frames;
    size_t pos = 0;
    while (pos < stream.size()) {
      std::span<std::byte> space = d.WritableSpace();
      ASSERT_FALSE(space.empty());
      const size_t n = std::min(
          {space.size(), stream.size() - pos, std::uniform_int_distribution<size_t>(1, 97)(rng)});
      std::memcpy(space.data(), stream.data() + pos, n);
      d.Commit(n);
      pos += n;
      Drain(d, &frames);
    }
    ASSERT_EQ(frames.size(), 50 * s.frames().size());
    for (size_t i = 0; i < frames.size(); ++i) {
      const Expected& want = s.frames()[i % s.frames().size()];
      ASSERT_EQ(frames[i].header(), want.header) << "frame " << i;
      ASSERT_TRUE(std::ranges::equal(frames[i].payload(), want.payload)) << "frame " << i;
    }
  }
}

TEST(FrameDecoder, PayloadPointsIntoTheReceiveBuffer) {
  Stream s;
  FrameDecoder d;
  std::span<std::byte> space = d.WritableSpace(s.bytes().size());
  ASSERT_GE(space.size(), s.bytes().size());
  std::memcpy(space.data(), s.bytes().data(), s.bytes().size());
  d.Commit(s.bytes().size());
  std::vector<Frame> frames;
  Drain(d, &frames);
  ASSERT_EQ(frames.size(), 3u);
  const Frame& produce = frames[1];
  ASSERT_EQ(produce.payload().size(), 12u);
  const std::byte* lo = space.data();
  const std::byte* hi = space.data() + s.bytes().size();
  EXPECT_GE(produce.payload().data(), lo);
  EXPECT_LE(produce.payload().data() + produce.payload().size(), hi);
  EXPECT_EQ(produce.bytes().data(), lo + s.frames()[0].header.frame_size);
}

TEST(FrameDecoder, FramesOutliveTheDecoderAndLaterReceives) {
  Stream s;
  std::vector<Frame> frames;
  {
    FrameDecoder d(FrameLimits{}, kFrameHeaderSize);
    d.Feed(s.bytes());
    Drain(d, &frames);
    // Keep receiving (and compacting) while the first frames are alive.
    for (int i = 0; i < 20; ++i) {
      d.Feed(s.bytes());
      std::vector<Frame> more;
      Drain(d, &more);
      ASSERT_EQ(more.size(), 3u);
    }
  }
  ExpectFrames(frames, s);
}

TEST(FrameDecoder, BadMagicIsAnErrorAfterOneByte) {
  FrameDecoder d;
  d.Feed(Bytes("G"));
  StatusOr<std::optional<Frame>> f = d.Next();
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(d.WritableSpace().empty());
  // Sticky.
  d.Feed(Bytes("ET / HTTP/1.1\r\n"));
  EXPECT_FALSE(d.Next().ok());
  EXPECT_FALSE(d.at_frame_boundary());
}

TEST(FrameDecoder, BadVersionIsAnErrorAfterThreeBytes) {
  FrameDecoder d;
  d.Feed(Bytes("SP\x07"));
  EXPECT_FALSE(d.Next().ok());
}

TEST(FrameDecoder, FrameOverLimitFailsBeforeTheBufferGrows) {
  FrameLimits limits{.max_frame_bytes = 1 << 20, .max_body_bytes = 1 << 10};
  FrameDecoder d(limits, /*read_ahead=*/64);
  std::array<std::byte, kFrameHeaderSize> header{};
  EncodeFrameHeader(FrameHeader{.frame_size = 0xfffffff0u}, header);
  d.Feed(header);
  StatusOr<std::optional<Frame>> f = d.Next();
  EXPECT_EQ(f.status().code(), absl::StatusCode::kResourceExhausted) << f.status();
  // Nothing was sized from the bad length: no space is offered and only the header is held.
  EXPECT_TRUE(d.WritableSpace(1 << 30).empty());
  EXPECT_EQ(d.buffered_bytes(), kFrameHeaderSize);
}

TEST(FrameDecoder, SpaceGrowsForAValidLargeFrameOnlyAfterItsHeader) {
  FrameLimits limits{.max_frame_bytes = 1 << 20, .max_body_bytes = 1 << 10};
  FrameDecoder d(limits, /*read_ahead=*/64);
  std::array<std::byte, kFrameHeaderSize> header{};
  EncodeFrameHeader(FrameHeader{.frame_size = 1 << 20}, header);
  d.Feed(std::span(header).first(kFrameHeaderSize - 1));
  EXPECT_LE(d.WritableSpace().size(), 64u);
  d.Feed(std::span(header).last(1));
  EXPECT_GE(d.WritableSpace().size(), (1u << 20) - kFrameHeaderSize);
}

TEST(FrameDecoder, BodyOverLimit) {
  FrameLimits limits{.max_frame_bytes = 1 << 20, .max_body_bytes = 16};
  FrameDecoder d(limits);
  std::array<std::byte, kFrameHeaderSize> header{};
  EncodeFrameHeader(FrameHeader{.frame_size = 100, .body_size = 17}, header);
  d.Feed(header);
  EXPECT_EQ(d.Next().status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(FrameDecoder, BodyLargerThanFrame) {
  FrameDecoder d;
  std::array<std::byte, kFrameHeaderSize> header{};
  EncodeFrameHeader(FrameHeader{.frame_size = 30, .body_size = 11}, header);
  d.Feed(header);
  StatusOr<std::optional<Frame>> f = d.Next();
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(f.status().message().find("does not fit"), std::string_view::npos) << f.status();
}

TEST(FrameDecoder, CompleteFramesBeforeAnErrorAreStillHandedOut) {
  Stream s;
  std::vector<std::byte> bytes = s.bytes();
  bytes.push_back(std::byte{'X'});
  FrameDecoder d;
  d.Feed(bytes);
  for (size_t i = 0; i < s.frames().size(); ++i) {
    StatusOr<std::optional<Frame>> f = d.Next();
    ASSERT_TRUE(f.ok() && f->has_value()) << i;
  }
  EXPECT_EQ(d.Next().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FrameDecoder, TruncatedStreamIsNotAtABoundary) {
  Stream s;
  FrameDecoder d;
  d.Feed(std::span(s.bytes()).first(s.bytes().size() - 1));
  std::vector<Frame> frames;
  Drain(d, &frames);
  EXPECT_EQ(frames.size(), 2u);
  EXPECT_FALSE(d.at_frame_boundary());
  EXPECT_EQ(d.buffered_bytes(), s.frames()[2].header.frame_size - 1);
}

}  // namespace
}  // namespace spool::proto
