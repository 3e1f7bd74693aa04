// The group.* and offsets.* config keys (broker/broker_config.h, broker/README.md).
#include "broker/broker_config.h"
#include "gtest/gtest.h"

namespace spool::broker {
namespace {

TEST(GroupConfigTest, DefaultsAreDocumented) {
  BrokerConfig c;
  EXPECT_EQ(c.groups.min_session_timeout_ms, 6000);
  EXPECT_EQ(c.groups.max_session_timeout_ms, 1800000);
  EXPECT_EQ(c.groups.initial_rebalance_delay_ms, 100);
  EXPECT_EQ(c.groups.offsets_retention_ms, 7LL * 24 * 3600 * 1000);
  EXPECT_EQ(c.groups.offsets_topic_num_partitions, 8);
  EXPECT_EQ(c.groups.offset_metadata_max_bytes, 4096);
}

TEST(GroupConfigTest, KeysApply) {
  BrokerConfig c;
  ASSERT_TRUE(ApplySetting(c, "group.min.session.timeout.ms", "1000").ok());
  ASSERT_TRUE(ApplySetting(c, "group.max.session.timeout.ms", "60000").ok());
  ASSERT_TRUE(ApplySetting(c, "group.initial.rebalance.delay.ms", "0").ok());
  ASSERT_TRUE(ApplySetting(c, "group.max.size", "3").ok());
  ASSERT_TRUE(ApplySetting(c, "offsets.retention.minutes", "2").ok());
  ASSERT_TRUE(ApplySetting(c, "offsets.topic.num.partitions", "3").ok());
  ASSERT_TRUE(ApplySetting(c, "offset.metadata.max.bytes", "10").ok());
  ASSERT_TRUE(ApplySetting(c, "offsets.commit.timeout.ms", "100").ok());
  ASSERT_TRUE(ApplySetting(c, "offsets.retention.check.interval.ms", "50").ok());
  EXPECT_EQ(c.groups.min_session_timeout_ms, 1000);
  EXPECT_EQ(c.groups.max_session_timeout_ms, 60000);
  EXPECT_EQ(c.groups.initial_rebalance_delay_ms, 0);
  EXPECT_EQ(c.groups.max_size, 3);
  EXPECT_EQ(c.groups.offsets_retention_ms, 120000);
  EXPECT_EQ(c.groups.offsets_topic_num_partitions, 3);
  EXPECT_EQ(c.groups.offset_metadata_max_bytes, 10);
  EXPECT_EQ(c.groups.offsets_commit_timeout_ms, 100);
  EXPECT_EQ(c.groups.offsets_retention_check_interval_ms, 50);
  ASSERT_TRUE(ApplySetting(c, "offsets.retention.ms", "-1").ok());
  EXPECT_EQ(c.groups.offsets_retention_ms, -1);
}

TEST(GroupConfigTest, BadValuesAreRefused) {
  BrokerConfig c;
  EXPECT_FALSE(ApplySetting(c, "offsets.topic.num.partitions", "0").ok());
  EXPECT_FALSE(ApplySetting(c, "group.max.size", "0").ok());
  EXPECT_FALSE(ApplySetting(c, "group.initial.rebalance.delay.ms", "-1").ok());
  EXPECT_FALSE(ApplySetting(c, "group.min.session.timeout.ms", "x").ok());
  ASSERT_TRUE(ApplySetting(c, "group.min.session.timeout.ms", "9000").ok());
  ASSERT_TRUE(ApplySetting(c, "group.max.session.timeout.ms", "8000").ok());
  c.data_dir = "/tmp/x";
  Status st = FinishConfig(c);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("group.min.session.timeout.ms"), std::string::npos);
}

}  // namespace
}  // namespace spool::broker
