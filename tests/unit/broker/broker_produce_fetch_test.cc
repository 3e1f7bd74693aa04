// Produce and Fetch through Broker::handler() on 2 shards: byte-for-byte round trips, acks
// 0/1/all, per-partition errors, pipelined ordering, many partitions, ListOffsets.
#include <random>

#include "gtest/gtest.h"
#include "log/record/batch_header.h"
#include "proto/errors.h"
#include "tests/support/broker_test_util.h"

namespace spool::testing {
namespace {

using v1::ErrorCode;

std::vector<std::byte> Concat(const std::vector<std::vector<std::byte>>& parts) {
  std::vector<std::byte> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

class ProduceFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h_.Open().ok());
    v1::CreateTopicsResponse r = h_.CreateTopic("events", 4);
    ASSERT_EQ(r.topics(0).error_code(), ErrorCode::NONE) << r.DebugString();
  }
  BrokerHarness h_;
};

TEST_F(ProduceFetchTest, RoundTripIsByteForByteWithOffsetsStamped) {
  std::vector<std::byte> a = MakeBatch(3);
  std::vector<std::byte> b = MakeBatch(5);
  auto pa = h_.Produce("events", 2, a, -1);
  ASSERT_TRUE(pa.has_value());
  EXPECT_EQ(pa->error_code(), ErrorCode::NONE) << pa->error_message();
  EXPECT_EQ(pa->base_offset(), 0);
  EXPECT_EQ(pa->log_start_offset(), 0);
  auto pb = h_.Produce("events", 2, b, 1);
  ASSERT_TRUE(pb.has_value());
  EXPECT_EQ(pb->base_offset(), 3);

  // Wait (long poll) until both are committed, then read from 0.
  auto f = h_.Fetch("events", 2, 0, 5000, 1);
  ASSERT_EQ(f.partition.error_code(), ErrorCode::NONE);
  std::vector<std::byte> want = Concat({Stamped(a, 0), Stamped(b, 3)});
  if (f.bytes.size() < want.size())
    f = h_.Fetch("events", 2, 0, 5000, static_cast<int>(want.size()));
  EXPECT_EQ(f.bytes, want);
  EXPECT_EQ(f.partition.high_watermark(), 8);
  EXPECT_EQ(f.partition.last_stable_offset(), 8);
  EXPECT_EQ(f.partition.log_start_offset(), 0);

  // From the middle of the second batch: the whole batch that holds it.
  auto mid = h_.Fetch("events", 2, 4);
  EXPECT_EQ(mid.bytes, Stamped(b, 3));
}

TEST_F(ProduceFetchTest, SeveralBatchesInOnePartitionPayload) {
  std::vector<std::byte> a = MakeBatch(2), b = MakeBatch(1), c = MakeBatch(4);
  std::vector<std::byte> all = Concat({a, b, c});
  auto p = h_.Produce("events", 0, all, -1);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->error_code(), ErrorCode::NONE);
  EXPECT_EQ(p->base_offset(), 0);
  auto f = h_.Fetch("events", 0, 0);
  EXPECT_EQ(f.bytes, Concat({Stamped(a, 0), Stamped(b, 2), Stamped(c, 3)}));
  EXPECT_EQ(f.partition.high_watermark(), 7);
}

TEST_F(ProduceFetchTest, AcksZeroSendsNothingButAppends) {
  std::vector<std::byte> a = MakeBatch(2);
  EXPECT_FALSE(h_.Produce("events", 1, a, 0).has_value());
  auto f = h_.Fetch("events", 1, 0, 5000, 1);
  EXPECT_EQ(f.bytes, Stamped(a, 0));
}

TEST_F(ProduceFetchTest, AcksAllAnswersWithTheHighWatermarkPastTheBatch) {
  std::vector<std::byte> a = MakeBatch(10);
  auto p = h_.Produce("events", 3, a, -1);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->error_code(), ErrorCode::NONE);
  // The HW already covers it: a fetch without waiting sees it.
  auto f = h_.Fetch("events", 3, 0, 0);
  EXPECT_EQ(f.partition.high_watermark(), 10);
  EXPECT_EQ(f.bytes, Stamped(a, 0));
}

