#include "replication/partition/replica_progress.h"

#include <algorithm>
#include <utility>

namespace spool::replication {
namespace {

bool Contains(const std::vector<int32_t>& v, int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

ReplicaProgress::ReplicaProgress(Options options)
    : options_(std::move(options)), isr_(options_.isr) {
  for (int32_t id : options_.replicas) {
    if (id == options_.self) continue;
    Follower f;
    f.id = id;
    // ISR members get the whole lag time from the start of the leadership before they count as
    // lagging; the others have not caught up yet.
    f.last_caught_up_ns = Contains(isr_, id) ? options_.now_ns : 0;
    followers_.push_back(f);
  }
}

ReplicaProgress::Follower* ReplicaProgress::Find(int32_t id) {
  for (Follower& f : followers_) {
    if (f.id == id) return &f;
  }
  return nullptr;
}

const ReplicaProgress::Follower* ReplicaProgress::Find(int32_t id) const {
  for (const Follower& f : followers_) {
    if (f.id == id) return &f;
  }
  return nullptr;
}

void ReplicaProgress::OnFetch(int32_t id, int64_t fetch_offset, int64_t leader_end,
                              int64_t now_ns) {
  Follower* f = Find(id);
  if (f == nullptr) return;
  if (fetch_offset >= leader_end) {
    f->last_caught_up_ns = std::max(f->last_caught_up_ns, now_ns);
  } else if (f->leader_end_at_last_fetch >= 0 && fetch_offset >= f->leader_end_at_last_fetch) {
    f->last_caught_up_ns = std::max(f->last_caught_up_ns, f->last_fetch_ns);
  }
  f->log_end = fetch_offset;
  f->last_fetch_ns = now_ns;
  f->leader_end_at_last_fetch = leader_end;
}

std::vector<int32_t> ReplicaProgress::MaximalIsr() const {
  std::vector<int32_t> out = isr_;
  if (pending_.has_value()) {
    for (int32_t id : *pending_) {
      if (!Contains(out, id)) out.push_back(id);
    }
  }
  return out;
}

std::optional<int64_t> ReplicaProgress::HighWatermark(int64_t leader_end) const {
  if (static_cast<int32_t>(isr_.size()) < options_.min_insync_replicas) return std::nullopt;
  int64_t hw = leader_end;
  for (int32_t id : MaximalIsr()) {
    if (id == options_.self) continue;
    const Follower* f = Find(id);
    if (f == nullptr || f->log_end < 0) return std::nullopt;
    hw = std::min(hw, f->log_end);
  }
  return hw;
}

std::vector<int32_t> ReplicaProgress::Lagging(int64_t now_ns, int64_t lag_ns,
                                              int64_t leader_end) const {
  std::vector<int32_t> out;
  for (const Follower& f : followers_) {
    if (!Contains(isr_, f.id)) continue;
    if (f.log_end >= leader_end) continue;
    if (now_ns - f.last_caught_up_ns > lag_ns) out.push_back(f.id);
  }
  return out;
}

std::vector<int32_t> ReplicaProgress::ReadyToJoin(int64_t high_watermark, int64_t now_ns,
                                                  int64_t lag_ns) const {
  std::vector<int32_t> out;
  for (const Follower& f : followers_) {
    if (Contains(isr_, f.id)) continue;
    if (now_ns - f.last_fetch_ns > lag_ns) continue;
    if (f.log_end >= 0 && f.log_end >= high_watermark && f.log_end >= options_.epoch_start_offset) {
      out.push_back(f.id);
    }
  }
  return out;
}

void ReplicaProgress::SetIsr(std::vector<int32_t> isr) {
  if (pending_.has_value()) {
    std::vector<int32_t> a = *pending_, b = isr;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    if (a == b) pending_.reset();
  }
  for (Follower& f : followers_) {
    // A follower that (re)joins starts its lag clock now-ish: it was caught up to join.
    if (!Contains(isr_, f.id) && Contains(isr, f.id)) {
      f.last_caught_up_ns = std::max(f.last_caught_up_ns, f.last_fetch_ns);
    }
  }
  isr_ = std::move(isr);
}

void ReplicaProgress::SetPending(std::optional<std::vector<int32_t>> isr) {
  pending_ = std::move(isr);
}

bool ReplicaProgress::InIsr(int32_t id) const {
  return Contains(isr_, id);
}

int64_t ReplicaProgress::FollowerEnd(int32_t id) const {
  const Follower* f = Find(id);
  return f == nullptr ? -1 : f->log_end;
}

}  // namespace spool::replication
