// A hand-driven cluster of RaftNodes for the Raft unit tests: the test decides when time passes,
// which links are cut and when messages are delivered. Persistence follows the Ready contract
// (everything a Ready writes is "durable" at once, before its messages are queued) unless a
// node's persistence is held, which lets a test check what the core does before OnPersisted.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "replication/raft/raft_node.h"
#include "replication/sim/memory_storage.h"

namespace spool::raft::testing {

class TestCluster {
 public:
  explicit TestCluster(int n, std::function<void(Config&)> tweak = {}) {
    for (int i = 1; i <= n; ++i) voters_.push_back(NodeId{static_cast<uint32_t>(i)});
    tweak_ = std::move(tweak);
    for (NodeId id : voters_) Start(id);
  }

  RaftNode& node(int id) { return *nodes_.at(NodeId{static_cast<uint32_t>(id)}).raft; }
  sim::DiskImage& disk(int id) { return nodes_.at(NodeId{static_cast<uint32_t>(id)}).disk; }
  const std::vector<Entry>& applied(int id) {
    return nodes_.at(NodeId{static_cast<uint32_t>(id)}).applied;
  }
  std::vector<Ready>& readys(int id) { return nodes_.at(NodeId{static_cast<uint32_t>(id)}).log; }
  int64_t now() const { return now_; }
  const Config& config() const { return config_; }

  // (Re)starts a node from its disk image, as after a crash.
  void Start(NodeId id) {
    Config c;
    c.id = id;
    c.voters = voters_;
    if (tweak_) tweak_(c);
    config_ = c;
    Member& m = nodes_[id];
    RecoveredState state;
    state.hard_state = m.disk.hard_state;
    state.snapshot = m.disk.snapshot;
    state.entries = m.disk.entries;
    auto node = RaftNode::Create(c, std::move(state), id.value() * 7919, now_);
    ASSERT_TRUE(node.ok()) << node.status();
    m.raft = std::move(node).value();
    m.applied.clear();
  }
  void Restart(int id) { Start(NodeId{static_cast<uint32_t>(id)}); }

  // Links: a cut link drops messages both ways at delivery.
  void Cut(int a, int b) { cut_.insert({std::min(a, b), std::max(a, b)}); }
  void Isolate(int a) {
    for (NodeId v : voters_) {
      if (static_cast<int>(v.value()) != a) Cut(a, static_cast<int>(v.value()));
    }
  }
  void HealAll() { cut_.clear(); }
  bool Linked(NodeId a, NodeId b) const {
    const int x = static_cast<int>(a.value());
    const int y = static_cast<int>(b.value());
    return cut_.count({std::min(x, y), std::max(x, y)}) == 0;
  }
  // While held, a node's Readys are taken but not persisted (no OnPersisted, messages held).
  void HoldPersistence(int id, bool hold) {
    Member& m = nodes_.at(NodeId{static_cast<uint32_t>(id)});
    m.hold = hold;
    if (!hold) {
      for (Ready& rd : m.held) Persist(m, rd);
      m.held.clear();
    }
  }
  // Every message goes through `filter` at delivery: return false to drop it (it may edit it).
  void SetFilter(std::function<bool(Message&)> filter) { filter_ = std::move(filter); }

  // Takes every node's Readys: persists, reports, queues messages, records applied entries.
  void Flush() {
    for (auto& [id, m] : nodes_) {
      while (m.raft->HasReady()) {
        Ready rd = m.raft->TakeReady();
        if (rd.restore) m.applied.clear();
        for (const Entry& e : rd.committed) m.applied.push_back(e);
        m.log.push_back(rd);
        if (m.hold) {
          m.held.push_back(std::move(rd));
        } else {
          Persist(m, rd);
        }
      }
    }
  }
  // Delivers what is queued now (not what that produces); returns how many were delivered.
  int DeliverRound() {
    Flush();
    std::deque<Message> batch;
    batch.swap(queue_);
    int delivered = 0;
    for (Message& msg : batch) {
      if (!Linked(msg.from, msg.to)) continue;
      if (filter_ && !filter_(msg)) continue;
      sent_.push_back(msg);
      RaftNode& to = *nodes_.at(msg.to).raft;
      to.Tick(now_);  // drivers tick before they step: Step() uses the last Tick's time
      to.Step(msg);
      ++delivered;
    }
    Flush();
    return delivered;
  }
  // Delivers until the cluster is quiet.
  void Stabilize() {
    for (int round = 0; round < 1000; ++round) {
      if (DeliverRound() == 0 && queue_.empty()) return;
    }
    ADD_FAILURE() << "cluster did not go quiet";
  }
  // Moves time forward by `ns`, ticking `who` (everyone when empty), then stabilizes.
  void Advance(int64_t ns, std::vector<int> who = {}) {
    now_ += ns;
    for (auto& [id, m] : nodes_) {
      if (who.empty() || std::count(who.begin(), who.end(), static_cast<int>(id.value()))) {
        m.raft->Tick(now_);
      }
    }
    Stabilize();
  }
  // Makes `id` start an election now and runs it to completion.
  void Campaign(int id) {
    node(id).StartElection();
    Stabilize();
  }
  // Moves time in heartbeat steps, ticking every node each step.
  void RunFor(int64_t ns) {
    const int64_t step = config_.heartbeat_interval_ns / 2;
    for (int64_t t = 0; t < ns; t += step) Advance(step);
  }
  // Messages delivered so far (after filtering).
  const std::vector<Message>& delivered() const { return sent_; }
  int CountDelivered(MessageType type, int from, bool reject) const {
    int n = 0;
    for (const Message& m : sent_) {
      n += (m.type == type && static_cast<int>(m.from.value()) == from && m.reject == reject);
    }
    return n;
  }
  // The leader with the highest term, or 0 when there is none.
  int Leader() {
    int found = 0;
    Term best;
    for (auto& [id, m] : nodes_) {
      if (m.raft->role() == Role::kLeader && m.raft->term() > best) {
        best = m.raft->term();
        found = static_cast<int>(id.value());
      }
    }
    return found;
  }

 private:
  struct Member {
    std::unique_ptr<RaftNode> raft;
    sim::DiskImage disk;
    std::vector<Entry> applied;
    std::vector<Ready> log;  // every Ready taken, for assertions
    bool hold = false;
    std::vector<Ready> held;
  };

  void Persist(Member& m, Ready& rd) {
    sim::ApplyWrites(rd, m.disk);
    if (rd.snapshot) m.raft->OnSnapshotPersisted(rd.snapshot->meta.index);
    if (!rd.entries.empty()) {
      m.raft->OnPersisted(rd.entries.back().index, rd.entries.back().term);
    }
    for (Message& msg : rd.messages) queue_.push_back(std::move(msg));
    rd.messages.clear();
  }

  std::vector<NodeId> voters_;
  std::function<void(Config&)> tweak_;
  Config config_;
  std::map<NodeId, Member> nodes_;
  std::set<std::pair<int, int>> cut_;
  std::function<bool(Message&)> filter_;
  std::deque<Message> queue_;
  std::vector<Message> sent_;
  int64_t now_ = 0;
};

inline Term T(uint64_t t) {
  return Term{t};
}
inline Index I(uint64_t i) {
  return Index{i};
}

}  // namespace spool::raft::testing
