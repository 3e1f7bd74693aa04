// Configuration of one Raft voter. Defaults follow KRaft (../shared/REFERENCE.md: election
// timeout 1 s); everything is configurable so the simulator and tests can scale time.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "replication/raft/types.h"

namespace spool::raft {

struct Config {
  NodeId id = kNoNode;
  // The static voter set, including `id`: 1, 3 or 5 voters (membership changes come later).
  std::vector<NodeId> voters;
  // A follower that hears nothing from a leader for a random time in
  // [election_timeout, 2 * election_timeout) starts an election.
  int64_t election_timeout_ns = 1'000'000'000;
  // How often a leader sends appends (heartbeats) to each follower.
  int64_t heartbeat_interval_ns = 100'000'000;
  // Pre-vote (Raft thesis §9.6): a node first asks whether it could win before bumping its term.
  bool pre_vote = true;
  // A leader that has not heard from a majority within an election timeout steps down, and a
  // follower that heard from its leader within one ignores vote requests (thesis §6.2 / §9.6).
  bool check_quorum = true;
  // At most this many entries in one kAppend.
  int max_entries_per_append = 64;
};

// kInvalidArgument when the voter set is not 1, 3 or 5 distinct non-zero ids containing `id`, or
// the timing is not positive with heartbeat_interval < election_timeout.
[[nodiscard]] Status ValidateConfig(const Config& config);

}  // namespace spool::raft