TEST_F(ProduceFetchTest, FetchOutOfRangeAndAtTheEnd) {
  ASSERT_TRUE(h_.Produce("events", 0, MakeBatch(3), -1).has_value());
  EXPECT_EQ(h_.Fetch("events", 0, 4).partition.error_code(), ErrorCode::OFFSET_OUT_OF_RANGE);
  EXPECT_EQ(h_.Fetch("events", 0, -1).partition.error_code(), ErrorCode::OFFSET_OUT_OF_RANGE);
  auto at_end = h_.Fetch("events", 0, 3);
  EXPECT_EQ(at_end.partition.error_code(), ErrorCode::NONE);
  EXPECT_TRUE(at_end.bytes.empty());
  EXPECT_EQ(at_end.partition.high_watermark(), 3);
}

TEST_F(ProduceFetchTest, UnknownTopicOrPartition) {
  auto p = h_.Produce("nope", 0, MakeBatch(1), -1);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->error_code(), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  auto q = h_.Produce("events", 4, MakeBatch(1), -1);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->error_code(), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  EXPECT_EQ(h_.Fetch("nope", 0, 0).partition.error_code(), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  EXPECT_EQ(h_.Fetch("events", -1, 0).partition.error_code(),
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
}

TEST_F(ProduceFetchTest, BadCrcIsCorruptAndNothingOfThatPartitionIsAppended) {
  std::vector<std::byte> good = MakeBatch(2);
  std::vector<std::byte> bad = MakeBatch(2);
  bad[bad.size() - 1] ^= std::byte{1};
  auto p = h_.Produce("events", 0, Concat({good, bad}), -1);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->error_code(), ErrorCode::CORRUPT_MESSAGE);
  EXPECT_EQ(h_.ListOffset("events", 0, v1::OFFSET_SPEC_LATEST).offset(), 0);
  // Bytes that do not tile into batches.
  std::vector<std::byte> torn = good;
  torn.resize(torn.size() - 3);
  EXPECT_EQ(h_.Produce("events", 0, torn, -1)->error_code(), ErrorCode::CORRUPT_MESSAGE);
  std::vector<std::byte> trailing = Concat({good, std::vector<std::byte>(5)});
  EXPECT_EQ(h_.Produce("events", 0, trailing, -1)->error_code(), ErrorCode::CORRUPT_MESSAGE);
  EXPECT_EQ(h_.Produce("events", 0, {}, -1)->error_code(), ErrorCode::CORRUPT_MESSAGE);
  EXPECT_EQ(h_.ListOffset("events", 0, v1::OFFSET_SPEC_LATEST).offset(), 0);
  // The partition still works.
  EXPECT_EQ(h_.Produce("events", 0, good, -1)->error_code(), ErrorCode::NONE);
}

TEST_F(ProduceFetchTest, OversizeBatchIsMessageTooLarge) {
  v1::CreateTopicsResponse r = h_.CreateTopic("small", 1, {{"max.message.bytes", "200"}});
  ASSERT_EQ(r.topics(0).error_code(), ErrorCode::NONE);
  std::vector<std::byte> big = MakeBatch(1, 1, std::string(300, 'x'));
  auto p = h_.Produce("small", 0, big, 1);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->error_code(), ErrorCode::MESSAGE_TOO_LARGE);
  EXPECT_EQ(h_.Produce("small", 0, MakeBatch(1), 1)->error_code(), ErrorCode::NONE);
}

TEST_F(ProduceFetchTest, BadAcksIsInvalidRequiredAcks) {
  for (int acks : {2, -2, 100}) {
    auto p = h_.Produce("events", 0, MakeBatch(1), acks);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->error_code(), ErrorCode::INVALID_REQUIRED_ACKS) << acks;
  }
  // A request without acks at all.
  v1::ProduceRequest req;
  std::vector<std::byte> batch = MakeBatch(1);
  auto* t = req.add_topics();
  t->set_name("events");
  auto* p = t->add_partitions();
  p->set_partition(0);
  p->set_payload_bytes(static_cast<uint32_t>(batch.size()));
  std::optional<Reply> reply = h_.Call(MakeFrame(v1::API_KEY_PRODUCE, req, batch));
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->As<v1::ProduceResponse>().topics(0).partitions(0).error_code(),
            ErrorCode::INVALID_REQUIRED_ACKS);
  EXPECT_EQ(h_.ListOffset("events", 0, v1::OFFSET_SPEC_LATEST).offset(), 0);
}

