// RaftNode: construction, time, roles, client calls and the Ready hand-off. Elections are in
// raft_election.cc, replication, commit and ReadIndex in raft_replication.cc.
#include "replication/raft/raft_node.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace spool::raft {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

StatusOr<std::unique_ptr<RaftNode>> RaftNode::Create(Config config, RecoveredState state,
                                                     uint64_t seed, int64_t now_ns) {
  RETURN_IF_ERROR(ValidateConfig(config));
  Index expect = state.snapshot ? state.snapshot->meta.index + 1 : Index{1};
  for (const Entry& e : state.entries) {
    if (e.index < expect && state.snapshot) continue;  // overlaps the snapshot: skipped
    if (e.index != expect) {
      return absl::InvalidArgumentError(
          absl::StrCat("raft: recovered entries not contiguous at index ", e.index.value()));
    }
    ++expect;
  }
  return std::unique_ptr<RaftNode>(new RaftNode(std::move(config), std::move(state), seed, now_ns));
}

RaftNode::RaftNode(Config config, RecoveredState state, uint64_t seed, int64_t now_ns)
    : config_(std::move(config)),
      log_(state.snapshot, std::move(state.entries)),
      rng_(seed),
      term_(state.hard_state.term),
      vote_(state.hard_state.vote),
      handed_hard_state_(state.hard_state),
      commit_(log_.snapshot_index()),
      delivered_(log_.snapshot_index()),
      now_ns_(now_ns) {
  ResetElectionTimer();
}

const Progress* RaftNode::progress(NodeId peer) const {
  if (role_ != Role::kLeader) return nullptr;
  auto it = progress_.find(peer);
  return it == progress_.end() ? nullptr : &it->second;
}

// ---- time ----

void RaftNode::ResetElectionTimer() {
  const int64_t t = config_.election_timeout_ns;
  std::uniform_int_distribution<int64_t> jitter(0, t - 1);
  election_deadline_ns_ = now_ns_ + t + jitter(rng_);
}

int64_t RaftNode::next_deadline_ns() const {
  if (role_ == Role::kLeader) return std::min(heartbeat_deadline_ns_, quorum_deadline_ns_);
  return election_deadline_ns_;
}

void RaftNode::Tick(int64_t now_ns) {
  now_ns_ = std::max(now_ns_, now_ns);
  if (role_ == Role::kLeader) {
    if (now_ns_ >= quorum_deadline_ns_) {
      CheckQuorum();
      if (role_ != Role::kLeader) return;
    }
    if (now_ns_ >= heartbeat_deadline_ns_) {
      heartbeat_deadline_ns_ = now_ns_ + config_.heartbeat_interval_ns;
      BroadcastAppend(/*heartbeat=*/true);
    }
    return;
  }
  if (now_ns_ >= election_deadline_ns_) Campaign(config_.pre_vote);
}

bool RaftNode::InLease() const {
  if (role_ == Role::kLeader) return config_.check_quorum;
  return config_.check_quorum && leader_ != kNoNode &&
         now_ns_ - last_leader_contact_ns_ < config_.election_timeout_ns;
}

// ---- roles ----

void RaftNode::BecomeFollower(Term term, NodeId leader) {
  if (role_ == Role::kLeader) FailPendingReads();
  if (term != term_) {
    term_ = term;
    vote_ = kNoNode;
  }
  role_ = Role::kFollower;
  leader_ = leader;
  votes_.clear();
  progress_.clear();
  ResetElectionTimer();
}

void RaftNode::BecomePreCandidate() {
  role_ = Role::kPreCandidate;
  leader_ = kNoNode;
  votes_.clear();
  ResetElectionTimer();
}

void RaftNode::BecomeCandidate() {
  role_ = Role::kCandidate;
  term_ = term_ + 1;
  vote_ = config_.id;
  leader_ = kNoNode;
  votes_.clear();
  ResetElectionTimer();
}

