// A small batch checked byte for byte against a layout written out by hand from the field
// table of Kafka's RecordBatch v2 (REFERENCE.md). The CRC literal was computed separately with
// a bit-at-a-time CRC-32C over bytes 21..86, not with Spool's code.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_reader.h"

namespace spool::record {
namespace {

std::vector<std::byte> Bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

// Two records, producer id 1000, epoch 5, base sequence 42, timestamps 1700000000000 and +5.
const std::vector<std::byte>& Golden() {
  static const std::vector<std::byte> golden = Bytes({
      // 0: baseOffset int64 = 0
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      // 8: batchLength int32 = 75 (87 bytes in all - 12)
      0x00, 0x00, 0x00, 0x4b,
      // 12: partitionLeaderEpoch int32 = -1
      0xff, 0xff, 0xff, 0xff,
      // 16: magic int8 = 2
      0x02,
      // 17: crc uint32 = CRC-32C of bytes 21..86
      0xd6, 0x8a, 0x28, 0x58,
      // 21: attributes int16 = 0 (no compression, create time)
      0x00, 0x00,
      // 23: lastOffsetDelta int32 = 1
      0x00, 0x00, 0x00, 0x01,
      // 27: baseTimestamp int64 = 1700000000000 = 0x18BCFE56800
      0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
      // 35: maxTimestamp int64 = 1700000000005
      0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05,
      // 43: producerId int64 = 1000
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8,
      // 51: producerEpoch int16 = 5
      0x00, 0x05,
      // 53: baseSequence int32 = 42
      0x00, 0x00, 0x00, 0x2a,
      // 57: recordsCount int32 = 2
      0x00, 0x00, 0x00, 0x02,
      // 61: record 0: length 9 (zigzag 0x12), attributes 0, timestampDelta 0, offsetDelta 0,
      //     keyLength 1 (0x02) "k", valueLength 2 (0x04) "v1", headerCount 0
      0x12, 0x00, 0x00, 0x00, 0x02, 'k', 0x04, 'v', '1', 0x00,
      // 71: record 1: length 15 (0x1e), attributes 0, timestampDelta 5 (0x0a), offsetDelta 1
      //     (0x02), keyLength -1 (0x01, null), valueLength 5 (0x0a) "hello", headerCount 1
      //     (0x02), header keyLength 1 (0x02) "h", valueLength 1 (0x02) "x"
      0x1e, 0x00, 0x0a, 0x02, 0x01, 0x0a, 'h', 'e', 'l', 'l', 'o', 0x02, 0x02, 'h', 0x02, 'x',
      // 87: end
  });
  return golden;
}

constexpr int64_t kTimestamp = 1'700'000'000'000;

TEST(BatchGoldenTest, BuilderWritesTheExactLayout) {
  BuilderOptions opts;
  opts.producer_id = 1000;
  opts.producer_epoch = 5;
  opts.base_sequence = 42;
  BatchBuilder builder(opts);
  builder.Append(kTimestamp, "k", "v1");
  const Header headers[] = {{"h", AsBytes("x")}};
  builder.Append(kTimestamp + 5, std::nullopt, AsBytes("hello"), headers);
  StatusOr<std::vector<std::byte>> batch = builder.Seal();
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), Golden().size());
  for (size_t i = 0; i < Golden().size(); ++i) {
    EXPECT_EQ((*batch)[i], Golden()[i]) << "byte " << i;
  }
}

TEST(BatchGoldenTest, ReaderDecodesTheExactLayout) {
  StatusOr<BatchReader> reader = BatchReader::Open(Golden());
  ASSERT_TRUE(reader.ok()) << reader.status();
  const BatchHeader& h = reader->header();
  EXPECT_EQ(h.base_offset, 0);
  EXPECT_EQ(h.batch_length, 75);
  EXPECT_EQ(h.leader_epoch, -1);
  EXPECT_EQ(h.crc, 0xd68a2858u);
  EXPECT_EQ(h.last_offset_delta, 1);
  EXPECT_EQ(h.base_timestamp, kTimestamp);
  EXPECT_EQ(h.max_timestamp, kTimestamp + 5);
  EXPECT_EQ(h.producer_id, 1000);
  EXPECT_EQ(h.producer_epoch, 5);
  EXPECT_EQ(h.base_sequence, 42);
  EXPECT_EQ(h.records_count, 2);

  RecordView r;
  ASSERT_TRUE(*reader->Next(&r));
  EXPECT_EQ(r.offset, 0);
  EXPECT_EQ(r.timestamp, kTimestamp);
  EXPECT_EQ(AsString(*r.key), "k");
  EXPECT_EQ(AsString(*r.value), "v1");
  EXPECT_TRUE(r.headers.empty());
  ASSERT_TRUE(*reader->Next(&r));
  EXPECT_EQ(r.offset, 1);
  EXPECT_EQ(r.timestamp, kTimestamp + 5);
  EXPECT_FALSE(r.key.has_value());
  EXPECT_EQ(AsString(*r.value), "hello");
  const std::vector<Header> headers = r.headers.ToVector();
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0].key, "h");
  EXPECT_EQ(AsString(*headers[0].value), "x");
  EXPECT_FALSE(*reader->Next(&r));
}

TEST(BatchGoldenTest, StampingChangesOnlyItsOwnBytes) {
  std::vector<std::byte> batch = Golden();
  StampBaseOffset(batch, 0x0102030405060708);
  StampLeaderEpoch(batch, 7);
  std::vector<std::byte> want = Golden();
  const std::vector<std::byte> offset = Bytes({1, 2, 3, 4, 5, 6, 7, 8});
  const std::vector<std::byte> epoch = Bytes({0, 0, 0, 7});
  std::copy(offset.begin(), offset.end(), want.begin() + kBaseOffsetPos);
  std::copy(epoch.begin(), epoch.end(), want.begin() + kLeaderEpochPos);
  EXPECT_EQ(batch, want);
  StatusOr<BatchReader> reader = BatchReader::Open(batch);
  ASSERT_TRUE(reader.ok()) << reader.status();
  RecordView r;
  ASSERT_TRUE(*reader->Next(&r));
  ASSERT_TRUE(*reader->Next(&r));
  EXPECT_EQ(r.offset, 0x0102030405060709);
}

}  // namespace
}  // namespace spool::record