TEST_F(ProduceFetchTest, PipelinedProducesToOnePartitionKeepRequestOrder) {
  // From both shards' point of view: the partition may be local or remote to the connection.
  for (int conn_shard : {0, 1}) {
    const int partition = conn_shard == 0 ? 1 : 2;
    std::vector<proto::Frame> frames;
    std::vector<int> sizes;
    for (int i = 0; i < 40; i++) {
      const int records = 1 + i % 3;
      sizes.push_back(records);
      std::vector<std::byte> batch = MakeBatch(records, 1000 * i);
      v1::ProduceRequest req;
      req.set_acks(i % 2 == 0 ? 1 : -1);
      req.set_timeout_ms(10000);
      auto* t = req.add_topics();
      t->set_name("events");
      auto* p = t->add_partitions();
      p->set_partition(partition);
      p->set_payload_bytes(static_cast<uint32_t>(batch.size()));
      frames.push_back(MakeFrame(v1::API_KEY_PRODUCE, req, batch, 0, i));
    }
    std::vector<std::optional<Reply>> replies = h_.CallPipelined(std::move(frames), conn_shard);
    int64_t expect = 0;
    for (size_t i = 0; i < replies.size(); i++) {
      ASSERT_TRUE(replies[i].has_value());
      EXPECT_EQ(replies[i]->header.correlation_id, static_cast<int32_t>(i));
      auto pr = replies[i]->As<v1::ProduceResponse>().topics(0).partitions(0);
      EXPECT_EQ(pr.error_code(), ErrorCode::NONE);
      EXPECT_EQ(pr.base_offset(), expect) << "request " << i;
      expect += sizes[i];
    }
  }
}

TEST_F(ProduceFetchTest, ManyPartitionsOverTwoShards) {
  ASSERT_EQ(h_.CreateTopic("wide", 128).topics(0).error_code(), ErrorCode::NONE);
  v1::ProduceRequest req;
  req.set_acks(-1);
  req.set_timeout_ms(20000);
  auto* t = req.add_topics();
  t->set_name("wide");
  std::vector<std::vector<std::byte>> batches;
  for (int p = 0; p < 128; p++) {
    batches.push_back(MakeBatch(1 + p % 4, p));
    auto* pp = t->add_partitions();
    pp->set_partition(p);
    pp->set_payload_bytes(static_cast<uint32_t>(batches.back().size()));
  }
  std::vector<std::byte> payload = Concat(batches);
  std::optional<Reply> reply = h_.Call(MakeFrame(v1::API_KEY_PRODUCE, req, payload), 1);
  ASSERT_TRUE(reply.has_value());
  auto resp = reply->As<v1::ProduceResponse>();
  ASSERT_EQ(resp.topics(0).partitions_size(), 128);
  for (int p = 0; p < 128; p++) {
    EXPECT_EQ(resp.topics(0).partitions(p).partition(), p);
    EXPECT_EQ(resp.topics(0).partitions(p).error_code(), ErrorCode::NONE);
  }
  // One fetch for all of them, answered in request order with each partition's bytes.
  v1::FetchRequest freq;
  freq.set_max_bytes(64 << 20);
  auto* ft = freq.add_topics();
  ft->set_name("wide");
  for (int p = 0; p < 128; p++) {
    auto* fp = ft->add_partitions();
    fp->set_partition(p);
    fp->set_fetch_offset(0);
    fp->set_partition_max_bytes(1 << 20);
    fp->set_current_leader_epoch(-1);
  }
  std::optional<Reply> fr = h_.Call(MakeFrame(v1::API_KEY_FETCH, freq), 0);
  ASSERT_TRUE(fr.has_value());
  auto fresp = fr->As<v1::FetchResponse>();
  std::span<const std::byte> rest = fr->payload;
  ASSERT_EQ(fresp.topics(0).partitions_size(), 128);
  for (int p = 0; p < 128; p++) {
    const auto& pr = fresp.topics(0).partitions(p);
    EXPECT_EQ(pr.partition(), p);
    EXPECT_EQ(pr.error_code(), ErrorCode::NONE);
    std::vector<std::byte> got(rest.begin(), rest.begin() + pr.payload_bytes());
    rest = rest.subspan(pr.payload_bytes());
    EXPECT_EQ(got, Stamped(batches[static_cast<size_t>(p)], 0)) << "partition " << p;
  }
  EXPECT_TRUE(rest.empty());
}

