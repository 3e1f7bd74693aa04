// Cluster: the deterministic Raft simulator (replication/raft/README.md, "Simulator"). One
// thread, one seed: a simulated clock and event queue drive real RaftNode instances over a
// simulated network (delay, drop, duplicate, reorder, partition, heal) and simulated disks
// (MemoryStorage: slow fsync, crashes that lose unsynced writes), with a ListStateMachine per
// node and the Checker's invariants after every event. Every random choice comes from one
// std::mt19937_64 seeded with SimOptions::seed, so a seed replays the same run exactly (the
// trace hash of RunResult proves it).
//
// A run has a fault phase (random partitions, crashes, restarts, loss) followed by a healed
// phase in which a leader must be elected and a new proposal committed within
// SimOptions::liveness_bound_ns (liveness).
//
// Ownership and threading: a Cluster owns everything it simulates; single-threaded.
#pragma once

#include <cstdint>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "replication/raft/raft_node.h"
#include "replication/sim/checker.h"
#include "replication/sim/list_state_machine.h"
#include "replication/sim/memory_storage.h"

namespace spool::raft::sim {

struct SimOptions {
  uint64_t seed = 1;
  // 0: chosen from the seed (1, 3 or 5 voters).
  int voters = 0;
  int64_t fault_phase_ns = 20'000'000'000;
  int64_t liveness_bound_ns = 15'000'000'000;
  // Test-only storage bug: term and vote are written but never fsync'd, so a crash forgets a
  // vote. The checker must catch what follows (two leaders in a term).
  bool bug_skip_hard_state_sync = false;
  // Record a human-readable trace (for replaying a failing seed with --verbose).
  bool keep_trace = false;
};

struct RunResult {
  bool ok = true;
  std::string violation;  // the first broken invariant, empty if none
  bool live = false;      // a proposal made after the heal committed within the bound
  uint64_t trace_hash = 0;
  int64_t sim_time_ns = 0;
  int64_t recovery_ns = 0;  // heal to the first committed post-heal proposal
  uint64_t events = 0;
  uint64_t messages = 0;
  uint64_t committed = 0;
  uint64_t crashes = 0;
  int voters = 0;
  std::vector<std::string> trace;  // when keep_trace
};

RunResult RunSimulation(const SimOptions& options);

class Cluster {
 public:
  explicit Cluster(const SimOptions& options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  RunResult Run();

 private:
  enum class EventKind : uint8_t {
    kDeliver,
    kTimer,
    kPersisted,
    kFault,
    kRestart,
    kCrash,
    kIsolate,
    kHealLinks,
    kPropose,
    kRead,
    kHeal
  };
  struct Event {
    int64_t at = 0;
    uint64_t seq = 0;
    EventKind kind = EventKind::kTimer;
    int node = 0;             // index into nodes_
    uint64_t generation = 0;  // timers and persists: stale when it differs from the node's
    Message message;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };
  struct PendingPersist {
    int64_t done_at = 0;
    bool writes = false;
    DiskImage image;  // what the fsync makes durable
    Index last_index;
    Term last_term;
    Index snapshot_index;
    std::vector<Message> messages;
  };
  struct SimNode {
    NodeId id;
    bool up = true;
    uint64_t generation = 0;  // bumped by each crash
    uint64_t timer_generation = 0;
    std::unique_ptr<RaftNode> raft;
    MemoryStorage disk;
    ListStateMachine sm;
    std::vector<PendingPersist> pending;
    int64_t last_persist_done = 0;
    Term led;                            // the last term this node was seen leading
    Role traced_role = Role::kFollower;  // for the trace: role and term last reported
    Term traced_term;
  };

  void Push(Event e);
  void Trace(const std::string& line);
  void Hash(uint64_t v);
  void StartNode(int i);
  void CrashNode(int i);
  // Drains the node's Readys (checking after each input), schedules persists and its timer.
  void Process(int i);
  void HandlePersisted(int i);
  void SendAll(std::vector<Message> messages);
  void Deliver(Event& e);
  void InjectFault();
  void Heal();
  void Propose();
  void Read();
  void CheckGlobal();
  bool Connected(int a, int b) const;
  int IndexOf(NodeId id) const { return static_cast<int>(id.value()) - 1; }
  int64_t Uniform(int64_t lo, int64_t hi);  // [lo, hi]
  bool Chance(double p);

  SimOptions options_;
  std::mt19937_64 rng_;
  int64_t now_ = 0;
  uint64_t next_seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  Config base_config_;
  std::vector<SimNode> nodes_;
  std::vector<int> group_;  // partition: nodes talk only within the same group
  std::unique_ptr<Checker> checker_;

  // Network and disk knobs (re-drawn by faults).
  int64_t min_delay_ns_ = 100'000;
  int64_t max_delay_ns_ = 10'000'000;
  double drop_ = 0.0;
  double duplicate_ = 0.0;
  int64_t fsync_ns_ = 1'000'000;
  double slow_fsync_ = 0.0;
  int compact_every_ = 32;

  bool crash_next_leader_ = false;  // crash the next new leader moments after its election
  // Per seed: the chance that a new leader is crashed or cut off moments after its election,
  // which strands entries on minorities (the shapes of the paper's Figure 8).
  double leader_kill_ = 0.0;
  // What changed since the last global check (log matching, durability): skip the work if
  // nothing did.
  bool logs_changed_ = true;
  bool disks_changed_ = true;
  Index checked_commit_;
  bool healed_ = false;
  int64_t live_at_ = -1;
  int64_t heal_at_ = 0;
  uint64_t proposals_ = 0;
  uint64_t heal_mark_ = 0;  // proposals numbered above this were made after the heal
  uint64_t reads_ = 0;
  RunResult result_;
};

}  // namespace spool::raft::sim
