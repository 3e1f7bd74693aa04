// The broker as a member of the cluster, in-process with its embedded one-voter controller
// (broker/broker.cc, metadata_follower.h, STATE.md): topics get ids from the controller and keep
// them across restarts; a topic deleted and created again is a new topic (new id, empty log); a
// topics.state from before the controller quorum is registered with the controller without
// losing its data; the incarnation id is kept in the data dir; DescribeQuorum through the
// broker shows the one voter leading and the broker registered and unfenced; replication factors
// above 1 are refused until partition replication exists.
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "broker/partition_manager.h"
#include "broker/topic_store.h"
#include "gtest/gtest.h"
#include "log/file_util.h"
#include "proto/controller.pb.h"
#include "tests/support/broker_test_util.h"

namespace spool::testing {
namespace {

using v1::ErrorCode;

std::string TopicIdOf(BrokerHarness& h, const std::string& name) {
  return h.Run<std::string>(0, [&h, name]() -> Task<std::string> {
    std::shared_ptr<const broker::TopicInfo> info =
        broker::PartitionsOf(h.broker()).FindTopic(name);
    co_return info == nullptr ? std::string("<none>") : info->topic_id;
  });
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(BrokerMetadataTest, TopicIdsAreKeptAcrossRestartsAndNewOnRecreate) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  v1::CreateTopicsResponse made = h.CreateTopic("orders", 2);
  ASSERT_EQ(made.topics(0).error_code(), ErrorCode::NONE) << made.topics(0).error_message();
  const std::string id = made.topics(0).topic_id();
  ASSERT_EQ(id.size(), 16u);
  // Published on the broker by the time CreateTopics answered.
  EXPECT_EQ(TopicIdOf(h, "orders"), id);
  ASSERT_TRUE(h.Produce("orders", 0, MakeBatch(5)).has_value());

  ASSERT_TRUE(h.Close().ok());
  ASSERT_TRUE(h.Open().ok());
  EXPECT_EQ(TopicIdOf(h, "orders"), id);
  EXPECT_EQ(h.ListOffset("orders", 0, v1::OFFSET_SPEC_LATEST).offset(), 5);

  ASSERT_EQ(h.DeleteTopic("orders").results(0).error_code(), ErrorCode::NONE);
  EXPECT_EQ(TopicIdOf(h, "orders"), "<none>");
  v1::CreateTopicsResponse again = h.CreateTopic("orders", 2);
  ASSERT_EQ(again.topics(0).error_code(), ErrorCode::NONE);
  EXPECT_NE(again.topics(0).topic_id(), id);
  EXPECT_EQ(h.ListOffset("orders", 0, v1::OFFSET_SPEC_LATEST).offset(), 0);
}

TEST(BrokerMetadataTest, TopicsFromBeforeTheQuorumAreRegisteredWithTheirData) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  ASSERT_EQ(h.CreateTopic("old", 2).topics(0).error_code(), ErrorCode::NONE);
  ASSERT_TRUE(h.Produce("old", 1, MakeBatch(7)).has_value());
  ASSERT_TRUE(h.Close().ok());
  // Turn the data dir into one an older Spool wrote: topics.state without ids or assignments,
  // and no controller metadata at all.
  Status rewritten = h.Run<Status>(0, [&h]() -> Task<Status> {
    broker::Shard& s = h.shards().shard(0);
    v1::TopicState state;
    v1::TopicRecord* r = state.add_topics();
    r->set_name("old");
    r->set_num_partitions(2);
    r->set_replication_factor(1);
    (*r->mutable_configs())["retention.ms"] = "3600000";
    co_return co_await log::WriteFileAtomically(*s.fs, h.data_dir(), broker::kTopicStateFile,
                                                broker::EncodeTopicState(state));
  });
  ASSERT_TRUE(rewritten.ok()) << rewritten;
  std::filesystem::remove_all(h.data_dir() + "/__cluster_metadata");

