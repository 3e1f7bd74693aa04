// The controller state machine over real RaftNodes (the hand-driven TestCluster of the Raft unit
// tests): every voter applies the same committed batches to the same image; a deposed leader's
// speculative proposals are rolled back when another leader's entries win; a snapshot of the
// image restores a restarted voter to the same state.
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft_test_util.h"
#include "replication/controller/controller_errors.h"
#include "replication/controller/controller_logic.h"
#include "replication/controller/controller_state.h"

namespace spool::controller {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::Index;
using raft::testing::TestCluster;

class ControllerOverRaft {
 public:
  explicit ControllerOverRaft(int n) : cluster_(n), n_(n) {
    for (int id = 1; id <= n; ++id) replicas_[id];
  }

  TestCluster& cluster() { return cluster_; }
  ControllerState& state(int id) { return replicas_.at(id).state; }

  // Applies every newly committed entry on every voter; `ours` counts confirmations.
  void ApplyAll() {
    for (int id = 1; id <= n_; ++id) {
      Replica& r = replicas_.at(id);
      const std::vector<Entry>& applied = cluster_.applied(id);
      for (; r.cursor < applied.size(); ++r.cursor) {
        const Entry& e = applied[r.cursor];
        if (e.type != EntryType::kNormal) continue;
        StatusOr<std::vector<v1::MetadataRecord>> records = DecodeBatch(e.data);
        ASSERT_TRUE(records.ok()) << records.status();
        StatusOr<bool> ours =
            r.state.ApplyCommitted(static_cast<int64_t>(e.index.value()), *records);
        ASSERT_TRUE(ours.ok()) << "voter " << id << ": " << ours.status();
        if (*ours) ++r.confirmed;
      }
    }
  }

  // The next index the leader will give a proposal.
  int64_t NextIndex(int leader) {
    return static_cast<int64_t>(cluster_.node(leader).log().last_index().value()) + 1;
  }

  // Proposes `records` on `leader` and applies them to its latest image.
  void Propose(int leader, const std::vector<v1::MetadataRecord>& records) {
    ASSERT_FALSE(records.empty());
    StatusOr<Index> index = cluster_.node(leader).Propose(EncodeBatch(records));
    ASSERT_TRUE(index.ok()) << index.status();
    Status st = state(leader).Propose(static_cast<int64_t>(index->value()), records);
    ASSERT_TRUE(st.ok()) << st;
  }

  void RegisterAndUnfence(int leader, int32_t broker) {
    RegisterBrokerRequest req;
    req.broker_id = broker;
    req.incarnation_id = "inc-" + std::to_string(broker);
    auto reg =
        RegisterBroker(state(leader).latest(), liveness_, req, NextIndex(leader), now_ms_, config_);
    ASSERT_TRUE(reg.reply.status.ok()) << reg.reply.status;
    Propose(leader, reg.records);
    auto hb = Heartbeat(state(leader).latest(), liveness_,
                        HeartbeatRequest{broker, reg.reply.broker_epoch, NextIndex(leader), false},
                        now_ms_);
    ASSERT_TRUE(hb.reply.status.ok()) << hb.reply.status;
    Propose(leader, hb.records);
  }

  std::vector<v1::MetadataRecord> CreateTopic(int leader, const std::string& name) {
    CreateTopicsRequest req;
    req.topics.push_back(CreatableTopic{name, 3, 2, {}});
    auto res = CreateTopics(state(leader).latest(), req, config_, rng_);
    EXPECT_TRUE(res.reply[0].status.ok()) << res.reply[0].status;
    return res.records;
  }

  void ExpectConverged() {
    for (int id = 2; id <= n_; ++id) {
      EXPECT_TRUE(state(id).committed() == state(1).committed()) << "voter " << id;
      EXPECT_EQ(state(id).committed_index(), state(1).committed_index()) << "voter " << id;
    }
  }

  // Restarts a voter from its disk: its state machine from the stored snapshot (if any).
  void Restart(int id) {
    cluster_.Restart(id);
    Replica& r = replicas_.at(id);
    r = Replica{};
    if (const auto& snap = cluster_.disk(id).snapshot; snap != nullptr) {
      v1::MetadataImage proto;
      ASSERT_TRUE(proto.ParseFromString(snap->data));
      StatusOr<ClusterImage> image = ClusterImage::FromProto(proto);
      ASSERT_TRUE(image.ok()) << image.status();
      r.state.Restore(*std::move(image), static_cast<int64_t>(snap->meta.index.value()));
    }
  }

  int confirmed(int id) const { return replicas_.at(id).confirmed; }
  std::mt19937_64& rng() { return rng_; }

 private:
  struct Replica {
    ControllerState state;
    size_t cursor = 0;  // entries of cluster.applied(id) already applied
    int confirmed = 0;
  };

