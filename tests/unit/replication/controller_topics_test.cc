// Controller logic for topics and partitions: CreateTopics, DeleteTopics, AlterPartition.
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "replication/controller/controller_errors.h"
#include "replication/controller/controller_logic.h"
#include "tests/unit/replication/controller_test_util.h"

namespace spool::controller {
namespace {

using testing::TestController;

ControllerError CreateError(TestController& c, CreatableTopic topic, bool validate_only = false) {
  CreateTopicsRequest req;
  req.topics.push_back(std::move(topic));
  req.validate_only = validate_only;
  auto res = CreateTopics(c.image, req, c.config, c.rng);
  EXPECT_EQ(res.reply.size(), 1u);
  if (!res.reply[0].status.ok()) {
    EXPECT_TRUE(res.records.empty());
  }
  return ControllerErrorOf(res.reply[0].status);
}

TEST(ControllerTopics, CreatesTopicsWithPlacementAndIds) {
  TestController c;
  for (int32_t b = 1; b <= 3; ++b) c.AddBroker(b);
  CreateTopicsRequest req;
  req.topics.push_back(CreatableTopic{"a", 6, 3, {{"retention.ms", "10"}}});
  req.topics.push_back(CreatableTopic{"b", -1, -1, {}});  // the configured defaults
  c.config.default_num_partitions = 4;
  c.config.default_replication_factor = 2;
  auto res = CreateTopics(c.image, req, c.config, c.rng);
  ASSERT_EQ(res.reply.size(), 2u);
  ASSERT_TRUE(res.reply[0].status.ok()) << res.reply[0].status;
  ASSERT_TRUE(res.reply[1].status.ok()) << res.reply[1].status;
  EXPECT_EQ(res.reply[1].num_partitions, 4);
  EXPECT_EQ(res.reply[1].replication_factor, 2);
  EXPECT_NE(res.reply[0].topic_id, res.reply[1].topic_id);
  EXPECT_EQ(res.records.size(), 1u + 6 + 1 + 4);
  c.Commit(res.records);
  const TopicImage* a = c.image.FindTopic("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->id, res.reply[0].topic_id);
  EXPECT_EQ(a->id.bytes[6] >> 4, 4);  // a version-4 UUID
  EXPECT_EQ(a->configs.at("retention.ms"), "10");
  std::map<int32_t, int> leaders;
  for (const PartitionState& p : a->partitions) {
    EXPECT_EQ(p.replicas.size(), 3u);
    EXPECT_EQ(p.isr, p.replicas);
    EXPECT_EQ(p.leader, p.replicas.front());
    EXPECT_EQ(p.leader_epoch, 0);
    ++leaders[p.leader];
  }
  EXPECT_EQ(leaders, (std::map<int32_t, int>{{1, 2}, {2, 2}, {3, 2}}));
}

TEST(ControllerTopics, CreateRefusals) {
  TestController c;
  for (int32_t b = 1; b <= 3; ++b) c.AddBroker(b);
  c.CreateTopic("taken", 1, 1);
  EXPECT_EQ(CreateError(c, {"taken", 1, 1, {}}), ControllerError::kTopicAlreadyExists);
  EXPECT_EQ(CreateError(c, {"bad/name", 1, 1, {}}), ControllerError::kInvalidTopic);
  EXPECT_EQ(CreateError(c, {".", 1, 1, {}}), ControllerError::kInvalidTopic);
  EXPECT_EQ(CreateError(c, {"..", 1, 1, {}}), ControllerError::kInvalidTopic);
  EXPECT_EQ(CreateError(c, {std::string(250, 'x'), 1, 1, {}}), ControllerError::kInvalidTopic);
  EXPECT_EQ(CreateError(c, {"p0", 0, 1, {}}), ControllerError::kInvalidPartitions);
  EXPECT_EQ(CreateError(c, {"p-2", -2, 1, {}}), ControllerError::kInvalidPartitions);
  // The controller listener takes requests from anyone who reaches it: the count is bounded.
  EXPECT_EQ(CreateError(c, {"huge", 2147483647, 1, {}}), ControllerError::kInvalidPartitions);
  EXPECT_EQ(CreateError(c, {"big", 10001, 1, {}}), ControllerError::kInvalidPartitions);
  EXPECT_EQ(CreateError(c, {"rf4", 1, 4, {}}), ControllerError::kInvalidReplicationFactor);
  EXPECT_EQ(CreateError(c, {"rf0", 1, 0, {}}), ControllerError::kInvalidReplicationFactor);
  EXPECT_EQ(CreateError(c, {"cfg", 1, 1, {{"unclean.leader.election.enable", "yes"}}}),
            ControllerError::kInvalidConfig);
  EXPECT_EQ(CreateError(c, {"cfg", 1, 1, {{"", "x"}}}), ControllerError::kInvalidConfig);

  // RF counts unfenced brokers only.
  auto shutdown = ControlledShutdown(c.image, BrokerRef{3, c.Epoch(3)});
  c.Commit(shutdown.records);
  EXPECT_EQ(CreateError(c, {"rf3", 1, 3, {}}), ControllerError::kInvalidReplicationFactor);
  EXPECT_EQ(CreateError(c, {"rf2", 1, 2, {}}), ControllerError::kNone);
}

TEST(ControllerTopics, EachTopicSucceedsOrFailsAlone) {
  TestController c;
  c.AddBroker(1);
  CreateTopicsRequest req;
  req.topics.push_back(CreatableTopic{"ok", 2, 1, {}});
  req.topics.push_back(CreatableTopic{"dup", 1, 1, {}});
  req.topics.push_back(CreatableTopic{"dup", 1, 1, {}});
  req.topics.push_back(CreatableTopic{"big", 1, 2, {}});
  auto res = CreateTopics(c.image, req, c.config, c.rng);
  ASSERT_EQ(res.reply.size(), 4u);
  EXPECT_TRUE(res.reply[0].status.ok());
  EXPECT_EQ(ControllerErrorOf(res.reply[1].status), ControllerError::kInvalidRequest);
  EXPECT_EQ(ControllerErrorOf(res.reply[2].status), ControllerError::kInvalidRequest);
  EXPECT_EQ(ControllerErrorOf(res.reply[3].status), ControllerError::kInvalidReplicationFactor);
  c.Commit(res.records);
  EXPECT_NE(c.image.FindTopic("ok"), nullptr);
  EXPECT_EQ(c.image.FindTopic("dup"), nullptr);
  EXPECT_EQ(c.image.topics().size(), 1u);
}

TEST(ControllerTopics, ValidateOnlyProposesNothing) {
  TestController c;
  c.AddBroker(1);
  CreateTopicsRequest req;
  req.topics.push_back(CreatableTopic{"v", 3, 1, {}});
  req.validate_only = true;
  auto res = CreateTopics(c.image, req, c.config, c.rng);
  ASSERT_TRUE(res.reply[0].status.ok());
  EXPECT_EQ(res.reply[0].num_partitions, 3);
  EXPECT_TRUE(res.records.empty());
  EXPECT_EQ(CreateError(c, {"v", 1, 5, {}}, /*validate_only=*/true),
            ControllerError::kInvalidReplicationFactor);
}

TEST(ControllerTopics, CreationIsDeterministicGivenTheRngState) {
  TestController c1, c2;
  for (TestController* c : {&c1, &c2}) {
    for (int32_t b = 1; b <= 5; ++b) c->AddBroker(b);
    c->rng.seed(77);
    c->CreateTopic("x", 10, 3);
  }
  EXPECT_TRUE(c1.image == c2.image);
}

TEST(ControllerTopics, DeleteTopics) {
  TestController c;
  c.AddBroker(1);
  c.CreateTopic("a", 2, 1);
  c.CreateTopic("b", 1, 1);
  auto res = DeleteTopics(c.image, {"a", "nope", "b", "b"});
  ASSERT_EQ(res.reply.size(), 4u);
  EXPECT_TRUE(res.reply[0].status.ok());
  EXPECT_EQ(ControllerErrorOf(res.reply[1].status), ControllerError::kUnknownTopicOrPartition);
  EXPECT_EQ(ControllerErrorOf(res.reply[2].status), ControllerError::kInvalidRequest);
  EXPECT_EQ(ControllerErrorOf(res.reply[3].status), ControllerError::kInvalidRequest);
  c.Commit(res.records);
  EXPECT_EQ(c.image.FindTopic("a"), nullptr);
  EXPECT_NE(c.image.FindTopic("b"), nullptr);
  // The name can be used again, with a new id.
  const TopicId again = c.CreateTopic("a", 1, 1);
  EXPECT_NE(c.image.FindTopic("a"), nullptr);
  EXPECT_FALSE(again.IsZero());
}

TEST(ControllerTopics, AlterConfigs) {
  TestController c;
  c.AddBroker(1);
  const TopicId t = c.CreateTopic("t", 1, 1);
  auto res = AlterConfigs(
      c.image, {ConfigChange{v1::CONFIG_RESOURCE_TOPIC, "t", "retention.ms", "5"},
                ConfigChange{v1::CONFIG_RESOURCE_BROKER, "1", "log.dirs", "/x"},
                ConfigChange{v1::CONFIG_RESOURCE_BROKER, "", "num.io.threads", "4"},
                ConfigChange{v1::CONFIG_RESOURCE_TOPIC, "nope", "k", "v"},
                ConfigChange{v1::CONFIG_RESOURCE_TOPIC, "t", "", "v"},
                ConfigChange{v1::CONFIG_RESOURCE_TOPIC, "t", "unclean.leader.election.enable", "1"},
                ConfigChange{v1::CONFIG_RESOURCE_BROKER, "x1", "k", "v"},
                ConfigChange{v1::CONFIG_RESOURCE_UNKNOWN, "t", "k", "v"}});
  ASSERT_EQ(res.reply.size(), 8u);
  EXPECT_TRUE(res.reply[0].ok() && res.reply[1].ok() && res.reply[2].ok());
  EXPECT_EQ(ControllerErrorOf(res.reply[3]), ControllerError::kUnknownTopicOrPartition);
  EXPECT_EQ(ControllerErrorOf(res.reply[4]), ControllerError::kInvalidConfig);
  EXPECT_EQ(ControllerErrorOf(res.reply[5]), ControllerError::kInvalidConfig);
  EXPECT_EQ(ControllerErrorOf(res.reply[6]), ControllerError::kInvalidRequest);
  EXPECT_EQ(ControllerErrorOf(res.reply[7]), ControllerError::kInvalidRequest);
  EXPECT_EQ(res.records.size(), 3u);
  c.Commit(res.records);
  EXPECT_EQ(c.image.TopicConfig(t, "retention.ms"), "5");
  EXPECT_EQ(c.image.broker_configs().at("1").at("log.dirs"), "/x");
  EXPECT_EQ(c.image.broker_configs().at("").at("num.io.threads"), "4");
  auto del = AlterConfigs(
      c.image, {ConfigChange{v1::CONFIG_RESOURCE_TOPIC, "t", "retention.ms", std::nullopt}});
  ASSERT_TRUE(del.reply[0].ok());
  c.Commit(del.records);
  EXPECT_EQ(c.image.TopicConfig(t, "retention.ms"), std::nullopt);
}

TEST(ControllerTopics, EnablingUncleanElectionElectsOfflinePartitions) {
  TestController c;
  c.AddBroker(1);
  c.AddBroker(2);
  const TopicId t = c.CreateTopic("t", 4, 2);
  // Shrink every ISR to its leader, then fence broker 1: its partitions go offline.
  for (int32_t p = 0; p < 4; ++p) {
    const PartitionState s = c.Partition(t, p);
    auto alter = AlterPartition(
        c.image,
        AlterPartitionRequest{
            s.leader, c.Epoch(s.leader), t, p, s.leader_epoch, s.partition_epoch, {s.leader}});
    ASSERT_TRUE(alter.reply.status.ok());
    c.Commit(alter.records);
  }
  auto down = ControlledShutdown(c.image, BrokerRef{1, c.Epoch(1)});
  c.Commit(down.records);
  int offline = 0;
  for (int32_t p = 0; p < 4; ++p) offline += c.Partition(t, p).leader == kNoLeader;
  ASSERT_EQ(offline, 2);
  auto res = AlterConfigs(c.image, {ConfigChange{v1::CONFIG_RESOURCE_TOPIC, "t",
                                                 "unclean.leader.election.enable", "true"}});
  ASSERT_TRUE(res.reply[0].ok()) << res.reply[0];
  EXPECT_EQ(res.records.size(), 1u + 2);
  c.Commit(res.records);
  for (int32_t p = 0; p < 4; ++p) {
    EXPECT_EQ(c.Partition(t, p).leader, 2);
    EXPECT_EQ(c.Partition(t, p).isr, std::vector<int32_t>{2});
  }
}

class ControllerAlterPartition : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int32_t b = 1; b <= 4; ++b) c.AddBroker(b);
    t = c.CreateTopic("t", 1, 3);
    p = c.Partition(t, 0);
    follower = p.replicas[1];
  }
  AlterPartitionRequest Request(std::vector<int32_t> isr) const {
    return AlterPartitionRequest{p.leader,          c.Epoch(p.leader), t, 0, p.leader_epoch,
                                 p.partition_epoch, std::move(isr)};
  }
  ControllerError ErrorOf(const AlterPartitionRequest& req) {
    auto res = AlterPartition(c.image, req);
    if (!res.reply.status.ok()) {
      EXPECT_TRUE(res.records.empty());
    }
    return ControllerErrorOf(res.reply.status);
  }

