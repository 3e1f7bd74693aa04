// The wire encoding of Raft messages: conversions between raft::Message and proto/raft.proto,
// and the structural checks of wire.h.
#include "replication/raft/wire.h"

#include <climits>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/raft.pb.h"

namespace spool::raft {
namespace {

constexpr size_t kMaxSnapshotVoters = 16;

Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("raft wire: ", std::string(what)));
}

void ToProto(const Message& m, v1::RaftMessage* p) {
  p->set_type(static_cast<v1::RaftMessageType>(m.type));
  p->set_from(m.from.value());
  p->set_to(m.to.value());
  p->set_term(m.term.value());
  p->set_log_term(m.log_term.value());
  p->set_index(m.index.value());
  p->mutable_entries()->Reserve(static_cast<int>(m.entries.size()));
  for (const Entry& e : m.entries) {
    v1::RaftEntry* pe = p->add_entries();
    pe->set_term(e.term.value());
    pe->set_index(e.index.value());
    pe->set_type(static_cast<v1::RaftEntryType>(e.type));
    pe->set_data(e.data);
  }
  p->set_commit(m.commit.value());
  p->set_reject(m.reject);
  p->set_hint_index(m.hint_index.value());
  p->set_hint_term(m.hint_term.value());
  p->set_context(m.context);
  if (m.snapshot) {
    v1::RaftSnapshot* ps = p->mutable_snapshot();
    v1::RaftSnapshotMeta* meta = ps->mutable_meta();
    meta->set_index(m.snapshot->meta.index.value());
    meta->set_term(m.snapshot->meta.term.value());
    for (NodeId v : m.snapshot->meta.voters) meta->add_voters(v.value());
    ps->set_data(m.snapshot->data);
  }
}

StatusOr<MessageType> TypeFromProto(int t) {
  switch (t) {
    case v1::RAFT_PRE_VOTE:
      return MessageType::kPreVote;
    case v1::RAFT_PRE_VOTE_RESPONSE:
      return MessageType::kPreVoteResponse;
    case v1::RAFT_VOTE:
      return MessageType::kVote;
    case v1::RAFT_VOTE_RESPONSE:
      return MessageType::kVoteResponse;
    case v1::RAFT_APPEND:
      return MessageType::kAppend;
    case v1::RAFT_APPEND_RESPONSE:
      return MessageType::kAppendResponse;
    case v1::RAFT_SNAPSHOT:
      return MessageType::kSnapshot;
  }
  return Malformed(absl::StrCat("unknown message type ", t));
}

StatusOr<EntryType> EntryTypeFromProto(int t) {
  switch (t) {
    case v1::RAFT_ENTRY_NORMAL:
      return EntryType::kNormal;
    case v1::RAFT_ENTRY_NOOP:
      return EntryType::kNoop;
  }
  return Malformed(absl::StrCat("unknown entry type ", t));
}

StatusOr<std::vector<Entry>> EntriesFromProto(const v1::RaftMessage& p) {
  std::vector<Entry> out;
  if (p.entries_size() == 0) return out;
  if (p.type() != v1::RAFT_APPEND) return Malformed("entries on a message other than append");
  out.reserve(static_cast<size_t>(p.entries_size()));
  uint64_t expect = p.index();
  uint64_t prev_term = p.log_term();
  for (const v1::RaftEntry& pe : p.entries()) {
    if (expect == UINT64_MAX) return Malformed("entry index overflows");
    ++expect;
    if (pe.index() != expect) {
      return Malformed(absl::StrCat("entry index ", pe.index(), " where ", expect, " was due"));
    }
    if (pe.term() == 0 || pe.term() < prev_term || pe.term() > p.term()) {
      return Malformed(absl::StrCat("entry ", pe.index(), " has term ", pe.term(), " after ",
                                    prev_term, " in a message of term ", p.term()));
    }
    prev_term = pe.term();
    ASSIGN_OR_RETURN(EntryType type, EntryTypeFromProto(pe.type()));
    if (type == EntryType::kNoop && !pe.data().empty()) return Malformed("no-op entry with data");
    out.push_back(Entry{Term{pe.term()}, Index{pe.index()}, type, pe.data()});
  }
  return out;
}

