// The group coordinator of a real spoold over the wire (RawClient): two members go through the
// whole join / sync / heartbeat / commit / fetch / leave flow; committed offsets survive a
// SIGTERM restart and a kill -9; bad input gets clear error codes; a departed client's parked
// JoinGroup does not hold up shutdown.
#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "proto/body.h"
#include "tests/support/broker_process.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_env.h"

namespace spool::testing {
namespace {

using v1::ErrorCode;

class GroupCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BrokerProcessOptions o;
    o.data_dir = dir_.file("data");
    o.extra_args = {"--set", "group.initial.rebalance.delay.ms=0"};
    auto p = BrokerProcess::Start(o);
    ASSERT_TRUE(p.ok()) << p.status();
    broker_ = *std::move(p);
  }
  void TearDown() override {
    if (broker_ && broker_->running()) {
      Status st = broker_->Terminate();
      EXPECT_TRUE(st.ok()) << st;
    }
    if (HasFailure() && broker_) {
      std::fprintf(stderr, "spoold log:\n%s", broker_->log_tail().c_str());
    }
  }

  std::unique_ptr<RawClient> Connect() {
    auto c = RawClient::Connect(broker_->address());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  template <typename Resp>
  Resp Call(RawClient& c, v1::ApiKey key, const google::protobuf::MessageLite& req) {
    Resp resp;
    auto f = c.Call(static_cast<int16_t>(key), req, &resp);
    EXPECT_TRUE(f.ok()) << f.status();
    return resp;
  }

  void CreateTopic(const std::string& name, int partitions) {
    auto c = Connect();
    v1::CreateTopicsRequest req;
    v1::CreatableTopic* t = req.add_topics();
    t->set_name(name);
    t->set_num_partitions(partitions);
    auto resp = Call<v1::CreateTopicsResponse>(*c, v1::API_KEY_CREATE_TOPICS, req);
    ASSERT_EQ(resp.topics(0).error_code(), ErrorCode::NONE);
  }

  static v1::JoinGroupRequest JoinReq(const std::string& member) {
    v1::JoinGroupRequest req;
    req.set_group_id("g");
    req.set_member_id(member);
    req.set_session_timeout_ms(10000);
    req.set_rebalance_timeout_ms(10000);
    req.set_protocol_type("consumer");
    req.set_client_id("raw");
    v1::JoinGroupProtocol* p = req.add_protocols();
    p->set_name("range");
    p->set_metadata("sub-" + member);
    return req;
  }
  static v1::SyncGroupRequest SyncReq(const std::string& member, int32_t generation,
                                      std::vector<std::pair<std::string, std::string>> a = {}) {
    v1::SyncGroupRequest req;
    req.set_group_id("g");
    req.set_member_id(member);
    req.set_generation_id(generation);
    for (auto& [m, bytes] : a) {
      v1::SyncGroupAssignment* sa = req.add_assignments();
      sa->set_member_id(m);
      sa->set_assignment(bytes);
    }
    return req;
  }
  ErrorCode Heartbeat(RawClient& c, const std::string& group, const std::string& member,
                      int32_t generation) {
    v1::HeartbeatRequest req;
    req.set_group_id(group);
    req.set_member_id(member);
    req.set_generation_id(generation);
    return Call<v1::HeartbeatResponse>(c, v1::API_KEY_HEARTBEAT, req).error_code();
  }
  // B's parked request travels on another connection: heartbeat until the coordinator has seen
  // it (REBALANCE_IN_PROGRESS), with a deadline.
  ErrorCode HeartbeatUntilRebalance(RawClient& c, const std::string& member, int32_t generation) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    ErrorCode code = ErrorCode::NONE;
    do {
      code = Heartbeat(c, "g", member, generation);
    } while (code == ErrorCode::NONE && std::chrono::steady_clock::now() < until);
    return code;
  }
  v1::OffsetCommitResponse Commit(RawClient& c, const std::string& member, int32_t generation,
                                  std::vector<std::pair<int32_t, int64_t>> offsets,
                                  const std::string& metadata = "") {
    v1::OffsetCommitRequest req;
    req.set_group_id("g");
    req.set_member_id(member);
    req.set_generation_id(generation);
    v1::OffsetCommitTopic* t = req.add_topics();
    t->set_name("t");
    for (auto [p, o] : offsets) {
      v1::OffsetCommitPartition* cp = t->add_partitions();
      cp->set_partition(p);
      cp->set_committed_offset(o);
      cp->set_committed_leader_epoch(-1);
      cp->set_metadata(metadata);
    }
    return Call<v1::OffsetCommitResponse>(c, v1::API_KEY_OFFSET_COMMIT, req);
  }
  // Every partition of t, retried while the restarted coordinator is loading (with a deadline).
  std::vector<int64_t> Committed(int partitions) {
    auto c = Connect();
    v1::OffsetFetchRequest req;
    req.set_group_id("g");
    v1::OffsetFetchTopic* t = req.add_topics();
    t->set_name("t");
    for (int p = 0; p < partitions; p++) t->add_partitions(p);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    v1::OffsetFetchResponse r;
    do {
      r = Call<v1::OffsetFetchResponse>(*c, v1::API_KEY_OFFSET_FETCH, req);
    } while (r.error_code() == ErrorCode::COORDINATOR_LOAD_IN_PROGRESS &&
             std::chrono::steady_clock::now() < until);
    EXPECT_EQ(r.error_code(), ErrorCode::NONE);
    std::vector<int64_t> out;
    if (r.topics_size() != 1) return out;
    for (const auto& p : r.topics(0).partitions()) out.push_back(p.committed_offset());
    return out;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(GroupCoordinatorTest, TwoMembersJoinSyncCommitLeaveAndOffsetsSurviveRestarts) {
  CreateTopic("t", 4);
  auto a = Connect();
  auto b = Connect();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);

  v1::FindCoordinatorRequest find;
  find.set_key("g");
  auto coordinator = Call<v1::FindCoordinatorResponse>(*a, v1::API_KEY_FIND_COORDINATOR, find);
  EXPECT_EQ(coordinator.error_code(), ErrorCode::NONE);
  EXPECT_EQ(coordinator.port(), broker_->port());

  // A joins alone: generation 1.
  auto a0 = Call<v1::JoinGroupResponse>(*a, v1::API_KEY_JOIN_GROUP, JoinReq(""));
  ASSERT_EQ(a0.error_code(), ErrorCode::MEMBER_ID_REQUIRED);
  const std::string ida = a0.member_id();
  auto a1 = Call<v1::JoinGroupResponse>(*a, v1::API_KEY_JOIN_GROUP, JoinReq(ida));
  ASSERT_EQ(a1.error_code(), ErrorCode::NONE);
  ASSERT_EQ(a1.generation_id(), 1);
  ASSERT_EQ(a1.leader(), ida);
  auto s1 =
      Call<v1::SyncGroupResponse>(*a, v1::API_KEY_SYNC_GROUP, SyncReq(ida, 1, {{ida, "all"}}));
  ASSERT_EQ(s1.assignment(), "all");

  // B joins: its JoinGroup parks until A rejoins.
  auto b0 = Call<v1::JoinGroupResponse>(*b, v1::API_KEY_JOIN_GROUP, JoinReq(""));
  ASSERT_EQ(b0.error_code(), ErrorCode::MEMBER_ID_REQUIRED);
  const std::string idb = b0.member_id();
  ASSERT_TRUE(b->SendRequest(v1::API_KEY_JOIN_GROUP, 100, JoinReq(idb)).ok());
  EXPECT_EQ(HeartbeatUntilRebalance(*a, ida, 1), ErrorCode::REBALANCE_IN_PROGRESS);
  auto a2 = Call<v1::JoinGroupResponse>(*a, v1::API_KEY_JOIN_GROUP, JoinReq(ida));
  ASSERT_EQ(a2.error_code(), ErrorCode::NONE);
  EXPECT_EQ(a2.generation_id(), 2);
  EXPECT_EQ(a2.members_size(), 2);
  v1::JoinGroupResponse b1;
  ASSERT_TRUE(b->ReadResponse(&b1).ok());
  EXPECT_EQ(b1.error_code(), ErrorCode::NONE);
  EXPECT_EQ(b1.generation_id(), 2);
  EXPECT_EQ(b1.leader(), ida);

  // B's SyncGroup waits for the leader's.
  ASSERT_TRUE(b->SendRequest(v1::API_KEY_SYNC_GROUP, 101, SyncReq(idb, 2)).ok());
  auto sa = Call<v1::SyncGroupResponse>(*a, v1::API_KEY_SYNC_GROUP,
                                        SyncReq(ida, 2, {{ida, "t-0,t-1"}, {idb, "t-2,t-3"}}));
  EXPECT_EQ(sa.assignment(), "t-0,t-1");
  v1::SyncGroupResponse sb;
  ASSERT_TRUE(b->ReadResponse(&sb).ok());
  EXPECT_EQ(sb.error_code(), ErrorCode::NONE);
  EXPECT_EQ(sb.assignment(), "t-2,t-3");
  EXPECT_EQ(Heartbeat(*a, "g", ida, 2), ErrorCode::NONE);
  EXPECT_EQ(Heartbeat(*b, "g", idb, 2), ErrorCode::NONE);

  // Commits, fenced by generation.
  auto ca = Commit(*a, ida, 2, {{0, 100}, {1, 200}});
  EXPECT_EQ(ca.topics(0).partitions(0).error_code(), ErrorCode::NONE);
  EXPECT_EQ(ca.topics(0).partitions(1).error_code(), ErrorCode::NONE);
  EXPECT_EQ(Commit(*b, idb, 2, {{2, 300}}).topics(0).partitions(0).error_code(), ErrorCode::NONE);
  EXPECT_EQ(Commit(*b, idb, 1, {{3, 1}}).topics(0).partitions(0).error_code(),
            ErrorCode::ILLEGAL_GENERATION);
  EXPECT_EQ(Commit(*b, "stranger", 2, {{3, 1}}).topics(0).partitions(0).error_code(),
            ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(Committed(4), (std::vector<int64_t>{100, 200, 300, -1}));

  v1::DescribeGroupsRequest describe;
  describe.add_groups("g");
  auto d = Call<v1::DescribeGroupsResponse>(*a, v1::API_KEY_DESCRIBE_GROUPS, describe);
  ASSERT_EQ(d.groups_size(), 1);
  EXPECT_EQ(d.groups(0).group_state(), "Stable");
  EXPECT_EQ(d.groups(0).members_size(), 2);
  auto listed = Call<v1::ListGroupsResponse>(*a, v1::API_KEY_LIST_GROUPS, v1::ListGroupsRequest());
  ASSERT_EQ(listed.groups_size(), 1);
  EXPECT_EQ(listed.groups(0).group_id(), "g");

  // B leaves; A rejoins alone, then leaves too: the group is Empty.
  v1::LeaveGroupRequest leave;
  leave.set_group_id("g");
  leave.add_members()->set_member_id(idb);
  auto left = Call<v1::LeaveGroupResponse>(*b, v1::API_KEY_LEAVE_GROUP, leave);
  ASSERT_EQ(left.members_size(), 1);
  EXPECT_EQ(left.members(0).error_code(), ErrorCode::NONE);
  EXPECT_EQ(Heartbeat(*a, "g", ida, 2), ErrorCode::REBALANCE_IN_PROGRESS);
  auto a3 = Call<v1::JoinGroupResponse>(*a, v1::API_KEY_JOIN_GROUP, JoinReq(ida));
  EXPECT_EQ(a3.generation_id(), 3);
  EXPECT_EQ(a3.members_size(), 1);
  leave.mutable_members(0)->set_member_id(ida);
  EXPECT_EQ(
      Call<v1::LeaveGroupResponse>(*a, v1::API_KEY_LEAVE_GROUP, leave).members(0).error_code(),
      ErrorCode::NONE);
  d = Call<v1::DescribeGroupsResponse>(*a, v1::API_KEY_DESCRIBE_GROUPS, describe);
  EXPECT_EQ(d.groups(0).group_state(), "Empty");

  // SIGTERM restart.
  a.reset();
  b.reset();
  ASSERT_TRUE(broker_->Terminate().ok());
  ASSERT_TRUE(broker_->Restart().ok());
  EXPECT_EQ(Committed(4), (std::vector<int64_t>{100, 200, 300, -1}));

  // A manual-assignment commit (generation -1, no member: the group is empty), then kill -9.
  auto c = Connect();
  EXPECT_EQ(Commit(*c, "", -1, {{3, 400}}).topics(0).partitions(0).error_code(), ErrorCode::NONE);
  c.reset();
  broker_->Kill();
  ASSERT_TRUE(broker_->Restart().ok());
  EXPECT_EQ(Committed(4), (std::vector<int64_t>{100, 200, 300, 400}));

  // DeleteGroups: the empty group goes, its offsets with it (durably).
  c = Connect();
  v1::DeleteGroupsRequest del;
  del.add_groups("g");
  del.add_groups("never-existed");
  auto deleted = Call<v1::DeleteGroupsResponse>(*c, v1::API_KEY_DELETE_GROUPS, del);
  ASSERT_EQ(deleted.results_size(), 2);
  EXPECT_EQ(deleted.results(0).error_code(), ErrorCode::NONE);
  EXPECT_EQ(deleted.results(1).error_code(), ErrorCode::GROUP_ID_NOT_FOUND);
  c.reset();
  broker_->Kill();
  ASSERT_TRUE(broker_->Restart().ok());
  EXPECT_EQ(Committed(4), (std::vector<int64_t>{-1, -1, -1, -1}));
}

TEST_F(GroupCoordinatorTest, BadInputGetsClearErrors) {
  CreateTopic("t", 1);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(Heartbeat(*c, "no-such-group", "m", 1), ErrorCode::UNKNOWN_MEMBER_ID);
  EXPECT_EQ(Heartbeat(*c, "", "m", 1), ErrorCode::INVALID_GROUP_ID);
  auto big = Commit(*c, "", -1, {{0, 1}}, std::string(5000, 'm'));
  EXPECT_EQ(big.topics(0).partitions(0).error_code(), ErrorCode::INVALID_COMMIT_OFFSET_SIZE);
  auto low = JoinReq("");
  low.set_session_timeout_ms(10);
  EXPECT_EQ(Call<v1::JoinGroupResponse>(*c, v1::API_KEY_JOIN_GROUP, low).error_code(),
            ErrorCode::INVALID_SESSION_TIMEOUT);
  auto long_client = JoinReq("");
  long_client.set_client_id(std::string(20000, 'c'));
  auto refused = Call<v1::JoinGroupResponse>(*c, v1::API_KEY_JOIN_GROUP, long_client);
  EXPECT_EQ(refused.error_code(), ErrorCode::INVALID_REQUEST);
  EXPECT_NE(refused.error_message().find("client_id"), std::string::npos);
  auto no_protocols = JoinReq("");
  no_protocols.clear_protocols();
  EXPECT_EQ(Call<v1::JoinGroupResponse>(*c, v1::API_KEY_JOIN_GROUP, no_protocols).error_code(),
            ErrorCode::INCONSISTENT_GROUP_PROTOCOL);

  // A user produce to the internal topic.
  record::BatchBuilder builder;
  builder.Append(1'700'000'000'000, "k", "v");
  auto batch = builder.Seal();
  ASSERT_TRUE(batch.ok());
  v1::ProduceRequest produce;
  produce.set_acks(-1);
  produce.set_timeout_ms(5000);
  v1::TopicProduceData* t = produce.add_topics();
  t->set_name("__consumer_offsets");
  v1::PartitionProduceData* p = t->add_partitions();
  p->set_partition(0);
  p->set_payload_bytes(static_cast<int32_t>(batch->size()));
  std::span<const std::byte> bytes(*batch);
  std::vector<std::span<const std::byte>> payload{bytes};
  v1::ProduceResponse pr;
  auto f = c->Call(static_cast<int16_t>(v1::API_KEY_PRODUCE), produce, &pr, payload);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(pr.topics(0).partitions(0).error_code(), ErrorCode::INVALID_TOPIC);
  EXPECT_FALSE(pr.topics(0).partitions(0).error_message().empty());
}

// spoold calls Broker::PrepareShutdown() before Server::Stop(): a parked JoinGroup of a client
// that is gone is answered at once instead of holding Stop() up for its 10 s stop timeout.
TEST_F(GroupCoordinatorTest, DepartedClientsParkedJoinDoesNotHoldUpShutdown) {
  auto a = Connect();
  auto a0 = Call<v1::JoinGroupResponse>(*a, v1::API_KEY_JOIN_GROUP, JoinReq(""));
  auto a1 = Call<v1::JoinGroupResponse>(*a, v1::API_KEY_JOIN_GROUP, JoinReq(a0.member_id()));
  ASSERT_EQ(a1.error_code(), ErrorCode::NONE);
  Call<v1::SyncGroupResponse>(*a, v1::API_KEY_SYNC_GROUP, SyncReq(a0.member_id(), 1));
  // B's join parks (A never rejoins), then B goes away.
  auto b = Connect();
  auto b0 = Call<v1::JoinGroupResponse>(*b, v1::API_KEY_JOIN_GROUP, JoinReq(""));
  ASSERT_TRUE(b->SendRequest(v1::API_KEY_JOIN_GROUP, 7, JoinReq(b0.member_id())).ok());
  EXPECT_EQ(HeartbeatUntilRebalance(*a, a0.member_id(), 1), ErrorCode::REBALANCE_IN_PROGRESS)
      << "B's join is parked";
  b.reset();
  a.reset();
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(broker_->Terminate(std::chrono::milliseconds(8000)).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
}

}  // namespace
}  // namespace spool::testing