TEST_F(ProduceFetchTest, FetchRespectsMaxBytesButAlwaysGivesOneBatch) {
  std::vector<std::byte> a = MakeBatch(1, 1, std::string(1000, 'a'));
  std::vector<std::byte> b = MakeBatch(1, 1, std::string(1000, 'b'));
  ASSERT_EQ(h_.Produce("events", 0, Concat({a, b}), -1)->error_code(), ErrorCode::NONE);
  // partition_max_bytes smaller than one batch: still one batch.
  auto f = h_.Fetch("events", 0, 0, 0, 1, 10);
  EXPECT_EQ(f.bytes, Stamped(a, 0));
  auto both = h_.Fetch("events", 0, 0, 0, 1, 1 << 20);
  EXPECT_EQ(both.bytes, Concat({Stamped(a, 0), Stamped(b, 1)}));
}

TEST_F(ProduceFetchTest, ListOffsetsEarliestLatestAndByTimestamp) {
  ASSERT_EQ(h_.Produce("events", 1, MakeBatch(3, 1000), -1)->error_code(), ErrorCode::NONE);
  ASSERT_EQ(h_.Produce("events", 1, MakeBatch(3, 5000), -1)->error_code(), ErrorCode::NONE);
  EXPECT_EQ(h_.ListOffset("events", 1, v1::OFFSET_SPEC_EARLIEST).offset(), 0);
  EXPECT_EQ(h_.ListOffset("events", 1, v1::OFFSET_SPEC_LATEST).offset(), 6);
  auto ts = h_.ListOffset("events", 1, v1::OFFSET_SPEC_BY_TIMESTAMP, 4000);
  EXPECT_EQ(ts.error_code(), ErrorCode::NONE);
  EXPECT_EQ(ts.offset(), 3);
  EXPECT_EQ(ts.timestamp_ms(), 4000);
  EXPECT_EQ(h_.ListOffset("events", 1, v1::OFFSET_SPEC_BY_TIMESTAMP, 1001).offset(), 1);
  EXPECT_EQ(h_.ListOffset("events", 1, v1::OFFSET_SPEC_BY_TIMESTAMP, 9999).offset(), -1);
  EXPECT_EQ(h_.ListOffset("events", 1, v1::OFFSET_SPEC_UNSPECIFIED).error_code(),
            ErrorCode::INVALID_REQUEST);
  EXPECT_EQ(h_.ListOffset("nope", 0, v1::OFFSET_SPEC_LATEST).error_code(),
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
}

TEST_F(ProduceFetchTest, IntervalPolicyHighWatermarkFollowsTheWrittenEnd) {
  ASSERT_EQ(h_.CreateTopic("fast", 1, {{"flush.policy", "interval"}, {"flush.ms", "3600000"}})
                .topics(0)
                .error_code(),
            ErrorCode::NONE);
  std::vector<std::byte> a = MakeBatch(4);
  EXPECT_EQ(h_.Produce("fast", 0, a, -1)->error_code(), ErrorCode::NONE);
  auto f = h_.Fetch("fast", 0, 0);
  EXPECT_EQ(f.partition.high_watermark(), 4);
  EXPECT_EQ(f.bytes, Stamped(a, 0));
}

}  // namespace
}  // namespace spool::testing
