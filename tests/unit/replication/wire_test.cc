// The wire encoding of Raft messages (replication/raft/wire.h): round trips of every message
// type, one test per rejection rule, and random and mutated bytes that must never crash.
#include "replication/raft/wire.h"

#include <gtest/gtest.h>

#include <random>

#include "proto/raft.pb.h"
#include "tests/support/test_env.h"

namespace spool::raft {
namespace {

Entry E(uint64_t term, uint64_t index, std::string data = "x",
        EntryType type = EntryType::kNormal) {
  return Entry{Term{term}, Index{index}, type, std::move(data)};
}

Message Base(MessageType type) {
  Message m;
  m.type = type;
  m.from = NodeId{1};
  m.to = NodeId{2};
  m.term = Term{7};
  return m;
}

void ExpectSame(const Message& a, const Message& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.from, b.from);
  EXPECT_EQ(a.to, b.to);
  EXPECT_EQ(a.term, b.term);
  EXPECT_EQ(a.log_term, b.log_term);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.entries, b.entries);
  EXPECT_EQ(a.commit, b.commit);
  EXPECT_EQ(a.reject, b.reject);
  EXPECT_EQ(a.hint_index, b.hint_index);
  EXPECT_EQ(a.hint_term, b.hint_term);
  EXPECT_EQ(a.context, b.context);
  ASSERT_EQ(a.snapshot == nullptr, b.snapshot == nullptr);
  if (a.snapshot) {
    EXPECT_EQ(*a.snapshot, *b.snapshot);
  }
}

Message RoundTrip(const Message& m) {
  StatusOr<Message> got = DecodeMessage(EncodeMessage(m));
  EXPECT_TRUE(got.ok()) << got.status() << " for " << DebugString(m);
  return got.ok() ? *got : Message{};
}

std::vector<Message> OneOfEach() {
  std::vector<Message> out;
  Message pv = Base(MessageType::kPreVote);
  pv.index = Index{40};
  pv.log_term = Term{6};
  out.push_back(pv);
  Message pvr = Base(MessageType::kPreVoteResponse);
  pvr.reject = true;
  out.push_back(pvr);
  Message v = Base(MessageType::kVote);
  v.index = Index{41};
  v.log_term = Term{7};
  out.push_back(v);
  Message vr = Base(MessageType::kVoteResponse);
  out.push_back(vr);
  Message a = Base(MessageType::kAppend);
  a.index = Index{9};
  a.log_term = Term{3};
  a.entries = {E(3, 10, "ten"), E(7, 11, "", EntryType::kNoop), E(7, 12, std::string(3000, 'z'))};
  a.commit = Index{9};
  a.context = 1234567890123ULL;
  out.push_back(a);
  Message hb = Base(MessageType::kAppend);
  hb.index = Index{12};
  hb.log_term = Term{7};
  hb.commit = Index{12};
  out.push_back(hb);
  Message ar = Base(MessageType::kAppendResponse);
  ar.reject = true;
  ar.index = Index{9};
  ar.hint_index = Index{5};
  ar.hint_term = Term{2};
  ar.context = 3;
  out.push_back(ar);
  Message s = Base(MessageType::kSnapshot);
  auto snap = std::make_shared<Snapshot>();
  snap->meta = SnapshotMeta{Index{100}, Term{6}, {NodeId{1}, NodeId{2}, NodeId{3}}};
  snap->data = std::string("image\0with\0nuls", 15);
  s.snapshot = snap;
  s.commit = Index{100};
  s.context = 9;
  out.push_back(s);
  return out;
}

TEST(RaftWire, RoundTripsEveryMessageType) {
  std::set<MessageType> types;
  for (const Message& m : OneOfEach()) {
    SCOPED_TRACE(DebugString(m));
    ExpectSame(m, RoundTrip(m));
    types.insert(m.type);
  }
  EXPECT_EQ(types.size(), 7u);
}

TEST(RaftWire, RoundTripsExtremeValues) {
  Message m = Base(MessageType::kAppendResponse);
  m.from = NodeId{UINT32_MAX};
  m.to = NodeId{UINT32_MAX - 1};
  m.term = Term{UINT64_MAX};
  m.index = Index{UINT64_MAX};
  m.commit = Index{UINT64_MAX};
  m.hint_index = Index{UINT64_MAX};
  m.hint_term = Term{UINT64_MAX};
  m.context = UINT64_MAX;
  ExpectSame(m, RoundTrip(m));
}

TEST(RaftWire, EnvelopeCarriesClusterId) {
  for (const Message& m : OneOfEach()) {
    StatusOr<Envelope> env = DecodeEnvelope(EncodeEnvelope("cluster-a", m));
    ASSERT_TRUE(env.ok()) << env.status();
    EXPECT_EQ(env->cluster_id, "cluster-a");
    ExpectSame(m, env->message);
  }
}

TEST(RaftWire, EnvelopeWithoutMessageIsRejected) {
  v1::RaftEnvelope p;
  p.set_cluster_id("c");
  EXPECT_EQ(DecodeEnvelope(p.SerializeAsString()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Re-encodes a valid message after `edit` changed its proto form; the result must be refused.
void ExpectRejected(const Message& m, const std::function<void(v1::RaftMessage&)>& edit) {
  v1::RaftMessage p;
  ASSERT_TRUE(p.ParseFromString(EncodeMessage(m)));
  edit(p);
  StatusOr<Message> got = DecodeMessage(p.SerializeAsString());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << p.DebugString();
}

Message ValidAppend() {
  return OneOfEach()[4];
}
Message ValidSnapshot() {
  return OneOfEach()[7];
}

TEST(RaftWire, RejectsUnknownAndZeroMessageType) {
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.set_type(v1::RaftMessageType(8)); });
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.set_type(v1::RaftMessageType(99)); });
  ExpectRejected(Base(MessageType::kVote),
                 [](v1::RaftMessage& p) { p.set_type(v1::RAFT_MESSAGE_TYPE_UNSPECIFIED); });
}