  TestCluster cluster_;
  int n_;
  std::map<int, Replica> replicas_;
  BrokerLiveness liveness_;
  ControllerConfig config_;
  std::mt19937_64 rng_{5};
  int64_t now_ms_ = 0;
};

TEST(ControllerRaft, VotersApplyTheSameMetadata) {
  ControllerOverRaft c(3);
  c.cluster().Campaign(1);
  ASSERT_EQ(c.cluster().Leader(), 1);
  for (int32_t b = 1; b <= 3; ++b) c.RegisterAndUnfence(1, b);
  c.Propose(1, c.CreateTopic(1, "a"));
  c.Propose(1, c.CreateTopic(1, "b"));
  EXPECT_EQ(c.state(1).pending_count(), 8u);
  c.cluster().Stabilize();
  c.ApplyAll();
  EXPECT_EQ(c.state(1).pending_count(), 0u);
  EXPECT_EQ(c.confirmed(1), 8);
  EXPECT_EQ(c.confirmed(2), 0);  // followers only apply
  EXPECT_TRUE(c.state(1).latest() == c.state(1).committed());
  ASSERT_NE(c.state(2).committed().FindTopic("b"), nullptr);
  EXPECT_EQ(c.state(2).committed().brokers().size(), 3u);
  c.ExpectConverged();
}

TEST(ControllerRaft, DeposedLeadersProposalsRollBack) {
  ControllerOverRaft c(3);
  c.cluster().Campaign(1);
  for (int32_t b = 1; b <= 3; ++b) c.RegisterAndUnfence(1, b);
  c.cluster().Stabilize();
  c.ApplyAll();
  // Leader 1 is cut off; its proposal of "t" cannot commit.
  c.cluster().Isolate(1);
  const auto lost = c.CreateTopic(1, "t");
  c.Propose(1, lost);
  c.cluster().Stabilize();
  c.ApplyAll();
  ASSERT_NE(c.state(1).latest().FindTopic("t"), nullptr);
  // Another voter takes over and creates "t" with another id (the rng has moved on).
  c.cluster().RunFor(3 * c.cluster().config().election_timeout_ns);
  const int leader = c.cluster().Leader();
  ASSERT_TRUE(leader == 2 || leader == 3) << leader;
  EXPECT_NE(c.cluster().node(1).role(), raft::Role::kLeader);  // check-quorum
  const auto won = c.CreateTopic(leader, "t");
  c.Propose(leader, won);
  c.cluster().Stabilize();
  c.ApplyAll();
  ASSERT_NE(c.state(leader).committed().FindTopic("t"), nullptr);
  // Heal: 1 learns of term 2, its entry is overwritten; its state follows the committed log.
  c.cluster().HealAll();
  c.cluster().RunFor(2'000'000'000);
  c.ApplyAll();
  // The winner's entry at a later index than ours already dropped our proposal.
  EXPECT_EQ(c.state(1).pending_count(), 0u);
  c.state(1).OnLeadershipLost();  // what the driver does when it sees the role change
  EXPECT_TRUE(c.state(1).latest() == c.state(1).committed());
  c.ExpectConverged();
  EXPECT_EQ(c.state(1).committed().FindTopic("t")->id,
            TopicId::FromBytes(won[0].topic().topic_id()).value());
}

TEST(ControllerRaft, SnapshotRestoresARestartedVoter) {
  ControllerOverRaft c(3);
  c.cluster().Campaign(1);
  for (int32_t b = 1; b <= 3; ++b) c.RegisterAndUnfence(1, b);
  c.Propose(1, c.CreateTopic(1, "a"));
  c.cluster().Stabilize();
  c.ApplyAll();
  // Every voter compacts at what it applied, with the image as the snapshot.
  for (int id = 1; id <= 3; ++id) {
    std::string image;
    ASSERT_TRUE(c.state(id).committed().ToProto().SerializeToString(&image));
    Status st = c.cluster().node(id).Compact(
        Index{static_cast<uint64_t>(c.state(id).committed_index())}, image);
    ASSERT_TRUE(st.ok()) << st;
  }
  c.cluster().Stabilize();
  c.Propose(1, c.CreateTopic(1, "b"));  // after the snapshot
  c.cluster().Stabilize();
  c.ApplyAll();
  const ClusterImage before = c.state(3).committed();
  c.Restart(3);
  c.cluster().RunFor(2'000'000'000);
  c.ApplyAll();
  EXPECT_TRUE(c.state(3).committed() == before);
  ASSERT_NE(c.state(3).committed().FindTopic("b"), nullptr);
  c.ExpectConverged();
}

}  // namespace
}  // namespace spool::controller
