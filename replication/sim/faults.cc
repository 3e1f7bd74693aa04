// Cluster: the simulated network (delay, loss, duplication, reordering by random delay,
// partitions) and the fault schedule (partitions, crashes, restarts, lossy links, slow disks).
#include <utility>

#include "absl/strings/str_cat.h"
#include "replication/sim/cluster.h"

namespace spool::raft::sim {

bool Cluster::Connected(int a, int b) const {
  return group_[static_cast<size_t>(a)] == group_[static_cast<size_t>(b)];
}

void Cluster::SendAll(std::vector<Message> messages) {
  for (Message& m : messages) {
    ++result_.messages;
    if (Chance(drop_)) continue;
    const int to = IndexOf(m.to);
    if (Chance(duplicate_)) {
      Push(Event{.at = now_ + Uniform(min_delay_ns_, max_delay_ns_),
                 .kind = EventKind::kDeliver,
                 .node = to,
                 .message = m});
    }
    Push(Event{.at = now_ + Uniform(min_delay_ns_, max_delay_ns_),
               .kind = EventKind::kDeliver,
               .node = to,
               .message = std::move(m)});
  }
}

void Cluster::Deliver(Event& e) {
  const Message& m = e.message;
  Hash(static_cast<uint64_t>(m.type) | (static_cast<uint64_t>(m.from.value()) << 8) |
       (m.term.value() << 16));
  Hash(m.index.value() * 31 + m.entries.size() + (m.reject ? 1u << 31 : 0u));
  SimNode& n = nodes_[static_cast<size_t>(e.node)];
  if (!n.up || !Connected(IndexOf(m.from), e.node)) return;
  Trace(DebugString(m));
  n.raft->Tick(now_);
  n.raft->Step(m);
  Process(e.node);
}

void Cluster::InjectFault() {
  Push(Event{.at = now_ + Uniform(50'000'000, 1'500'000'000), .kind = EventKind::kFault});
  const int count = static_cast<int>(nodes_.size());
  int leader = -1;
  for (int i = 0; i < count; ++i) {
    const SimNode& n = nodes_[static_cast<size_t>(i)];
    if (n.up && n.raft->role() == Role::kLeader &&
        (leader < 0 || n.raft->term() > nodes_[static_cast<size_t>(leader)].raft->term())) {
      leader = i;
    }
  }
  switch (Uniform(0, 9)) {
    case 0: {  // a random split into two sides
      for (int& g : group_) g = static_cast<int>(Uniform(0, 1));
      Trace("partition (random split)");
      break;
    }
    case 1: {  // isolate one node
      for (int& g : group_) g = 0;
      group_[static_cast<size_t>(Uniform(0, count - 1))] = 1;
      Trace("partition (isolate one)");
      break;
    }
    case 2:
      for (int& g : group_) g = 0;
      Trace("heal partition");
      break;
    case 3:
    case 4: {  // crash a node; it restarts from its durable state a little later
      const int i = static_cast<int>(Uniform(0, count - 1));
      SimNode& n = nodes_[static_cast<size_t>(i)];
      if (!n.up) break;
      CrashNode(i);
      Push(Event{.at = now_ + Uniform(10'000'000, 3'000'000'000),
                 .kind = EventKind::kRestart,
                 .node = i,
                 .generation = n.generation});
      break;
    }
    case 5:  // a lossy, slow, duplicating network
      drop_ = Chance(0.3) ? 0.0 : static_cast<double>(Uniform(0, 300)) / 1000.0;
      duplicate_ = static_cast<double>(Uniform(0, 50)) / 1000.0;
      max_delay_ns_ = Uniform(1'000'000, 100'000'000);
      Trace(absl::StrCat("network drop ", drop_, " dup ", duplicate_));
      break;
    case 7:  // crash the leader
      if (leader >= 0) {
        CrashNode(leader);
        Push(Event{.at = now_ + Uniform(10'000'000, 2'000'000'000),
                   .kind = EventKind::kRestart,
                   .node = leader,
                   .generation = nodes_[static_cast<size_t>(leader)].generation});
      }
      break;
    case 8:  // cut the leader off from everyone
      if (leader >= 0) {
        for (int& g : group_) g = 0;
        group_[static_cast<size_t>(leader)] = 1;
        Trace("partition (isolate the leader)");
      }
      break;
    case 9:  // crash the next leader moments after it is elected (Figure 8 shapes)
      crash_next_leader_ = true;
      break;
    case 6:  // a slow disk
      fsync_ns_ = Uniform(50'000, 20'000'000);
      slow_fsync_ = static_cast<double>(Uniform(0, 200)) / 1000.0;
      Trace(absl::StrCat("disk fsync ", fsync_ns_, "ns slow ", slow_fsync_));
      break;
  }
}

void Cluster::Heal() {
  healed_ = true;
  heal_at_ = now_;
  heal_mark_ = proposals_;
  for (int& g : group_) g = 0;
  drop_ = 0;
  duplicate_ = 0.01;
  slow_fsync_ = 0;
  max_delay_ns_ = std::min<int64_t>(max_delay_ns_, 20'000'000);
  Trace("heal everything");
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    if (!nodes_[static_cast<size_t>(i)].up) StartNode(i);
  }
}

}  // namespace spool::raft::sim
