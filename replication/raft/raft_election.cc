// RaftNode: message dispatch, term rules, pre-vote and elections (Raft §5.2, thesis §9.6).
#include <utility>

#include "replication/raft/raft_node.h"

namespace spool::raft {

void RaftNode::Step(const Message& m) {
  if (m.to != config_.id || m.from == config_.id) return;
  bool known = false;
  for (NodeId v : config_.voters) known = known || v == m.from;
  if (!known) return;
  if (!CheckTerm(m)) return;
  switch (m.type) {
    case MessageType::kPreVote:
    case MessageType::kVote:
      HandleVoteRequest(m);
      return;
    case MessageType::kPreVoteResponse:
    case MessageType::kVoteResponse:
      HandleVoteResponse(m);
      return;
    case MessageType::kAppend:
      HandleAppend(m);
      return;
    case MessageType::kSnapshot:
      HandleSnapshot(m);
      return;
    case MessageType::kAppendResponse:
      HandleAppendResponse(m);
      return;
  }
}

bool RaftNode::CheckTerm(const Message& m) {
  const bool vote_request = m.type == MessageType::kPreVote || m.type == MessageType::kVote;
  if (m.term > term_) {
    // A node that heard from a live leader within an election timeout ignores vote requests:
    // a rejoining node cannot depose a leader the rest of the quorum still follows.
    if (vote_request && InLease()) return false;
    // A pre-vote (or a granted answer to ours) is about a term nobody has entered yet.
    if (m.type == MessageType::kPreVote) return true;
    if (m.type == MessageType::kPreVoteResponse && !m.reject) return true;
    const bool from_leader = m.type == MessageType::kAppend || m.type == MessageType::kSnapshot;
    BecomeFollower(m.term, from_leader ? m.from : kNoNode);
    return true;
  }
  if (m.term < term_) {
    if ((config_.check_quorum || config_.pre_vote) &&
        (m.type == MessageType::kAppend || m.type == MessageType::kSnapshot)) {
      // A deposed leader that was partitioned away: our term in the answer makes it step down
      // (with pre-vote its followers never raise their terms to tell it otherwise).
      Message r;
      r.type = MessageType::kAppendResponse;
      r.to = m.from;
      Send(std::move(r));
    } else if (m.type == MessageType::kPreVote) {
      Message r;
      r.type = MessageType::kPreVoteResponse;
      r.to = m.from;
      r.reject = true;
      Send(std::move(r));
    }
    return false;
  }
  return true;
}

void RaftNode::StartElection() {
  if (role_ != Role::kLeader) Campaign(config_.pre_vote);
}

void RaftNode::Campaign(bool pre_vote) {
  Term campaign_term;
  if (pre_vote) {
    BecomePreCandidate();
    campaign_term = term_ + 1;
  } else {
    BecomeCandidate();
    campaign_term = term_;
  }
  votes_[config_.id] = true;
  if (Quorum() == 1) {
    if (pre_vote) {
      Campaign(/*pre_vote=*/false);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (NodeId v : config_.voters) {
    if (v == config_.id) continue;
    Message m;
    m.type = pre_vote ? MessageType::kPreVote : MessageType::kVote;
    m.to = v;
    m.term = campaign_term;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    Send(std::move(m));
  }
}

void RaftNode::HandleVoteRequest(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  // For a real vote m.term == term_ here (CheckTerm moved us to it).
  const bool can_vote =
      pre ? m.term > term_ : vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode);
  Message r;
  r.type = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  r.to = m.from;
  if (can_vote && log_.IsUpToDate(m.index, m.log_term)) {
    r.term = m.term;
    if (!pre) {
      vote_ = m.from;  // durable before the response leaves (Ready contract)
      ResetElectionTimer();
    }
  } else {
    r.reject = true;
  }
  Send(std::move(r));
}

void RaftNode::HandleVoteResponse(const Message& m) {
  const bool pre = m.type == MessageType::kPreVoteResponse;
  if (pre) {
    if (role_ != Role::kPreCandidate || m.term != term_ + 1) return;
  } else if (role_ != Role::kCandidate) {
    return;
  }
  votes_[m.from] = !m.reject;
  size_t granted = 0;
  size_t rejected = 0;
  for (const auto& [id, yes] : votes_) (yes ? granted : rejected)++;
  if (granted >= Quorum()) {
    if (pre) {
      Campaign(/*pre_vote=*/false);
    } else {
      BecomeLeader();
    }
  } else if (rejected >= Quorum()) {
    BecomeFollower(term_, kNoNode);
  }
}

}  // namespace spool::raft
