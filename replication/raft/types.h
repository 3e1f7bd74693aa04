// Value types of the Raft core (replication/raft/README.md): terms, indexes, node ids, log
// entries, the hard state that must be durable before it is acted on, snapshots and messages.
//
// Everything here is a plain value: no I/O, no threads. A Message is what one node hands the
// driver to deliver to another; the wire encoding comes later (proto/), so these structs are the
// contract it will carry field for field.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/strong_int.h"

namespace spool::raft {

// A Raft term. Term{0} means "none": no node is ever leader in term 0.
using Term = StrongInt<struct RaftTermTag, uint64_t>;
// A position in the Raft log. Index{0} is "before the first entry"; real entries start at 1.
using Index = StrongInt<struct RaftIndexTag, uint64_t>;
// A voter's id, unique in its quorum. NodeId{0} is reserved for "none".
using NodeId = StrongInt<struct RaftNodeIdTag, uint32_t>;

inline constexpr NodeId kNoNode{0};

enum class EntryType : uint8_t {
  kNormal = 1,  // carries a proposal's data for the state machine
  kNoop = 2,    // appended by every new leader at the start of its term (§5.4.2); no data
};

struct Entry {
  Term term;
  Index index;
  EntryType type = EntryType::kNormal;
  std::string data;
  friend bool operator==(const Entry&, const Entry&) = default;
};

// What must be durable before any message that depends on it is sent.
struct HardState {
  Term term;
  NodeId vote = kNoNode;  // the candidate voted for in `term`, or kNoNode
  friend bool operator==(const HardState&, const HardState&) = default;
};

struct SnapshotMeta {
  Index index;  // the last log entry the snapshot covers
  Term term;    // that entry's term
  std::vector<NodeId> voters;
  friend bool operator==(const SnapshotMeta&, const SnapshotMeta&) = default;
};

struct Snapshot {
  SnapshotMeta meta;
  std::string data;  // the state machine's image, opaque to Raft
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

enum class MessageType : uint8_t {
  kPreVote = 1,          // "would you vote for me in term+1?" (no state changes on receipt)
  kPreVoteResponse = 2,  // reject = no
  kVote = 3,             // RequestVote
  kVoteResponse = 4,
  kAppend = 5,          // AppendEntries; with no entries it is the heartbeat
  kAppendResponse = 6,  // also acknowledges kSnapshot
  kSnapshot = 7,        // InstallSnapshot (whole snapshot in one message)
};

const char* MessageTypeName(MessageType type);

// One message between two voters. Which fields matter depends on the type:
//   kPreVote/kVote:     term (the term campaigned for), index/log_term = candidate's last entry.
//   k*VoteResponse:     term, reject.
//   kAppend:            index/log_term = the entry before `entries` (prev), entries, commit,
//                       context = the leader's heartbeat sequence number (ReadIndex).
//   kAppendResponse:    reject = false: index = the follower's match index after the append.
//                       reject = true: index = the rejected prev index, hint_index/hint_term =
//                       where the leader should retry (fast back-off, README "Back-off").
//                       context echoes the kAppend's (or kSnapshot's) context.
//   kSnapshot:          snapshot, commit, context.
struct Message {
  MessageType type = MessageType::kAppend;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term;
  Term log_term;
  Index index;
  std::vector<Entry> entries;
  Index commit;
  bool reject = false;
  Index hint_index;
  Term hint_term;
  uint64_t context = 0;
  std::shared_ptr<const Snapshot> snapshot;  // shared: a snapshot is immutable once taken
};

// A short human-readable form for traces and test failures.
std::string DebugString(const Message& m);

}  // namespace spool::raft
