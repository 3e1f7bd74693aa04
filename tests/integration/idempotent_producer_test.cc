// The idempotent producer against a real spoold on loopback (tests/support/broker_process.h):
// InitProducerId over the wire, and the batches the broker stored carry the producer id, epoch 0
// and per-partition base sequences from 0 without gaps; two producers get different ids; with
// acks=1 idempotence is off and batches carry no producer id. Batches are read back with raw
// Fetch requests (RawClient), so the test depends on the broker and the producer only.
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_header.h"
#include "producer/producer.h"
#include "proto/admin.pb.h"
#include "proto/api.pb.h"
#include "proto/body.h"
#include "proto/errors.h"
#include "proto/fetch.pb.h"
#include "tests/support/broker_process.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using std::chrono::milliseconds;

class IdempotentProducerTest : public ::testing::Test {
 public:
  void SetUp() override {
    auto broker = testing::BrokerProcess::Start({.data_dir = dir_.file("data")});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = *std::move(broker);
    // As in producer_test.cc: a broker started on port 0 advertises port 0 until it is
    // restarted on the port it got.
    ASSERT_TRUE(broker_->Terminate().ok());
    Status restarted = broker_->Restart();
    ASSERT_TRUE(restarted.ok()) << restarted;
    auto client = testing::RawClient::Connect(broker_->address());
    ASSERT_TRUE(client.ok()) << client.status();
    raw_ = *std::move(client);
    v1::ApiVersionsRequest hello;
    v1::ApiVersionsResponse versions;
    ASSERT_TRUE(Call(proto::ApiKey::API_KEY_API_VERSIONS, hello, &versions).ok());
  }
  void TearDown() override {
    if (HasFailure() && broker_) std::cerr << "spoold log:\n" << broker_->log_tail(60) << "\n";
  }

  Status Call(proto::ApiKey api, const google::protobuf::MessageLite& request,
              google::protobuf::Message* response) {
    RETURN_IF_ERROR(raw_->SendRequest(api, ++correlation_, request));
    return raw_->ReadResponse(response, milliseconds(30000)).status();
  }

  void CreateTopic(const std::string& name, int partitions) {
    v1::CreateTopicsRequest request;
    v1::CreatableTopic* t = request.add_topics();
    t->set_name(name);
    t->set_num_partitions(partitions);
    t->set_replication_factor(1);
    request.set_timeout_ms(30000);
    v1::CreateTopicsResponse response;
    Status st = Call(proto::ApiKey::API_KEY_CREATE_TOPICS, request, &response);
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_EQ(response.topics(0).error_code(), proto::ErrorCode::NONE)
        << response.topics(0).error_message();
  }

  // The headers of every batch of a partition, from offset 0 to the high watermark.
  std::vector<record::BatchHeader> Headers(const std::string& topic, int32_t partition) {
    std::vector<record::BatchHeader> out;
    int64_t next = 0;
    for (int round = 0; round < 1000; ++round) {
      v1::FetchRequest request;
      request.set_replica_id(-1);
      request.set_max_wait_ms(0);
      request.set_min_bytes(1);
      request.set_max_bytes(16 << 20);
      v1::FetchPartition* p = request.add_topics()->add_partitions();
      request.mutable_topics(0)->set_name(topic);
      p->set_partition(partition);
      p->set_fetch_offset(next);
      p->set_partition_max_bytes(8 << 20);
      p->set_current_leader_epoch(-1);
      Status sent = raw_->SendRequest(proto::ApiKey::API_KEY_FETCH, ++correlation_, request);
      EXPECT_TRUE(sent.ok()) << sent;
      v1::FetchResponse response;
      StatusOr<proto::Frame> frame = raw_->ReadResponse(&response, milliseconds(30000));
      EXPECT_TRUE(frame.ok()) << frame.status();
      if (!sent.ok() || !frame.ok()) return out;
      auto parts = proto::SplitPayload(response, frame->payload());
      EXPECT_TRUE(parts.ok()) << parts.status();
      if (!parts.ok() || parts->size() != 1) return out;
      const v1::FetchPartitionResponse& pr = response.topics(0).partitions(0);
      EXPECT_EQ(pr.error_code(), proto::ErrorCode::NONE);
      std::span<const std::byte> bytes = (*parts)[0].bytes;
      while (!bytes.empty()) {
        StatusOr<record::BatchHeader> h = record::ParseHeader(bytes);
        if (!h.ok() || h->total_size() > bytes.size()) break;
        if (h->base_offset >= next) out.push_back(*h);
        next = h->last_offset() + 1;
        bytes = bytes.subspan(h->total_size());
      }
      if (next >= pr.high_watermark()) return out;
    }
    ADD_FAILURE() << "reading " << topic << "-" << partition << " did not finish";
    return out;
  }

