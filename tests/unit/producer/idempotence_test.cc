// The idempotent producer's client side (producer/idempotence.h, sender_idempotence.cc):
// config rules, stamping and sequence arithmetic, and against FakeCluster: InitProducerId before
// the first batch, sequences stamped and increasing per partition across batches, a retry
// resending the same sequence, DUPLICATE_SEQUENCE_NUMBER as success, UNKNOWN_PRODUCER_ID and an
// out-of-order answer with no earlier batch pending leading to a new producer id whose
// sequences restart at 0, and idempotence off with acks=1.
#include "producer/idempotence.h"

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_header.h"
#include "producer/producer.h"
#include "proto/errors.h"
#include "tests/unit/producer/fake_cluster.h"

namespace spool {
namespace {

using producer::testing::FakeCluster;

constexpr int32_t kMax = std::numeric_limits<int32_t>::max();

ProducerConfig Config(const FakeCluster& c) {
  ProducerConfig config;
  config.bootstrap_servers = c.bootstrap();
  config.linger_ms = 1;
  config.max_block_ms = 10000;
  config.retry_backoff_ms = 10;
  return config;
}

ProducerRecord Record(std::string value, int32_t partition) {
  ProducerRecord r;
  r.topic = "t";
  r.value = std::move(value);
  r.partition = partition;
  return r;
}

TEST(IdempotenceConfigTest, DefaultIsOnUnlessOtherSettingsRuleItOut) {
  ProducerConfig c;
  EXPECT_TRUE(*producer::ResolveIdempotence(c));
  c.acks = 1;
  EXPECT_FALSE(*producer::ResolveIdempotence(c));
  c.acks = -1;
  c.max_in_flight_requests_per_connection = 6;
  EXPECT_FALSE(*producer::ResolveIdempotence(c));
  c.max_in_flight_requests_per_connection = 5;
  c.retries = 0;
  EXPECT_FALSE(*producer::ResolveIdempotence(c));
  c.retries = 3;
  c.enable_idempotence = false;
  EXPECT_FALSE(*producer::ResolveIdempotence(c));
}

TEST(IdempotenceConfigTest, ExplicitlyOnWithIncompatibleSettingsIsAnError) {
  ProducerConfig c;
  c.bootstrap_servers = "127.0.0.1:1";
  c.enable_idempotence = true;
  EXPECT_TRUE(*producer::ResolveIdempotence(c));
  c.acks = 0;
  StatusOr<std::unique_ptr<Producer>> p = Producer::Create(c);
  ASSERT_TRUE(absl::IsInvalidArgument(p.status())) << p.status();
  EXPECT_NE(p.status().message().find("acks"), std::string::npos) << p.status();
  c.acks = -1;
  c.max_in_flight_requests_per_connection = 10;
  p = Producer::Create(c);
  ASSERT_TRUE(absl::IsInvalidArgument(p.status())) << p.status();
  EXPECT_NE(p.status().message().find("max_in_flight"), std::string::npos) << p.status();
  c.max_in_flight_requests_per_connection = 5;
  c.retries = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(Producer::Create(c).status()));
}

TEST(IdempotenceTest, SequencesWrapAtInt32Max) {
  EXPECT_EQ(producer::AddToSequence(0, 5), 5);
  EXPECT_EQ(producer::AddToSequence(kMax, 1), 0);
  EXPECT_EQ(producer::AddToSequence(kMax - 1, 4), 2);
}

TEST(IdempotenceTest, StampWritesTheFieldsAndKeepsTheCrcValid) {
  record::BatchBuilder builder;
  builder.Append(1'700'000'000'000, "k", "v1");
  builder.Append(1'700'000'000'001, "k", "v2");
  StatusOr<std::vector<std::byte>> batch = builder.Seal();
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_TRUE(producer::StampProducer(*batch, 123456789012, 7, kMax - 1).ok());
  StatusOr<record::BatchHeader> h = record::VerifyBatch(*batch);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->producer_id, 123456789012);
  EXPECT_EQ(h->producer_epoch, 7);
  EXPECT_EQ(h->base_sequence, kMax - 1);
  EXPECT_EQ(h->records_count, 2);
  // Not one whole batch: refused.
  std::vector<std::byte> shorter(batch->begin(), batch->end() - 1);
  EXPECT_FALSE(producer::StampProducer(shorter, 1, 0, 0).ok());
}

// Per partition: every batch has the fake's producer id, and each new batch starts where the
// previous one ended (a resent batch repeats its own sequence).
void ExpectContiguous(const std::vector<FakeCluster::BatchSeen>& seen, int64_t producer_id) {
  int32_t next = 0;
  for (const FakeCluster::BatchSeen& b : seen) {
    EXPECT_EQ(b.producer_id, producer_id);
    EXPECT_EQ(b.producer_epoch, 0);
    if (b.base_sequence == next) {
      next = producer::AddToSequence(next, b.records);
    } else {
      ADD_FAILURE() << "base sequence " << b.base_sequence << ", expected " << next;
    }
  }
}

