// The __consumer_offsets record format (broker/GROUPS.md "Record formats") and the group ->
// partition hash: byte-exact encodings, round trips, and one test per decoding error branch.
#include "broker/group_records.h"

#include <string>

#include "gtest/gtest.h"

namespace spool::broker {
namespace {

std::span<const std::byte> Bytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

TEST(GroupPartitionTest, KafkaHashRule) {
  // Java's String.hashCode: "a" = 97, "ab" = 97 * 31 + 98 = 3105.
  EXPECT_EQ(GroupPartition("a", 1000), 97);
  EXPECT_EQ(GroupPartition("ab", 1000), 3105 % 1000);
  EXPECT_EQ(GroupPartition("g", 8), 103 % 8);
  // "polygenelubricants".hashCode() is Integer.MIN_VALUE; Kafka's Utils.abs makes it 0.
  EXPECT_EQ(GroupPartition("polygenelubricants", 7), 0);
  // A negative hash: "zzzzzzzz".hashCode() = -1910022912, abs 1910022912, % 50 = 12.
  EXPECT_EQ(GroupPartition("zzzzzzzz", 50), 12);
  EXPECT_EQ(GroupPartition("anything", 1), 0);
}

TEST(GroupRecordsTest, OffsetKeyAndValueBytes) {
  GroupRecord r = GroupRecord::Offset("g", "t", 1, OffsetValue{5, 2, "m", 7});
  EXPECT_EQ(EncodeRecordKey(r), std::string("\x00\x01\x00\x01g\x00\x01t\x00\x00\x00\x01", 12));
  std::optional<std::string> v = EncodeRecordValue(r);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, std::string("\x00\x00"                           // version 0
                            "\x00\x00\x00\x00\x00\x00\x00\x05"   // offset
                            "\x00\x00\x00\x02"                   // leader epoch
                            "\x00\x01m"                          // metadata
                            "\x00\x00\x00\x00\x00\x00\x00\x07",  // commit timestamp
                            25));
  StatusOr<GroupRecord> back = DecodeRecord(Bytes(EncodeRecordKey(r)), Bytes(*v));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->group, "g");
  EXPECT_EQ(back->topic, "t");
  EXPECT_EQ(back->partition, 1);
  EXPECT_EQ(back->offset, r.offset);
}

TEST(GroupRecordsTest, GroupMetadataRoundTrip) {
  GroupMetadataValue g;
  g.protocol_type = "consumer";
  g.generation = 9;
  g.protocol = "range";
  g.leader = "c-1";
  g.state_timestamp_ms = 1234;
  g.members.push_back(MemberRecord{"c-1", "i-1", "c", "127.0.0.1:5", 30000, 10000,
                                   std::string("\x00sub", 4), "assign"});
  g.members.push_back(MemberRecord{"c-2", "", "c", "h", 1, 2, "", ""});
  GroupRecord r = GroupRecord::Group("grp", g);
  EXPECT_EQ(EncodeRecordKey(r), std::string("\x00\x02\x00\x03grp", 7));
  std::optional<std::string> v = EncodeRecordValue(r);
  ASSERT_TRUE(v.has_value());
  StatusOr<GroupRecord> back = DecodeRecord(Bytes(EncodeRecordKey(r)), Bytes(*v));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->kind, GroupRecord::Kind::kGroup);
  EXPECT_EQ(back->metadata, g);
}

TEST(GroupRecordsTest, TombstonesHaveNullValues) {
  GroupRecord r = GroupRecord::Offset("g", "t", 0, std::nullopt);
  EXPECT_FALSE(EncodeRecordValue(r).has_value());
  StatusOr<GroupRecord> back = DecodeRecord(Bytes(EncodeRecordKey(r)), std::nullopt);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->tombstone());
  GroupRecord gr = GroupRecord::Group("g", std::nullopt);
  back = DecodeRecord(Bytes(EncodeRecordKey(gr)), std::nullopt);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->tombstone());
  EXPECT_EQ(back->kind, GroupRecord::Kind::kGroup);
}

TEST(GroupRecordsTest, DecodingErrors) {
  const std::string key = EncodeRecordKey(GroupRecord::Offset("g", "t", 0, std::nullopt));
  const std::string value = *EncodeRecordValue(GroupRecord::Offset("g", "t", 0, OffsetValue{}));
  // A key too short for its version.
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeRecord(Bytes(std::string("\x00", 1)), {}).status()));
  // A key cut inside a field, and one with bytes left over.
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeRecord(Bytes(key.substr(0, 5)), {}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeRecord(Bytes(key + "x"), {}).status()));
  // An unknown key version: a record type of a newer broker.
  EXPECT_TRUE(
      absl::IsUnimplemented(DecodeRecord(Bytes(std::string("\x00\x09\x00\x01g", 5)), {}).status()));
  // Values: unknown version, cut short, trailing bytes.
  std::string bad_version = value;
  bad_version[1] = 5;
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeRecord(Bytes(key), Bytes(bad_version)).status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(DecodeRecord(Bytes(key), Bytes(value.substr(0, 10))).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeRecord(Bytes(key), Bytes(value + "x")).status()));
  // A group value whose member count promises more than it holds.
  GroupMetadataValue g;
  g.members.push_back(MemberRecord{});
  std::string gv = *EncodeRecordValue(GroupRecord::Group("g", g));
  const std::string gk = EncodeRecordKey(GroupRecord::Group("g", std::nullopt));
  EXPECT_TRUE(absl::IsInvalidArgument(
      DecodeRecord(Bytes(gk), Bytes(gv.substr(0, gv.size() - 1))).status()));
}

}  // namespace
}  // namespace spool::broker
