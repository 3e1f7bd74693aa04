// ListStateMachine: the simulator's replicated state machine, an append-only list of the data
// of every committed normal entry, with a rolling hash so two replicas (and the checker's
// global record) can be compared in O(1). Snapshots are its serialized form.
//
// Ownership and threading: one per simulated node, single-threaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "replication/raft/types.h"

namespace spool::raft::sim {

// The rolling hash after appending `data` to a list whose hash was `h`.
uint64_t ExtendListHash(uint64_t h, const std::string& data);

class ListStateMachine {
 public:
  // Applies the next committed entry; kFailedPrecondition if it is not applied_index() + 1.
  [[nodiscard]] Status Apply(const Entry& entry);
  std::string Serialize() const;
  // Replaces the state with a snapshot's image. kDataLoss if the data does not parse.
  [[nodiscard]] Status Restore(const Snapshot& snapshot);

  Index applied_index() const { return applied_; }
  uint64_t hash() const { return hash_; }
  const std::vector<std::string>& values() const { return values_; }

 private:
  Index applied_;
  uint64_t hash_ = 0;
  std::vector<std::string> values_;
};

}  // namespace spool::raft::sim
