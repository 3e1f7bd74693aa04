// CreateTopics / DeleteTopics / Metadata through the handler: validation, effective configs,
// persistence across a reopen, deletion removing the partition directories, a deletion
// interrupted by a crash finished at the next start, auto-creation.
#include <filesystem>

#include "broker/topic_store.h"
#include "common/io/file_system.h"
#include "gtest/gtest.h"
#include "tests/support/broker_test_util.h"

namespace spool::testing {
namespace {

using v1::ErrorCode;

bool Exists(const std::string& path) {
  return std::filesystem::exists(path);
}

TEST(BrokerTopicsTest, CreateListDeleteAndPersistAcrossReopen) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  v1::CreateTopicsResponse made =
      h.CreateTopic("orders", 3, {{"retention.ms", "60000"}, {"flush.policy", "interval"}});
  ASSERT_EQ(made.topics_size(), 1);
  const auto& t = made.topics(0);
  EXPECT_EQ(t.error_code(), ErrorCode::NONE) << t.error_message();
  EXPECT_EQ(t.num_partitions(), 3);
  EXPECT_EQ(t.replication_factor(), 1);
  EXPECT_EQ(t.configs().at("retention.ms"), "60000");
  EXPECT_EQ(t.configs().at("flush.policy"), "interval");
  EXPECT_EQ(t.configs().at("max.message.bytes"), std::to_string(1 << 20));       // a default
  ASSERT_EQ(h.CreateTopic("audit", 0).topics(0).error_code(), ErrorCode::NONE);  // default 1
  EXPECT_EQ(h.CreateTopic("orders", 1).topics(0).error_code(), ErrorCode::TOPIC_ALREADY_EXISTS);
  for (int p = 0; p < 3; p++) EXPECT_TRUE(Exists(h.data_dir() + "/orders-" + std::to_string(p)));

  v1::MetadataResponse md = h.Metadata({}, true);
  ASSERT_EQ(md.topics_size(), 2);
  EXPECT_EQ(md.topics(0).name(), "audit");
  EXPECT_EQ(md.topics(0).partitions_size(), 1);
  EXPECT_EQ(md.topics(1).name(), "orders");
  ASSERT_EQ(md.topics(1).partitions_size(), 3);
  EXPECT_EQ(md.topics(1).partitions(2).leader_id(), h.config().node_id);
  EXPECT_EQ(md.topics(1).partitions(2).leader_epoch(), 0);
  EXPECT_EQ(md.topics(1).partitions(2).isr_size(), 1);
  ASSERT_EQ(md.brokers_size(), 1);
  EXPECT_EQ(md.brokers(0).host(), "127.0.0.1");
  EXPECT_EQ(md.cluster_id(), "spool-local");
  EXPECT_EQ(md.controller_id(), h.config().node_id);

