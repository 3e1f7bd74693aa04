#include "log/leader_epoch_cache.h"

#include <algorithm>

#include "log/log_format.h"

namespace spool::log {

LeaderEpochCache::LeaderEpochCache(const std::vector<LeaderEpochEntry>& entries,
                                   Offset sticky_from) {
  entries_.reserve(entries.size());
  for (const LeaderEpochEntry& e : entries) {
    entries_.push_back(Entry{e, e.start_offset >= sticky_from});
  }
}

std::optional<LeaderEpochEntry> LeaderEpochCache::latest() const {
  if (entries_.empty()) return std::nullopt;
  return entries_.back().e;
}

std::vector<LeaderEpochEntry> LeaderEpochCache::entries() const {
  std::vector<LeaderEpochEntry> out;
  out.reserve(entries_.size());
  for (const Entry& e : entries_) out.push_back(e.e);
  return out;
}

bool LeaderEpochCache::Add(int32_t epoch, Offset start, bool sticky) {
  if (epoch < 0) return false;  // an unstamped batch (-1) starts no epoch
  if (!entries_.empty() && epoch <= entries_.back().e.epoch) return false;
  while (!entries_.empty() && entries_.back().e.start_offset >= start) entries_.pop_back();
  if (entries_.size() >= kCheckpointMaxEpochs) entries_.erase(entries_.begin());
  entries_.push_back(Entry{LeaderEpochEntry{epoch, start}, sticky});
  return true;
}

bool LeaderEpochCache::TruncateFromEnd(Offset end) {
  const size_t before = entries_.size();
  while (!entries_.empty() && entries_.back().e.start_offset >= end) entries_.pop_back();
  return entries_.size() != before;
}

bool LeaderEpochCache::DropAbove(Offset end) {
  const size_t before = entries_.size();
  while (!entries_.empty() && entries_.back().e.start_offset > end) entries_.pop_back();
  return entries_.size() != before;
}

bool LeaderEpochCache::TruncateFromStart(Offset start) {
  size_t below = 0;  // entries with start_offset <= start
  while (below < entries_.size() && entries_[below].e.start_offset <= start) ++below;
  if (below == 0) return false;
  const bool changed = below > 1 || entries_[below - 1].e.start_offset != start;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<ptrdiff_t>(below - 1));
  entries_.front().e.start_offset = start;
  return changed;
}

EpochEndOffset LeaderEpochCache::EndOffsetFor(int32_t epoch, Offset log_end) const {
  // The first entry whose epoch is above the one asked; the one before it is the answer.
  auto above = std::upper_bound(entries_.begin(), entries_.end(), epoch,
                                [](int32_t e, const Entry& entry) { return e < entry.e.epoch; });
  if (above == entries_.begin()) return EpochEndOffset{};
  const Entry& floor = *std::prev(above);
  const Offset end = above == entries_.end() ? log_end : above->e.start_offset;
  return EpochEndOffset{floor.e.epoch, end};
}

std::vector<LeaderEpochEntry> LeaderEpochCache::Persistable(Offset durable_end) const {
  std::vector<LeaderEpochEntry> out;
  for (const Entry& e : entries_) {
    if (e.e.start_offset < durable_end || e.sticky) out.push_back(e.e);
  }
  return out;
}

bool LeaderEpochCache::WellOrdered(const std::vector<LeaderEpochEntry>& entries) {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].epoch < 0 || entries[i].start_offset.value() < 0) return false;
    if (i == 0) continue;
    if (entries[i].epoch <= entries[i - 1].epoch) return false;
    if (entries[i].start_offset < entries[i - 1].start_offset) return false;
  }
  return true;
}

}  // namespace spool::log
