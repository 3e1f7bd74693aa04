// producer/partitioner.h: murmur2 against Kafka's published vectors, Kafka's partition choice
// for keys, and sticky partitioning for null keys.
#include "producer/partitioner.h"

#include <climits>
#include <set>

#include "gtest/gtest.h"

namespace spool::producer {
namespace {

// Kafka's UtilsTest.testMurmur2 vectors, also checked against an independent transcription of
// the published algorithm (Utils.murmur2, seed 0x9747b28c) written outside this code base.
TEST(Murmur2Test, KafkaVectors) {
  EXPECT_EQ(Murmur2("21"), -973932308);
  EXPECT_EQ(Murmur2("foobar"), -790332482);
  EXPECT_EQ(Murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(Murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(Murmur2("abc"), 479470107);
}

TEST(Murmur2Test, EmptyAndHighBytes) {
  // From the same transcription: the empty key, and bytes >= 0x80 (Java masks them with 0xff).
  EXPECT_EQ(Murmur2(""), 275646681);
  EXPECT_EQ(Murmur2(std::string("\xff\x80", 2)), -442788720);
}

TEST(KeyPartitionTest, ToPositiveThenModulo) {
  EXPECT_EQ(ToPositive(-1), INT_MAX);
  EXPECT_EQ(ToPositive(INT_MIN), 0);
  EXPECT_EQ(ToPositive(5), 5);
  // (murmur2(k) & 0x7fffffff) % n, computed by hand from the vectors above.
  EXPECT_EQ(KeyPartition("21", 3), 0);
  EXPECT_EQ(KeyPartition("foobar", 10), 6);
  EXPECT_EQ(KeyPartition("a-little-bit-longer-string", 10), 9);
  EXPECT_EQ(KeyPartition("abc", 10), 7);
  EXPECT_EQ(KeyPartition("anything", 1), 0);
}

TEST(StickyPartitionTest, SticksUntilItsBatchCloses) {
  StickyPartition sticky(42);
  int32_t first = sticky.current(8);
  ASSERT_GE(first, 0);
  ASSERT_LT(first, 8);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sticky.current(8), first);
  sticky.on_batch_closed((first + 1) % 8, 8);  // another partition's batch: no switch
  EXPECT_EQ(sticky.current(8), first);
  sticky.on_batch_closed(first, 8);
  int32_t second = sticky.current(8);
  EXPECT_NE(second, first);
  EXPECT_GE(second, 0);
  EXPECT_LT(second, 8);
}

TEST(StickyPartitionTest, SpreadsBatchesOverEveryPartition) {
  StickyPartition sticky(7);
  std::set<int32_t> seen;
  for (int i = 0; i < 500; ++i) {
    int32_t p = sticky.current(5);
    seen.insert(p);
    sticky.on_batch_closed(p, 5);
  }
  EXPECT_EQ(seen.size(), 5u);
}

TEST(StickyPartitionTest, OnePartition) {
  StickyPartition sticky(1);
  EXPECT_EQ(sticky.current(1), 0);
  sticky.on_batch_closed(0, 1);
  EXPECT_EQ(sticky.current(1), 0);
}

}  // namespace
}  // namespace spool::producer
