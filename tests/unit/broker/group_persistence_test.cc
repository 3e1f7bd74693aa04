// The group coordinator inside a real Broker (tests/support/broker_test_util.h): commits and
// group metadata survive a restart (replayed from __consumer_offsets), an acknowledged commit
// survives a power cut (FaultFileSystem), expired offsets' tombstones survive replay, and the
// internal topic is protected.
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "broker/group_records.h"
#include "broker/shard.h"
#include "gtest/gtest.h"
#include "proto/errors.h"
#include "tests/support/broker_test_util.h"

namespace spool::testing {
namespace {

using v1::ErrorCode;

template <typename Resp>
Resp CallAs(BrokerHarness& h, v1::ApiKey key, const google::protobuf::MessageLite& req) {
  std::optional<Reply> reply = h.Call(MakeFrame(static_cast<int16_t>(key), req));
  EXPECT_TRUE(reply.has_value());
  EXPECT_FALSE(reply->is_error());
  return reply->As<Resp>();
}

v1::OffsetCommitRequest Commit(const std::string& group, const std::string& topic,
                               std::vector<std::pair<int32_t, int64_t>> offsets,
                               int32_t generation = -1, const std::string& member = "") {
  v1::OffsetCommitRequest req;
  req.set_group_id(group);
  req.set_generation_id(generation);
  req.set_member_id(member);
  v1::OffsetCommitTopic* t = req.add_topics();
  t->set_name(topic);
  for (auto [p, o] : offsets) {
    v1::OffsetCommitPartition* cp = t->add_partitions();
    cp->set_partition(p);
    cp->set_committed_offset(o);
    cp->set_committed_leader_epoch(-1);
    cp->set_metadata("md-" + std::to_string(o));
  }
  return req;
}

void ExpectCommitted(const v1::OffsetCommitResponse& r) {
  for (const auto& t : r.topics()) {
    for (const auto& p : t.partitions()) {
      EXPECT_EQ(p.error_code(), ErrorCode::NONE)
          << t.name() << "-" << p.partition() << " " << p.error_message();
    }
  }
}

// OffsetFetch, retried while the coordinator is still loading (a condition with a deadline).
v1::OffsetFetchResponse FetchOffsets(BrokerHarness& h, const std::string& group,
                                     const std::string& topic, std::vector<int32_t> partitions) {
  v1::OffsetFetchRequest req;
  req.set_group_id(group);
  v1::OffsetFetchTopic* t = req.add_topics();
  t->set_name(topic);
  for (int32_t p : partitions) t->add_partitions(p);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (true) {
    v1::OffsetFetchResponse r = CallAs<v1::OffsetFetchResponse>(h, v1::API_KEY_OFFSET_FETCH, req);
    if (r.error_code() != ErrorCode::COORDINATOR_LOAD_IN_PROGRESS ||
        std::chrono::steady_clock::now() > until) {
      return r;
    }
    std::this_thread::yield();
  }
}

int64_t OffsetOf(const v1::OffsetFetchResponse& r, int32_t partition) {
  for (const auto& t : r.topics()) {
    for (const auto& p : t.partitions()) {
      if (p.partition() == partition) return p.committed_offset();
    }
  }
  return -2;
}

v1::JoinGroupResponse JoinGroup(BrokerHarness& h, const std::string& group,
                                const std::string& member) {
  v1::JoinGroupRequest req;
  req.set_group_id(group);
  req.set_member_id(member);
  req.set_session_timeout_ms(30000);
  req.set_rebalance_timeout_ms(30000);
  req.set_protocol_type("consumer");
  req.set_client_id("c");
  v1::JoinGroupProtocol* p = req.add_protocols();
  p->set_name("range");
  p->set_metadata("subscription");
  return CallAs<v1::JoinGroupResponse>(h, v1::API_KEY_JOIN_GROUP, req);
}

BrokerOptions NoDelay(bool fault_fs = false) {
  BrokerOptions o;
  o.fault_fs = fault_fs;
  o.tweak = [](broker::BrokerConfig& c) { c.groups.initial_rebalance_delay_ms = 0; };
  return o;
}

TEST(GroupPersistenceTest, OffsetsAndGroupMetadataSurviveARestart) {
  BrokerHarness h(NoDelay());
  ASSERT_TRUE(h.Open().ok());
  h.CreateTopic("t", 4);
  ExpectCommitted(CallAs<v1::OffsetCommitResponse>(h, v1::API_KEY_OFFSET_COMMIT,
                                                   Commit("manual", "t", {{0, 10}, {3, 20}})));
  // A member group: join (MEMBER_ID_REQUIRED, then with the id), sync, commit.
  v1::JoinGroupResponse first = JoinGroup(h, "members", "");
  ASSERT_EQ(first.error_code(), ErrorCode::MEMBER_ID_REQUIRED);
  v1::JoinGroupResponse joined = JoinGroup(h, "members", first.member_id());
  ASSERT_EQ(joined.error_code(), ErrorCode::NONE);
  v1::SyncGroupRequest sync;
  sync.set_group_id("members");
  sync.set_member_id(joined.member_id());
  sync.set_generation_id(joined.generation_id());
  v1::SyncGroupAssignment* a = sync.add_assignments();
  a->set_member_id(joined.member_id());
  a->set_assignment("t-0,t-1");
  ASSERT_EQ(CallAs<v1::SyncGroupResponse>(h, v1::API_KEY_SYNC_GROUP, sync).assignment(), "t-0,t-1");
  ExpectCommitted(CallAs<v1::OffsetCommitResponse>(
      h, v1::API_KEY_OFFSET_COMMIT,
      Commit("members", "t", {{1, 7}}, joined.generation_id(), joined.member_id())));

  ASSERT_TRUE(h.Close().ok());
  ASSERT_TRUE(h.Open().ok());

  v1::OffsetFetchResponse manual = FetchOffsets(h, "manual", "t", {0, 1, 3});
  ASSERT_EQ(manual.error_code(), ErrorCode::NONE);
  EXPECT_EQ(OffsetOf(manual, 0), 10);
  EXPECT_EQ(OffsetOf(manual, 1), -1);
  EXPECT_EQ(OffsetOf(manual, 3), 20);
  EXPECT_EQ(manual.topics(0).partitions(2).metadata(), "md-20");
  EXPECT_EQ(OffsetOf(FetchOffsets(h, "members", "t", {1}), 1), 7);

  v1::DescribeGroupsRequest describe;
  describe.add_groups("members");
  v1::DescribeGroupsResponse d =
      CallAs<v1::DescribeGroupsResponse>(h, v1::API_KEY_DESCRIBE_GROUPS, describe);
  ASSERT_EQ(d.groups_size(), 1);
  EXPECT_EQ(d.groups(0).group_state(), "Stable");
  EXPECT_EQ(d.groups(0).generation_id(), joined.generation_id());
  ASSERT_EQ(d.groups(0).members_size(), 1);
  EXPECT_EQ(d.groups(0).members(0).member_id(), joined.member_id());
  EXPECT_EQ(d.groups(0).members(0).member_assignment(), "t-0,t-1");
  // The reloaded member is still a member of that generation.
  v1::HeartbeatRequest hb;
  hb.set_group_id("members");
  hb.set_member_id(joined.member_id());
  hb.set_generation_id(joined.generation_id());
  EXPECT_EQ(CallAs<v1::HeartbeatResponse>(h, v1::API_KEY_HEARTBEAT, hb).error_code(),
            ErrorCode::NONE);
}

TEST(GroupPersistenceTest, AcknowledgedCommitSurvivesAPowerCut) {
  BrokerHarness h(NoDelay(/*fault_fs=*/true));
  ASSERT_TRUE(h.Open().ok());
  h.CreateTopic("t", 2);
  const int32_t offsets_partition = broker::GroupPartition("g", 8);
  const int shard =
      broker::PartitionShard(broker::kOffsetsTopic, offsets_partition, h.shards().size());
  // While fdatasync is held, the commit is not acknowledged.
  h.Do(shard, [&h, shard] { h.fault_fs(shard).HoldSyncs(); });
  std::future<v1::OffsetCommitResponse> pending = std::async(std::launch::async, [&h] {
    return CallAs<v1::OffsetCommitResponse>(h, v1::API_KEY_OFFSET_COMMIT,
                                            Commit("g", "t", {{0, 42}}));
  });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int waiting = 0;
  while (waiting == 0 && std::chrono::steady_clock::now() < until) {
    h.Do(shard, [&h, shard, &waiting] { waiting = h.fault_fs(shard).syncs_waiting(); });
  }
  ASSERT_GT(waiting, 0) << "the commit's fdatasync never started";
  EXPECT_NE(pending.wait_for(std::chrono::milliseconds(0)), std::future_status::ready)
      << "a commit was acknowledged before its fdatasync";
  h.Do(shard, [&h, shard] { h.fault_fs(shard).ReleaseSyncs(); });
  ExpectCommitted(pending.get());

  h.Kill();
  h.PowerCut();
  ASSERT_TRUE(h.Open().ok());
  EXPECT_EQ(OffsetOf(FetchOffsets(h, "g", "t", {0}), 0), 42);
}

TEST(GroupPersistenceTest, ExpiredOffsetsStayExpiredAfterReplay) {
  BrokerOptions o;
  o.tweak = [](broker::BrokerConfig& c) {
    c.groups.offsets_retention_ms = 60000;
    c.groups.offsets_retention_check_interval_ms = 5;
  };
  BrokerHarness h(o);
  ASSERT_TRUE(h.Open().ok());
  h.CreateTopic("t", 1);
  ExpectCommitted(
      CallAs<v1::OffsetCommitResponse>(h, v1::API_KEY_OFFSET_COMMIT, Commit("old", "t", {{0, 5}})));
  EXPECT_EQ(OffsetOf(FetchOffsets(h, "old", "t", {0}), 0), 5);
  h.clock().advance_ms(60001);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int64_t offset = 5;
  while (offset != -1 && std::chrono::steady_clock::now() < until) {
    offset = OffsetOf(FetchOffsets(h, "old", "t", {0}), 0);
  }
  ASSERT_EQ(offset, -1) << "the offset did not expire";
  ASSERT_TRUE(h.Close().ok());
  ASSERT_TRUE(h.Open().ok());
  EXPECT_EQ(OffsetOf(FetchOffsets(h, "old", "t", {0}), 0), -1)
      << "the expiry's tombstone was not replayed";
}

TEST(GroupPersistenceTest, InternalTopicIsHiddenAndProtected) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  v1::MetadataResponse all = h.Metadata({}, /*all=*/true);
  for (const auto& t : all.topics()) EXPECT_NE(t.name(), broker::kOffsetsTopic);
  v1::MetadataResponse named = h.Metadata({std::string(broker::kOffsetsTopic)});
  ASSERT_EQ(named.topics_size(), 1);
  EXPECT_EQ(named.topics(0).error_code(), ErrorCode::NONE);
  EXPECT_EQ(named.topics(0).partitions_size(), 8) << "offsets.topic.num.partitions default";
  std::optional<v1::PartitionProduceResponse> produced =
      h.Produce(std::string(broker::kOffsetsTopic), 0, MakeBatch(1));
  ASSERT_TRUE(produced.has_value());
  EXPECT_EQ(produced->error_code(), ErrorCode::INVALID_TOPIC);
  v1::DeleteTopicsResponse deleted = h.DeleteTopic(std::string(broker::kOffsetsTopic));
  ASSERT_EQ(deleted.results_size(), 1);
  EXPECT_EQ(deleted.results(0).error_code(), ErrorCode::INVALID_TOPIC);
}

TEST(GroupPersistenceTest, CommitErrors) {
  BrokerHarness h(NoDelay());
  ASSERT_TRUE(h.Open().ok());
  h.CreateTopic("t", 1);
  v1::OffsetCommitRequest big = Commit("g", "t", {{0, 1}});
  big.mutable_topics(0)->mutable_partitions(0)->set_metadata(std::string(5000, 'x'));
  v1::OffsetCommitResponse r = CallAs<v1::OffsetCommitResponse>(h, v1::API_KEY_OFFSET_COMMIT, big);
  EXPECT_EQ(r.topics(0).partitions(0).error_code(), ErrorCode::INVALID_COMMIT_OFFSET_SIZE);
  r = CallAs<v1::OffsetCommitResponse>(h, v1::API_KEY_OFFSET_COMMIT, Commit("g", "nope", {{0, 1}}));
  EXPECT_EQ(r.topics(0).partitions(0).error_code(), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  r = CallAs<v1::OffsetCommitResponse>(h, v1::API_KEY_OFFSET_COMMIT,
                                       Commit("g", "t", {{0, 1}}, 3, "stranger"));
  EXPECT_EQ(r.topics(0).partitions(0).error_code(), ErrorCode::ILLEGAL_GENERATION);
  r = CallAs<v1::OffsetCommitResponse>(h, v1::API_KEY_OFFSET_COMMIT, Commit("", "t", {{0, 1}}));
  EXPECT_EQ(r.topics(0).partitions(0).error_code(), ErrorCode::INVALID_GROUP_ID);
}

TEST(GroupPersistenceTest, PrepareShutdownAnswersParkedJoins) {
  BrokerHarness h(NoDelay());
  ASSERT_TRUE(h.Open().ok());
  v1::JoinGroupResponse a0 = JoinGroup(h, "g", "");
  v1::JoinGroupResponse a1 = JoinGroup(h, "g", a0.member_id());
  ASSERT_EQ(a1.error_code(), ErrorCode::NONE);
  v1::JoinGroupResponse b0 = JoinGroup(h, "g", "");
  std::future<v1::JoinGroupResponse> parked =
      std::async(std::launch::async, [&h, id = b0.member_id()] { return JoinGroup(h, "g", id); });
  v1::HeartbeatRequest hb;
  hb.set_group_id("g");
  hb.set_member_id(a1.member_id());
  hb.set_generation_id(a1.generation_id());
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  ErrorCode code = ErrorCode::NONE;
  while (code != ErrorCode::REBALANCE_IN_PROGRESS && std::chrono::steady_clock::now() < until) {
    code = CallAs<v1::HeartbeatResponse>(h, v1::API_KEY_HEARTBEAT, hb).error_code();
  }
  ASSERT_EQ(code, ErrorCode::REBALANCE_IN_PROGRESS) << "B's join never parked";
  EXPECT_NE(parked.wait_for(std::chrono::milliseconds(0)), std::future_status::ready);
  h.RunVoid(0, [&h]() -> Task<void> { co_await h.broker().PrepareShutdown(); });
  EXPECT_EQ(parked.get().error_code(), ErrorCode::NOT_COORDINATOR);
  EXPECT_EQ(CallAs<v1::HeartbeatResponse>(h, v1::API_KEY_HEARTBEAT, hb).error_code(),
            ErrorCode::NOT_COORDINATOR);
}

}  // namespace
}  // namespace spool::testing
