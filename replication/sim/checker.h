// Checker: the simulator's safety invariants (replication/raft/README.md, "Simulator"), checked
// after every event. It keeps a global record of every committed entry (index, term, data) and
// of the state-machine hash after each, and compares every node against it:
//
//   * election safety: at most one leader per term;
//   * committed entries never change or disappear: every entry at or below a node's commit
//     index equals the global record, and a node's commit never exceeds its log;
//   * state machines apply the same sequence: each apply is the next index and leaves the same
//     hash as the record; a restored snapshot matches the record at its index;
//   * durability: every committed entry is on a majority of durable (synced) disks;
//   * log matching: two logs holding an entry with the same index and term are identical up to it;
//   * ReadIndex linearizability: a confirmed read's index is at least everything committed
//     before the read was requested.
//
// The first violation is kept (violation()); later checks are no-ops.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "replication/raft/raft_node.h"
#include "replication/sim/memory_storage.h"

namespace spool::raft::sim {

class Checker {
 public:
  explicit Checker(size_t voters) : quorum_(voters / 2 + 1) {}

  bool ok() const { return violation_.empty(); }
  const std::string& violation() const { return violation_; }
  // How many entries are committed (the global record's length).
  Index committed_index() const { return Index{committed_.size()}; }
  const Entry& committed(Index i) const { return committed_[i.value() - 1]; }

  // Election safety and commit/record checks on one live node (call after each input).
  void CheckNode(const RaftNode& node);
  // Log matching between every pair of live nodes (nullptr = down).
  void CheckLogMatching(const std::vector<const RaftNode*>& nodes);
  // Every committed entry is on a majority of the synced disks.
  void CheckDurable(const std::vector<const DiskImage*>& synced);
  // A node's state machine applied `entry` and now has `hash`.
  void OnApply(NodeId node, const Entry& entry, uint64_t hash);
  // A node's state machine was reset to a snapshot whose image has `hash`.
  void OnRestore(NodeId node, const SnapshotMeta& meta, uint64_t hash);
  void OnReadRequested(uint64_t request_id);
  void OnReadConfirmed(NodeId node, uint64_t request_id, Index index);

  void Fail(std::string what);

 private:
  bool MatchesRecord(const Entry& e, NodeId node, const char* where);

  size_t quorum_;
  std::string violation_;
  std::map<Term, NodeId> leaders_;
  std::vector<Entry> committed_;      // committed_[k] has index k + 1
  std::vector<uint64_t> hash_after_;  // state-machine hash after applying committed_[k]
  std::map<uint64_t, Index> read_floor_;
};

}  // namespace spool::raft::sim
