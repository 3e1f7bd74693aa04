// A real spoold over raw sockets, fed each kind of bad input issue 3 names: a length over the
// limit, bad magic, a body that does not parse, an unknown API key, an unsupported version, a
// produce batch with a bad CRC, a produce to an unknown topic, a fetch past the end, and a
// connection closed mid-frame. Broken framing must close only that connection; everything else
// is an error code in a response. After each case another connection still gets ApiVersions
// answered, and at the end a valid produce/fetch round trip works and the process is alive.
#include <signal.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "proto/body.h"
#include "proto/errors.h"
#include "proto/frame.h"
#include "tests/support/broker_process.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using spool::testing::BrokerProcess;
using spool::testing::BrokerProcessOptions;
using spool::testing::RawClient;
using spool::testing::TempDir;

constexpr int16_t kProduce = proto::ApiKey::API_KEY_PRODUCE;
constexpr int16_t kFetch = proto::ApiKey::API_KEY_FETCH;
constexpr int16_t kMetadata = proto::ApiKey::API_KEY_METADATA;
constexpr int16_t kApiVersions = proto::ApiKey::API_KEY_API_VERSIONS;
constexpr int16_t kCreateTopics = proto::ApiKey::API_KEY_CREATE_TOPICS;

std::vector<std::byte> MakeBatch(int records) {
  record::BatchBuilder b;
  for (int i = 0; i < records; i++) {
    b.Append(1'700'000'000'000 + i, "key-" + std::to_string(i), "value-" + std::to_string(i));
  }
  StatusOr<std::vector<std::byte>> sealed = b.Seal();
  EXPECT_TRUE(sealed.ok()) << sealed.status();
  return sealed.ok() ? *std::move(sealed) : std::vector<std::byte>{};
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BrokerProcessOptions o;
    o.data_dir = dir_.file("data");
    auto p = BrokerProcess::Start(o);
    ASSERT_TRUE(p.ok()) << p.status();
    broker_ = *std::move(p);
  }

  void TearDown() override {
    if (broker_ && broker_->running()) {
      Status st = broker_->Terminate();
      EXPECT_TRUE(st.ok()) << st;
    }
    if (HasFailure() && broker_)
      std::fprintf(stderr, "spoold log:\n%s", broker_->log_tail().c_str());
  }

  std::unique_ptr<RawClient> Connect() {
    auto c = RawClient::Connect(broker_->address());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  // A fresh connection gets its handshake answered: the broker still serves others.
  void ExpectServing() {
    auto c = Connect();
    ASSERT_NE(c, nullptr);
    v1::ApiVersionsRequest req;
    req.set_client_software_name("bad_input_test");
    v1::ApiVersionsResponse resp;
    auto f = c->Call(kApiVersions, req, &resp);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(resp.error_code(), v1::NONE);
    EXPECT_GT(resp.api_keys_size(), 0);
    EXPECT_EQ(::kill(broker_->pid(), 0), 0) << "spoold is gone";
  }

  void CreateTopic(const std::string& name, int partitions) {
    auto c = Connect();
    ASSERT_NE(c, nullptr);
    v1::CreateTopicsRequest req;
    v1::CreatableTopic* t = req.add_topics();
    t->set_name(name);
    t->set_num_partitions(partitions);
    req.set_timeout_ms(10000);
    v1::CreateTopicsResponse resp;
    auto f = c->Call(kCreateTopics, req, &resp);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_EQ(resp.topics_size(), 1);
    ASSERT_EQ(resp.topics(0).error_code(), v1::NONE) << resp.topics(0).error_message();
  }

  // Produces `batch` to topic/partition; returns the partition's response.
  v1::PartitionProduceResponse Produce(RawClient& c, const std::string& topic, int32_t partition,
                                       std::span<const std::byte> batch, int acks = -1) {
    v1::ProduceRequest req;
    req.set_acks(acks);
    req.set_timeout_ms(10000);
    v1::TopicProduceData* t = req.add_topics();
    t->set_name(topic);
    v1::PartitionProduceData* p = t->add_partitions();
    p->set_partition(partition);
    p->set_payload_bytes(static_cast<uint32_t>(batch.size()));
    std::vector<std::span<const std::byte>> payload = {batch};
    v1::ProduceResponse resp;
    auto f = c.Call(kProduce, req, &resp, payload);
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok() || resp.topics_size() != 1 || resp.topics(0).partitions_size() != 1) {
      ADD_FAILURE() << "unexpected produce response: " << resp.ShortDebugString();
      return {};
    }
    return resp.topics(0).partitions(0);
  }

  // Fetches from topic/partition at `offset` (no waiting); returns the partition's response and
  // its payload bytes.
  v1::FetchPartitionResponse Fetch(RawClient& c, const std::string& topic, int32_t partition,
                                   int64_t offset, std::vector<std::byte>* payload = nullptr) {
    v1::FetchRequest req;
    req.set_replica_id(-1);
    req.set_max_wait_ms(0);
    req.set_min_bytes(0);
    req.set_max_bytes(1 << 20);
    v1::FetchTopic* t = req.add_topics();
    t->set_name(topic);
    v1::FetchPartition* p = t->add_partitions();
    p->set_partition(partition);
    p->set_fetch_offset(offset);
    p->set_partition_max_bytes(1 << 20);
    p->set_current_leader_epoch(-1);
    v1::FetchResponse resp;
    auto f = c.Call(kFetch, req, &resp);
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok() || resp.topics_size() != 1 || resp.topics(0).partitions_size() != 1) {
      ADD_FAILURE() << "unexpected fetch response: " << resp.ShortDebugString();
      return {};
    }
    if (payload != nullptr) payload->assign(f->payload().begin(), f->payload().end());
    return resp.topics(0).partitions(0);
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(BadInputTest, LengthOverTheLimitClosesTheConnection) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  proto::FrameHeader h;
  h.api_key = kMetadata;
  h.frame_size = 0x7fff0000;  // 2 GiB: refused from the header, nothing allocated
  h.body_size = 0;
  std::byte header[proto::kFrameHeaderSize];
  proto::EncodeFrameHeader(h, std::span<std::byte, proto::kFrameHeaderSize>(header));
  ASSERT_TRUE(c->SendBytes(header).ok());
  EXPECT_TRUE(c->WaitForClose());
  // The line is written before the socket is shut, so it is there once we see the close.
  EXPECT_NE(broker_->log().find("event=framing_error"), std::string::npos);
  ExpectServing();
}

