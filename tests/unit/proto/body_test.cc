#include "proto/body.h"

#include <vector>

#include "gtest/gtest.h"
#include "proto/errors.h"
#include "proto/frame_decoder.h"
#include "tests/unit/proto/proto_test_util.h"

namespace spool::proto {
namespace {

using testing::Bytes;
using testing::EncodeToBytes;

TEST(Body, EveryApiHasARequestAndAResponseType) {
  for (const ApiVersionSupport& api : SupportedApis()) {
    for (bool response : {false, true}) {
      StatusOr<std::unique_ptr<google::protobuf::Message>> m = NewBody(api.api_key, response);
      ASSERT_TRUE(m.ok()) << api.api_key;
      const std::string name = (*m)->GetTypeName();
      EXPECT_NE(name.find(response ? "Response" : "Request"), std::string::npos) << name;
      EXPECT_TRUE(IsSupported(api.api_key, api.min_version));
      EXPECT_FALSE(IsSupported(api.api_key, static_cast<int16_t>(api.max_version + 1)));
    }
  }
  EXPECT_EQ(NewBody(7, false).status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_FALSE(IsSupported(7, 0));
}

TEST(Body, ErrorResponseEchoesTheRequestAndRoundTrips) {
  const FrameHeader request{.api_key = 77, .api_version = 3, .correlation_id = 9};
  StatusOr<OutgoingFrame> out = EncodeErrorResponse(request, v1::UNSUPPORTED_VERSION, "no API 77");
  ASSERT_TRUE(out.ok()) << out.status();
  FrameDecoder decoder;
  decoder.Feed(out->Flatten());
  StatusOr<std::optional<Frame>> frame = decoder.Next();
  ASSERT_TRUE(frame.ok() && frame->has_value()) << frame.status();
  const FrameHeader& h = (*frame)->header();
  EXPECT_TRUE(h.is_response());
  EXPECT_TRUE(h.is_error());
  EXPECT_EQ(h.api_key, 77);
  EXPECT_EQ(h.api_version, 3);
  EXPECT_EQ(h.correlation_id, 9);
  Status st = ErrorResponseStatus(h, (*frame)->body());
  EXPECT_EQ(ErrorFromStatus(st), v1::UNSUPPORTED_VERSION) << st;
  EXPECT_NE(st.message().find("no API 77"), std::string_view::npos) << st;
  v1::ErrorResponse body;
  ASSERT_TRUE(ParseBody((*frame)->body(), &body).ok());
  EXPECT_EQ(static_cast<size_t>(body.supported_size()), SupportedApis().size());
  EXPECT_TRUE(DecodeOneFrameForFuzz(out->Flatten()).ok());

  // A normal response is OK; INVALID_REQUEST carries no API list.
  EXPECT_TRUE(ErrorResponseStatus(FrameHeader{.flags = kFlagResponse}, {}).ok());
  StatusOr<OutgoingFrame> bad = EncodeErrorResponse(request, v1::INVALID_REQUEST, "garbled");
  ASSERT_TRUE(bad.ok());
  v1::ErrorResponse bad_body;
  ASSERT_TRUE(ParseBody(bad->prefix().subspan(kFrameHeaderSize), &bad_body).ok());
  EXPECT_EQ(bad_body.supported_size(), 0);
  EXPECT_EQ(bad_body.error_code(), v1::INVALID_REQUEST);
}

TEST(Body, ErrorFlagOnARequestIsAFramingError) {
  std::vector<std::byte> bytes(kFrameHeaderSize);
  EncodeFrameHeader(FrameHeader{.flags = kFlagError},
                    std::span<std::byte, kFrameHeaderSize>(bytes));
  EXPECT_FALSE(CheckHeaderPrefix(bytes).ok());
  EXPECT_FALSE(EncodeFrame(FrameHeader{.flags = kFlagError}, v1::ApiVersionsRequest()).ok());
}

TEST(Body, MalformedBodyIsAClearStatus) {
  // Field 1 as a length-delimited string claiming 100 bytes, with 1 present.
  const std::vector<std::byte> garbage = {std::byte{0x0a}, std::byte{100}, std::byte{'x'}};
  StatusOr<std::unique_ptr<google::protobuf::Message>> m =
      ParseFrameBody(FrameHeader{.api_key = v1::API_KEY_METADATA, .body_size = 3}, garbage);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("spool.v1.MetadataRequest"), std::string_view::npos)
      << m.status();
}

TEST(Body, ParsesARequestBody) {
  v1::MetadataRequest req;
  *req.add_topics() = std::string(1, 'a');
  req.set_all_topics(false);
  const std::string wire = req.SerializeAsString();
  const auto* p = reinterpret_cast<const std::byte*>(wire.data());
  StatusOr<std::unique_ptr<google::protobuf::Message>> m =
      ParseFrameBody(FrameHeader{.api_key = v1::API_KEY_METADATA}, std::span(p, wire.size()));
  ASSERT_TRUE(m.ok()) << m.status();
  const auto* parsed = dynamic_cast<const v1::MetadataRequest*>(m->get());
  ASSERT_NE(parsed, nullptr);
  EXPECT_EQ(parsed->topics(0), "a");
}

v1::ProduceRequest Produce(std::initializer_list<uint32_t> lengths) {
  v1::ProduceRequest r;
  r.set_acks(-1);
  auto* t = r.add_topics();
  t->set_name("t");
  int32_t i = 0;
  for (uint32_t n : lengths) {
    auto* p = t->add_partitions();
    p->set_partition(i++);
    p->set_payload_bytes(n);
  }
  return r;
}

TEST(Body, SplitsAProducePayloadInPlace) {
  const std::vector<std::byte> payload = Bytes("aaabbbbbcc");
  // The request outlives the result: PartitionPayload::topic points into it.
  const v1::ProduceRequest request = Produce({3, 5, 0, 2});
  StatusOr<std::vector<PartitionPayload>> parts = SplitPayload(request, payload);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 4u);
  EXPECT_EQ((*parts)[0].bytes.data(), payload.data());
  EXPECT_EQ((*parts)[1].bytes.data(), payload.data() + 3);
  EXPECT_EQ((*parts)[1].bytes.size(), 5u);
  EXPECT_TRUE((*parts)[2].bytes.empty());
  EXPECT_EQ((*parts)[3].partition, 3);
  EXPECT_EQ((*parts)[3].topic, "t");
}

TEST(Body, PayloadLengthsMustAddUpExactly) {
  const std::vector<std::byte> payload = Bytes("0123456789");
  const v1::ProduceRequest short_request = Produce({3, 5});
  const v1::ProduceRequest long_request = Produce({3, 8});
  const v1::ProduceRequest overflowing = Produce({0xffffffffu, 0xffffffffu});
  EXPECT_EQ(SplitPayload(short_request, payload).status().code(),
            absl::StatusCode::kInvalidArgument);  // 2 bytes left over
  EXPECT_EQ(SplitPayload(long_request, payload).status().code(),
            absl::StatusCode::kInvalidArgument);          // claims more than there is
  EXPECT_FALSE(SplitPayload(overflowing, payload).ok());  // no overflow
}

TEST(Body, SplitsAFetchResponsePayload) {
  v1::FetchResponse r;
  auto* t = r.add_topics();
  t->set_name("x");
  t->add_partitions()->set_payload_bytes(2);
  t->add_partitions()->set_payload_bytes(1);
  const std::vector<std::byte> payload = Bytes("abc");
  StatusOr<std::vector<PartitionPayload>> parts = SplitPayload(r, payload);
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ((*parts)[1].bytes.data(), payload.data() + 2);
}

TEST(Body, FuzzEntryAcceptsValidStreamsAndRejectsBadOnes) {
  const std::vector<std::byte> payload = Bytes("abc");
  const std::span<const std::byte> parts[] = {payload};
  const std::vector<std::byte> good =
      EncodeToBytes(FrameHeader{.api_key = v1::API_KEY_PRODUCE}, Produce({3}), parts);
  EXPECT_TRUE(DecodeOneFrameForFuzz(good).ok());
  // Lengths that do not match the payload.
  const std::vector<std::byte> mismatched =
      EncodeToBytes(FrameHeader{.api_key = v1::API_KEY_PRODUCE}, Produce({2}), parts);
  EXPECT_FALSE(DecodeOneFrameForFuzz(mismatched).ok());
  // A payload on an API that takes none.
  const std::vector<std::byte> stray =
      EncodeToBytes(FrameHeader{.api_key = v1::API_KEY_METADATA}, v1::MetadataRequest(), parts);
  EXPECT_FALSE(DecodeOneFrameForFuzz(stray).ok());
  // Truncated.
  EXPECT_FALSE(DecodeOneFrameForFuzz(std::span(good).first(good.size() - 1)).ok());
  // Unknown API key.
  const std::vector<std::byte> unknown =
      EncodeToBytes(FrameHeader{.api_key = 99}, v1::MetadataRequest());
  EXPECT_EQ(DecodeOneFrameForFuzz(unknown).code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(DecodeOneFrameForFuzz({}).ok());
}

}  // namespace
}  // namespace spool::proto
