// MemoryStorage: the simulator's disk for one node. It keeps two images of what a node stored:
// `written` (what reads would see now, like the page cache) and `synced` (what survives a power
// cut). Write() applies a Ready's writes to `written`; Sync() makes an earlier capture of
// `written` durable (a fsync covers the writes issued before it); Crash() throws away what was
// not synced. Recover() is what a restarted node loads.
//
// Ownership and threading: owned by the simulator, single-threaded.
#pragma once

#include <memory>
#include <vector>

#include "replication/raft/ready.h"
#include "replication/raft/types.h"

namespace spool::raft::sim {

struct DiskImage {
  HardState hard_state;
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<Entry> entries;  // contiguous, after the snapshot

  // The entry's term at `index` if the image holds it (or its snapshot ends exactly there).
  bool Holds(Index index, Term term) const;
};

// Applies one Ready's writes to `image` under the Ready contract (ready.h, step 1).
void ApplyWrites(const Ready& ready, DiskImage& image);

class MemoryStorage {
 public:
  const DiskImage& written() const { return written_; }
  const DiskImage& synced() const { return synced_; }

  void Write(const Ready& ready) { ApplyWrites(ready, written_); }
  // A fsync issued now: what it will make durable when it completes.
  DiskImage CaptureForSync() const { return written_; }
  // The fsync completed. `skip_hard_state` models a broken storage that never syncs term and
  // vote (the simulator's proof that its checker catches that bug).
  void CompleteSync(DiskImage image, bool skip_hard_state = false);
  // Power cut: unsynced writes are lost.
  void Crash() { written_ = synced_; }
  RecoveredState Recover() const;

 private:
  DiskImage written_;
  DiskImage synced_;
};

}  // namespace spool::raft::sim
