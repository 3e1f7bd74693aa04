// The consumer library against a real spoold on loopback (tests/support/broker_process.h).
// Records are produced with BatchBuilder and raw Produce requests (RawClient), so these tests
// depend on the broker and the consumer only. Covered: seek semantics (beginning, end, the
// middle of a batch, past the end under each reset policy), poll across segment boundaries,
// long-poll wake-up on produce, several partitions, a large number of records in order with
// nothing missing, and a consume-throughput figure (printed, not asserted: a test is no
// benchmark).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consumer/consumer.h"
#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "proto/admin.pb.h"
#include "proto/api.pb.h"
#include "proto/body.h"
#include "proto/errors.h"
#include "proto/metadata.pb.h"
#include "proto/produce.pb.h"
#include "tests/support/broker_process.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The value of the record at `offset`: "v<offset>" padded with '.' to `size` bytes.
std::string ValueFor(int64_t offset, size_t size) {
  std::string v = absl::StrCat("v", offset);
  if (v.size() < size) v.resize(size, '.');
  return v;
}

class ConsumerIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<testing::BrokerProcess>> broker =
        testing::BrokerProcess::Start({.data_dir = dir_.file("data")});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = *std::move(broker);
    StatusOr<std::unique_ptr<testing::RawClient>> client =
        testing::RawClient::Connect(broker_->address());
    ASSERT_TRUE(client.ok()) << client.status();
    admin_ = *std::move(client);
    v1::ApiVersionsRequest hello;
    hello.set_client_software_name("consumer_test");
    v1::ApiVersionsResponse versions;
    ASSERT_TRUE(Call(proto::ApiKey::API_KEY_API_VERSIONS, hello, {}, &versions).ok());
    // The consumer connects to the leaders named by Metadata, so that must be where spoold
    // listens (with --listen 127.0.0.1:0, the port it was given by the kernel).
    v1::MetadataRequest metadata;
    metadata.set_all_topics(true);
    v1::MetadataResponse brokers;
    ASSERT_TRUE(Call(proto::ApiKey::API_KEY_METADATA, metadata, {}, &brokers).ok());
    ASSERT_EQ(brokers.brokers_size(), 1);
    ASSERT_EQ(brokers.brokers(0).port(), broker_->port())
        << "Metadata advertises a port the broker does not listen on";
  }

  void TearDown() override {
    if (HasFailure() && broker_) std::cerr << "spoold log:\n" << broker_->log_tail(60) << "\n";
  }

  Status Call(proto::ApiKey api, const google::protobuf::MessageLite& request,
              std::span<const std::span<const std::byte>> payload,
              google::protobuf::Message* response) {
    RETURN_IF_ERROR(admin_->SendRequest(api, ++correlation_, request, payload));
    return admin_->ReadResponse(response, milliseconds(30000)).status();
  }

  void CreateTopic(const std::string& name, int partitions,
                   std::map<std::string, std::string> configs = {}) {
    v1::CreateTopicsRequest request;
    v1::CreatableTopic* t = request.add_topics();
    t->set_name(name);
    t->set_num_partitions(partitions);
    t->set_replication_factor(1);
    for (const auto& [k, v] : configs) (*t->mutable_configs())[k] = v;
    request.set_timeout_ms(30000);
    v1::CreateTopicsResponse response;
    Status st = Call(proto::ApiKey::API_KEY_CREATE_TOPICS, request, {}, &response);
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_EQ(response.topics_size(), 1);
    ASSERT_EQ(response.topics(0).error_code(), proto::ErrorCode::NONE)
        << response.topics(0).error_message();
  }

  // Produces `batches` batches of `per_batch` records (acks=all) to `tp`, whose next offset the
  // test tracks, so each value names its offset. Returns the first offset produced.
  int64_t Produce(const TopicPartition& tp, int batches, int per_batch, size_t value_size = 16) {
    int64_t& next = next_offset_[tp];
    const int64_t first = next;
    for (int b = 0; b < batches; ++b) {
      record::BatchBuilder builder;
      for (int i = 0; i < per_batch; ++i) {
        const int64_t offset = next + i;
        builder.Append(1'700'000'000'000 + offset, absl::StrCat("k", offset),
                       ValueFor(offset, value_size));
      }
      StatusOr<std::vector<std::byte>> batch = builder.Seal();
      EXPECT_TRUE(batch.ok()) << batch.status();
      if (!batch.ok()) return first;
      v1::ProduceRequest request;
      request.set_acks(-1);
      request.set_timeout_ms(30000);
      v1::TopicProduceData* t = request.add_topics();
      t->set_name(tp.topic);
      v1::PartitionProduceData* p = t->add_partitions();
      p->set_partition(tp.partition);
      p->set_payload_bytes(static_cast<uint32_t>(batch->size()));
      const std::span<const std::byte> payload[] = {*batch};
      v1::ProduceResponse response;
      Status st = Call(proto::ApiKey::API_KEY_PRODUCE, request, payload, &response);
      EXPECT_TRUE(st.ok()) << st;
      if (!st.ok() || response.topics_size() != 1 || response.topics(0).partitions_size() != 1) {
        ADD_FAILURE() << "bad produce response: " << response.DebugString();
        return first;
      }
      const v1::PartitionProduceResponse& r = response.topics(0).partitions(0);
      EXPECT_EQ(r.error_code(), proto::ErrorCode::NONE) << r.error_message();
      EXPECT_EQ(r.base_offset(), next);
      next += per_batch;
    }
    return first;
  }

  ConsumerConfig Config(OffsetResetPolicy policy = OffsetResetPolicy::kEarliest) {
    ConsumerConfig c;
    c.bootstrap_servers = {broker_->address().ToString()};
    c.auto_offset_reset = policy;
    c.request_timeout_ms = 10000;
    return c;
  }

  std::unique_ptr<Consumer> MakeConsumer(ConsumerConfig config) {
    StatusOr<std::unique_ptr<Consumer>> c = Consumer::Create(std::move(config));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  // Polls until `n` records came (or the deadline passed); copies them out.
  std::vector<OwnedRecord> PollN(Consumer& consumer, size_t n,
                                 milliseconds timeout = milliseconds(30000)) {
    std::vector<OwnedRecord> out;
    const auto deadline = Clock::now() + timeout;
    while (out.size() < n && Clock::now() < deadline) {
      StatusOr<ConsumerRecords> records = consumer.poll(milliseconds(200));
      EXPECT_TRUE(records.ok()) << records.status();
      if (!records.ok()) break;
      for (const ConsumerRecord& r : *records) out.push_back(r.ToOwned());
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::unique_ptr<testing::RawClient> admin_;
  int32_t correlation_ = 0;
  std::map<TopicPartition, int64_t> next_offset_;
};

void ExpectContiguous(const std::vector<OwnedRecord>& records, int64_t from, int64_t to,
                      size_t value_size = 16) {
  ASSERT_EQ(records.size(), static_cast<size_t>(to - from));
  for (int64_t o = from; o < to; ++o) {
    const OwnedRecord& r = records[static_cast<size_t>(o - from)];
    ASSERT_EQ(r.offset, o);
    ASSERT_EQ(r.key, absl::StrCat("k", o));
    ASSERT_EQ(r.value, ValueFor(o, value_size));
    ASSERT_EQ(r.timestamp, 1'700'000'000'000 + o);
  }
}

TEST_F(ConsumerIntegrationTest, SeekSemantics) {
  const TopicPartition tp{"seek", 0};
  CreateTopic(tp.topic, 1);
  Produce(tp, 10, 10);  // offsets 0..99, batches of 10
  std::unique_ptr<Consumer> consumer = MakeConsumer(Config(OffsetResetPolicy::kEarliest));
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(consumer->assign({tp}).ok());
  EXPECT_EQ(consumer->assignment(), std::vector<TopicPartition>{tp});

  StatusOr<int64_t> position = consumer->position(tp);
  ASSERT_TRUE(position.ok()) << position.status();
  EXPECT_EQ(*position, 0) << "earliest";
  ExpectContiguous(PollN(*consumer, 100), 0, 100);
  EXPECT_EQ(consumer->position(tp).value_or(-1), 100);
  StatusOr<std::pair<int64_t, int64_t>> marks = consumer->watermarks(tp);
  ASSERT_TRUE(marks.ok());
  EXPECT_EQ(marks->first, 100);
  EXPECT_EQ(marks->second, 0);

  // The middle of a batch: the head of the batch (50..54) is skipped.
  ASSERT_TRUE(consumer->seek(tp, 55).ok());
  EXPECT_EQ(consumer->position(tp).value_or(-1), 55);
  ExpectContiguous(PollN(*consumer, 45), 55, 100);

  ASSERT_TRUE(consumer->seek_to_beginning({tp}).ok());
  EXPECT_EQ(consumer->position(tp).value_or(-1), 0);
  std::vector<OwnedRecord> head = PollN(*consumer, 100);
  ASSERT_FALSE(head.empty());
  EXPECT_EQ(head.front().offset, 0);

  ASSERT_TRUE(consumer->seek_to_end({}).ok());
  EXPECT_EQ(consumer->position(tp).value_or(-1), 100);
  StatusOr<ConsumerRecords> none = consumer->poll(milliseconds(300));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());

  // Past the end: OFFSET_OUT_OF_RANGE, then the policy (earliest) starts over at 0.
  ASSERT_TRUE(consumer->seek(tp, 1000).ok());
  std::vector<OwnedRecord> reset = PollN(*consumer, 1);
  ASSERT_FALSE(reset.empty());
  EXPECT_EQ(reset.front().offset, 0);

  // Not assigned / bad offset.
  EXPECT_EQ(consumer->seek({"seek", 7}, 0).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(consumer->seek(tp, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(consumer->close().ok());
  EXPECT_EQ(consumer->poll(milliseconds(0)).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ConsumerIntegrationTest, PastTheEndUnderLatestAndNone) {
  const TopicPartition tp{"policies", 0};
  CreateTopic(tp.topic, 1);
  Produce(tp, 3, 5);  // 0..14
  {
    std::unique_ptr<Consumer> latest = MakeConsumer(Config(OffsetResetPolicy::kLatest));
    ASSERT_NE(latest, nullptr);
    ASSERT_TRUE(latest->assign({tp}).ok());
    EXPECT_EQ(latest->position(tp).value_or(-1), 15) << "latest starts at the high watermark";
    ASSERT_TRUE(latest->seek(tp, 500).ok());
    // poll() meets OFFSET_OUT_OF_RANGE and resets to latest: 15. Wait for that before producing
    // (a reset to "latest" after the produce would land on 16).
    const auto deadline = Clock::now() + milliseconds(20000);
    int64_t position = 500;
    while (position == 500 && Clock::now() < deadline) {
      StatusOr<ConsumerRecords> none = latest->poll(milliseconds(100));
      ASSERT_TRUE(none.ok()) << none.status();
      EXPECT_TRUE(none->empty());
      position = latest->position(tp).value_or(-1);
    }
    ASSERT_EQ(position, 15);
    Produce(tp, 1, 1);  // 15, the next one returned
    std::vector<OwnedRecord> got = PollN(*latest, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].offset, 15);
  }
  {
    std::unique_ptr<Consumer> none = MakeConsumer(Config(OffsetResetPolicy::kNone));
    ASSERT_NE(none, nullptr);
    ASSERT_TRUE(none->assign({tp}).ok());
    EXPECT_EQ(none->position(tp).status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_EQ(none->poll(milliseconds(10)).status().code(), absl::StatusCode::kOutOfRange);
    ASSERT_TRUE(none->seek(tp, 12).ok());
    ExpectContiguous(PollN(*none, 4), 12, 16);
    ASSERT_TRUE(none->seek(tp, 99).ok());
    Status error;
    const auto deadline = Clock::now() + milliseconds(20000);
    while (error.ok() && Clock::now() < deadline) {
      StatusOr<ConsumerRecords> r = none->poll(milliseconds(200));
      if (!r.ok())
        error = r.status();
      else
        EXPECT_TRUE(r->empty());
    }
    EXPECT_EQ(error.code(), absl::StatusCode::kOutOfRange) << error;
    EXPECT_EQ(none->position(tp).value_or(-1), 99) << "the position stays; seek() to go on";
  }
}

TEST_F(ConsumerIntegrationTest, PollAcrossSegmentBoundaries) {
  const TopicPartition tp{"segments", 0};
  // 1 KiB segments: every batch of 5 records of 100 B (~700 B) rolls a segment or two.
  CreateTopic(tp.topic, 1, {{"segment.bytes", "1024"}});
  Produce(tp, 60, 5, 100);
  ConsumerConfig config = Config();
  config.max_poll_records = 7;              // polls end inside batches
  config.max_partition_fetch_bytes = 2048;  // fetches end inside segments
  std::unique_ptr<Consumer> consumer = MakeConsumer(config);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(consumer->assign({tp}).ok());
  ExpectContiguous(PollN(*consumer, 300), 0, 300, 100);
  // And from the middle of a later segment.
  ASSERT_TRUE(consumer->seek(tp, 203).ok());
  ExpectContiguous(PollN(*consumer, 97), 203, 300, 100);
}

TEST_F(ConsumerIntegrationTest, LongPollReturnsAsSoonAsDataIsProduced) {
  const TopicPartition tp{"longpoll", 0};
  CreateTopic(tp.topic, 1);
  Produce(tp, 1, 3);
  ConsumerConfig config = Config(OffsetResetPolicy::kLatest);
  config.fetch_max_wait_ms = 20000;  // the broker would hold the fetch this long without data
  std::unique_ptr<Consumer> consumer = MakeConsumer(config);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(consumer->assign({tp}).ok());
  ASSERT_EQ(consumer->position(tp).value_or(-1), 3);
  // Nothing there: the fetch is parked at the broker now.
  StatusOr<ConsumerRecords> empty = consumer->poll(milliseconds(300));
  ASSERT_TRUE(empty.ok()) << empty.status();
  ASSERT_TRUE(empty->empty());

  const auto start = Clock::now();
  Produce(tp, 1, 2);  // 3, 4
  std::vector<OwnedRecord> got = PollN(*consumer, 2, milliseconds(15000));
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  ExpectContiguous(got, 3, 5);
  EXPECT_LT(waited.count(), 5000) << "the long poll should wake on produce, not at max wait";
  std::cout << "long poll woke after " << waited.count() << " ms\n";
}

TEST_F(ConsumerIntegrationTest, SeveralPartitions) {
  const std::string topic = "multi";
  constexpr int kPartitions = 4;
  CreateTopic(topic, kPartitions);
  std::vector<TopicPartition> tps;
  std::map<int32_t, int64_t> expected;
  for (int p = 0; p < kPartitions; ++p) {
    tps.push_back({topic, p});
    Produce(tps.back(), p + 1, 10 * (p + 1));
    expected[p] = (p + 1) * 10 * (p + 1);
  }
  std::unique_ptr<Consumer> consumer = MakeConsumer(Config());
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(consumer->assign(tps).ok());
  size_t total = 0;
  for (const auto& [p, n] : expected) total += static_cast<size_t>(n);
  std::vector<OwnedRecord> all = PollN(*consumer, total);
  std::map<int32_t, std::vector<OwnedRecord>> by_partition;
  for (OwnedRecord& r : all) {
    EXPECT_EQ(r.topic, topic);
    by_partition[r.partition].push_back(std::move(r));
  }
  for (const auto& [p, n] : expected) {
    SCOPED_TRACE(p);
    ExpectContiguous(by_partition[p], 0, n);
  }
  // Dropping a partition from the assignment stops its records; the others keep positions.
  ASSERT_TRUE(consumer->assign({tps[0], tps[2]}).ok());
  Produce(tps[1], 1, 5);
  Produce(tps[2], 1, 5);
  std::vector<OwnedRecord> more = PollN(*consumer, 5);
  ASSERT_EQ(more.size(), 5u);
  for (const OwnedRecord& r : more) EXPECT_EQ(r.partition, 2);
  EXPECT_EQ(more.front().offset, expected[2]);
}

TEST_F(ConsumerIntegrationTest, ManyRecordsInOrderWithNothingMissing) {
  const std::string topic = "many";
  CreateTopic(topic, 2);
  constexpr int kBatches = 200;
  constexpr int kPerBatch = 250;  // 50,000 records per partition
  const std::vector<TopicPartition> tps = {{topic, 0}, {topic, 1}};
  for (const TopicPartition& tp : tps) Produce(tp, kBatches, kPerBatch, 64);
  ConsumerConfig config = Config();
  config.max_partition_fetch_bytes = 256 << 10;  // many fetches, prefetched while polling
  std::unique_ptr<Consumer> consumer = MakeConsumer(config);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(consumer->assign(tps).ok());
  std::map<int32_t, int64_t> next;
  size_t total = 0;
  const size_t want = 2u * kBatches * kPerBatch;
  const auto deadline = Clock::now() + milliseconds(60000);
  while (total < want && Clock::now() < deadline) {
    StatusOr<ConsumerRecords> records = consumer->poll(milliseconds(500));
    ASSERT_TRUE(records.ok()) << records.status();
    EXPECT_LE(records->size(), 500u);
    for (const ConsumerRecord& r : *records) {
      ASSERT_EQ(r.offset, next[r.partition]) << "partition " << r.partition;
      ASSERT_EQ(r.value, ValueFor(r.offset, 64));
      ++next[r.partition];
      ++total;
    }
  }
  EXPECT_EQ(total, want);
  EXPECT_EQ(next[0], kBatches * kPerBatch);
  EXPECT_EQ(next[1], kBatches * kPerBatch);
  StatusOr<ConsumerRecords> after = consumer->poll(milliseconds(100));
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty()) << "nothing past the end";
}

TEST_F(ConsumerIntegrationTest, KeepsConsumingAcrossABrokerRestart) {
  const TopicPartition tp{"restart", 0};
  CreateTopic(tp.topic, 1);
  Produce(tp, 4, 25);  // 0..99
  ConsumerConfig config = Config();
  config.retry_backoff_ms = 20;
  std::unique_ptr<Consumer> consumer = MakeConsumer(config);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(consumer->assign({tp}).ok());
  ExpectContiguous(PollN(*consumer, 100), 0, 100);

  // The consumer's connection breaks; it reconnects after the backoff and goes on where it was.
  admin_.reset();
  Status st = broker_->Terminate();
  ASSERT_TRUE(st.ok()) << st;
  StatusOr<ConsumerRecords> during = consumer->poll(milliseconds(100));
  ASSERT_TRUE(during.ok()) << during.status();
  EXPECT_TRUE(during->empty());
  st = broker_->Restart();
  ASSERT_TRUE(st.ok()) << st;
  StatusOr<std::unique_ptr<testing::RawClient>> client =
      testing::RawClient::Connect(broker_->address());
  ASSERT_TRUE(client.ok()) << client.status();
  admin_ = *std::move(client);
  Produce(tp, 2, 25);  // 100..149
  ExpectContiguous(PollN(*consumer, 50), 100, 150);
}

TEST_F(ConsumerIntegrationTest, UnknownTopicIsRetriedQuietly) {
  ConsumerConfig config = Config();
  config.request_timeout_ms = 500;
  config.retry_backoff_ms = 20;
  std::unique_ptr<Consumer> consumer = MakeConsumer(config);
  ASSERT_NE(consumer, nullptr);
  const TopicPartition tp{"not-yet", 0};
  ASSERT_TRUE(consumer->assign({tp}).ok());
  // No leader to ask: position() gives up after request_timeout_ms; poll() just finds nothing.
  EXPECT_EQ(consumer->position(tp).status().code(), absl::StatusCode::kDeadlineExceeded);
  StatusOr<ConsumerRecords> none = consumer->poll(milliseconds(100));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  // Once the topic exists the consumer finds it (metadata refresh) and reads it.
  CreateTopic(tp.topic, 1);
  Produce(tp, 1, 3);
  ExpectContiguous(PollN(*consumer, 3), 0, 3);
}

// Consume throughput with 1 KiB records from the page cache: a figure for the report, not an
// assertion. SPOOL_CONSUMER_TEST_MB sets the volume (default 128), SPOOL_CONSUMER_TEST_FETCH_KB
// max_partition_fetch_bytes.
TEST_F(ConsumerIntegrationTest, ConsumeThroughputFigure) {
  const TopicPartition tp{"throughput", 0};
  CreateTopic(tp.topic, 1);
  const char* env = std::getenv("SPOOL_CONSUMER_TEST_MB");
  const int64_t mb = env != nullptr ? std::atoll(env) : 128;
  constexpr int kPerBatch = 256;  // 256 KiB batches
  const int batches = static_cast<int>(mb * 4);
  Produce(tp, batches, kPerBatch, 1024);
  const int64_t want = int64_t{batches} * kPerBatch;

  ConsumerConfig config = Config();
  if (const char* kb = std::getenv("SPOOL_CONSUMER_TEST_FETCH_KB"); kb != nullptr) {
    config.max_partition_fetch_bytes = std::atoi(kb) * 1024;
  }
  std::unique_ptr<Consumer> consumer = MakeConsumer(config);
  ASSERT_NE(consumer, nullptr);
  ASSERT_TRUE(consumer->assign({tp}).ok());
  ASSERT_EQ(consumer->position(tp).value_or(-1), 0);
  const auto start = Clock::now();
  int64_t count = 0;
  uint64_t bytes = 0;
  int64_t next = 0;
  while (count < want) {
    StatusOr<ConsumerRecords> records = consumer->poll(milliseconds(5000));
    ASSERT_TRUE(records.ok()) << records.status();
    ASSERT_FALSE(records->empty()) << "stalled at " << next;
    for (const ConsumerRecord& r : *records) {
      ASSERT_EQ(r.offset, next++);
      bytes += r.value->size() + r.key->size();
    }
    count += static_cast<int64_t>(records->size());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "consumed " << count << " records of 1 KiB (" << bytes / (1 << 20) << " MiB) in "
            << seconds << " s: " << (bytes / seconds) / 1e6 << " MB/s, " << count / seconds
            << " records/s\n";
}

}  // namespace
}  // namespace spool
