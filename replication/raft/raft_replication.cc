// RaftNode: log replication with fast back-off, snapshots for lagging followers, the commit rule
// of §5.4.2 (counting only durable entries), check-quorum and ReadIndex (Raft §5.3, §6.4, §7).
#include <algorithm>
#include <utility>

#include "replication/raft/raft_node.h"

namespace spool::raft {

// ---- leader: sending ----

void RaftNode::BroadcastAppend(bool heartbeat) {
  for (auto& [peer, p] : progress_) SendAppend(peer, heartbeat);
}

void RaftNode::SendAppend(NodeId peer, bool heartbeat) {
  Progress& p = progress_[peer];
  if (p.state == Progress::State::kSnapshot) {
    // Resend only if the last one had time to be lost.
    if (now_ns_ - p.snapshot_sent_ns < config_.election_timeout_ns) return;
  } else if (p.paused && !heartbeat) {
    return;
  }
  const Index prev = p.next - 1;
  const std::optional<Term> prev_term = log_.TermAt(prev);
  if (!prev_term || p.state == Progress::State::kSnapshot) {
    if (!log_.snapshot()) {
      return;  // nothing compacted: cannot happen while next > 0; be safe
    }
    // The follower needs entries we compacted away: InstallSnapshot.
    Message m;
    m.type = MessageType::kSnapshot;
    m.to = peer;
    m.snapshot = log_.snapshot();
    m.commit = commit_;
    m.context = heartbeat_context_;
    p.state = Progress::State::kSnapshot;
    p.snapshot_sent_ns = now_ns_;
    Send(std::move(m));
    return;
  }
  Message m;
  m.type = MessageType::kAppend;
  m.to = peer;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = commit_;
  m.context = heartbeat_context_;
  m.entries =
      log_.Slice(p.next, log_.last_index(), static_cast<size_t>(config_.max_entries_per_append));
  if (p.state == Progress::State::kReplicate && !m.entries.empty()) {
    p.next = m.entries.back().index + 1;  // optimistic: stream the next batch right away
  }
  if (p.state == Progress::State::kProbe) p.paused = true;
  Send(std::move(m));
}

// ---- follower: receiving ----

// A kAppend or kSnapshot from the leader of our term: follow it, and start the response.
Message RaftNode::FollowLeader(const Message& m) {
  if (role_ != Role::kFollower || leader_ != m.from) {
    BecomeFollower(term_, m.from);
  } else {
    ResetElectionTimer();
  }
  last_leader_contact_ns_ = now_ns_;
  Message r;
  r.type = MessageType::kAppendResponse;
  r.to = m.from;
  r.context = m.context;
  return r;
}

void RaftNode::HandleAppend(const Message& m) {
  Message r = FollowLeader(m);

  Index prev = m.index;
  Term prev_term = m.log_term;
  size_t skip = 0;
  if (prev < commit_) {
    // Our committed prefix matches the leader's: check from our commit instead.
    while (skip < m.entries.size() && m.entries[skip].index <= commit_) ++skip;
    prev = commit_;
    prev_term = *log_.TermAt(commit_);
  }
  const std::optional<Term> ours = log_.TermAt(prev);
  if (!ours || *ours != prev_term) {
    r.reject = true;
    r.index = m.index;
    if (prev > log_.last_index()) {
      r.hint_index = log_.last_index() + 1;
    } else {
      r.hint_term = *ours;
      r.hint_index = log_.FirstIndexOfTermRun(prev);
    }
    Send(std::move(r));
    return;
  }
  size_t k = skip;
  while (k < m.entries.size()) {
    const std::optional<Term> t = log_.TermAt(m.entries[k].index);
    if (!t || *t != m.entries[k].term) break;
    ++k;
  }
  if (k < m.entries.size()) {
    log_.Append(
        std::vector<Entry>(m.entries.begin() + static_cast<std::ptrdiff_t>(k), m.entries.end()));
  }
  const Index last_new = std::max(prev, m.index + m.entries.size());
  AdvanceFollowerCommit(std::min(m.commit, last_new));
  r.index = last_new;
  Send(std::move(r));
}

void RaftNode::HandleSnapshot(const Message& m) {
  Message r = FollowLeader(m);
  const SnapshotMeta& meta = m.snapshot->meta;
  if (meta.index <= commit_) {
    r.index = commit_;
  } else if (log_.TermAt(meta.index) == meta.term) {
    // We hold the snapshot's last entry: the log after it stays; only the commit moves.
    AdvanceFollowerCommit(meta.index);
    r.index = meta.index;
  } else {
    log_.Reset(m.snapshot);
    pending_snapshot_ = m.snapshot;
    pending_restore_ = m.snapshot;
    commit_ = meta.index;
    delivered_ = meta.index;
    r.index = meta.index;
  }
  Send(std::move(r));
}

void RaftNode::AdvanceFollowerCommit(Index commit) {
  commit = std::min(commit, log_.last_index());
  if (commit > commit_) commit_ = commit;
}

// ---- leader: answers ----

void RaftNode::HandleAppendResponse(const Message& m) {
  if (role_ != Role::kLeader) return;
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& p = it->second;
  p.recent_active = true;
  p.acked_context = std::max(p.acked_context, m.context);
  if (m.reject) {
    if (m.index > p.match) {
      // Fast back-off: skip the follower's whole conflicting term at once.
      Index next = m.hint_index;
      if (m.hint_term > Term{0}) {
        if (std::optional<Index> last = log_.LastIndexOfTerm(m.hint_term)) next = *last + 1;
      }
      next = std::min(next, m.index);
      p.next = std::max(next, p.match + 1);
      p.state = Progress::State::kProbe;
      p.paused = false;
      SendAppend(m.from, /*heartbeat=*/false);
    }
  } else {
    if (m.index > p.match) p.match = m.index;
    if (p.state != Progress::State::kReplicate) {
      p.state = Progress::State::kReplicate;
      p.next = p.match + 1;
    }
    p.next = std::max(p.next, p.match + 1);
    p.paused = false;
    MaybeCommit();
    if (role_ == Role::kLeader && p.next <= log_.last_index()) {
      SendAppend(m.from, /*heartbeat=*/false);
    }
  }
  ReleaseReads();
}

void RaftNode::MaybeCommit() {
  if (role_ != Role::kLeader) return;
  // The leader's own entries count only once durable (OnPersisted).
  std::vector<Index> matches;
  matches.push_back(log_.persisted_index());
  for (const auto& [peer, p] : progress_) matches.push_back(p.match);
  std::sort(matches.begin(), matches.end(), [](Index a, Index b) { return a > b; });
  const Index quorum_index = matches[Quorum() - 1];
  // §5.4.2: only an entry of the current term is committed by counting replicas.
  if (quorum_index > commit_ && log_.TermAt(quorum_index) == term_) {
    commit_ = quorum_index;
    if (config_.voters.size() == 1) ReleaseReads();
    // Tell the followers now rather than at the next heartbeat, so they apply promptly.
    BroadcastAppend(/*heartbeat=*/false);
  }
}

void RaftNode::CheckQuorum() {
  quorum_deadline_ns_ = now_ns_ + config_.election_timeout_ns;
  if (!config_.check_quorum) return;
  size_t active = 1;
  for (auto& [peer, p] : progress_) {
    if (p.recent_active) ++active;
    p.recent_active = false;
  }
  if (active < Quorum()) BecomeFollower(term_, kNoNode);
}

// ---- ReadIndex ----

Status RaftNode::RequestRead(uint64_t request_id) {
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError("raft: ReadIndex on a node that is not the leader");
  }
  if (commit_ < term_start_index_) {
    return absl::UnavailableError("raft: leader has not committed an entry of its term yet");
  }
  if (Quorum() == 1) {
    ready_reads_.push_back(ReadState{request_id, commit_});
    return Status();
  }
  // Every message sent from now on carries the new context; an answer carrying it proves the
  // follower still took us as leader of this term after the read arrived.
  ++heartbeat_context_;
  pending_reads_.push_back(PendingRead{request_id, commit_, heartbeat_context_});
  BroadcastAppend(/*heartbeat=*/true);
  return Status();
}

void RaftNode::ReleaseReads() {
  while (!pending_reads_.empty()) {
    const PendingRead& r = pending_reads_.front();
    size_t acks = 1;
    for (const auto& [peer, p] : progress_) {
      if (p.acked_context >= r.context) ++acks;
    }
    if (acks < Quorum()) return;
    ready_reads_.push_back(ReadState{r.request_id, r.index});
    pending_reads_.pop_front();
  }
}

}  // namespace spool::raft
