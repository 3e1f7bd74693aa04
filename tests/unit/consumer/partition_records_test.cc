// Decoding one partition's fetch payload into ConsumerRecords (consumer/partition_records.h):
// whole batches, the head of the first batch below the fetch offset, a cut last batch, a cut
// first batch, corrupt batches, compressed batches, control batches, max-records resumption.
#include "consumer/partition_records.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_header.h"
#include "tests/unit/consumer/consumer_test_util.h"

namespace spool::consumer {
namespace {

using spool::testing::MakeBatch;
using spool::testing::Payload;

std::shared_ptr<const std::string> Topic() {
  return std::make_shared<const std::string>("t");
}

PartitionRecords Records(const Payload& p, int64_t fetch_offset, size_t bytes) {
  return PartitionRecords(Topic(), 3, fetch_offset, p.first(bytes), p.bytes);
}

std::vector<int64_t> Offsets(const ConsumerRecords& records) {
  std::vector<int64_t> out;
  for (const ConsumerRecord& r : records) out.push_back(r.offset);
  return out;
}

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t o = from; o < to; ++o) out.push_back(o);
  return out;
}

TEST(PartitionRecordsTest, DecodesEveryFieldOfWholeBatches) {
  Payload p;
  p.Append(MakeBatch(10, 3));
  p.Append(MakeBatch(13, 2));
  PartitionRecords records = Records(p, 10, p.bytes->size());
  ConsumerRecords out;
  EXPECT_EQ(records.Drain(100, &out), 5u);
  EXPECT_TRUE(records.done());
  EXPECT_TRUE(records.error().ok());
  EXPECT_EQ(records.next_offset(), 15);
  ASSERT_EQ(Offsets(out), Range(10, 15));
  const ConsumerRecord& r = out[1];
  EXPECT_EQ(r.topic, "t");
  EXPECT_EQ(r.partition, 3);
  EXPECT_EQ(r.timestamp, 1'700'000'000'001);
  EXPECT_EQ(r.timestamp_type, record::TimestampType::kCreateTime);
  ASSERT_TRUE(r.key && r.value);
  EXPECT_EQ(*r.key, "k11");
  EXPECT_EQ(*r.value, "v11");
  std::vector<record::Header> headers = r.headers.ToVector();
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0].key, "h");
  ASSERT_TRUE(headers[0].value);
  EXPECT_EQ(record::AsString(*headers[0].value), "11");
  EXPECT_EQ(out.payload_bytes(), 5u * 6u);
  OwnedRecord owned = r.ToOwned();
  EXPECT_EQ(owned.topic, "t");
  EXPECT_EQ(owned.value, "v11");
  ASSERT_EQ(owned.headers.size(), 1u);
  EXPECT_EQ(owned.headers[0].second, "11");
}

TEST(PartitionRecordsTest, SkipsRecordsBeforeTheFetchOffsetInTheFirstBatch) {
  Payload p;
  p.Append(MakeBatch(0, 10));
  p.Append(MakeBatch(10, 5));
  PartitionRecords records = Records(p, 7, p.bytes->size());
  ConsumerRecords out;
  EXPECT_EQ(records.Drain(100, &out), 8u);
  EXPECT_EQ(Offsets(out), Range(7, 15));
  EXPECT_EQ(records.next_offset(), 15);
}

TEST(PartitionRecordsTest, SkipsWholeBatchesBelowTheFetchOffset) {
  Payload p;
  p.Append(MakeBatch(0, 4));
  p.Append(MakeBatch(4, 4));
  PartitionRecords records = Records(p, 6, p.bytes->size());
  ConsumerRecords out;
  EXPECT_EQ(records.Drain(100, &out), 2u);
  EXPECT_EQ(Offsets(out), Range(6, 8));
}

TEST(PartitionRecordsTest, CutLastBatchIsSkippedAndRefetchedFromItsStart) {
  Payload p;
  const std::vector<std::byte> first = MakeBatch(0, 4);
  const std::vector<std::byte> second = MakeBatch(4, 4);
  p.Append(first);
  p.Append(second);
  // Cut inside the second batch's records, and inside its header.
  for (size_t cut : {first.size() + second.size() - 1, first.size() + 30, first.size() + 5}) {
    SCOPED_TRACE(cut);
    const BatchScan scan = ScanBatches(p.first(cut), 0);
    EXPECT_TRUE(scan.error.ok()) << scan.error;
    EXPECT_EQ(scan.whole_batches, 1u);
    EXPECT_EQ(scan.whole_bytes, first.size());
    EXPECT_EQ(scan.next_offset, 4);
    if (cut >= first.size() + 12) {
      EXPECT_EQ(scan.truncated_batch_size, second.size());
    } else {
      EXPECT_TRUE(scan.truncated_batch_size.has_value());
    }
    PartitionRecords records = Records(p, 0, cut);
    ConsumerRecords out;
    EXPECT_EQ(records.Drain(100, &out), 4u);
    EXPECT_TRUE(records.done());
    EXPECT_TRUE(records.error().ok()) << records.error();
    EXPECT_EQ(records.next_offset(), 4);
  }
}

TEST(PartitionRecordsTest, CutFirstBatchReportsTheSizeToFetch) {
  Payload p;
  const std::vector<std::byte> batch = MakeBatch(20, 50);
  p.Append(batch);
  const BatchScan scan = ScanBatches(p.first(100), 20);
  EXPECT_EQ(scan.whole_batches, 0u);
  EXPECT_EQ(scan.next_offset, 20);
  EXPECT_EQ(scan.truncated_batch_size, batch.size());
  PartitionRecords records = Records(p, 20, 100);
  ConsumerRecords out;
  EXPECT_EQ(records.Drain(100, &out), 0u);
  EXPECT_TRUE(records.done());
  EXPECT_EQ(records.next_offset(), 20);
}

