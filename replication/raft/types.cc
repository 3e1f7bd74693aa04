#include "replication/raft/types.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "replication/raft/config.h"

namespace spool::raft {

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResponse:
      return "PreVoteResponse";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResponse:
      return "VoteResponse";
    case MessageType::kAppend:
      return "Append";
    case MessageType::kAppendResponse:
      return "AppendResponse";
    case MessageType::kSnapshot:
      return "Snapshot";
  }
  return "Unknown";
}

std::string DebugString(const Message& m) {
  std::string s = absl::StrCat(MessageTypeName(m.type), " ", m.from.value(), "->", m.to.value(),
                               " t", m.term.value(), " i", m.index.value(), " lt",
                               m.log_term.value(), " c", m.commit.value());
  if (!m.entries.empty()) {
    absl::StrAppend(&s, " e[", m.entries.front().index.value(), "..",
                    m.entries.back().index.value(), "]");
  }
  if (m.reject) {
    absl::StrAppend(&s, " reject hint ", m.hint_index.value(), "/", m.hint_term.value());
  }
  if (m.context != 0) absl::StrAppend(&s, " ctx", m.context);
  if (m.snapshot) absl::StrAppend(&s, " snap@", m.snapshot->meta.index.value());
  return s;
}

Status ValidateConfig(const Config& config) {
  const size_t n = config.voters.size();
  if (n != 1 && n != 3 && n != 5) {
    return absl::InvalidArgumentError(absl::StrCat("raft: ", n, " voters (want 1, 3 or 5)"));
  }
  std::set<NodeId> unique(config.voters.begin(), config.voters.end());
  if (unique.size() != n || unique.count(kNoNode) != 0) {
    return absl::InvalidArgumentError("raft: voter ids must be distinct and non-zero");
  }
  if (unique.count(config.id) == 0) {
    return absl::InvalidArgumentError("raft: the node's own id is not a voter");
  }
  if (config.election_timeout_ns <= 0 || config.heartbeat_interval_ns <= 0 ||
      config.heartbeat_interval_ns >= config.election_timeout_ns) {
    return absl::InvalidArgumentError("raft: need 0 < heartbeat_interval_ns < election_timeout_ns");
  }
  if (config.max_entries_per_append <= 0) {
    return absl::InvalidArgumentError("raft: max_entries_per_append must be positive");
  }
  return Status();
}

}  // namespace spool::raft
