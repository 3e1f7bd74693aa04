// Durability through the handler, with each shard's storage behind a FaultFileSystem:
// acks=all is answered only after the fdatasync that covers the batch (held syncs hold the
// answer; acks=1 does not wait), one fdatasync covers many appends (group commit), and after a
// crash (the broker destroyed without Close, then a simulated power cut) every acks=all-
// acknowledged batch is there after reopening. A failed fdatasync answers KAFKA_STORAGE_ERROR.
#include <future>

#include "broker/partition_manager.h"
#include "gtest/gtest.h"
#include "tests/support/broker_test_util.h"

namespace spool::testing {
namespace {

using v1::ErrorCode;

BrokerOptions FaultOptions() {
  BrokerOptions o;
  o.fault_fs = true;
  return o;
}

int ShardOf(BrokerHarness& h, const std::string& topic, int32_t p) {
  return broker::PartitionShard(topic, p, h.shards().size());
}

TEST(BrokerRecoveryTest, AcksAllWaitsForTheFdatasync) {
  BrokerHarness h(FaultOptions());
  ASSERT_TRUE(h.Open().ok());
  ASSERT_EQ(h.CreateTopic("events", 1).topics(0).error_code(), ErrorCode::NONE);
  const int shard = ShardOf(h, "events", 0);
  h.Do(shard, [&] { h.fault_fs(shard).HoldSyncs(); });

  std::vector<std::byte> batch = MakeBatch(3);
  auto acked = std::async(std::launch::async, [&] { return h.Produce("events", 0, batch, -1); });
  // The pump's fdatasync is parked at the gate; the answer waits for it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int waiting = 0;
  while (waiting == 0 && std::chrono::steady_clock::now() < deadline) {
    h.Do(shard, [&] { waiting = h.fault_fs(shard).syncs_waiting(); });
  }
  ASSERT_GT(waiting, 0);
  EXPECT_EQ(acked.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  // acks=1 is answered while the sync is still held; the HW (and so fetch) has not moved.
  auto one = h.Produce("events", 0, MakeBatch(1), 1);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->error_code(), ErrorCode::NONE);
  EXPECT_EQ(one->base_offset(), 3);
  EXPECT_EQ(h.Fetch("events", 0, 0).partition.high_watermark(), 0);
  EXPECT_EQ(acked.wait_for(std::chrono::seconds(0)), std::future_status::timeout);

  h.Do(shard, [&] { h.fault_fs(shard).ReleaseSyncs(); });
  ASSERT_EQ(acked.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  auto r = acked.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->error_code(), ErrorCode::NONE);
  EXPECT_EQ(r->base_offset(), 0);
  // The pump goes on to cover the acks=1 batch too (syncs no longer held).
  auto f = h.Fetch("events", 0, 0, 10000, 1);
  EXPECT_EQ(f.partition.error_code(), ErrorCode::NONE);
  h.Do(shard, [&] { h.fault_fs(shard).ClearFaults(); });
}

TEST(BrokerRecoveryTest, OneFdatasyncCoversManyAppends) {
  BrokerHarness h(FaultOptions());
  ASSERT_TRUE(h.Open().ok());
  ASSERT_EQ(h.CreateTopic("events", 1).topics(0).error_code(), ErrorCode::NONE);
  const int shard = ShardOf(h, "events", 0);
  uint64_t before = 0;
  h.Do(shard, [&] { before = h.fault_fs(shard).sync_count(); });
  std::vector<proto::Frame> frames;
  for (int i = 0; i < 50; i++) {
    std::vector<std::byte> batch = MakeBatch(1);
    v1::ProduceRequest req;
    req.set_acks(-1);
    req.set_timeout_ms(20000);
    auto* t = req.add_topics();
    t->set_name("events");
    auto* p = t->add_partitions();
    p->set_partition(0);
    p->set_payload_bytes(static_cast<uint32_t>(batch.size()));
    frames.push_back(MakeFrame(v1::API_KEY_PRODUCE, req, batch, 0, i));
  }
  std::vector<std::optional<Reply>> replies = h.CallPipelined(std::move(frames), 1 - shard);
  for (const auto& r : replies) {
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->As<v1::ProduceResponse>().topics(0).partitions(0).error_code(), ErrorCode::NONE);
  }
  uint64_t after = 0;
  h.Do(shard, [&] { after = h.fault_fs(shard).sync_count(); });
  EXPECT_LT(after - before, 25u) << "50 acks=all appends took " << (after - before)
                                 << " fdatasyncs";
}

TEST(BrokerRecoveryTest, AcknowledgedDataSurvivesACrashAndPowerCut) {
  BrokerHarness h(FaultOptions());
  ASSERT_TRUE(h.Open().ok());
  ASSERT_EQ(h.CreateTopic("events", 4).topics(0).error_code(), ErrorCode::NONE);
  std::vector<std::vector<std::byte>> acked(4);
  std::vector<int64_t> next(4, 0);
  for (int round = 0; round < 5; round++) {
    for (int32_t p = 0; p < 4; p++) {
      std::vector<std::byte> batch = MakeBatch(1 + round);
      auto r = h.Produce("events", p, batch, -1);
      ASSERT_TRUE(r.has_value());
      ASSERT_EQ(r->error_code(), ErrorCode::NONE);
      ASSERT_EQ(r->base_offset(), next[static_cast<size_t>(p)]);
      std::vector<std::byte> stamped = Stamped(batch, r->base_offset());
      acked[static_cast<size_t>(p)].insert(acked[static_cast<size_t>(p)].end(), stamped.begin(),
                                           stamped.end());
      next[static_cast<size_t>(p)] += 1 + round;
    }
  }
  h.Kill();
  h.PowerCut();
  ASSERT_TRUE(h.Open().ok());
  v1::MetadataResponse md = h.Metadata({"events"});
  ASSERT_EQ(md.topics(0).error_code(), ErrorCode::NONE);
  for (int32_t p = 0; p < 4; p++) {
    auto f = h.Fetch("events", p, 0, 0, 1, 64 << 20);
    EXPECT_EQ(f.partition.error_code(), ErrorCode::NONE);
    EXPECT_EQ(f.partition.high_watermark(), next[static_cast<size_t>(p)]);
    EXPECT_EQ(f.bytes, acked[static_cast<size_t>(p)]) << "partition " << p;
  }
  // And it takes new appends where it left off.
  auto r = h.Produce("events", 0, MakeBatch(1), -1);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->base_offset(), next[0]);
}