TEST(RaftWire, RejectsBadIds) {
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.set_from(0); });
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.set_to(0); });
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.set_to(p.from()); });
}

TEST(RaftWire, RejectsEntriesOnOtherTypes) {
  for (auto t : {v1::RAFT_PRE_VOTE, v1::RAFT_VOTE, v1::RAFT_VOTE_RESPONSE, v1::RAFT_APPEND_RESPONSE,
                 v1::RAFT_PRE_VOTE_RESPONSE}) {
    ExpectRejected(ValidAppend(), [t](v1::RaftMessage& p) { p.set_type(t); });
  }
}

TEST(RaftWire, RejectsNonConsecutiveEntries) {
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.mutable_entries(1)->set_index(12); });
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.mutable_entries(0)->set_index(9); });
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.set_index(10); });
  ExpectRejected(ValidAppend(),
                 [](v1::RaftMessage& p) { p.mutable_entries()->SwapElements(0, 2); });
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.mutable_entries(0)->set_index(0); });
  // The index sequence must not wrap around.
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) {
    p.set_index(UINT64_MAX - 1);
    p.mutable_entries(0)->set_index(UINT64_MAX);
    p.mutable_entries(1)->set_index(0);
    p.mutable_entries(2)->set_index(1);
  });
}

TEST(RaftWire, RejectsBadEntryTerms) {
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.mutable_entries(2)->set_term(6); });
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.mutable_entries(2)->set_term(8); });
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.mutable_entries(0)->set_term(0); });
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.set_log_term(4); });
}

TEST(RaftWire, RejectsBadEntryTypes) {
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) {
    p.mutable_entries(0)->set_type(v1::RAFT_ENTRY_TYPE_UNSPECIFIED);
  });
  ExpectRejected(ValidAppend(),
                 [](v1::RaftMessage& p) { p.mutable_entries(0)->set_type(v1::RaftEntryType(3)); });
  ExpectRejected(ValidAppend(), [](v1::RaftMessage& p) { p.mutable_entries(1)->set_data("x"); });
}

TEST(RaftWire, RejectsMisplacedOrMissingSnapshot) {
  ExpectRejected(ValidSnapshot(), [](v1::RaftMessage& p) { p.set_type(v1::RAFT_APPEND); });
  ExpectRejected(ValidSnapshot(), [](v1::RaftMessage& p) { p.clear_snapshot(); });
}

TEST(RaftWire, RejectsBadSnapshotMeta) {
  ExpectRejected(ValidSnapshot(),
                 [](v1::RaftMessage& p) { p.mutable_snapshot()->mutable_meta()->set_index(0); });
  ExpectRejected(ValidSnapshot(),
                 [](v1::RaftMessage& p) { p.mutable_snapshot()->mutable_meta()->set_term(0); });
  ExpectRejected(ValidSnapshot(),
                 [](v1::RaftMessage& p) { p.mutable_snapshot()->mutable_meta()->set_term(8); });
  ExpectRejected(ValidSnapshot(),
                 [](v1::RaftMessage& p) { p.mutable_snapshot()->mutable_meta()->clear_voters(); });
  ExpectRejected(ValidSnapshot(), [](v1::RaftMessage& p) {
    p.mutable_snapshot()->mutable_meta()->set_voters(1, 0);
  });
  ExpectRejected(ValidSnapshot(), [](v1::RaftMessage& p) {
    p.mutable_snapshot()->mutable_meta()->set_voters(1, 1);
  });
  ExpectRejected(ValidSnapshot(), [](v1::RaftMessage& p) {
    for (uint32_t v = 10; v < 30; ++v) p.mutable_snapshot()->mutable_meta()->add_voters(v);
  });
}

TEST(RaftWire, RejectsBytesThatDoNotParse) {
  const std::string good = EncodeMessage(ValidAppend());
  // A truncated encoding ends inside a field (the last byte of a length-delimited entry).
  EXPECT_EQ(DecodeMessage(std::string_view(good).substr(0, good.size() - 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeMessage(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Empty bytes are a message of type 0: refused too.
  EXPECT_EQ(DecodeMessage("").status().code(), absl::StatusCode::kInvalidArgument);
}

// Random bytes and random mutations of valid encodings: decoding must return (OK or
// kInvalidArgument), never crash; whatever decodes must re-encode to something that decodes to
// the same message.
TEST(RaftWire, RandomAndMutatedBytesNeverCrash) {
  std::mt19937_64 rng(testing::TestSeed());
  const std::vector<Message> valid = OneOfEach();
  int decoded = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string bytes;
    if (round % 2 == 0) {
      bytes.resize(std::uniform_int_distribution<size_t>(0, 64)(rng));
      for (char& c : bytes) c = static_cast<char>(rng());
    } else {
      bytes = EncodeEnvelope("c", valid[rng() % valid.size()]);
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips && !bytes.empty(); ++i) {
        bytes[rng() % bytes.size()] = static_cast<char>(rng());
      }
      if (rng() % 4 == 0) bytes.resize(rng() % (bytes.size() + 1));
    }
    StatusOr<Envelope> env = DecodeEnvelope(bytes);
    if (!env.ok()) {
      ASSERT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument);
      continue;
    }
    ++decoded;
    StatusOr<Envelope> again = DecodeEnvelope(EncodeEnvelope(env->cluster_id, env->message));
    ASSERT_TRUE(again.ok()) << again.status();
    ExpectSame(env->message, again->message);
  }
  EXPECT_GT(decoded, 0);
}

}  // namespace
}  // namespace spool::raft
