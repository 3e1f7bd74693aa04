// What the dispatcher does with requests it cannot serve (proto/README.md limits table):
// unsupported versions and unknown keys, bodies that do not parse, payloads where none belongs,
// produce payloads that do not add up, and random garbage (never a crash; the broker keeps
// serving afterwards). The random test takes its seed from TestSeed().
#include <random>

#include "gtest/gtest.h"
#include "proto/errors.h"
#include "tests/support/broker_test_util.h"
#include "tests/support/test_env.h"

namespace spool::testing {
namespace {

using v1::ErrorCode;

v1::ErrorResponse ErrorBody(const Reply& r) {
  EXPECT_TRUE(r.is_error());
  return r.As<v1::ErrorResponse>();
}

class HandlerErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h_.Open().ok());
    ASSERT_EQ(h_.CreateTopic("events", 2).topics(0).error_code(), ErrorCode::NONE);
  }
  void ExpectStillServing() {
    std::vector<std::byte> batch = MakeBatch(1);
    auto pr = h_.Produce("events", 0, batch, -1);
    ASSERT_TRUE(pr.has_value());
    EXPECT_EQ(pr->error_code(), ErrorCode::NONE);
  }
  BrokerHarness h_;
};

TEST_F(HandlerErrorsTest, UnsupportedVersionAndUnknownKey) {
  v1::MetadataRequest md;
  std::optional<Reply> r = h_.Call(MakeFrame(v1::API_KEY_METADATA, md, {}, 7));
  ASSERT_TRUE(r.has_value());
  v1::ErrorResponse e = ErrorBody(*r);
  EXPECT_EQ(e.error_code(), ErrorCode::UNSUPPORTED_VERSION);
  EXPECT_GT(e.supported_size(), 0);
  EXPECT_EQ(r->header.api_version, 7);
  EXPECT_EQ(r->header.correlation_id, 1);

  r = h_.Call(MakeFrame(99, md));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(ErrorBody(*r).error_code(), ErrorCode::UNSUPPORTED_VERSION);

  // ApiVersions at an unknown version: its own response, at version 0, with the list.
  v1::ApiVersionsRequest av;
  r = h_.Call(MakeFrame(v1::API_KEY_API_VERSIONS, av, {}, 3));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->is_error());
  EXPECT_EQ(r->header.api_version, 0);
  auto resp = r->As<v1::ApiVersionsResponse>();
  EXPECT_EQ(resp.error_code(), ErrorCode::UNSUPPORTED_VERSION);
  EXPECT_EQ(static_cast<size_t>(resp.api_keys_size()), proto::SupportedApis().size());
  ExpectStillServing();
}

TEST_F(HandlerErrorsTest, MalformedBodyIsInvalidRequest) {
  const std::vector<std::byte> garbage = {std::byte{0xff}, std::byte{0xff}, std::byte{0xff}};
  for (int16_t key : {0, 1, 2, 3, 18, 19, 20}) {
    std::optional<Reply> r = h_.Call(MakeRawFrame(key, garbage));
    ASSERT_TRUE(r.has_value()) << key;
    EXPECT_EQ(ErrorBody(*r).error_code(), ErrorCode::INVALID_REQUEST) << key;
  }
  ExpectStillServing();
}

TEST_F(HandlerErrorsTest, PayloadWhereNoneBelongsIsInvalidRequest) {
  v1::MetadataRequest md;
  const std::vector<std::byte> extra(10);
  std::optional<Reply> r = h_.Call(MakeFrame(v1::API_KEY_METADATA, md, extra));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(ErrorBody(*r).error_code(), ErrorCode::INVALID_REQUEST);
}

TEST_F(HandlerErrorsTest, ProducePayloadThatDoesNotAddUpIsInvalidRequest) {
  std::vector<std::byte> batch = MakeBatch(1);
  v1::ProduceRequest req;
  req.set_acks(1);
  auto* t = req.add_topics();
  t->set_name("events");
  auto* p = t->add_partitions();
  p->set_partition(0);
  p->set_payload_bytes(static_cast<uint32_t>(batch.size() + 1));
  std::optional<Reply> r = h_.Call(MakeFrame(v1::API_KEY_PRODUCE, req, batch));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(ErrorBody(*r).error_code(), ErrorCode::INVALID_REQUEST);
  EXPECT_EQ(h_.ListOffset("events", 0, v1::OFFSET_SPEC_LATEST).offset(), 0);
}

TEST_F(HandlerErrorsTest, TransactionalProduceIsRefused) {
  std::vector<std::byte> batch = MakeBatch(1);
  v1::ProduceRequest req;
  req.set_acks(1);
  req.set_transactional_id("tx");
  auto* t = req.add_topics();
  t->set_name("events");
  auto* p = t->add_partitions();
  p->set_partition(0);
  p->set_payload_bytes(static_cast<uint32_t>(batch.size()));
  std::optional<Reply> r = h_.Call(MakeFrame(v1::API_KEY_PRODUCE, req, batch));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->As<v1::ProduceResponse>().topics(0).partitions(0).error_code(),
            ErrorCode::INVALID_REQUEST);
  EXPECT_EQ(h_.ListOffset("events", 0, v1::OFFSET_SPEC_LATEST).offset(), 0);
}

TEST_F(HandlerErrorsTest, StaleLeaderEpochIsFenced) {
  v1::FetchRequest req;
  auto* t = req.add_topics();
  t->set_name("events");
  auto* p = t->add_partitions();
  p->set_partition(0);
  p->set_current_leader_epoch(5);
  std::optional<Reply> r = h_.Call(MakeFrame(v1::API_KEY_FETCH, req));
  ASSERT_TRUE(r.has_value());
  auto fp = r->As<v1::FetchResponse>().topics(0).partitions(0);
  EXPECT_EQ(fp.error_code(), ErrorCode::UNKNOWN_LEADER_EPOCH);
  EXPECT_EQ(fp.current_leader_epoch(), 0);
}

TEST_F(HandlerErrorsTest, RandomBodiesAndPayloadsNeverCrash) {
  const uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  const int16_t keys[] = {0, 1, 2, 3, 18, 19, 20, 4, -1};
  for (int i = 0; i < 300; i++) {
    const int16_t key = keys[rng() % std::size(keys)];
    std::vector<std::byte> body(rng() % 64);
    for (auto& b : body) b = static_cast<std::byte>(rng());
    std::vector<std::byte> payload;
    if (key == 0 && rng() % 2 == 0) {
      payload = MakeBatch(1 + static_cast<int>(rng() % 3));
      if (!payload.empty() && rng() % 2 == 0) payload[rng() % payload.size()] ^= std::byte{0x10};
    }
    const int16_t version = rng() % 8 == 0 ? 1 : 0;
    std::optional<Reply> r = h_.Call(MakeRawFrame(key, body, payload, version));
    if (r.has_value()) {
      EXPECT_TRUE(r->header.is_response());
      EXPECT_EQ(r->header.api_key, key);
    }
  }
  ExpectStillServing();
}

}  // namespace
}  // namespace spool::testing
