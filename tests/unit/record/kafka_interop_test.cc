// Batches written by Apache Kafka itself, byte for byte: the start of a KRaft
// __cluster_metadata segment (two batches, producer id -1, leader epoch 1) and a one-record
// batch of a user topic (producer id 0). They pin what a golden test of our own builder cannot:
// that the CRC range, field positions and record encoding agree with Kafka's.
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_reader.h"
#include "tests/support/record_test_util.h"

namespace spool::record {
namespace {

std::vector<std::byte> FromHex(std::string_view hex) {
  std::vector<std::byte> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// clang-format off
constexpr std::string_view kClusterMetadata =
    // batch 1: base offset 1, batchLength 79, leader epoch 1, crc 0xb069457c, one record whose
    // value is a FeatureLevelRecord for "metadata.version"
    "00000000000000010000004f0000000102b069457c00000000000000000191e05af81800000191e05af8"
    "18ffffffffffffffffffffffffffff000000013a000000012e010c00116d657461646174612e76657273"
    "696f6e00140000"
    // batch 2: base offset 2, batchLength 154, crc 0x86832f73, two records
    "00000000000000020000009a000000010286832f7300000000000100000191e05b2d1500000191e05b2d"
    "15ffffffffffffffffffffffffffff000000023c000000013001020004666f6f00000000000040008000"
    "000000000085000090010000020182010103010000000000000000000040008000000000000085020000"
    "00010200000001010100000001000000000000000002100000000000400080000000000000010000";

constexpr std::string_view kHelloKafka =
    "0000000000000000000000440000000002abfd049100000000000000000191e05b6d8b00000191e05b6d8b"
    "00000000000000000000000000000000000124000000011848656c6c6f204b61666b612100";
// clang-format on

TEST(KafkaInteropTest, ClusterMetadataSegment) {
  const std::vector<std::byte> segment = FromHex(kClusterMetadata);
  ASSERT_EQ(segment.size(), 91u + 166u);

  StatusOr<BatchReader> first = BatchReader::Open(segment);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->header().base_offset, 1);
  EXPECT_EQ(first->header().total_size(), 91u);
  EXPECT_EQ(first->header().leader_epoch, 1);
  EXPECT_EQ(first->header().crc, 0xb069457cu);
  EXPECT_EQ(first->header().producer_id, -1);
  EXPECT_EQ(first->header().base_timestamp, 1726045943832);
  std::vector<RecordView> records = testing::ReadRecords(*first);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].offset, 1);
  EXPECT_FALSE(records[0].key.has_value());
  ASSERT_TRUE(records[0].value.has_value());
  EXPECT_EQ(records[0].value->size(), 23u);
  EXPECT_NE(std::string(AsString(*records[0].value)).find("metadata.version"), std::string::npos);

  const std::span<const std::byte> rest = std::span(segment).subspan(91);
  StatusOr<BatchReader> second = BatchReader::Open(rest);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->header().base_offset, 2);
  EXPECT_EQ(second->header().last_offset(), 3);
  EXPECT_EQ(second->header().records_count, 2);
  records = testing::ReadRecords(*second);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].offset, 2);
  EXPECT_EQ(records[1].offset, 3);
  EXPECT_NE(std::string(AsString(*records[0].value)).find("foo"), std::string::npos);
}

TEST(KafkaInteropTest, UserTopicBatch) {
  const std::vector<std::byte> batch = FromHex(kHelloKafka);
  StatusOr<BatchReader> reader = BatchReader::Open(batch);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(reader->header().producer_id, 0);
  EXPECT_EQ(reader->header().producer_epoch, 0);
  EXPECT_EQ(reader->header().base_sequence, 0);
  std::vector<RecordView> records = testing::ReadRecords(*reader);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_FALSE(records[0].key.has_value());
  EXPECT_EQ(AsString(*records[0].value), "Hello Kafka!");
  EXPECT_EQ(records[0].timestamp, reader->header().base_timestamp);
}

TEST(KafkaInteropTest, AnyCorruptionOfAKafkaBatchIsCaught) {
  const std::vector<std::byte> batch = FromHex(kHelloKafka);
  for (size_t pos = kAttributesPos; pos < batch.size(); ++pos) {
    std::vector<std::byte> bad = batch;
    bad[pos] ^= std::byte{0x01};
    EXPECT_FALSE(ValidateRecords(bad).ok()) << "flip at " << pos;
  }
}

}  // namespace
}  // namespace spool::record