StatusOr<std::shared_ptr<const Snapshot>> SnapshotFromProto(const v1::RaftMessage& p) {
  const bool want = p.type() == v1::RAFT_SNAPSHOT;
  if (p.has_snapshot() != want) {
    return Malformed(want ? "snapshot message without a snapshot"
                          : "snapshot on a message other than snapshot");
  }
  if (!want) return std::shared_ptr<const Snapshot>();
  const v1::RaftSnapshot& ps = p.snapshot();
  const v1::RaftSnapshotMeta& meta = ps.meta();
  if (meta.index() == 0 || meta.term() == 0) return Malformed("snapshot of index or term 0");
  if (meta.term() > p.term()) return Malformed("snapshot of a term above the message's");
  const auto n = static_cast<size_t>(meta.voters_size());
  if (n == 0 || n > kMaxSnapshotVoters) {
    return Malformed(absl::StrCat("snapshot with ", n, " voters"));
  }
  auto snap = std::make_shared<Snapshot>();
  snap->meta.index = Index{meta.index()};
  snap->meta.term = Term{meta.term()};
  std::set<uint32_t> seen;
  for (uint32_t v : meta.voters()) {
    if (v == 0 || !seen.insert(v).second) return Malformed("snapshot voter 0 or repeated");
    snap->meta.voters.push_back(NodeId{v});
  }
  snap->data = ps.data();
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

StatusOr<Message> FromProto(const v1::RaftMessage& p) {
  Message m;
  ASSIGN_OR_RETURN(m.type, TypeFromProto(p.type()));
  if (p.from() == 0 || p.to() == 0 || p.from() == p.to()) {
    return Malformed(absl::StrCat("from ", p.from(), " to ", p.to()));
  }
  m.from = NodeId{p.from()};
  m.to = NodeId{p.to()};
  m.term = Term{p.term()};
  m.log_term = Term{p.log_term()};
  m.index = Index{p.index()};
  ASSIGN_OR_RETURN(m.entries, EntriesFromProto(p));
  m.commit = Index{p.commit()};
  m.reject = p.reject();
  m.hint_index = Index{p.hint_index()};
  m.hint_term = Term{p.hint_term()};
  m.context = p.context();
  ASSIGN_OR_RETURN(m.snapshot, SnapshotFromProto(p));
  return m;
}

template <typename P>
Status Parse(std::string_view bytes, P* p) {
  if (bytes.size() > kMaxWireMessageBytes || bytes.size() > static_cast<size_t>(INT_MAX)) {
    return Malformed(absl::StrCat("message of ", bytes.size(), " bytes"));
  }
  if (!p->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Malformed("bytes do not parse");
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeMessage(const Message& m) {
  v1::RaftMessage p;
  ToProto(m, &p);
  return p.SerializeAsString();
}

StatusOr<Message> DecodeMessage(std::string_view bytes) {
  v1::RaftMessage p;
  RETURN_IF_ERROR(Parse(bytes, &p));
  return FromProto(p);
}

std::string EncodeEnvelope(std::string_view cluster_id, const Message& m) {
  v1::RaftEnvelope p;
  p.set_cluster_id(std::string(cluster_id));
  ToProto(m, p.mutable_message());
  return p.SerializeAsString();
}

StatusOr<Envelope> DecodeEnvelope(std::string_view bytes) {
  v1::RaftEnvelope p;
  RETURN_IF_ERROR(Parse(bytes, &p));
  if (!p.has_message()) return Malformed("envelope without a message");
  Envelope out;
  out.cluster_id = p.cluster_id();
  ASSIGN_OR_RETURN(out.message, FromProto(p.message()));
  return out;
}

}  // namespace spool::raft
