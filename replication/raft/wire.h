// The wire encoding of Raft messages (proto/raft.proto): raft::Message <-> bytes.
//
// Encode never fails. Decode accepts only what a RaftNode can have produced, structurally: it
// returns kInvalidArgument for bytes that do not parse, an unknown message or entry type, a zero
// or equal from/to, entries on a message other than kAppend or whose indexes are not
// index+1, index+2, ..., entry terms that go down or exceed the message's term, a no-op entry
// with data, a snapshot on a message other than kSnapshot (or none on kSnapshot), a snapshot of
// index or term 0 or with a bad voter set, and anything longer than kMaxWireMessageBytes. It
// never crashes or allocates more than the input's size allows on bad bytes. Whether a
// well-formed message makes sense (its term, its sender) is the RaftNode's business.
//
// Pure functions: any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"
#include "replication/raft/types.h"

namespace spool::raft {

// Encoded messages are refused above this size (a snapshot travels in one message).
inline constexpr size_t kMaxWireMessageBytes = size_t{512} << 20;

// A bare RaftMessage.
[[nodiscard]] std::string EncodeMessage(const Message& m);
[[nodiscard]] StatusOr<Message> DecodeMessage(std::string_view bytes);

// A RaftEnvelope: the message and the sender's cluster id.
struct Envelope {
  std::string cluster_id;
  Message message;
};
[[nodiscard]] std::string EncodeEnvelope(std::string_view cluster_id, const Message& m);
// Decodes an envelope (same checks on its message). The cluster id is returned, not checked: the
// receiver compares it with its own (RaftDriver::DeliverWire).
[[nodiscard]] StatusOr<Envelope> DecodeEnvelope(std::string_view bytes);

}  // namespace spool::raft