void RaftNode::BecomeLeader() {
  role_ = Role::kLeader;
  leader_ = config_.id;
  votes_.clear();
  progress_.clear();
  heartbeat_context_ = 0;
  for (NodeId v : config_.voters) {
    if (v == config_.id) continue;
    Progress p;
    p.next = log_.last_index() + 1;
    p.recent_active = true;  // give everyone one full period before check-quorum counts
    progress_[v] = p;
  }
  // §5.4.2: a leader commits entries of earlier terms only by committing one of its own.
  term_start_index_ = log_.last_index() + 1;
  log_.Append({Entry{term_, term_start_index_, EntryType::kNoop, {}}});
  heartbeat_deadline_ns_ = now_ns_ + config_.heartbeat_interval_ns;
  quorum_deadline_ns_ = now_ns_ + config_.election_timeout_ns;
  BroadcastAppend(/*heartbeat=*/false);
  MaybeCommit();  // a single voter commits as soon as its no-op is durable
}

void RaftNode::FailPendingReads() {
  for (const PendingRead& r : pending_reads_) failed_reads_.push_back(r.request_id);
  pending_reads_.clear();
}

void RaftNode::Send(Message m) {
  m.from = config_.id;
  // Pre-vote messages carry the term campaigned for (or, rejected, our own); the caller sets it.
  if (m.term == Term{0}) m.term = term_;
  outbox_.push_back(std::move(m));
}

// ---- client calls ----

StatusOr<Index> RaftNode::Propose(std::string data) {
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(
        absl::StrCat("raft: not the leader (leader is ", leader_.value(), ")"));
  }
  const Index index = log_.last_index() + 1;
  log_.Append({Entry{term_, index, EntryType::kNormal, std::move(data)}});
  BroadcastAppend(/*heartbeat=*/false);
  return index;
}

Status RaftNode::Compact(Index index, std::string data) {
  if (index > delivered_ || index < log_.snapshot_index() || index > log_.last_index()) {
    return absl::InvalidArgumentError(
        absl::StrCat("raft: cannot snapshot at ", index.value(), " (delivered ", delivered_.value(),
                     ", snapshot ", log_.snapshot_index().value(), ")"));
  }
  if (index == log_.snapshot_index()) return Status();
  auto snap = std::make_shared<Snapshot>();
  snap->meta.index = index;
  snap->meta.term = *log_.TermAt(index);
  snap->meta.voters = config_.voters;
  snap->data = std::move(data);
  log_.Compact(snap);
  pending_snapshot_ = std::move(snap);
  return Status();
}

void RaftNode::OnPersisted(Index index, Term term) {
  log_.MarkPersisted(index, term);
  if (role_ == Role::kLeader) MaybeCommit();
}

void RaftNode::OnSnapshotPersisted(Index index) {
  log_.MarkSnapshotPersisted(index);
  if (role_ == Role::kLeader) MaybeCommit();
}

// ---- Ready ----

bool RaftNode::HasReady() const {
  return HardState{term_, vote_} != handed_hard_state_ || pending_snapshot_ || pending_restore_ ||
         log_.HasUnhanded() || !outbox_.empty() || commit_ > delivered_ || !ready_reads_.empty() ||
         !failed_reads_.empty();
}

Ready RaftNode::TakeReady() {
  Ready rd;
  const HardState hs{term_, vote_};
  if (hs != handed_hard_state_) {
    rd.hard_state = hs;
    handed_hard_state_ = hs;
  }
  rd.snapshot = std::move(pending_snapshot_);
  pending_snapshot_ = nullptr;
  rd.restore = std::move(pending_restore_);
  pending_restore_ = nullptr;
  rd.entries = log_.TakeUnhanded();
  rd.messages = std::move(outbox_);
  outbox_.clear();
  if (commit_ > delivered_) {
    rd.committed = log_.Slice(delivered_ + 1, commit_, static_cast<size_t>(commit_ - delivered_));
    delivered_ = commit_;
  }
  rd.reads = std::move(ready_reads_);
  ready_reads_.clear();
  rd.failed_reads = std::move(failed_reads_);
  failed_reads_.clear();
  return rd;
}

}  // namespace spool::raft
