// RaftNode: one voter's Raft state machine (replication/raft/README.md). Pure and
// single-threaded in the style of etcd's raft library: no threads, no I/O, no clock reads.
//
// Inputs: Tick(now) as time passes, Step(message) for each message delivered to this node,
// Propose()/RequestRead() from clients, Compact() from the state machine, and OnPersisted() /
// OnSnapshotPersisted() when the driver's storage made something durable.
// Outputs: TakeReady() returns what to persist, send, apply and answer, under the Ready contract
// in ready.h ("persist, then send"). Call HasReady()/TakeReady() after every input.
//
// Time: the node never reads a clock. Tick(now_ns) gives it the time (monotonic, never going
// back); Step() and the client calls use the time of the last Tick(). next_deadline_ns() says
// when the next timer fires, so a driver can sleep until then (it may also tick more often).
//
// Randomness: election timeouts come from a std::mt19937_64 seeded by the `seed` passed in.
//
// Ownership and threading: the node owns its in-memory log and state; call it from one thread
// (a reactor) only. Durability is the driver's: see ready.h.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/status.h"
#include "replication/raft/config.h"
#include "replication/raft/progress.h"
#include "replication/raft/raft_log.h"
#include "replication/raft/ready.h"
#include "replication/raft/types.h"

namespace spool::raft {

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role role);

class RaftNode {
 public:
  // Errors: kInvalidArgument for a bad config (ValidateConfig) or a recovered state whose
  // entries are not contiguous after its snapshot.
  [[nodiscard]] static StatusOr<std::unique_ptr<RaftNode>> Create(Config config,
                                                                  RecoveredState state,
                                                                  uint64_t seed, int64_t now_ns);

  // ---- inputs ----
  void Tick(int64_t now_ns);
  // Messages for another node, from a non-voter, or stale are ignored.
  void Step(const Message& m);
  // Appends `data` as a new entry. Returns its index; committed once a Ready delivers it in
  // `committed`. kFailedPrecondition when this node is not the leader (see leader()).
  [[nodiscard]] StatusOr<Index> Propose(std::string data);
  // Starts a linearizable read (README "ReadIndex"): a later Ready lists `request_id` in
  // `reads` with the index to wait for, or in `failed_reads` if leadership is lost first.
  // kFailedPrecondition when not the leader; kUnavailable while the leader has not yet
  // committed an entry of its own term (retry shortly).
  [[nodiscard]] Status RequestRead(uint64_t request_id);
  // The state machine has applied up to `index` (<= the last delivered committed entry) and
  // `data` is its image there: the log is truncated up to it and the snapshot is handed out to
  // persist. kInvalidArgument when `index` is not applied yet or below the current snapshot.
  [[nodiscard]] Status Compact(Index index, std::string data);
  // Starts an election now, as if the election timeout had fired (pre-vote first when enabled).
  // For start-up of a single voter, operators and tests. Ignored on a leader.
  void StartElection();
  // Storage made the log durable up to entry (index, term).
  void OnPersisted(Index index, Term term);
  // Storage made the snapshot at `index` durable.
  void OnSnapshotPersisted(Index index);

  // ---- outputs ----
  bool HasReady() const;
  Ready TakeReady();
  int64_t next_deadline_ns() const;

  // ---- state (for drivers, tests and the simulator's checks) ----
  NodeId id() const { return config_.id; }
  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId leader() const { return leader_; }
  Index commit_index() const { return commit_; }
  Index delivered_index() const { return delivered_; }
  const RaftLog& log() const { return log_; }
  const Config& config() const { return config_; }
  // A leader's view of a follower; nullptr for self or when not leader.
  const Progress* progress(NodeId peer) const;

 private:
  RaftNode(Config config, RecoveredState state, uint64_t seed, int64_t now_ns);

  // ---- roles (raft_node.cc) ----
  void BecomeFollower(Term term, NodeId leader);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void ResetElectionTimer();
  size_t Quorum() const { return config_.voters.size() / 2 + 1; }
  bool InLease() const;
  void Send(Message m);
  void FailPendingReads();

  // ---- elections (raft_election.cc) ----
  void Campaign(bool pre_vote);
  void HandleVoteRequest(const Message& m);
  void HandleVoteResponse(const Message& m);
  // False when `m` must be dropped (or was answered) because of its term.
  bool CheckTerm(const Message& m);

  // ---- replication (raft_replication.cc) ----
  Message FollowLeader(const Message& m);
  void HandleAppend(const Message& m);
  void HandleSnapshot(const Message& m);
  void HandleAppendResponse(const Message& m);
  void SendAppend(NodeId peer, bool heartbeat);
  void BroadcastAppend(bool heartbeat);
  void MaybeCommit();
  void AdvanceFollowerCommit(Index commit);
  void CheckQuorum();
  void ReleaseReads();

  Config config_;
  RaftLog log_;
  std::mt19937_64 rng_;

  Role role_ = Role::kFollower;
  Term term_;
  NodeId vote_ = kNoNode;
  NodeId leader_ = kNoNode;
  HardState handed_hard_state_;  // the last hard state given to the driver (or recovered)

  Index commit_;
  Index delivered_;  // committed entries up to here were handed out in Readys
  std::shared_ptr<const Snapshot> pending_snapshot_;  // to persist
  std::shared_ptr<const Snapshot> pending_restore_;   // to restore the state machine from

  int64_t now_ns_ = 0;
  int64_t election_deadline_ns_ = 0;
  int64_t heartbeat_deadline_ns_ = 0;
  int64_t quorum_deadline_ns_ = 0;
  int64_t last_leader_contact_ns_ = INT64_MIN / 2;

  std::map<NodeId, bool> votes_;         // this campaign's answers (including our own)
  std::map<NodeId, Progress> progress_;  // leader only: every other voter
  Index term_start_index_;               // leader only: the index of its no-op entry

  struct PendingRead {
    uint64_t request_id;
    Index index;
    uint64_t context;
  };
  uint64_t heartbeat_context_ = 0;  // leader only: sequence of the last heartbeat round
  std::deque<PendingRead> pending_reads_;
  std::vector<ReadState> ready_reads_;
  std::vector<uint64_t> failed_reads_;

  std::vector<Message> outbox_;
};

}  // namespace spool::raft