  ProducerConfig Config() {
    ProducerConfig c;
    c.bootstrap_servers = broker_->address().ToString();
    c.max_block_ms = 10000;
    c.retry_backoff_ms = 50;
    c.request_timeout_ms = 10000;
    c.delivery_timeout_ms = 30000;
    c.batch_size = 512;  // many batches
    return c;
  }

  // Sends `n` records round-robin over `partitions` and waits for every callback.
  void SendAll(Producer& p, const std::string& topic, int n, int partitions) {
    std::vector<std::future<StatusOr<RecordMetadata>>> acks;
    for (int i = 0; i < n; ++i) {
      ProducerRecord r;
      r.topic = topic;
      r.partition = i % partitions;
      r.value = "record-" + std::to_string(i);
      acks.push_back(p.send(r));
    }
    for (auto& a : acks) {
      StatusOr<RecordMetadata> m = a.get();
      ASSERT_TRUE(m.ok()) << m.status();
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::unique_ptr<testing::RawClient> raw_;
  int32_t correlation_ = 0;
};

TEST_F(IdempotentProducerTest, StoredBatchesCarryTheIdAndGaplessSequences) {
  CreateTopic("idem", 2);
  {
    auto first = Producer::Create(Config());
    ASSERT_TRUE(first.ok()) << first.status();
    SendAll(**first, "idem", 400, 2);
    (*first)->close();
  }
  std::map<int64_t, int> ids;  // producer id -> batches
  for (int32_t partition = 0; partition < 2; ++partition) {
    std::vector<record::BatchHeader> headers = Headers("idem", partition);
    ASSERT_GT(headers.size(), 2u);
    int32_t next = 0;
    int records = 0;
    for (const record::BatchHeader& h : headers) {
      EXPECT_GE(h.producer_id, 0);
      EXPECT_EQ(h.producer_epoch, 0);
      EXPECT_EQ(h.base_sequence, next) << "partition " << partition << " offset " << h.base_offset;
      next = h.base_sequence + h.last_offset_delta + 1;
      records += h.records_count;
      ++ids[h.producer_id];
    }
    EXPECT_EQ(records, 200);
  }
  EXPECT_EQ(ids.size(), 1u) << "one producer, one id";

  // With acks=1 idempotence is off; a second producer gets another id. (The second one's
  // acks=all records, sent after, move the high watermark past the acks=1 ones.)
  ProducerConfig plain_config = Config();
  plain_config.acks = 1;
  auto plain = Producer::Create(plain_config);
  ASSERT_TRUE(plain.ok()) << plain.status();
  SendAll(**plain, "idem", 10, 1);
  (*plain)->close();
  auto second = Producer::Create(Config());
  ASSERT_TRUE(second.ok()) << second.status();
  SendAll(**second, "idem", 10, 1);
  (*second)->close();
  std::vector<record::BatchHeader> headers = Headers("idem", 0);
  bool saw_second = false;
  bool saw_plain = false;
  for (const record::BatchHeader& h : headers) {
    if (h.producer_id >= 0 && ids.count(h.producer_id) == 0) {
      saw_second = true;
      EXPECT_EQ(h.producer_epoch, 0);
    }
    if (h.producer_id == -1) {
      saw_plain = true;
      EXPECT_EQ(h.base_sequence, -1);
    }
  }
  EXPECT_TRUE(saw_second);
  EXPECT_TRUE(saw_plain);
}

}  // namespace
}  // namespace spool
