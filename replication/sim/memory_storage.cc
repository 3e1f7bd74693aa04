#include "replication/sim/memory_storage.h"

#include <utility>

namespace spool::raft::sim {

bool DiskImage::Holds(Index index, Term term) const {
  if (snapshot && index <= snapshot->meta.index) {
    return index < snapshot->meta.index || snapshot->meta.term == term;
  }
  const Index first = snapshot ? snapshot->meta.index + 1 : Index{1};
  if (index < first || index - first >= static_cast<uint64_t>(entries.size())) return false;
  return entries[index - first].term == term;
}

void ApplyWrites(const Ready& ready, DiskImage& image) {
  if (ready.snapshot) {
    const SnapshotMeta& meta = ready.snapshot->meta;
    const Index first = image.snapshot ? image.snapshot->meta.index + 1 : Index{1};
    bool matches = false;
    if (image.snapshot && image.snapshot->meta.index == meta.index) {
      matches = image.snapshot->meta.term == meta.term;
    } else if (meta.index >= first && meta.index - first < image.entries.size()) {
      matches = image.entries[meta.index - first].term == meta.term;
    }
    if (matches && meta.index >= first) {
      image.entries.erase(
          image.entries.begin(),
          image.entries.begin() + static_cast<std::ptrdiff_t>(meta.index - first + 1));
    } else if (!matches) {
      image.entries.clear();
    }
    image.snapshot = ready.snapshot;
  }
  if (!ready.entries.empty()) {
    const Index first = image.snapshot ? image.snapshot->meta.index + 1 : Index{1};
    const Index from = ready.entries.front().index;
    size_t keep = from > first ? static_cast<size_t>(from - first) : 0;
    if (keep < image.entries.size()) image.entries.resize(keep);
    for (const Entry& e : ready.entries) {
      if (e.index >= first) image.entries.push_back(e);
    }
  }
  if (ready.hard_state) image.hard_state = *ready.hard_state;
}

void MemoryStorage::CompleteSync(DiskImage image, bool skip_hard_state) {
  if (skip_hard_state) image.hard_state = synced_.hard_state;
  synced_ = std::move(image);
}

RecoveredState MemoryStorage::Recover() const {
  RecoveredState s;
  s.hard_state = synced_.hard_state;
  s.snapshot = synced_.snapshot;
  s.entries = synced_.entries;
  return s;
}

}  // namespace spool::raft::sim