TEST_F(BadInputTest, BadMagicClosesTheConnection) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->SendBytes(spool::testing::ToBytes("GET / HTTP/1.1\r\n\r\n")).ok());
  EXPECT_TRUE(c->WaitForClose());
  EXPECT_NE(broker_->log().find("bad magic"), std::string::npos) << broker_->log_tail();
  ExpectServing();
}

TEST_F(BadInputTest, BodyThatDoesNotParseIsAnInvalidRequestError) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  // 0xff... is not a valid Protobuf encoding (field 0 / bad wire type).
  const std::vector<std::byte> body(8, std::byte{0xff});
  proto::FrameHeader h = spool::testing::RequestHeader(kMetadata, 41);
  h.body_size = static_cast<uint32_t>(body.size());
  h.frame_size = static_cast<uint32_t>(proto::kFrameHeaderSize + body.size());
  std::vector<std::byte> frame(h.frame_size);
  proto::EncodeFrameHeader(
      h, std::span<std::byte, proto::kFrameHeaderSize>(frame.data(), proto::kFrameHeaderSize));
  std::memcpy(frame.data() + proto::kFrameHeaderSize, body.data(), body.size());
  ASSERT_TRUE(c->SendBytes(frame).ok());
  v1::MetadataResponse resp;
  auto f = c->ReadResponse(&resp);
  EXPECT_EQ(proto::ErrorFromStatus(f.status()), v1::INVALID_REQUEST) << f.status();
  // The connection stays open and usable.
  v1::ApiVersionsResponse av;
  auto ok = c->Call(kApiVersions, v1::ApiVersionsRequest(), &av);
  EXPECT_TRUE(ok.ok()) << ok.status();
  ExpectServing();
}

TEST_F(BadInputTest, UnknownApiKeyAndUnsupportedVersionAreUnsupportedVersionErrors) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  v1::ApiVersionsResponse unused;
  auto unknown = c->Call(/*api_key=*/99, v1::ApiVersionsRequest(), &unused);
  EXPECT_EQ(proto::ErrorFromStatus(unknown.status()), v1::UNSUPPORTED_VERSION) << unknown.status();
  v1::MetadataResponse meta;
  auto version = c->Call(kMetadata, v1::MetadataRequest(), &meta, {}, /*api_version=*/7);
  EXPECT_EQ(proto::ErrorFromStatus(version.status()), v1::UNSUPPORTED_VERSION) << version.status();
  auto still = c->Call(kApiVersions, v1::ApiVersionsRequest(), &unused);
  EXPECT_TRUE(still.ok()) << still.status();
  ExpectServing();
}