TEST(PartitionRecordsTest, MaxRecordsResumesWhereItStopped) {
  Payload p;
  p.Append(MakeBatch(0, 7));
  p.Append(MakeBatch(7, 7));
  PartitionRecords records = Records(p, 2, p.bytes->size());
  std::vector<int64_t> all;
  int calls = 0;
  while (!records.done()) {
    ConsumerRecords out;
    const size_t n = records.Drain(3, &out);
    EXPECT_LE(n, 3u);
    for (int64_t o : Offsets(out)) all.push_back(o);
    if (n > 0) {
      EXPECT_EQ(records.next_offset(), out[out.size() - 1].offset + 1);
    }
    ASSERT_LT(++calls, 20);
  }
  EXPECT_EQ(all, Range(2, 14));
}

TEST(PartitionRecordsTest, CorruptBatchStopsAfterTheRecordsBeforeIt) {
  Payload p;
  const std::vector<std::byte> first = MakeBatch(0, 3);
  p.Append(first);
  p.Append(MakeBatch(3, 3));
  p.Append(MakeBatch(6, 3));
  // Flip a byte of the second batch's records: its CRC no longer matches.
  (*p.bytes)[first.size() + record::kHeaderSize + 2] ^= std::byte{0x40};
  PartitionRecords records = Records(p, 0, p.bytes->size());
  ConsumerRecords out;
  EXPECT_EQ(records.Drain(100, &out), 3u);
  EXPECT_EQ(Offsets(out), Range(0, 3));
  EXPECT_TRUE(records.done());
  EXPECT_EQ(records.error().code(), absl::StatusCode::kDataLoss) << records.error();
  EXPECT_NE(records.error().message().find("t-3"), std::string::npos) << records.error();
  EXPECT_EQ(records.next_offset(), 3);
  ConsumerRecords again;
  EXPECT_EQ(records.Drain(100, &again), 0u);
}

TEST(PartitionRecordsTest, MalformedHeaderIsAnErrorNotACut) {
  Payload p;
  const std::vector<std::byte> first = MakeBatch(0, 2);
  p.Append(first);
  p.Append(MakeBatch(2, 2));
  (*p.bytes)[first.size() + record::kMagicPos] = std::byte{7};
  const BatchScan scan = ScanBatches(p.span(), 0);
  EXPECT_EQ(scan.whole_batches, 1u);
  EXPECT_EQ(scan.error.code(), absl::StatusCode::kInvalidArgument) << scan.error;
  PartitionRecords records = Records(p, 0, p.bytes->size());
  ConsumerRecords out;
  EXPECT_EQ(records.Drain(100, &out), 2u);
  EXPECT_EQ(records.error().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(records.next_offset(), 2);
}

TEST(PartitionRecordsTest, CompressedRecordsOutliveTheDecoder) {
  for (record::Compression c : {record::Compression::kLz4, record::Compression::kZstd}) {
    SCOPED_TRACE(static_cast<int>(c));
    Payload p;
    p.Append(MakeBatch(100, 20, c));
    ConsumerRecords out;
    {
      PartitionRecords records = Records(p, 105, p.bytes->size());
      EXPECT_EQ(records.Drain(100, &out), 15u);
    }
    p = Payload();  // drop the test's reference to the fetched bytes too
    ASSERT_EQ(out.size(), 15u);
    EXPECT_EQ(out[0].offset, 105);
    EXPECT_EQ(*out[0].value, "v105");
    EXPECT_EQ(*out[14].key, "k119");
    EXPECT_EQ(out[14].topic, "t");
  }
}

TEST(PartitionRecordsTest, UncompressedRecordsKeepTheFetchBufferAlive) {
  Payload p;
  p.Append(MakeBatch(0, 2));
  ConsumerRecords out;
  {
    PartitionRecords records = Records(p, 0, p.bytes->size());
    records.Drain(100, &out);
  }
  std::weak_ptr<std::vector<std::byte>> weak = p.bytes;
  p = Payload();
  EXPECT_FALSE(weak.expired());
  EXPECT_EQ(*out[1].value, "v1");
  out = ConsumerRecords();
  EXPECT_TRUE(weak.expired());
}

TEST(PartitionRecordsTest, ControlBatchesAreSkipped) {
  Payload p;
  p.Append(MakeBatch(0, 2));
  std::vector<std::byte> control = MakeBatch(2, 1);
  StatusOr<record::BatchHeader> h = record::ParseHeader(control);
  ASSERT_TRUE(h.ok());
  h->attributes |= record::kControlBit;
  record::WriteHeader(*h, control);
  record::StoreCrc(control);
  p.Append(control);
  p.Append(MakeBatch(3, 2));
  PartitionRecords records = Records(p, 0, p.bytes->size());
  ConsumerRecords out;
  EXPECT_EQ(records.Drain(100, &out), 4u);
  EXPECT_EQ(Offsets(out), (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ(records.next_offset(), 5);
}

TEST(PartitionRecordsTest, EmptyBytesAreDoneAtOnce) {
  Payload p;
  PartitionRecords records = Records(p, 9, 0);
  ConsumerRecords out;
  EXPECT_EQ(records.Drain(10, &out), 0u);
  EXPECT_TRUE(records.done());
  EXPECT_EQ(records.next_offset(), 9);
  const BatchScan scan = ScanBatches({}, 9);
  EXPECT_EQ(scan.next_offset, 9);
  EXPECT_FALSE(scan.truncated_batch_size.has_value());
}

}  // namespace
}  // namespace spool::consumer
