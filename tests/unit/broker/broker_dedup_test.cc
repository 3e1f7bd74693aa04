// The leader's dedup of idempotent producers (broker/partition.h, "Idempotent producers"): a
// retried batch is answered with its original offsets and not written again, also after a
// restart (the table is loaded from a producer-state snapshot, written at clean shutdown, and the
// log's batch headers after it; also after a kill); sequence gaps, old epochs and unknown
// producers are refused with Kafka's codes.
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "tests/support/broker_test_util.h"

namespace spool::testing {
namespace {

using v1::ErrorCode;

std::vector<std::byte> IdempotentBatch(int64_t producer_id, int16_t epoch, int32_t sequence,
                                       int records, const std::string& value) {
  record::BuilderOptions o;
  o.producer_id = producer_id;
  o.producer_epoch = epoch;
  o.base_sequence = sequence;
  record::BatchBuilder b(o);
  for (int i = 0; i < records; i++) b.Append(1'700'000'000'000 + i, "k", value);
  StatusOr<std::vector<std::byte>> sealed = b.Seal();
  EXPECT_TRUE(sealed.ok()) << sealed.status();
  return sealed.ok() ? *std::move(sealed) : std::vector<std::byte>();
}

class BrokerDedupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h_.Open().ok());
    ASSERT_EQ(h_.CreateTopic("d", 1).topics(0).error_code(), ErrorCode::NONE);
  }
  // Produces and returns (error, base offset).
  std::pair<int32_t, int64_t> Send(const std::vector<std::byte>& batch, int acks = -1) {
    std::optional<v1::PartitionProduceResponse> r = h_.Produce("d", 0, batch, acks);
    EXPECT_TRUE(r.has_value());
    if (!r.has_value()) return {-1, -1};
    return {r->error_code(), r->base_offset()};
  }
  int64_t End() { return h_.ListOffset("d", 0, v1::OFFSET_SPEC_LATEST).offset(); }

  BrokerHarness h_;
};

TEST_F(BrokerDedupTest, ARetriedBatchGetsItsOriginalOffsetAndIsNotWrittenAgain) {
  const auto first = IdempotentBatch(7, 0, 0, 3, "a");
  const auto second = IdempotentBatch(7, 0, 3, 2, "b");
  EXPECT_EQ(Send(first), std::make_pair(int32_t{ErrorCode::NONE}, int64_t{0}));
  EXPECT_EQ(Send(second), std::make_pair(int32_t{ErrorCode::NONE}, int64_t{3}));
  // Both retried, with either acks: the original offsets, nothing appended.
  EXPECT_EQ(Send(first), std::make_pair(int32_t{ErrorCode::NONE}, int64_t{0}));
  EXPECT_EQ(Send(second, 1), std::make_pair(int32_t{ErrorCode::NONE}, int64_t{3}));
  EXPECT_EQ(End(), 5);
  // A gap, an older epoch, an unknown producer not starting at 0.
  EXPECT_EQ(Send(IdempotentBatch(7, 0, 9, 1, "gap")).first,
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
  EXPECT_EQ(Send(IdempotentBatch(8, 0, 4, 1, "new")).first, ErrorCode::UNKNOWN_PRODUCER_ID);
  EXPECT_EQ(Send(IdempotentBatch(7, 1, 0, 1, "bump")).first, ErrorCode::NONE);
  EXPECT_EQ(Send(IdempotentBatch(7, 0, 5, 1, "old")).first, ErrorCode::INVALID_PRODUCER_EPOCH);
  EXPECT_EQ(End(), 6);
  // Batches without a producer id are never deduplicated.
  const auto plain = MakeBatch(1);
  EXPECT_EQ(Send(plain).second, 6);
  EXPECT_EQ(Send(plain).second, 7);
}

TEST_F(BrokerDedupTest, ARetryAfterARestartIsStillADuplicate) {
  const auto first = IdempotentBatch(11, 2, 0, 4, "x");
  ASSERT_EQ(Send(first).first, ErrorCode::NONE);
  ASSERT_TRUE(h_.Close().ok());
  ASSERT_TRUE(h_.Open().ok());
  EXPECT_EQ(Send(first), std::make_pair(int32_t{ErrorCode::NONE}, int64_t{0}));
  EXPECT_EQ(End(), 4);
  EXPECT_EQ(Send(IdempotentBatch(11, 2, 4, 1, "y")).second, 4);
}

TEST_F(BrokerDedupTest, ACleanShutdownWritesASnapshotAndAKilledRestartStillDeduplicates) {
  const auto first = IdempotentBatch(21, 0, 0, 3, "a");
  const auto second = IdempotentBatch(21, 0, 3, 2, "b");
  ASSERT_EQ(Send(first).first, ErrorCode::NONE);
  ASSERT_TRUE(h_.Close().ok());
  // The partition directory holds the snapshot at the log end.
  const std::filesystem::path dir = std::filesystem::path(h_.data_dir()) / "d-0";
  EXPECT_TRUE(std::filesystem::exists(dir / "00000000000000000003.producers"));

  ASSERT_TRUE(h_.Open().ok());
  EXPECT_EQ(Send(second), std::make_pair(int32_t{ErrorCode::NONE}, int64_t{3}));
  h_.Kill();  // no new snapshot: the batch at 3 is known from the log after the one at 3
  ASSERT_TRUE(h_.Open().ok());
  EXPECT_EQ(Send(first), std::make_pair(int32_t{ErrorCode::NONE}, int64_t{0}));
  EXPECT_EQ(Send(second), std::make_pair(int32_t{ErrorCode::NONE}, int64_t{3}));
  EXPECT_EQ(End(), 5);
  EXPECT_EQ(Send(IdempotentBatch(21, 0, 5, 1, "c")).second, 5);
}

}  // namespace
}  // namespace spool::testing