  Status reopened = h.Open();
  ASSERT_TRUE(reopened.ok()) << reopened;
  v1::MetadataResponse md = h.Metadata({"old"});
  ASSERT_EQ(md.topics(0).error_code(), ErrorCode::NONE);
  EXPECT_EQ(md.topics(0).partitions_size(), 2);
  EXPECT_EQ(h.ListOffset("old", 1, v1::OFFSET_SPEC_LATEST).offset(), 7);
  // The controller knows it now: creating it again is refused, and it has an id here.
  EXPECT_EQ(h.CreateTopic("old", 1).topics(0).error_code(), ErrorCode::TOPIC_ALREADY_EXISTS);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (TopicIdOf(h, "old").size() != 16 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the broker's state
  }
  ASSERT_EQ(TopicIdOf(h, "old").size(), 16u);
  // Its overrides were registered too, and its data survives another restart.
  ASSERT_TRUE(h.Close().ok());
  ASSERT_TRUE(h.Open().ok());
  EXPECT_EQ(h.ListOffset("old", 1, v1::OFFSET_SPEC_LATEST).offset(), 7);
  v1::CreateTopicsResponse dup = h.CreateTopic("old", 1);
  EXPECT_EQ(dup.topics(0).error_code(), ErrorCode::TOPIC_ALREADY_EXISTS);
}

TEST(BrokerMetadataTest, CatchingUpInSeveralAnswersKeepsTopicsCreatedLater) {
  // More metadata batches than one FetchMetadata answer carries (256): a restarted broker sees
  // the log's early states first, which lack the later topics. It must not delete them.
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  for (int i = 0; i < 300; i++) {
    ASSERT_EQ(h.CreateTopic(absl::StrCat("t", i), 1).topics(0).error_code(), ErrorCode::NONE);
  }
  ASSERT_TRUE(h.Produce("t299", 0, MakeBatch(3)).has_value());
  ASSERT_TRUE(h.Close().ok());
  ASSERT_TRUE(h.Open().ok());
  EXPECT_EQ(h.ListOffset("t299", 0, v1::OFFSET_SPEC_LATEST).offset(), 3);
  EXPECT_EQ(h.Metadata({}, true).topics_size(), 300);
}

TEST(BrokerMetadataTest, IncarnationIdIsKeptInTheDataDir) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  const std::string first = ReadFile(h.data_dir() + "/broker.incarnation");
  ASSERT_EQ(first.size(), 33u);
  ASSERT_TRUE(h.Close().ok());
  ASSERT_TRUE(h.Open().ok());
  EXPECT_EQ(ReadFile(h.data_dir() + "/broker.incarnation"), first);
  ASSERT_TRUE(h.Close().ok());
  {
    std::ofstream bad(h.data_dir() + "/broker.incarnation", std::ios::trunc);
    bad << "not an id\n";
  }
  Status st = h.Open();
  EXPECT_TRUE(absl::IsDataLoss(st)) << st;
}

TEST(BrokerMetadataTest, DescribeQuorumThroughTheBroker) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  std::optional<Reply> r =
      h.Call(MakeFrame(v1::API_KEY_DESCRIBE_QUORUM, v1::DescribeQuorumRequest()));
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->is_error());
  v1::DescribeQuorumResponse q = r->As<v1::DescribeQuorumResponse>();
  EXPECT_EQ(q.error_code(), ErrorCode::NONE) << q.error_message();
  EXPECT_EQ(q.leader_id(), h.config().node_id);
  EXPECT_TRUE(q.active());
  EXPECT_GE(q.term(), 1);
  ASSERT_EQ(q.voters_size(), 1);
  EXPECT_EQ(q.voters(0).voter_id(), h.config().node_id);
  ASSERT_EQ(q.brokers_size(), 1);
  EXPECT_EQ(q.brokers(0).broker_id(), h.config().node_id);
  EXPECT_FALSE(q.brokers(0).fenced());
}

TEST(BrokerMetadataTest, ReplicationFactorAboveOneIsRefused) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  v1::CreateTopicsRequest req;
  v1::CreatableTopic* t = req.add_topics();
  t->set_name("replicated");
  t->set_num_partitions(1);
  t->set_replication_factor(3);
  std::optional<Reply> r = h.Call(MakeFrame(v1::API_KEY_CREATE_TOPICS, req));
  ASSERT_TRUE(r.has_value());
  v1::CreateTopicsResponse resp = r->As<v1::CreateTopicsResponse>();
  ASSERT_EQ(resp.topics_size(), 1);
  EXPECT_EQ(resp.topics(0).error_code(), ErrorCode::INVALID_REPLICATION_FACTOR);
}

}  // namespace
}  // namespace spool::testing