  TestController c;
  TopicId t;
  PartitionState p;
  int32_t follower = -1;
};

TEST_F(ControllerAlterPartition, ShrinksAndExpandsTheIsr) {
  auto shrink = AlterPartition(c.image, Request({p.leader, p.replicas[2]}));
  ASSERT_TRUE(shrink.reply.status.ok()) << shrink.reply.status;
  EXPECT_EQ(shrink.reply.partition.isr, (std::vector<int32_t>{p.leader, p.replicas[2]}));
  EXPECT_EQ(shrink.reply.partition.partition_epoch, p.partition_epoch + 1);
  EXPECT_EQ(shrink.reply.partition.leader_epoch, p.leader_epoch);
  c.Commit(shrink.records);
  EXPECT_EQ(c.Partition(t, 0), shrink.reply.partition);

  // The same request again: the partition epoch moved on.
  EXPECT_EQ(ErrorOf(Request({p.leader, p.replicas[2]})), ControllerError::kInvalidUpdateVersion);

  p = c.Partition(t, 0);
  auto expand = AlterPartition(c.image, Request(p.replicas));
  ASSERT_TRUE(expand.reply.status.ok()) << expand.reply.status;
  c.Commit(expand.records);
  EXPECT_EQ(c.Partition(t, 0).isr, p.replicas);

  // No change: no record, the current state.
  p = c.Partition(t, 0);
  auto same = AlterPartition(c.image, Request(p.isr));
  ASSERT_TRUE(same.reply.status.ok());
  EXPECT_TRUE(same.records.empty());
  EXPECT_EQ(same.reply.partition, p);
}

