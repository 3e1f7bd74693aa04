// ControllerState: speculative application of proposals, commit confirmation, rollback when
// leadership is lost or the log goes another way, snapshot restore, and the entry codec.
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "replication/controller/controller_errors.h"
#include "replication/controller/controller_logic.h"
#include "replication/controller/controller_state.h"

namespace spool::controller {
namespace {

// A single-broker cluster, committed at index 2 (registration, unfence).
ControllerState OneBroker(BrokerLiveness& liveness) {
  ClusterImage image;
  RegisterBrokerRequest req;
  req.broker_id = 1;
  req.incarnation_id = "x";
  auto reg = RegisterBroker(image, liveness, req, 1, 0, ControllerConfig{});
  EXPECT_TRUE(image.ApplyBatch(reg.records).ok());
  auto hb = Heartbeat(image, liveness, HeartbeatRequest{1, 1, 1, false}, 0);
  EXPECT_TRUE(image.ApplyBatch(hb.records).ok());
  return ControllerState(image, 2);
}

std::vector<v1::MetadataRecord> Create(const ClusterImage& image, const std::string& name,
                                       std::mt19937_64& rng, ControllerError* error = nullptr) {
  CreateTopicsRequest req;
  req.topics.push_back(CreatableTopic{name, 1, 1, {}});
  auto res = CreateTopics(image, req, ControllerConfig{}, rng);
  if (error != nullptr) *error = ControllerErrorOf(res.reply[0].status);
  return res.records;
}

TEST(ControllerState, ProposalsApplyToLatestUntilCommitted) {
  BrokerLiveness liveness;
  std::mt19937_64 rng(3);
  ControllerState state = OneBroker(liveness);
  const auto a = Create(state.latest(), "a", rng);
  ASSERT_TRUE(state.Propose(3, a).ok());
  EXPECT_NE(state.latest().FindTopic("a"), nullptr);
  EXPECT_EQ(state.committed().FindTopic("a"), nullptr);

  // A second request decided on latest sees the first before it commits.
  ControllerError error = ControllerError::kNone;
  const auto dup = Create(state.latest(), "a", rng, &error);
  EXPECT_EQ(error, ControllerError::kTopicAlreadyExists);
  EXPECT_TRUE(dup.empty());
  const auto b = Create(state.latest(), "b", rng);
  ASSERT_TRUE(state.Propose(4, b).ok());
  EXPECT_EQ(state.pending_count(), 2u);
  EXPECT_EQ(state.latest_index(), 4);

  // Commit both, in order: each confirms our proposal.
  StatusOr<bool> first = state.ApplyCommitted(3, a);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  EXPECT_NE(state.committed().FindTopic("a"), nullptr);
  EXPECT_EQ(state.committed().FindTopic("b"), nullptr);
  EXPECT_NE(state.latest().FindTopic("b"), nullptr);
  StatusOr<bool> second = state.ApplyCommitted(4, b);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(*second);
  EXPECT_EQ(state.pending_count(), 0u);
  EXPECT_TRUE(state.latest() == state.committed());
  EXPECT_EQ(state.committed_index(), 4);
}

TEST(ControllerState, LeadershipLostRollsBackToCommitted) {
  BrokerLiveness liveness;
  std::mt19937_64 rng(3);
  ControllerState state = OneBroker(liveness);
  const ClusterImage committed = state.committed();
  ASSERT_TRUE(state.Propose(3, Create(state.latest(), "a", rng)).ok());
  ASSERT_TRUE(state.Propose(4, Create(state.latest(), "b", rng)).ok());
  state.OnLeadershipLost();
  EXPECT_EQ(state.pending_count(), 0u);
  EXPECT_TRUE(state.latest() == committed);
  EXPECT_TRUE(state.committed() == committed);
  EXPECT_EQ(state.latest_index(), 2);
}

TEST(ControllerState, ForeignCommitAtAPendingIndexDropsEveryProposal) {
  BrokerLiveness liveness;
  std::mt19937_64 ours_rng(3), theirs_rng(4);
  ControllerState state = OneBroker(liveness);
  const auto ours = Create(state.latest(), "a", ours_rng);
  ASSERT_TRUE(state.Propose(3, ours).ok());
  ASSERT_TRUE(state.Propose(4, Create(state.latest(), "b", ours_rng)).ok());
  // Another leader's entry won index 3: "a" with another id.
  const auto theirs = Create(state.committed(), "a", theirs_rng);
  StatusOr<bool> applied = state.ApplyCommitted(3, theirs);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_FALSE(*applied);
  EXPECT_EQ(state.pending_count(), 0u);
  EXPECT_TRUE(state.latest() == state.committed());
  EXPECT_EQ(state.latest().FindTopic("b"), nullptr);
  EXPECT_NE(state.committed().FindTopic("a")->id,
            TopicId::FromBytes(ours[0].topic().topic_id()).value());
}

TEST(ControllerState, OlderEntryCommitsUnderPendingProposals) {
  BrokerLiveness liveness;
  std::mt19937_64 rng(3), other_rng(9);
  ControllerState state = OneBroker(liveness);
  const auto b = Create(state.latest(), "b", rng);
  ASSERT_TRUE(state.Propose(5, b).ok());
  // Entry 3 (an earlier leader's, before our proposal) commits: "a" joins latest under "b".
  const auto a = Create(state.committed(), "a", other_rng);
  StatusOr<bool> older = state.ApplyCommitted(3, a);
  ASSERT_TRUE(older.ok()) << older.status();
  EXPECT_FALSE(*older);
  EXPECT_EQ(state.pending_count(), 1u);
  EXPECT_NE(state.latest().FindTopic("a"), nullptr);
  EXPECT_NE(state.latest().FindTopic("b"), nullptr);
  EXPECT_EQ(state.committed().FindTopic("b"), nullptr);
  StatusOr<bool> ours = state.ApplyCommitted(5, b);
  ASSERT_TRUE(ours.ok());
  EXPECT_TRUE(*ours);
  EXPECT_TRUE(state.latest() == state.committed());

  // An older entry that our proposal no longer applies on (the same name): proposals dropped.
  const auto c1 = Create(state.latest(), "c", rng);
  ASSERT_TRUE(state.Propose(9, c1).ok());
  const auto c2 = Create(state.committed(), "c", other_rng);
  StatusOr<bool> clash = state.ApplyCommitted(7, c2);
  ASSERT_TRUE(clash.ok());
  EXPECT_EQ(state.pending_count(), 0u);
  EXPECT_TRUE(state.latest() == state.committed());
}

TEST(ControllerState, FollowerAppliesCommittedEntries) {
  BrokerLiveness liveness;
  std::mt19937_64 rng(3);
  ControllerState leader = OneBroker(liveness);
  ControllerState follower = OneBroker(liveness);
  const auto a = Create(leader.latest(), "a", rng);
  ASSERT_TRUE(leader.Propose(3, a).ok());
  StatusOr<bool> f = follower.ApplyCommitted(3, a);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(*f);  // not a proposal of its own
  ASSERT_TRUE(leader.ApplyCommitted(3, a).ok());
  EXPECT_TRUE(follower.committed() == leader.committed());
  EXPECT_TRUE(follower.latest() == follower.committed());
}

TEST(ControllerState, RefusesBadIndexesAndRecords) {
  BrokerLiveness liveness;
  std::mt19937_64 rng(3);
  ControllerState state = OneBroker(liveness);
  const auto a = Create(state.latest(), "a", rng);
  EXPECT_EQ(state.Propose(2, a).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(state.Propose(5, a).ok());
  EXPECT_EQ(state.Propose(5, a).code(), absl::StatusCode::kFailedPrecondition);
  // A record that does not apply to latest is refused and nothing changes.
  const ClusterImage latest = state.latest();
  EXPECT_EQ(state.Propose(6, a).code(), absl::StatusCode::kDataLoss);  // "a" exists in latest
  EXPECT_TRUE(state.latest() == latest);
  EXPECT_EQ(state.pending_count(), 1u);
  // A registration's epoch must be its entry's index.
  BrokerLiveness other;
  RegisterBrokerRequest req;
  req.broker_id = 2;
  req.incarnation_id = "y";
  auto reg = RegisterBroker(state.latest(), other, req, 7, 0, ControllerConfig{});
  ASSERT_TRUE(reg.reply.status.ok());
  EXPECT_EQ(state.Propose(8, reg.records).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(state.Propose(7, reg.records).ok());
  // Committed entries must move forward and apply.
  EXPECT_EQ(state.ApplyCommitted(2, a).status().code(), absl::StatusCode::kDataLoss);
  v1::MetadataRecord bad;
  bad.mutable_remove_topic()->set_topic_id(std::string(16, '\x07'));
  const ClusterImage committed = state.committed();
  EXPECT_EQ(state.ApplyCommitted(3, std::vector<v1::MetadataRecord>{bad}).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE(state.committed() == committed);
  EXPECT_EQ(state.committed_index(), 2);
}

TEST(ControllerState, RestoreReplacesEverything) {
  BrokerLiveness liveness;
  std::mt19937_64 rng(3);
  ControllerState state = OneBroker(liveness);
  ASSERT_TRUE(state.Propose(3, Create(state.latest(), "a", rng)).ok());
  ClusterImage other;
  state.Restore(other, 10);
  EXPECT_TRUE(state.committed() == other);
  EXPECT_TRUE(state.latest() == other);
  EXPECT_EQ(state.committed_index(), 10);
  EXPECT_EQ(state.pending_count(), 0u);
}

TEST(ControllerState, BatchCodecRoundTrips) {
  BrokerLiveness liveness;
  std::mt19937_64 rng(3);
  ControllerState state = OneBroker(liveness);
  CreateTopicsRequest req;
  req.topics.push_back(CreatableTopic{"a", 3, 1, {{"x", "1"}, {"y", "2"}, {"z", "3"}}});
  auto res = CreateTopics(state.latest(), req, ControllerConfig{}, rng);
  const std::string data = EncodeBatch(res.records);
  EXPECT_EQ(EncodeBatch(res.records), data);  // deterministic
  StatusOr<std::vector<v1::MetadataRecord>> decoded = DecodeBatch(data);
  ASSERT_TRUE(decoded.ok());
  ASSERT_EQ(decoded->size(), res.records.size());
  EXPECT_EQ(EncodeBatch(*decoded), data);
  ClusterImage a = state.committed(), b = state.committed();
  ASSERT_TRUE(a.ApplyBatch(res.records).ok());
  ASSERT_TRUE(b.ApplyBatch(*decoded).ok());
  EXPECT_TRUE(a == b);
  EXPECT_EQ(DecodeBatch("\xff\xff\xff").status().code(), absl::StatusCode::kDataLoss);
  StatusOr<std::vector<v1::MetadataRecord>> empty = DecodeBatch("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace spool::controller
