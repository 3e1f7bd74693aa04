#include "proto/frame_encoder.h"

#include <sys/uio.h>

#include <vector>

#include "gtest/gtest.h"
#include "proto/api.pb.h"
#include "proto/frame_decoder.h"
#include "proto/produce.pb.h"
#include "tests/unit/proto/proto_test_util.h"

namespace spool::proto {
namespace {

using testing::Bytes;

v1::ProduceRequest TwoPartitions() {
  v1::ProduceRequest r;
  r.set_acks(1);
  r.set_timeout_ms(3000);
  auto* t = r.add_topics();
  t->set_name("events");
  t->add_partitions()->set_payload_bytes(4);
  auto* p = t->add_partitions();
  p->set_partition(1);
  p->set_payload_bytes(6);
  return r;
}

TEST(FrameEncoder, IovecsReproduceTheBytesWithoutCopyingThePayload) {
  const std::vector<std::byte> a = Bytes("abcd");
  const std::vector<std::byte> b = Bytes("efghij");
  const std::span<const std::byte> parts[] = {a, {}, b};
  const v1::ProduceRequest body = TwoPartitions();
  StatusOr<OutgoingFrame> frame =
      EncodeFrame(FrameHeader{.api_key = v1::API_KEY_PRODUCE, .correlation_id = 9}, body, parts);
  ASSERT_TRUE(frame.ok()) << frame.status();

  std::vector<iovec> iov;
  frame->AppendIovecs(&iov);
  ASSERT_EQ(iov.size(), 3u);  // prefix, a, b (the empty span is skipped)
  EXPECT_EQ(iov[1].iov_base, a.data());
  EXPECT_EQ(iov[2].iov_base, b.data());

  std::vector<std::byte> joined;
  for (const iovec& v : iov) {
    const auto* p = static_cast<const std::byte*>(v.iov_base);
    joined.insert(joined.end(), p, p + v.iov_len);
  }
  EXPECT_EQ(joined, frame->Flatten());
  ASSERT_EQ(joined.size(), frame->size());

  // What the encoder wrote is what the decoder reads.
  FrameDecoder d;
  d.Feed(joined);
  StatusOr<std::optional<Frame>> got = d.Next();
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  const Frame& f = **got;
  EXPECT_EQ(f.header().api_key, v1::API_KEY_PRODUCE);
  EXPECT_EQ(f.header().correlation_id, 9);
  EXPECT_FALSE(f.header().is_response());
  EXPECT_EQ(f.header().body_size, body.ByteSizeLong());
  EXPECT_EQ(testing::Hex(f.payload()), testing::Hex(Bytes("abcdefghij")));
  v1::ProduceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromArray(f.body().data(), static_cast<int>(f.body().size())));
  EXPECT_EQ(parsed.SerializeAsString(), body.SerializeAsString());
}

TEST(FrameEncoder, ComputesSizesAndIgnoresTheCallersSizes) {
  v1::ProduceRequest empty;
  StatusOr<OutgoingFrame> frame =
      EncodeFrame(FrameHeader{.frame_size = 999, .body_size = 77}, empty);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->header().frame_size, kFrameHeaderSize);
  EXPECT_EQ(frame->header().body_size, 0u);
  EXPECT_EQ(frame->prefix().size(), kFrameHeaderSize);
}

TEST(FrameEncoder, RefusesWhatThePeerWouldRefuse) {
  const FrameLimits limits{.max_frame_bytes = 64, .max_body_bytes = 16};
  v1::ProduceRequest body = TwoPartitions();  // more than 16 bytes
  EXPECT_EQ(EncodeFrame(FrameHeader{}, body, {}, limits).status().code(),
            absl::StatusCode::kResourceExhausted);
  const std::vector<std::byte> big(64);
  const std::span<const std::byte> parts[] = {big};
  v1::ProduceRequest small;
  EXPECT_EQ(EncodeFrame(FrameHeader{}, small, parts, limits).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(EncodeFrame(FrameHeader{.flags = 0x40}, small).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace spool::proto
