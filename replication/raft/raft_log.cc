#include "replication/raft/raft_log.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace spool::raft {

RaftLog::RaftLog(std::shared_ptr<const Snapshot> snapshot, std::vector<Entry> entries)
    : snapshot_(std::move(snapshot)), entries_(std::move(entries)) {
  if (snapshot_) {
    snapshot_index_ = snapshot_->meta.index;
    snapshot_term_ = snapshot_->meta.term;
  }
  // Recovered entries may overlap the snapshot (storage drops its prefix lazily): skip those.
  size_t skip = 0;
  while (skip < entries_.size() && entries_[skip].index <= snapshot_index_) ++skip;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(skip));
  handed_ = last_index();
  persisted_ = last_index();
  snapshot_persisted_ = snapshot_index_;
}

Term RaftLog::last_term() const {
  return entries_.empty() ? snapshot_term_ : entries_.back().term;
}

std::optional<Term> RaftLog::TermAt(Index i) const {
  if (i == snapshot_index_) return snapshot_term_;
  if (i < snapshot_index_ || i > last_index()) return std::nullopt;
  return entries_[i - first_index()].term;
}

const Entry& RaftLog::At(Index i) const {
  assert(i >= first_index() && i <= last_index());
  return entries_[i - first_index()];
}

std::vector<Entry> RaftLog::Slice(Index lo, Index hi, size_t max_count) const {
  std::vector<Entry> out;
  assert(lo >= first_index());
  for (Index i = lo; i <= hi && i <= last_index() && out.size() < max_count; ++i) {
    out.push_back(At(i));
  }
  return out;
}

Index RaftLog::FirstIndexOfTermRun(Index i) const {
  const Term t = At(i).term;
  while (i > first_index() && At(i - 1).term == t) i = i - 1;
  return i;
}

std::optional<Index> RaftLog::LastIndexOfTerm(Term t) const {
  for (size_t k = entries_.size(); k > 0; --k) {
    if (entries_[k - 1].term == t) return entries_[k - 1].index;
    if (entries_[k - 1].term < t) return std::nullopt;  // terms only grow along the log
  }
  if (snapshot_term_ == t && snapshot_index_ > Index{0}) return snapshot_index_;
  return std::nullopt;
}

bool RaftLog::IsUpToDate(Index index, Term term) const {
  return term > last_term() || (term == last_term() && index >= last_index());
}

void RaftLog::Append(std::vector<Entry> entries) {
  if (entries.empty()) return;
  const Index from = entries.front().index;
  assert(from >= first_index() && from <= last_index() + 1);
  entries_.resize(from - first_index());
  for (Entry& e : entries) entries_.push_back(std::move(e));
  handed_ = std::min(handed_, from - 1);
  persisted_ = std::min(persisted_, from - 1);
}

void RaftLog::Compact(std::shared_ptr<const Snapshot> snap) {
  const Index at = snap->meta.index;
  assert(at >= snapshot_index_ && at <= last_index());
  entries_.erase(entries_.begin(),
                 entries_.begin() + static_cast<std::ptrdiff_t>(at - snapshot_index_));
  snapshot_index_ = at;
  snapshot_term_ = snap->meta.term;
  snapshot_ = std::move(snap);
  handed_ = std::max(handed_, at);
}

void RaftLog::Reset(std::shared_ptr<const Snapshot> snap) {
  entries_.clear();
  snapshot_index_ = snap->meta.index;
  snapshot_term_ = snap->meta.term;
  snapshot_ = std::move(snap);
  handed_ = snapshot_index_;
  // Nothing after the snapshot is held any more; what is durable is the snapshot once the
  // driver reports it (MarkSnapshotPersisted).
  persisted_ = std::min(persisted_, snapshot_persisted_);
}

std::vector<Entry> RaftLog::TakeUnhanded() {
  std::vector<Entry> out;
  if (handed_ < last_index()) {
    out = Slice(std::max(handed_ + 1, first_index()), last_index(), entries_.size());
  }
  handed_ = last_index();
  return out;
}

void RaftLog::MarkPersisted(Index i, Term t) {
  if (i > handed_) return;
  const std::optional<Term> term = TermAt(i);
  if (!term || *term != t) return;
  persisted_ = std::max(persisted_, i);
}

void RaftLog::MarkSnapshotPersisted(Index i) {
  snapshot_persisted_ = std::max(snapshot_persisted_, i);
  if (i <= last_index() && i >= snapshot_index_) persisted_ = std::max(persisted_, i);
}

}  // namespace spool::raft