TEST(IdempotenceTest, BatchesCarryTheProducerIdAndIncreasingSequencesPerPartition) {
  FakeCluster cluster({{"t", 2}});
  ProducerConfig config = Config(cluster);
  config.batch_size = 256;  // many batches
  auto p = Producer::Create(config);
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<std::future<StatusOr<RecordMetadata>>> sent;
  for (int i = 0; i < 200; ++i) {
    sent.push_back((*p)->send(Record("value-" + std::to_string(i), i % 2)));
  }
  for (auto& f : sent) ASSERT_TRUE(f.get().ok());
  EXPECT_EQ(cluster.init_producer_id_requests(), 1);
  for (int partition = 0; partition < 2; ++partition) {
    std::vector<FakeCluster::BatchSeen> seen = cluster.batches_seen("t", partition);
    EXPECT_GT(seen.size(), 3u);
    ExpectContiguous(seen, 1000);
    int32_t records = 0;
    for (const auto& b : seen) records += b.records;
    EXPECT_EQ(records, 100);
  }
  EXPECT_TRUE(cluster.problems().empty());
}

TEST(IdempotenceTest, ARetryResendsTheSameSequence) {
  FakeCluster cluster({{"t", 1}});
  auto p = Producer::Create(Config(cluster));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE((*p)->send(Record("first", 0)).get().ok());
  cluster.FailNextProduces(
      {proto::ErrorCode::NOT_LEADER_OR_FOLLOWER, proto::ErrorCode::REQUEST_TIMED_OUT});
  StatusOr<RecordMetadata> m = (*p)->send(Record("second", 0)).get();
  ASSERT_TRUE(m.ok()) << m.status();
  std::vector<FakeCluster::BatchSeen> seen = cluster.batches_seen("t", 0);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].base_sequence, 0);
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(seen[i].base_sequence, 1) << i;  // the same batch, three times
    EXPECT_EQ(seen[i].producer_id, 1000);
  }
  EXPECT_EQ(cluster.values("t", 0), (std::vector<std::string>{"first", "second"}));
}

TEST(IdempotenceTest, DuplicateSequenceIsSuccessWithoutAnOffset) {
  FakeCluster cluster({{"t", 1}});
  auto p = Producer::Create(Config(cluster));
  ASSERT_TRUE(p.ok()) << p.status();
  cluster.FailNextProduces({proto::ErrorCode::DUPLICATE_SEQUENCE_NUMBER});
  StatusOr<RecordMetadata> m = (*p)->send(Record("dup", 0)).get();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->offset, -1);
  // The next batch follows it in sequence.
  ASSERT_TRUE((*p)->send(Record("next", 0)).get().ok());
  std::vector<FakeCluster::BatchSeen> seen = cluster.batches_seen("t", 0);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].base_sequence, 1);
}

// UNKNOWN_PRODUCER_ID and INVALID_PRODUCER_EPOCH fail the batch; an out-of-order answer for a
// batch with no earlier one pending is final too. Each makes the producer take a new id, and the
// partitions' sequences restart at 0 under it.
class IdempotenceResetTest : public ::testing::TestWithParam<proto::ErrorCode> {};

TEST_P(IdempotenceResetTest, FailsTheBatchAndRestartsUnderANewProducerId) {
  FakeCluster cluster({{"t", 1}});
  auto p = Producer::Create(Config(cluster));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE((*p)->send(Record("a", 0)).get().ok());
  cluster.FailNextProduces({GetParam()});
  StatusOr<RecordMetadata> failed = (*p)->send(Record("b", 0)).get();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(proto::ErrorFromStatus(failed.status()), GetParam()) << failed.status();
  ASSERT_TRUE((*p)->send(Record("c", 0)).get().ok());
  EXPECT_EQ(cluster.init_producer_id_requests(), 2);
  std::vector<FakeCluster::BatchSeen> seen = cluster.batches_seen("t", 0);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].producer_id, 1000);
  EXPECT_EQ(seen[1].producer_id, 1000);
  EXPECT_EQ(seen[1].base_sequence, 1);
  EXPECT_EQ(seen[2].producer_id, 1001);
  EXPECT_EQ(seen[2].base_sequence, 0);
  EXPECT_EQ(cluster.values("t", 0), (std::vector<std::string>{"a", "c"}));
}

INSTANTIATE_TEST_SUITE_P(Codes, IdempotenceResetTest,
                         ::testing::Values(proto::ErrorCode::UNKNOWN_PRODUCER_ID,
                                           proto::ErrorCode::INVALID_PRODUCER_EPOCH,
                                           proto::ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER));

TEST(IdempotenceTest, OffWithAcksOneSendsNoProducerId) {
  FakeCluster cluster({{"t", 1}});
  ProducerConfig config = Config(cluster);
  config.acks = 1;
  auto p = Producer::Create(config);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE((*p)->send(Record("plain", 0)).get().ok());
  EXPECT_EQ(cluster.init_producer_id_requests(), 0);
  std::vector<FakeCluster::BatchSeen> seen = cluster.batches_seen("t", 0);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].producer_id, -1);
  EXPECT_EQ(seen[0].base_sequence, -1);
}

}  // namespace
}  // namespace spool
