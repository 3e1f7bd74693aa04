#include "replication/sim/checker.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replication/sim/list_state_machine.h"

namespace spool::raft::sim {

void Checker::Fail(std::string what) {
  if (violation_.empty()) violation_ = std::move(what);
}

bool Checker::MatchesRecord(const Entry& e, NodeId node, const char* where) {
  const uint64_t k = e.index.value() - 1;
  if (k < committed_.size()) {
    if (committed_[k] == e) return true;
    Fail(absl::StrCat("committed entry changed: node ", node.value(), " ", where, " has index ",
                      e.index.value(), " term ", e.term.value(), " data '", e.data,
                      "' but the committed one has term ", committed_[k].term.value(), " data '",
                      committed_[k].data, "'"));
    return false;
  }
  if (k == committed_.size()) {
    const uint64_t prev = committed_.empty() ? 0 : hash_after_.back();
    committed_.push_back(e);
    hash_after_.push_back(e.type == EntryType::kNormal ? ExtendListHash(prev, e.data) : prev);
    return true;
  }
  Fail(absl::StrCat("node ", node.value(), " commits index ", e.index.value(),
                    " past a gap (record ends at ", committed_.size(), ")"));
  return false;
}

void Checker::CheckNode(const RaftNode& node) {
  if (!ok()) return;
  if (node.role() == Role::kLeader) {
    auto [it, inserted] = leaders_.emplace(node.term(), node.id());
    if (!inserted && it->second != node.id()) {
      Fail(absl::StrCat("two leaders in term ", node.term().value(), ": ", it->second.value(),
                        " and ", node.id().value()));
      return;
    }
  }
  const RaftLog& log = node.log();
  const Index commit = node.commit_index();
  if (commit > log.last_index()) {
    Fail(absl::StrCat("node ", node.id().value(), " commit ", commit.value(),
                      " is past its last index ", log.last_index().value()));
    return;
  }
  if (log.snapshot_index() > Index{0}) {
    const Index s = log.snapshot_index();
    if (s > committed_index() || committed(s).term != log.snapshot_term()) {
      Fail(absl::StrCat("node ", node.id().value(), " holds a snapshot at ", s.value(), " term ",
                        log.snapshot_term().value(), " that is not of committed state"));
      return;
    }
  }
  for (Index i = log.first_index(); i <= commit; ++i) {
    if (!MatchesRecord(log.At(i), node.id(), "log")) return;
  }
}

void Checker::CheckLogMatching(const std::vector<const RaftNode*>& nodes) {
  for (size_t a = 0; a < nodes.size() && ok(); ++a) {
    for (size_t b = a + 1; b < nodes.size() && ok(); ++b) {
      if (nodes[a] == nullptr || nodes[b] == nullptr) continue;
      const RaftLog& la = nodes[a]->log();
      const RaftLog& lb = nodes[b]->log();
      const Index lo = std::max(la.first_index(), lb.first_index());
      bool matched = false;
      for (Index i = std::min(la.last_index(), lb.last_index()); i >= lo && i > Index{0};
           i = i - 1) {
        const Entry& ea = la.At(i);
        const Entry& eb = lb.At(i);
        if (ea.term == eb.term) {
          if (!(ea == eb)) {
            Fail(absl::StrCat("log matching: nodes ", nodes[a]->id().value(), " and ",
                              nodes[b]->id().value(), " differ in data at index ", i.value(),
                              " term ", ea.term.value()));
            return;
          }
          matched = true;
        } else if (matched) {
          Fail(absl::StrCat("log matching: nodes ", nodes[a]->id().value(), " and ",
                            nodes[b]->id().value(), " agree on a later entry but differ at ",
                            i.value()));
          return;
        }
      }
    }
  }
}

void Checker::CheckDurable(const std::vector<const DiskImage*>& synced) {
  if (!ok() || committed_.empty()) return;
  // Entries covered by a durable snapshot of committed state count as held.
  std::vector<Index> covered;
  for (const DiskImage* d : synced) {
    Index s;
    if (d->snapshot) {
      s = d->snapshot->meta.index;
      if (s > committed_index() || committed(s).term != d->snapshot->meta.term) {
        Fail(absl::StrCat("a durable snapshot at ", s.value(), " is not of committed state"));
        return;
      }
    }
    covered.push_back(s);
  }
  std::sort(covered.begin(), covered.end(), [](Index a, Index b) { return a > b; });
  const Index from = covered[quorum_ - 1] + 1;
  for (Index i = from; i <= committed_index(); ++i) {
    const Entry& e = committed(i);
    size_t holders = 0;
    for (const DiskImage* d : synced) holders += d->Holds(i, e.term) ? 1 : 0;
    if (holders < quorum_) {
      Fail(absl::StrCat("committed index ", i.value(), " term ", e.term.value(), " is on ", holders,
                        " durable logs (quorum ", quorum_, ")"));
      return;
    }
  }
}

void Checker::OnApply(NodeId node, const Entry& entry, uint64_t hash) {
  if (!ok()) return;
  if (!MatchesRecord(entry, node, "state machine")) return;
  if (hash_after_[entry.index.value() - 1] != hash) {
    Fail(absl::StrCat("node ", node.value(), " state machine diverged at index ",
                      entry.index.value()));
  }
}

void Checker::OnRestore(NodeId node, const SnapshotMeta& meta, uint64_t hash) {
  if (!ok() || meta.index == Index{0}) return;
  if (meta.index > committed_index() || committed(meta.index).term != meta.term ||
      hash_after_[meta.index.value() - 1] != hash) {
    Fail(absl::StrCat("node ", node.value(), " restored a snapshot at ", meta.index.value(),
                      " that does not match the committed state"));
  }
}

void Checker::OnReadRequested(uint64_t request_id) {
  read_floor_[request_id] = committed_index();
}

void Checker::OnReadConfirmed(NodeId node, uint64_t request_id, Index index) {
  if (!ok()) return;
  auto it = read_floor_.find(request_id);
  if (it == read_floor_.end()) {
    Fail(absl::StrCat("node ", node.value(), " confirmed unknown read ", request_id));
    return;
  }
  if (index < it->second) {
    Fail(absl::StrCat("stale read: node ", node.value(), " confirmed read ", request_id,
                      " at index ", index.value(), " but ", it->second.value(),
                      " was committed before it was requested"));
  }
  read_floor_.erase(it);
}

}  // namespace spool::raft::sim