TEST_F(BadInputTest, ProduceWithABadCrcIsCorruptMessageAndAppendsNothing) {
  CreateTopic("crc", 1);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  std::vector<std::byte> batch = MakeBatch(3);
  ASSERT_GT(batch.size(), 70u);
  batch[batch.size() - 2] ^= std::byte{0x5a};  // a record byte: the CRC no longer matches
  v1::PartitionProduceResponse r = Produce(*c, "crc", 0, batch);
  EXPECT_EQ(r.error_code(), v1::CORRUPT_MESSAGE) << r.ShortDebugString();
  v1::FetchPartitionResponse f = Fetch(*c, "crc", 0, 0);
  EXPECT_EQ(f.error_code(), v1::NONE);
  EXPECT_EQ(f.high_watermark(), 0);
  EXPECT_EQ(f.payload_bytes(), 0u);
  ExpectServing();
}

TEST_F(BadInputTest, ProduceToAnUnknownTopicIsUnknownTopicOrPartition) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const std::vector<std::byte> batch = MakeBatch(1);
  v1::PartitionProduceResponse r = Produce(*c, "no-such-topic", 0, batch);
  EXPECT_EQ(r.error_code(), v1::UNKNOWN_TOPIC_OR_PARTITION) << r.ShortDebugString();
  ExpectServing();
}

TEST_F(BadInputTest, FetchPastTheEndIsOffsetOutOfRange) {
  CreateTopic("short", 1);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const std::vector<std::byte> batch = MakeBatch(2);
  ASSERT_EQ(Produce(*c, "short", 0, batch).error_code(), v1::NONE);
  v1::FetchPartitionResponse f = Fetch(*c, "short", 0, 100);
  EXPECT_EQ(f.error_code(), v1::OFFSET_OUT_OF_RANGE) << f.ShortDebugString();
  ExpectServing();
}

TEST_F(BadInputTest, ConnectionClosedMidFrameLeavesTheBrokerServing) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  auto frame = proto::EncodeFrame(spool::testing::RequestHeader(kApiVersions, 1),
                                  v1::ApiVersionsRequest(), {});
  ASSERT_TRUE(frame.ok());
  std::vector<std::byte> flat = frame->Flatten();
  flat.resize(proto::kFrameHeaderSize - 3);  // inside the header
  ASSERT_TRUE(c->SendBytes(flat).ok());
  c.reset();  // closed mid-frame
  ExpectServing();
}

TEST_F(BadInputTest, AfterAllOfItAValidRoundTripWorks) {
  // Every bad input, one after the other, on one broker.
  {
    auto c = Connect();
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->SendBytes(spool::testing::ToBytes("\x16\x03\x01 TLS hello")).ok());
    EXPECT_TRUE(c->WaitForClose());
  }
  {
    auto c = Connect();
    ASSERT_NE(c, nullptr);
    v1::ApiVersionsResponse unused;
    auto r = c->Call(/*api_key=*/77, v1::ApiVersionsRequest(), &unused);
    EXPECT_EQ(proto::ErrorFromStatus(r.status()), v1::UNSUPPORTED_VERSION);
  }
  CreateTopic("events", 2);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  std::vector<std::byte> bad = MakeBatch(2);
  bad[bad.size() - 1] ^= std::byte{1};
  EXPECT_EQ(Produce(*c, "events", 1, bad).error_code(), v1::CORRUPT_MESSAGE);
  EXPECT_EQ(Fetch(*c, "events", 1, 5).error_code(), v1::OFFSET_OUT_OF_RANGE);

  const std::vector<std::byte> good = MakeBatch(5);
  v1::PartitionProduceResponse p = Produce(*c, "events", 1, good);
  ASSERT_EQ(p.error_code(), v1::NONE) << p.ShortDebugString();
  EXPECT_EQ(p.base_offset(), 0);
  std::vector<std::byte> got;
  v1::FetchPartitionResponse f = Fetch(*c, "events", 1, 0, &got);
  ASSERT_EQ(f.error_code(), v1::NONE) << f.ShortDebugString();
  EXPECT_EQ(f.high_watermark(), 5);
  ASSERT_EQ(got.size(), good.size());
  // Byte for byte from the magic on (the broker stamps base offset and leader epoch only).
  EXPECT_TRUE(std::equal(good.begin() + 16, good.end(), got.begin() + 16));
  ExpectServing();
  EXPECT_TRUE(broker_->running());
  Status st = broker_->Terminate();
  EXPECT_TRUE(st.ok()) << st;
}

}  // namespace
}  // namespace spool
