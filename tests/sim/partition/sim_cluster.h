// The partition-replication simulator (tests/sim/partition_sim_test.cc; broker/REPLICATION.md,
// "Simulator"). It runs the REAL replication code on one reactor, one step at a time:
//   - brokers: broker::Partition objects (one topic, 1..3 partitions, RF 3, min.insync.replicas
//     2, flush.policy=durable) on a testing::FaultFileSystem per node over a temp dir;
//   - follower fetches and the leader's answers: AnswerReplicaFetch / ApplyReplicaFetchAnswer
//     (broker/replica_fetch_partition.h), the code the broker's fetch handler and
//     ReplicaFetcher run; the ISR decision: DecideIsrChange, as ReplicaManager does;
//   - the controller: the pure controller logic (RegisterBroker, Heartbeat, CheckSessions,
//     CreateTopics, AlterPartition: elections from the ISR) over a ClusterImage; metadata
//     reaches each node at a random later step, and the node applies its roles with
//     BecomeLeader / BecomeFollower as ReplicaManager::ApplyOnShard does;
//   - clients: idempotent acks=all producers (Partition::Append + WaitCommitted(term)) that
//     believe stale metadata, retry, and record what was acknowledged.
// What it models (not real code): the network (one fetch in flight per follower partition,
// delay, loss, partitions between nodes and between a node and the controller), the controller
// quorum (a single always-consistent image: the Raft simulator covers the quorum), the clients'
// connections, and time.
//
// Time: a virtual clock (SimClock steps of 10 ms) feeds every now_ns / now_ms argument. The one
// real clock left is RequestTimers::NowNs(), which Partition reads for WaitCommitted deadlines
// (the sim passes deadlines far away and resolves outcomes itself) and for the start of a
// leadership in ReplicaProgress; the virtual clock starts far past the real one, and the sim
// runs a leader's ISR check only once replica.lag.time.max.ms of virtual time has passed since
// the leadership began, which is when the real rule would first drop a silent member.
//
// Determinism: every step is awaited to completion and then the sim waits until no partition's
// durability pump is running (except on a node whose syncs are held), so the order of
// decisions is the seed's whatever the I/O timing. A seed replays the same run (trace_hash).
//
// Ownership and threading: a Cluster owns its nodes and runs on the reactor passed in; one run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/io/reactor.h"
#include "common/task.h"

namespace spool::sim {

struct PartitionSimOptions {
  uint64_t seed = 1;
  int nodes = 0;       // 0: 3..5 from the seed
  int partitions = 0;  // 0: 1..3 from the seed
  int fault_steps = 1500;
  int heal_steps = 3000;     // bound to converge after the heal (all in the ISR, caught up)
  int liveness_steps = 300;  // bound for a new acks=all write to commit after that
  int check_every = 20;      // full log check every N steps (and at the end)
  std::string dir;           // an empty directory for the nodes' data
  size_t trace_lines = 200;  // steps kept for the failure report
  // Bug injection: followers ignore diverging_epoch (no divergence truncation).
  bool bug_skip_divergence_truncation = false;
  // Unsafe config: unclean.leader.election.enable=true on the topic (an out-of-sync replica may
  // lead when the ISR is gone), which loses acknowledged writes.
  bool unclean_leader_election = false;
};

struct PartitionSimResult {
  bool ok = true;
  std::string violation;  // the first broken invariant (or a sim error), empty if none
  bool converged = false;
  bool live = false;
  uint64_t trace_hash = 0;
  int nodes = 0;
  int partitions = 0;
  uint64_t steps = 0;
  uint64_t kills = 0;
  uint64_t power_cuts = 0;  // nodes power-cut (a kill or an all-node cut)
  uint64_t acked = 0;
  uint64_t committed = 0;  // offsets below the leaders' final HWs
  uint64_t truncations = 0;
  uint64_t elections = 0;          // leader epochs that began
  std::vector<std::string> trace;  // the last ~200 steps
};

Task<PartitionSimResult> RunPartitionSim(io::Reactor& reactor, PartitionSimOptions options);

}  // namespace spool::sim
