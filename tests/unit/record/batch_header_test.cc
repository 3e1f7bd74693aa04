#include "log/record/batch_header.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "common/byte_order.h"
#include "common/crc32c.h"
#include "gtest/gtest.h"
#include "log/record/batch_builder.h"

namespace spool::record {
namespace {

std::vector<std::byte> SampleBatch() {
  BatchBuilder builder;
  builder.Append(1000, "key-a", "value-a");
  builder.Append(1001, "key-b", "value-b");
  StatusOr<std::vector<std::byte>> batch = builder.Seal();
  EXPECT_TRUE(batch.ok()) << batch.status();
  return batch.ok() ? *batch : std::vector<std::byte>{};
}

BatchHeader SampleHeader() {
  BatchHeader h;
  h.base_offset = 0x0102030405060708;
  h.batch_length = static_cast<int32_t>(kHeaderSize - kLogOverhead);
  h.leader_epoch = 0x11223344;
  h.crc = 0xA1B2C3D4;
  h.attributes = 0x0013;
  h.last_offset_delta = 0;
  h.base_timestamp = -5;
  h.max_timestamp = 0x7eadbeefcafe;
  h.producer_id = 77;
  h.producer_epoch = 3;
  h.base_sequence = 9;
  h.records_count = 0;
  return h;
}

TEST(BatchHeaderTest, WriteThenParseRoundTripsEveryField) {
  std::vector<std::byte> bytes(kHeaderSize);
  const BatchHeader h = SampleHeader();
  WriteHeader(h, bytes);
  StatusOr<BatchHeader> got = ParseHeader(bytes);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->base_offset, h.base_offset);
  EXPECT_EQ(got->batch_length, h.batch_length);
  EXPECT_EQ(got->leader_epoch, h.leader_epoch);
  EXPECT_EQ(got->magic, kMagicV2);
  EXPECT_EQ(got->crc, h.crc);
  EXPECT_EQ(got->attributes, h.attributes);
  EXPECT_EQ(got->last_offset_delta, h.last_offset_delta);
  EXPECT_EQ(got->base_timestamp, h.base_timestamp);
  EXPECT_EQ(got->max_timestamp, h.max_timestamp);
  EXPECT_EQ(got->producer_id, h.producer_id);
  EXPECT_EQ(got->producer_epoch, h.producer_epoch);
  EXPECT_EQ(got->base_sequence, h.base_sequence);
  EXPECT_EQ(got->records_count, h.records_count);
  EXPECT_EQ(got->compression(), Compression::kLz4);
  EXPECT_EQ(got->timestamp_type(), TimestampType::kCreateTime);
  EXPECT_TRUE(got->is_transactional());
  EXPECT_FALSE(got->is_control());
  // Big-endian at the documented positions.
  EXPECT_EQ(bytes[kBaseOffsetPos], std::byte{0x01});
  EXPECT_EQ(bytes[kBaseOffsetPos + 7], std::byte{0x08});
  EXPECT_EQ(bytes[kLeaderEpochPos], std::byte{0x11});
  EXPECT_EQ(bytes[kMagicPos], std::byte{0x02});
  EXPECT_EQ(bytes[kCrcPos], std::byte{0xA1});
  EXPECT_EQ(bytes[kAttributesPos + 1], std::byte{0x13});
}

TEST(BatchHeaderTest, ShortInputIsOutOfRange) {
  std::vector<std::byte> bytes(kHeaderSize);
  WriteHeader(SampleHeader(), bytes);
  StatusOr<BatchHeader> got = ParseHeader(std::span(bytes).first(kHeaderSize - 1));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kOutOfRange) << got.status();
  EXPECT_EQ(ParseHeader({}).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(BatchHeaderTest, BadMagicIsInvalid) {
  for (int magic : {0, 1, 3, -1}) {
    BatchHeader h = SampleHeader();
    h.magic = static_cast<int8_t>(magic);
    std::vector<std::byte> bytes(kHeaderSize);
    WriteHeader(h, bytes);
    StatusOr<BatchHeader> got = ParseHeader(bytes);
    ASSERT_FALSE(got.ok()) << magic;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
    EXPECT_NE(std::string(got.status().message()).find("magic"), std::string_view::npos)
        << got.status();
  }
}

TEST(BatchHeaderTest, LengthBounds) {
  auto parse = [](int32_t length, size_t max) {
    BatchHeader h = SampleHeader();
    h.batch_length = length;
    std::vector<std::byte> bytes(kHeaderSize);
    WriteHeader(h, bytes);
    return ParseHeader(bytes, max).status();
  };
  const auto min = static_cast<int32_t>(kHeaderSize - kLogOverhead);  // 49
  EXPECT_TRUE(parse(min, 1 << 20).ok());
  EXPECT_EQ(parse(min - 1, 1 << 20).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parse(-1, 1 << 20).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parse(std::numeric_limits<int32_t>::min(), 1 << 20).code(),
            absl::StatusCode::kInvalidArgument);
  // The limit counts the whole batch, overhead included.
  EXPECT_TRUE(parse(1000 - static_cast<int32_t>(kLogOverhead), 1000).ok());
  EXPECT_EQ(parse(1001 - static_cast<int32_t>(kLogOverhead), 1000).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parse(min, 10).code(), absl::StatusCode::kInvalidArgument);
}

TEST(BatchHeaderTest, NegativeCountsAreInvalid) {
  for (int which = 0; which < 2; ++which) {
    BatchHeader h = SampleHeader();
    (which == 0 ? h.last_offset_delta : h.records_count) = -1;
    std::vector<std::byte> bytes(kHeaderSize);
    WriteHeader(h, bytes);
    EXPECT_EQ(ParseHeader(bytes).status().code(), absl::StatusCode::kInvalidArgument) << which;
  }
}

TEST(BatchHeaderTest, ComputeCrcCoversAttributesToTheEnd) {
  std::vector<std::byte> batch = SampleBatch();
  ASSERT_GT(batch.size(), kHeaderSize);
  const uint32_t want =
      crc32c::Value(std::span(batch).subspan(kAttributesPos, batch.size() - kAttributesPos));
  EXPECT_EQ(ComputeCrc(batch), want);
  EXPECT_EQ(LoadBigEndian<uint32_t>(batch.data() + kCrcPos), want);
  // Bytes after the batch are not part of it.
  std::vector<std::byte> longer = batch;
  longer.resize(batch.size() + 10, std::byte{0x5a});
  EXPECT_EQ(ComputeCrc(longer), want);
}

TEST(BatchHeaderTest, VerifyAcceptsASealedBatch) {
  std::vector<std::byte> batch = SampleBatch();
  StatusOr<BatchHeader> h = VerifyBatch(batch);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->total_size(), batch.size());
  EXPECT_EQ(h->records_count, 2);
  EXPECT_EQ(h->last_offset_delta, 1);
  // Followed by another batch: only the first is checked.
  std::vector<std::byte> two = batch;
  two.insert(two.end(), batch.begin(), batch.end());
  EXPECT_TRUE(VerifyBatch(two).ok());
}

TEST(BatchHeaderTest, VerifyRejectsATornBatch) {
  std::vector<std::byte> batch = SampleBatch();
  for (size_t cut : {batch.size() - 1, kHeaderSize + 1, kHeaderSize}) {
    StatusOr<BatchHeader> h = VerifyBatch(std::span(batch).first(cut));
    ASSERT_FALSE(h.ok()) << cut;
    EXPECT_EQ(h.status().code(), absl::StatusCode::kOutOfRange) << h.status();
  }
}

TEST(BatchHeaderTest, VerifyDetectsAnyFlipInsideTheCrcRange) {
  const std::vector<std::byte> batch = SampleBatch();
  for (size_t pos = kAttributesPos; pos < batch.size(); ++pos) {
    std::vector<std::byte> bad = batch;
    bad[pos] ^= std::byte{0x40};
    StatusOr<BatchHeader> h = VerifyBatch(bad);
    ASSERT_FALSE(h.ok()) << "flip at " << pos;
    // A flip may also make the header malformed (negative counts); either way it is refused.
    EXPECT_TRUE(h.status().code() == absl::StatusCode::kDataLoss ||
                h.status().code() == absl::StatusCode::kInvalidArgument)
        << h.status();
  }
  // A flip in the stored CRC itself.
  std::vector<std::byte> bad = batch;
  bad[kCrcPos + 3] ^= std::byte{0x01};
  EXPECT_EQ(VerifyBatch(bad).status().code(), absl::StatusCode::kDataLoss);
}

TEST(BatchHeaderTest, StampingKeepsTheCrcValid) {
  std::vector<std::byte> batch = SampleBatch();
  const std::vector<std::byte> crc_before(batch.begin() + kCrcPos, batch.begin() + kCrcPos + 4);
  StampBaseOffset(batch, 0x7000000000000123);
  StampLeaderEpoch(batch, 42);
  StatusOr<BatchHeader> h = VerifyBatch(batch);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->base_offset, 0x7000000000000123);
  EXPECT_EQ(h->leader_epoch, 42);
  EXPECT_EQ(h->last_offset(), 0x7000000000000124);
  EXPECT_EQ(std::vector<std::byte>(batch.begin() + kCrcPos, batch.begin() + kCrcPos + 4),
            crc_before);
  EXPECT_EQ(ComputeCrc(batch), h->crc);
}

TEST(BatchHeaderTest, StoreCrcRepairsAfterAnEdit) {
  std::vector<std::byte> batch = SampleBatch();
  batch[kProducerIdPos + 7] ^= std::byte{0x01};
  EXPECT_EQ(VerifyBatch(batch).status().code(), absl::StatusCode::kDataLoss);
  StoreCrc(batch);
  EXPECT_TRUE(VerifyBatch(batch).ok());
}

}  // namespace
}  // namespace spool::record
