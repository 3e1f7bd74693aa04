// Random operation sequences through the controller logic and ControllerState (speculative
// proposals, commits, lost leadership), with the invariants checked after every step.
// The seed comes from spool::testing::TestSeed() (SPOOL_SEED=N replays a run).
#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "replication/controller/controller_errors.h"
#include "replication/controller/controller_logic.h"
#include "replication/controller/controller_state.h"
#include "tests/support/test_env.h"

namespace spool::controller {
namespace {

bool Contains(const std::vector<int32_t>& v, int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The invariants of one image (README.md, "Invariants").
void CheckImage(const ClusterImage& image, const std::string& which) {
  for (const auto& [id, topic] : image.topics()) {
    for (size_t p = 0; p < topic.partitions.size(); ++p) {
      const PartitionState& s = topic.partitions[p];
      SCOPED_TRACE(which + " " + topic.name + "-" + std::to_string(p));
      ASSERT_FALSE(s.replicas.empty());
      ASSERT_FALSE(s.isr.empty());
      for (int32_t m : s.isr) ASSERT_TRUE(Contains(s.replicas, m)) << "ISR member " << m;
      if (s.leader != kNoLeader) {
        ASSERT_TRUE(Contains(s.isr, s.leader)) << "leader " << s.leader;
        ASSERT_TRUE(Contains(s.replicas, s.leader));
        ASSERT_TRUE(image.IsLive(s.leader)) << "led by fenced broker " << s.leader;
      }
    }
  }
  StatusOr<ClusterImage> restored = ClusterImage::FromProto(image.ToProto());
  ASSERT_TRUE(restored.ok()) << which << ": " << restored.status();
  ASSERT_TRUE(*restored == image) << which << ": snapshot round trip differs";
}

class RandomRun {
 public:
  explicit RandomRun(uint64_t seed) : rng_(seed), logic_rng_(seed ^ 0x9e3779b97f4a7c15ULL) {
    config_.session_timeout_ms = 9000;
  }

  void Step() {
    const int op = Pick(100);
    if (op < 10) {
      Register();
    } else if (op < 30) {
      HeartbeatSome();
    } else if (op < 40) {
      now_ms_ += Pick(6000);
      auto res = CheckSessions(state_.latest(), liveness_, now_ms_, config_);
      NoBug(res.reply.status);
      Expect(res.records);
    } else if (op < 52) {
      CreateSome();
    } else if (op < 56) {
      DeleteOne();
    } else if (op < 72) {
      AlterOne();
    } else if (op < 76) {
      ShutdownOne();
    } else if (op < 80) {
      AllocateIds();
    } else if (op < 81) {
      Unregister();
    } else if (op < 83) {
      AlterSomeConfig();
    } else if (op < 98) {
      for (int n = 1 + Pick(4); n > 0 && !::testing::Test::HasFailure(); --n) CommitOldest();
    } else {
      // Leadership lost and regained: pending proposals are gone, fresh sessions for everyone.
      state_.OnLeadershipLost();
      proposed_.clear();
      pending_ids_.clear();
      liveness_.Reset(state_.committed(), now_ms_);
    }
    CheckInvariants();
  }

  int commits() const { return commits_; }
  // How many records of each kind were proposed, and how many took a partition offline.
  const std::map<int, int>& record_counts() const { return record_counts_; }
  int offline_changes() const { return offline_changes_; }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  int32_t AnyBroker() { return static_cast<int32_t>(Pick(7)); }  // 0..6, some never registered

  // A refusal is fine; kInternal is a record the logic built and the image refused: a bug.
  static void NoBug(const Status& st) { ASSERT_NE(st.code(), absl::StatusCode::kInternal) << st; }

  // Proposes the records of a decision (they must apply to latest).
  void Expect(const std::vector<v1::MetadataRecord>& records) {
    if (records.empty()) return;
    const int64_t index = state_.latest_index() + 1;
    Status st = state_.Propose(index, records);
    ASSERT_TRUE(st.ok()) << st;
    proposed_[index] = records;  // what Raft would carry, to commit later
    for (const v1::MetadataRecord& r : records) {
      ++record_counts_[r.record_case()];
      if (r.has_partition_change() && r.partition_change().has_leader() &&
          r.partition_change().leader() == kNoLeader) {
        ++offline_changes_;
      }
    }
  }

  void Register() {
    RegisterBrokerRequest req;
    req.broker_id = AnyBroker();
    req.incarnation_id = "inc-" + std::to_string(Pick(3));
    req.endpoints = {Endpoint{"PLAINTEXT", "h", 9000 + req.broker_id}};
    if (Pick(2) == 0) req.rack = "rack-" + std::to_string(req.broker_id % 3);
    auto res = RegisterBroker(state_.latest(), liveness_, req, state_.latest_index() + 1, now_ms_,
                              config_);
    NoBug(res.reply.status);
    Expect(res.records);
  }

  void HeartbeatSome() {
    const std::map<int32_t, BrokerRegistration> brokers = state_.latest().brokers();  // a copy
    for (const auto& [id, b] : brokers) {
      if (Pick(4) == 0) continue;  // this one stays silent
      HeartbeatRequest req{id, state_.latest().FindBroker(id)->epoch,
                           Pick(5) == 0 ? 0 : state_.latest_index(), false};
      if (Pick(20) == 0) req.broker_epoch -= 1;  // stale
      auto res = Heartbeat(state_.latest(), liveness_, req, now_ms_);
      NoBug(res.reply.status);
      Expect(res.records);
      if (::testing::Test::HasFailure()) return;
    }
  }

  void CreateSome() {
    CreateTopicsRequest req;
    const int n = 1 + Pick(2);
    for (int i = 0; i < n; ++i) {
      CreatableTopic t{"topic-" + std::to_string(Pick(8)), 1 + Pick(6), 1 + Pick(4), {}};
      if (Pick(3) == 0) t.configs["unclean.leader.election.enable"] = "true";
      req.topics.push_back(std::move(t));
    }
    auto res = CreateTopics(state_.latest(), req, config_, logic_rng_);
    for (const CreatedTopic& t : res.reply) NoBug(t.status);
    Expect(res.records);
  }

  void DeleteOne() {
    auto res = DeleteTopics(state_.latest(), {"topic-" + std::to_string(Pick(8))});
    NoBug(res.reply[0].status);
    Expect(res.records);
  }

  void AlterOne() {
    const ClusterImage& image = state_.latest();
    if (image.topics().empty()) return;
    auto it = image.topics().begin();
    std::advance(it, Pick(static_cast<int>(image.topics().size())));
    const TopicImage& topic = it->second;
    const int32_t p = Pick(static_cast<int>(topic.partitions.size()));
    const PartitionState& s = topic.partitions[p];
    AlterPartitionRequest req;
    req.broker_id = Pick(8) == 0 ? AnyBroker() : s.leader;
    const BrokerRegistration* sender = image.FindBroker(req.broker_id);
    req.broker_epoch = sender == nullptr ? 1 : sender->epoch;
    req.topic_id = topic.id;
    req.partition = p;
    req.leader_epoch = s.leader_epoch - (Pick(10) == 0 ? 1 : 0);
    req.partition_epoch = s.partition_epoch - (Pick(10) == 0 ? 1 : 0);
    req.new_isr = {req.broker_id};
    for (int32_t r : s.replicas) {
      if (r != req.broker_id && Pick(2) == 0) req.new_isr.push_back(r);
    }
    auto res = AlterPartition(image, req);
    NoBug(res.reply.status);
    if (res.reply.status.ok()) {
      // Only a live leader with current epochs and live members gets an ISR change through.
      ASSERT_EQ(req.broker_id, s.leader);
      ASSERT_EQ(req.leader_epoch, s.leader_epoch);
      ASSERT_EQ(req.partition_epoch, s.partition_epoch);
      for (int32_t m : req.new_isr) ASSERT_TRUE(image.IsLive(m));
    }
    Expect(res.records);
  }

  void ShutdownOne() {
    const int32_t id = AnyBroker();
    const BrokerRegistration* b = state_.latest().FindBroker(id);
    auto res = ControlledShutdown(state_.latest(), BrokerRef{id, b ? b->epoch : 1});
    NoBug(res.reply);
    Expect(res.records);
  }

  void AllocateIds() {
    const int32_t id = AnyBroker();
    const BrokerRegistration* b = state_.latest().FindBroker(id);
    auto res = AllocateProducerIds(state_.latest(), BrokerRef{id, b ? b->epoch : 1}, config_);
    NoBug(res.reply.status);
    if (!res.reply.status.ok()) return;
    Expect(res.records);
    if (::testing::Test::HasFailure()) return;
    pending_ids_.push_back({state_.latest_index(), {res.reply.first_id, res.reply.count}});
  }

  void AlterSomeConfig() {
    ConfigChange change{v1::CONFIG_RESOURCE_TOPIC, "topic-" + std::to_string(Pick(8)),
                        "unclean.leader.election.enable", Pick(2) ? "true" : "false"};
    if (Pick(4) == 0) change.value.reset();
    if (Pick(4) == 0) change = ConfigChange{v1::CONFIG_RESOURCE_BROKER, "1", "k", "v"};
    auto res = AlterConfigs(state_.latest(), {change});
    NoBug(res.reply[0]);
    Expect(res.records);
  }

  void Unregister() {
    auto res = UnregisterBroker(state_.latest(), liveness_, AnyBroker());
    NoBug(res.reply);
    Expect(res.records);
  }

  // Commits the oldest pending proposal (as Raft would), checking the ids it hands out.
  void CommitOldest() {
    if (proposed_.empty()) return;
    const auto [index, records] = *proposed_.begin();
    StatusOr<bool> ours = state_.ApplyCommitted(index, records);
    ASSERT_TRUE(ours.ok()) << ours.status();
    ASSERT_TRUE(*ours);
    proposed_.erase(proposed_.begin());
    ++commits_;
    if (!pending_ids_.empty() && pending_ids_.front().first == index) {
      const auto [first, count] = pending_ids_.front().second;
      ASSERT_GE(first, allocated_end_) << "a producer id block handed out twice";
      allocated_end_ = first + count;
      pending_ids_.erase(pending_ids_.begin());
    }
  }

  void CheckInvariants() {
    ASSERT_EQ(state_.pending_count(), proposed_.size());
    CheckImage(state_.committed(), "committed");
    if (::testing::Test::HasFailure()) return;
    CheckImage(state_.latest(), "latest");
    if (::testing::Test::HasFailure()) return;
    if (state_.pending_count() == 0) {
      ASSERT_TRUE(state_.latest() == state_.committed());
    }
    // Epochs of committed partitions never go down.
    std::map<std::pair<TopicId, size_t>, std::pair<int32_t, int32_t>> now;
    for (const auto& [id, topic] : state_.committed().topics()) {
      for (size_t p = 0; p < topic.partitions.size(); ++p) {
        const PartitionState& s = topic.partitions[p];
        now[{id, p}] = {s.leader_epoch, s.partition_epoch};
        auto before = epochs_.find({id, p});
        if (before == epochs_.end()) continue;
        ASSERT_GE(s.leader_epoch, before->second.first) << topic.name << "-" << p;
        ASSERT_GE(s.partition_epoch, before->second.second) << topic.name << "-" << p;
      }
    }
    epochs_ = std::move(now);
    ASSERT_GE(state_.committed().next_producer_id(), allocated_end_);
  }

  std::mt19937_64 rng_;
  std::mt19937_64 logic_rng_;
  ControllerConfig config_;
  ControllerState state_;
  BrokerLiveness liveness_;
  int64_t now_ms_ = 1'000'000;
  int commits_ = 0;
  int64_t allocated_end_ = 0;
  std::map<int64_t, std::vector<v1::MetadataRecord>> proposed_;  // pending, by index
  std::map<int, int> record_counts_;
  int offline_changes_ = 0;
  std::vector<std::pair<int64_t, std::pair<int64_t, int64_t>>> pending_ids_;
  std::map<std::pair<TopicId, size_t>, std::pair<int32_t, int32_t>> epochs_;
};

TEST(ControllerRandom, InvariantsHoldUnderRandomOperations) {
  const uint64_t seed = spool::testing::TestSeed();
  RandomRun run(seed);
  for (int step = 0; step < 4000; ++step) {
    SCOPED_TRACE(::testing::Message() << "step " << step);
    run.Step();
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(run.commits(), 100);
  // The run exercised every kind of record (so the invariants were checked on them).
  for (int kind = v1::MetadataRecord::kRegisterBroker; kind <= v1::MetadataRecord::kProducerIds;
       ++kind) {
    EXPECT_GT(run.record_counts().count(kind), 0u) << "record kind " << kind;
  }
  std::fprintf(stderr, "%d commits, %d partition changes to offline\n", run.commits(),
               run.offline_changes());
}

}  // namespace
}  // namespace spool::controller
