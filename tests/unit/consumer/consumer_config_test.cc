// ConsumerConfig validation (consumer/consumer.h ValidateConsumerConfig, also run by
// Consumer::Create) and the small value types.
#include <string>

#include "consumer/consumer.h"
#include "gtest/gtest.h"

namespace spool {
namespace {

ConsumerConfig Valid() {
  ConsumerConfig c;
  c.bootstrap_servers = {"127.0.0.1:9192", "[::1]:9192"};
  return c;
}

TEST(ConsumerConfigTest, DefaultsWithABootstrapServerAreValid) {
  EXPECT_TRUE(ValidateConsumerConfig(Valid()).ok());
  ConsumerConfig c;
  EXPECT_EQ(c.fetch_min_bytes, 1);
  EXPECT_EQ(c.fetch_max_wait_ms, 500);
  EXPECT_EQ(c.fetch_max_bytes, 50 << 20);
  EXPECT_EQ(c.max_poll_records, 500);
  EXPECT_EQ(c.auto_offset_reset, OffsetResetPolicy::kLatest);
  EXPECT_TRUE(c.check_crcs);
}

TEST(ConsumerConfigTest, EachBadFieldIsNamed) {
  struct Case {
    const char* field;
    void (*mutate)(ConsumerConfig&);
  };
  const Case cases[] = {
      {"bootstrap_servers", [](ConsumerConfig& c) { c.bootstrap_servers.clear(); }},
      {"bootstrap_servers", [](ConsumerConfig& c) { c.bootstrap_servers = {"no-port"}; }},
      {"fetch_min_bytes", [](ConsumerConfig& c) { c.fetch_min_bytes = -1; }},
      {"fetch_max_wait_ms", [](ConsumerConfig& c) { c.fetch_max_wait_ms = -1; }},
      {"fetch_max_bytes", [](ConsumerConfig& c) { c.fetch_max_bytes = 0; }},
      {"max_partition_fetch_bytes", [](ConsumerConfig& c) { c.max_partition_fetch_bytes = 0; }},
      {"max_poll_records", [](ConsumerConfig& c) { c.max_poll_records = 0; }},
      {"request_timeout_ms", [](ConsumerConfig& c) { c.request_timeout_ms = 0; }},
      {"retry_backoff_ms", [](ConsumerConfig& c) { c.retry_backoff_ms = -5; }},
      {"metadata_max_age_ms", [](ConsumerConfig& c) { c.metadata_max_age_ms = 0; }},
      {"prefetch_max_bytes", [](ConsumerConfig& c) { c.prefetch_max_bytes = 0; }},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.field);
    ConsumerConfig c = Valid();
    k.mutate(c);
    Status st = ValidateConsumerConfig(c);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_NE(st.message().find(k.field), std::string::npos) << st;
  }
}

TEST(ConsumerConfigTest, CreateConnectsLazilyAndRefusesCallsAfterClose) {
  // Nothing listens on this port: Create() must not need a broker.
  ConsumerConfig c = Valid();
  c.bootstrap_servers = {"127.0.0.1:1"};
  StatusOr<std::unique_ptr<Consumer>> consumer = Consumer::Create(c);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  EXPECT_EQ((*consumer)->poll(std::chrono::milliseconds(0)).status().code(),
            absl::StatusCode::kFailedPrecondition)
      << "nothing assigned";
  ASSERT_TRUE((*consumer)->assign({{"t", 0}, {"t", 0}, {"t", 1}}).ok());
  EXPECT_EQ((*consumer)->assignment(), (std::vector<TopicPartition>{{"t", 0}, {"t", 1}}));
  EXPECT_EQ((*consumer)->assign({{"", 0}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*consumer)->seek({"u", 0}, 3).code(), absl::StatusCode::kFailedPrecondition);
  StatusOr<ConsumerRecords> none = (*consumer)->poll(std::chrono::milliseconds(50));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE((*consumer)->close().ok());
  EXPECT_TRUE((*consumer)->close().ok()) << "idempotent";
  EXPECT_EQ((*consumer)->seek({"t", 0}, 3).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ConsumerConfigTest, TopicPartitionPrintsAsKafkaDoes) {
  EXPECT_EQ((TopicPartition{"events", 3}).ToString(), "events-3");
  EXPECT_LT((TopicPartition{"a", 9}), (TopicPartition{"b", 0}));
  EXPECT_LT((TopicPartition{"a", 1}), (TopicPartition{"a", 2}));
}

}  // namespace
}  // namespace spool