TEST_F(ControllerAlterPartition, Refusals) {
  AlterPartitionRequest stale_leader_epoch = Request({p.leader});
  --stale_leader_epoch.leader_epoch;
  EXPECT_EQ(ErrorOf(stale_leader_epoch), ControllerError::kFencedLeaderEpoch);
  AlterPartitionRequest future_leader_epoch = Request({p.leader});
  ++future_leader_epoch.leader_epoch;
  EXPECT_EQ(ErrorOf(future_leader_epoch), ControllerError::kUnknownLeaderEpoch);
  AlterPartitionRequest stale_partition_epoch = Request({p.leader});
  --stale_partition_epoch.partition_epoch;
  EXPECT_EQ(ErrorOf(stale_partition_epoch), ControllerError::kInvalidUpdateVersion);
  AlterPartitionRequest not_leader = Request({follower});
  not_leader.broker_id = follower;
  not_leader.broker_epoch = c.Epoch(follower);
  EXPECT_EQ(ErrorOf(not_leader), ControllerError::kNotLeaderOrFollower);
  AlterPartitionRequest stale_broker = Request({p.leader});
  --stale_broker.broker_epoch;
  EXPECT_EQ(ErrorOf(stale_broker), ControllerError::kStaleBrokerEpoch);
  AlterPartitionRequest unknown_broker = Request({p.leader});
  unknown_broker.broker_id = 42;
  EXPECT_EQ(ErrorOf(unknown_broker), ControllerError::kBrokerIdNotRegistered);
  AlterPartitionRequest unknown_topic = Request({p.leader});
  unknown_topic.topic_id.bytes[3] ^= 0xff;
  EXPECT_EQ(ErrorOf(unknown_topic), ControllerError::kUnknownTopicId);
  AlterPartitionRequest unknown_partition = Request({p.leader});
  unknown_partition.partition = 1;
  EXPECT_EQ(ErrorOf(unknown_partition), ControllerError::kUnknownTopicOrPartition);
  EXPECT_EQ(ErrorOf(Request({follower})), ControllerError::kInvalidRequest);  // no leader
  EXPECT_EQ(ErrorOf(Request({p.leader, p.leader})), ControllerError::kInvalidRequest);
  int32_t outsider = 1;
  while (std::count(p.replicas.begin(), p.replicas.end(), outsider)) ++outsider;
  EXPECT_EQ(ErrorOf(Request({p.leader, outsider})), ControllerError::kInvalidRequest);
}

