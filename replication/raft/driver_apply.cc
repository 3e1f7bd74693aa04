// RaftDriver: step 4 of the Ready contract (restore, apply, answer reads, compact), the
// bookkeeping of pending Propose/ReadBarrier calls, and the status view.
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "replication/raft/driver.h"

namespace spool::raft {
namespace {

// The payload of a not-leader status: the known leader's id in decimal.
constexpr char kLeaderPayload[] = "spool.raft/leader";

Status WithLeader(Status st, NodeId leader) {
  if (leader != kNoNode) st.SetPayload(kLeaderPayload, absl::Cord(absl::StrCat(leader.value())));
  return st;
}

}  // namespace

NodeId LeaderHint(const Status& status) {
  auto p = status.GetPayload(kLeaderPayload);
  uint32_t id = 0;
  if (!p.has_value() || !absl::SimpleAtoi(std::string(*p), &id)) return kNoNode;
  return NodeId{id};
}

Status RaftDriver::StoppedError() {
  return absl::UnavailableError("raft: driver stopped");
}

Status RaftDriver::Refusal() const {
  return stopping_ ? StoppedError() : error_;
}

Status RaftDriver::NotLeader() const {
  const NodeId leader = node_->leader();
  std::string msg = absl::StrCat("raft: node ", id().value(), " is not the leader");
  if (leader != kNoNode && leader != id()) {
    absl::StrAppend(&msg, " (leader: node ", leader.value(), ")");
  } else {
    absl::StrAppend(&msg, " (no leader known)");
  }
  return WithLeader(absl::UnavailableError(msg), leader == id() ? kNoNode : leader);
}

Status RaftDriver::Apply(Ready& rd) {
  if (rd.restore != nullptr) {
    RETURN_IF_ERROR(sm_.Restore(rd.restore->data));
    applied_ = rd.restore->meta.index;
    ++counters_.snapshots_restored;
  }
  for (const Entry& e : rd.committed) {
    if (e.index <= applied_) continue;
    if (e.type == EntryType::kNormal) RETURN_IF_ERROR(sm_.Apply(e.index, e.data));
    applied_ = e.index;
    ResolveProposal(e);
  }
  // Proposals covered by a restored snapshot: whether their entry made it is not known here.
  while (!proposals_.empty() && proposals_.begin()->first <= applied_) {
    proposals_.begin()->second->Resolve(WithLeader(
        absl::UnavailableError("raft: entry replaced by a snapshot before it was applied; "
                               "it may or may not have committed"),
        node_->leader()));
    proposals_.erase(proposals_.begin());
  }
  for (const ReadState& rs : rd.reads) {
    auto it = reads_.find(rs.request_id);
    if (it == reads_.end()) continue;
    it->second->confirmed = true;
    it->second->index = rs.index;
  }
  for (uint64_t id : rd.failed_reads) {
    auto it = reads_.find(id);
    if (it == reads_.end()) continue;
    it->second->Resolve(NotLeader());
    reads_.erase(it);
  }
  ResolveReads();
  const Index snap = node_->log().snapshot_index();
  if (options_.snapshot_every > 0 && applied_ > snap &&
      applied_ - snap >= options_.snapshot_every) {
    std::string image = sm_.Snapshot();
    RETURN_IF_ERROR(node_->Compact(applied_, std::move(image)));
    ++counters_.snapshots_taken;
  }
  return absl::OkStatus();
}

void RaftDriver::ResolveProposal(const Entry& e) {
  auto it = proposals_.find(e.index);
  if (it == proposals_.end()) return;
  if (e.term == it->second->term) {
    it->second->Resolve(e.index);
  } else {
    it->second->Resolve(WithLeader(
        absl::UnavailableError(absl::StrCat("raft: entry ", e.index.value(), " of term ",
                                            it->second->term.value(),
                                            " was replaced by a leader of term ", e.term.value())),
        node_->leader()));
  }
  proposals_.erase(it);
}

void RaftDriver::ResolveReads() {
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (it->second->confirmed && it->second->index <= applied_) {
      it->second->Resolve(it->second->index);
      it = reads_.erase(it);
    } else {
      ++it;
    }
  }
}

// A proposal of a term this node no longer leads fails unless its index is already committed
// (then it is this term's entry, and it is applied, and resolved, in order).
// ReadBarriers waiting for a new leader's first commit ask again (and learn it is not the leader
// any more: a check-quorum step-down need not produce a Ready).
void RaftDriver::CheckLeadership() {
  const bool leading = node_->role() == Role::kLeader;
  if (!leading) {
    for (auto& w : read_retries_) w->Resolve(Index{0});
    read_retries_.clear();
  }
  if (proposals_.empty()) return;
  const Index commit = node_->commit_index();
  for (auto it = proposals_.begin(); it != proposals_.end();) {
    if ((!leading || it->second->term != node_->term()) && it->first > commit) {
      it->second->Resolve(WithLeader(absl::UnavailableError(absl::StrCat(
                                         "raft: leadership lost before entry ", it->first.value(),
                                         " committed; it may or may not commit (leader now: node ",
                                         node_->leader().value(), ")")),
                                     node_->leader() == id() ? kNoNode : node_->leader()));
      it = proposals_.erase(it);
    } else {
      ++it;
    }
  }
}

void RaftDriver::Fail(Status st) {
  if (error_.ok()) error_ = st;
  FailAll(error_);
}

void RaftDriver::FailAll(const Status& st) {
  for (auto& [index, w] : proposals_) w->Resolve(st);
  proposals_.clear();
  for (auto& [id, w] : reads_) w->Resolve(st);
  reads_.clear();
  for (auto& w : read_retries_) w->Resolve(st);
  read_retries_.clear();
}

DriverStatus RaftDriver::status() const {
  DriverStatus s;
  s.id = id();
  s.counters = counters_;
  s.error = error_;
  s.stopped = stopped_;
  s.applied = applied_;
  if (node_ == nullptr) return s;
  s.role = node_->role();
  s.term = node_->term();
  s.leader = node_->leader();
  s.commit = node_->commit_index();
  s.last_index = node_->log().last_index();
  s.snapshot_index = node_->log().snapshot_index();
  if (s.role == Role::kLeader) {
    for (NodeId v : node_->config().voters) {
      VoterStatus vs;
      vs.id = v;
      if (v == id()) {
        vs.match = node_->log().persisted_index();
        vs.active = true;
      } else if (const Progress* p = node_->progress(v); p != nullptr) {
        vs.match = p->match;
        vs.active = p->recent_active;
      }
      vs.lag = s.last_index > vs.match ? s.last_index - vs.match : 0;
      s.voters.push_back(vs);
    }
  }
  return s;
}

}  // namespace spool::raft