  ASSERT_TRUE(h.Produce("orders", 1, MakeBatch(3), -1).has_value());
  ASSERT_TRUE(h.Close().ok());
  ASSERT_TRUE(h.Open().ok());
  md = h.Metadata({"orders", "audit", "missing", "bad name"});
  ASSERT_EQ(md.topics_size(), 4);
  EXPECT_EQ(md.topics(0).error_code(), ErrorCode::NONE);
  EXPECT_EQ(md.topics(0).partitions_size(), 3);
  EXPECT_EQ(md.topics(1).error_code(), ErrorCode::NONE);
  EXPECT_EQ(md.topics(2).error_code(), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  EXPECT_EQ(md.topics(3).error_code(), ErrorCode::INVALID_TOPIC);
  EXPECT_EQ(h.ListOffset("orders", 1, v1::OFFSET_SPEC_LATEST).offset(), 3);

  v1::DeleteTopicsResponse del = h.DeleteTopic("orders");
  ASSERT_EQ(del.results_size(), 1);
  EXPECT_EQ(del.results(0).error_code(), ErrorCode::NONE);
  for (int p = 0; p < 3; p++) EXPECT_FALSE(Exists(h.data_dir() + "/orders-" + std::to_string(p)));
  EXPECT_EQ(h.DeleteTopic("orders").results(0).error_code(), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  EXPECT_EQ(h.Produce("orders", 0, MakeBatch(1), 1)->error_code(),
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  // A new topic of the same name starts empty.
  ASSERT_EQ(h.CreateTopic("orders", 1).topics(0).error_code(), ErrorCode::NONE);
  EXPECT_EQ(h.ListOffset("orders", 0, v1::OFFSET_SPEC_LATEST).offset(), 0);
  ASSERT_TRUE(h.Close().ok());
  ASSERT_TRUE(h.Open().ok());
  md = h.Metadata({}, true);
  ASSERT_EQ(md.topics_size(), 2);
  EXPECT_EQ(md.topics(1).partitions_size(), 1);
}

TEST(BrokerTopicsTest, ValidationErrors) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  struct Case {
    std::string name;
    int32_t partitions;
    int32_t rf;
    std::map<std::string, std::string> configs;
    ErrorCode want;
  };
  const std::vector<Case> cases = {
      {"", 1, 0, {}, ErrorCode::INVALID_TOPIC},
      {".", 1, 0, {}, ErrorCode::INVALID_TOPIC},
      {"..", 1, 0, {}, ErrorCode::INVALID_TOPIC},
      {"has space", 1, 0, {}, ErrorCode::INVALID_TOPIC},
      {"slash/no", 1, 0, {}, ErrorCode::INVALID_TOPIC},
      {std::string(250, 'a'), 1, 0, {}, ErrorCode::INVALID_TOPIC},
      {"neg", -1, 0, {}, ErrorCode::INVALID_PARTITIONS},
      {"huge", 10001, 0, {}, ErrorCode::INVALID_PARTITIONS},
      {"rf3", 1, 3, {}, ErrorCode::INVALID_REPLICATION_FACTOR},
      {"badkey", 1, 0, {{"no.such.key", "1"}}, ErrorCode::INVALID_CONFIG},
      {"badval", 1, 0, {{"retention.ms", "soon"}}, ErrorCode::INVALID_CONFIG},
      {"range", 1, 0, {{"segment.bytes", "10"}}, ErrorCode::INVALID_CONFIG},
      {"policy", 1, 0, {{"flush.policy", "sometimes"}}, ErrorCode::INVALID_CONFIG},
      {"minisr", 1, 0, {{"min.insync.replicas", "2"}}, ErrorCode::INVALID_CONFIG},
  };
  for (const Case& c : cases) {
    v1::CreateTopicsRequest req;
    auto* t = req.add_topics();
    t->set_name(c.name);
    t->set_num_partitions(c.partitions);
    t->set_replication_factor(c.rf);
    for (const auto& [k, v] : c.configs) (*t->mutable_configs())[k] = v;
    std::optional<Reply> r = h.Call(MakeFrame(v1::API_KEY_CREATE_TOPICS, req));
    ASSERT_TRUE(r.has_value());
    auto resp = r->As<v1::CreateTopicsResponse>();
    ASSERT_EQ(resp.topics_size(), 1);
    EXPECT_EQ(resp.topics(0).error_code(), c.want) << c.name << ": " << resp.DebugString();
    EXPECT_FALSE(resp.topics(0).error_message().empty());
  }
  // A max-length name with every allowed character class is fine.
  std::string longest = "aZ0._-" + std::string(243, 'x');
  EXPECT_EQ(h.CreateTopic(longest, 1).topics(0).error_code(), ErrorCode::NONE);
  EXPECT_EQ(h.Metadata({}, true).topics_size(), 1);
}

TEST(BrokerTopicsTest, ValidateOnlyCreatesNothing) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  v1::CreateTopicsRequest req;
  req.set_validate_only(true);
  auto* t = req.add_topics();
  t->set_name("dry");
  t->set_num_partitions(2);
  std::optional<Reply> r = h.Call(MakeFrame(v1::API_KEY_CREATE_TOPICS, req));
  ASSERT_TRUE(r.has_value());
  auto resp = r->As<v1::CreateTopicsResponse>();
  EXPECT_EQ(resp.topics(0).error_code(), ErrorCode::NONE);
  EXPECT_EQ(resp.topics(0).num_partitions(), 2);
  EXPECT_EQ(h.Metadata({"dry"}).topics(0).error_code(), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  EXPECT_FALSE(Exists(h.data_dir() + "/dry-0"));
}

TEST(BrokerTopicsTest, InterruptedDeletionIsFinishedOnStart) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  ASSERT_EQ(h.CreateTopic("doomed", 2).topics(0).error_code(), ErrorCode::NONE);
  ASSERT_EQ(h.CreateTopic("kept", 1).topics(0).error_code(), ErrorCode::NONE);
  // The controller deletes it; this broker's copy of the topic list is saved first.
  const std::string state = h.data_dir() + "/" + broker::kTopicStateFile;
  std::filesystem::copy_file(state, state + ".saved");
  ASSERT_EQ(h.DeleteTopic("doomed").results(0).error_code(), ErrorCode::NONE);
  ASSERT_TRUE(h.Close().ok());
  // What a crash after the tombstone but before the directories went leaves behind: the
  // record marked deleted, and the partition directories.
  std::filesystem::rename(state + ".saved", state);
  Status marked = h.Run<Status>(0, [&h]() -> Task<Status> {
    broker::Shard& s = h.shards().shard(0);
    StatusOr<std::unique_ptr<broker::TopicStore>> store =
        co_await broker::TopicStore::Open(*s.fs, h.data_dir());
    CO_RETURN_IF_ERROR(store.status());
    co_return co_await (*store)->MarkDeleted("doomed");
  });
  ASSERT_TRUE(marked.ok()) << marked;
  std::filesystem::create_directory(h.data_dir() + "/doomed-0");
  std::filesystem::create_directory(h.data_dir() + "/doomed-1");
  ASSERT_TRUE(h.Open().ok());
  EXPECT_FALSE(Exists(h.data_dir() + "/doomed-0"));
  EXPECT_FALSE(Exists(h.data_dir() + "/doomed-1"));
  v1::MetadataResponse md = h.Metadata({}, true);
  ASSERT_EQ(md.topics_size(), 1);
  EXPECT_EQ(md.topics(0).name(), "kept");
}

TEST(BrokerTopicsTest, AutoCreateOnMetadataAndProduceWhenEnabled) {
  {
    BrokerHarness off;
    ASSERT_TRUE(off.Open().ok());
    EXPECT_EQ(off.Metadata({"auto"}, false, true).topics(0).error_code(),
              ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    EXPECT_EQ(off.Produce("auto", 0, MakeBatch(1), 1)->error_code(),
              ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  }
  BrokerOptions opts;
  opts.tweak = [](broker::BrokerConfig& c) {
    c.auto_create_topics = true;
    c.default_partitions = 3;
  };
  BrokerHarness on(opts);
  ASSERT_TRUE(on.Open().ok());
  // Metadata without allow_auto_topic_creation does not create.
  EXPECT_EQ(on.Metadata({"auto"}).topics(0).error_code(), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  v1::MetadataResponse md = on.Metadata({"auto"}, false, true);
  EXPECT_EQ(md.topics(0).error_code(), ErrorCode::NONE);
  EXPECT_EQ(md.topics(0).partitions_size(), 3);
  auto pr = on.Produce("byproduce", 2, MakeBatch(2), -1, 10000, 1);
  ASSERT_TRUE(pr.has_value());
  EXPECT_EQ(pr->error_code(), ErrorCode::NONE);
  EXPECT_EQ(pr->base_offset(), 0);
}

TEST(BrokerTopicsTest, ApiVersionsListsEveryApi) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  v1::ApiVersionsRequest req;
  req.set_client_software_name("test");
  std::optional<Reply> r = h.Call(MakeFrame(v1::API_KEY_API_VERSIONS, req));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->is_error());
  EXPECT_TRUE(r->header.is_response());
  auto resp = r->As<v1::ApiVersionsResponse>();
  EXPECT_EQ(resp.error_code(), ErrorCode::NONE);
  EXPECT_EQ(static_cast<size_t>(resp.api_keys_size()), proto::SupportedApis().size());
  EXPECT_EQ(resp.cluster_id(), "spool-local");
  EXPECT_EQ(resp.broker_id(), h.config().node_id);
}

}  // namespace
}  // namespace spool::testing