TEST_F(ControllerAlterPartition, FencedBrokerIsIneligible) {
  // Shrink to the leader alone, fence a follower, then try to add it back.
  auto shrink = AlterPartition(c.image, Request({p.leader}));
  ASSERT_TRUE(shrink.reply.status.ok());
  c.Commit(shrink.records);
  p = c.Partition(t, 0);
  auto down = ControlledShutdown(c.image, BrokerRef{follower, c.Epoch(follower)});
  ASSERT_TRUE(down.reply.ok());
  c.Commit(down.records);
  EXPECT_EQ(ErrorOf(Request({p.leader, follower})), ControllerError::kIneligibleReplica);
  // Unfenced again, it may rejoin.
  c.Unfence(follower);
  auto rejoin = AlterPartition(c.image, Request({p.leader, follower}));
  EXPECT_TRUE(rejoin.reply.status.ok()) << rejoin.reply.status;
}

TEST_F(ControllerAlterPartition, OldLeaderIsFencedByTheNewLeaderEpoch) {
  const int32_t old_leader = p.leader;
  auto down = ControlledShutdown(c.image, BrokerRef{old_leader, c.Epoch(old_leader)});
  c.Commit(down.records);
  c.Unfence(old_leader);  // back, but no longer the leader
  ASSERT_NE(c.Partition(t, 0).leader, old_leader);
  // Its request still carries the old leader epoch.
  EXPECT_EQ(ErrorOf(Request({old_leader, follower})), ControllerError::kFencedLeaderEpoch);
}

}  // namespace
}  // namespace spool::controller
