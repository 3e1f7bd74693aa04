#include "replication/sim/list_state_machine.h"

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace spool::raft::sim {

uint64_t ExtendListHash(uint64_t h, const std::string& data) {
  // FNV-1a over the data and a separator.
  h ^= 0x9e3779b97f4a7c15ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= 0xff;
  h *= 0x100000001b3ULL;
  return h;
}

Status ListStateMachine::Apply(const Entry& entry) {
  if (entry.index != applied_ + 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("apply of index ", entry.index.value(), " after ", applied_.value()));
  }
  applied_ = entry.index;
  if (entry.type == EntryType::kNormal) {
    values_.push_back(entry.data);
    hash_ = ExtendListHash(hash_, entry.data);
  }
  return Status();
}

// Format: "<applied> <hash>" then one line per value (values never contain '\n').
std::string ListStateMachine::Serialize() const {
  std::string out = absl::StrCat(applied_.value(), " ", hash_);
  for (const std::string& v : values_) absl::StrAppend(&out, "\n", v);
  return out;
}

Status ListStateMachine::Restore(const Snapshot& snapshot) {
  std::vector<std::string> lines = absl::StrSplit(snapshot.data, '\n');
  std::vector<std::string> head = absl::StrSplit(lines[0], ' ');
  uint64_t applied = 0;
  uint64_t hash = 0;
  if (head.size() != 2 || !absl::SimpleAtoi(head[0], &applied) ||
      !absl::SimpleAtoi(head[1], &hash) || applied != snapshot.meta.index.value()) {
    return absl::DataLossError("list state machine: bad snapshot header");
  }
  values_.assign(lines.begin() + 1, lines.end());
  uint64_t h = 0;
  for (const std::string& v : values_) h = ExtendListHash(h, v);
  if (h != hash) return absl::DataLossError("list state machine: snapshot hash mismatch");
  applied_ = Index{applied};
  hash_ = hash;
  return Status();
}

}  // namespace spool::raft::sim