TEST(BrokerRecoveryTest, RestartWithoutCloseRecoversWithoutPowerCut) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  ASSERT_EQ(h.CreateTopic("events", 2).topics(0).error_code(), ErrorCode::NONE);
  std::vector<std::byte> batch = MakeBatch(7);
  ASSERT_EQ(h.Produce("events", 1, batch, -1)->error_code(), ErrorCode::NONE);
  h.Kill();
  ASSERT_TRUE(h.Open().ok());
  EXPECT_EQ(h.Fetch("events", 1, 0).bytes, Stamped(batch, 0));
}

TEST(BrokerRecoveryTest, FailedFdatasyncIsAStorageError) {
  BrokerHarness h(FaultOptions());
  ASSERT_TRUE(h.Open().ok());
  ASSERT_EQ(h.CreateTopic("events", 1).topics(0).error_code(), ErrorCode::NONE);
  const int shard = ShardOf(h, "events", 0);
  h.Do(shard, [&] { h.fault_fs(shard).FailNextSyncs(1); });
  auto r = h.Produce("events", 0, MakeBatch(1), -1);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->error_code(), ErrorCode::KAFKA_STORAGE_ERROR);
  // The log is failed until reopened: later appends are refused the same way.
  EXPECT_EQ(h.Produce("events", 0, MakeBatch(1), -1)->error_code(), ErrorCode::KAFKA_STORAGE_ERROR);
  EXPECT_FALSE(h.Close().ok());  // close reports the failed partition
  ASSERT_TRUE(h.Open().ok());
  EXPECT_EQ(h.Produce("events", 0, MakeBatch(1), -1)->error_code(), ErrorCode::NONE);
}

TEST(BrokerRecoveryTest, AcksAllTimesOutWhileTheSyncIsHeld) {
  BrokerHarness h(FaultOptions());
  ASSERT_TRUE(h.Open().ok());
  ASSERT_EQ(h.CreateTopic("events", 1).topics(0).error_code(), ErrorCode::NONE);
  const int shard = ShardOf(h, "events", 0);
  h.Do(shard, [&] { h.fault_fs(shard).HoldSyncs(); });
  auto r = h.Produce("events", 0, MakeBatch(1), -1, 100);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->error_code(), ErrorCode::REQUEST_TIMED_OUT);
  h.Do(shard, [&] { h.fault_fs(shard).ReleaseSyncs(); });
}

}  // namespace
}  // namespace spool::testing
