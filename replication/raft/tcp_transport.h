// TcpTransport: the Raft Transport between controller voters over TCP (replication/raft/
// TRANSPORT.md). The receiving side is raft_service.h.
//
// What it does: Send(m) encodes m as a RaftEnvelope (wire.h) with the cluster id and appends it
// to the queue of peer m.to. One sender coroutine per peer owns one client connection
// (client::BrokerConnection) to that peer's controller listener and sends everything queued
// meanwhile, in send order, as one RaftMessagesRequest (API_KEY_RAFT_MESSAGES), up to
// max_batch_bytes, with one batch in flight at a time. A batch that fails (the connection
// broke, the peer did not answer within request_timeout, or the peer refused it) is dropped:
// Raft retransmits what matters. After a failed connect or a broken connection the sender waits
// a backoff (backoff_initial doubling to backoff_max, reset by a batch that succeeds) before it
// connects again; nothing polls. A peer's queue keeps at most max_queued_messages and
// max_queued_bytes: beyond either, the oldest messages are dropped (and counted). Messages to a
// node outside the voter set, to this voter itself, after Stop(), or whose envelope alone is
// larger than max_batch_bytes are dropped and counted.
//
// Ordering: messages to one peer leave in the order Send() was called; a dropped batch leaves a
// gap (Raft tolerates loss, delay and reordering; it never relies on this order).
//
// Ownership: the transport borrows the reactor (which must outlive it); per-peer state is
// shared with the sender coroutines and the backoff timers, so a timer waking after Stop() only
// touches that state, never the transport.
//
// Threading: Create, Send, counters and Stop are called on the reactor's thread only (the
// driver's reactor: RaftDriver calls Send there).
//
// Lifetime: Stop() must complete before the transport is destroyed (the destructor aborts
// otherwise). Stop() drops everything queued, closes every connection (failing the batch in
// flight) and waits for every sender coroutine to return; a sender inside a connect attempt
// finishes it first (bounded by connect_timeout). A RaftDriver borrowing the transport must be
// stopped before the transport is destroyed; Send() after Stop() only counts the drop.
//
// Durability: none; a message is delivered at most once, or lost.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/io/reactor.h"
#include "common/io/socket.h"
#include "common/status.h"
#include "common/task.h"
#include "replication/raft/driver.h"
#include "replication/raft/types.h"

namespace spool::raft {

// One entry of a static voter set: the voter's id and its controller listener.
struct QuorumVoter {
  NodeId id;
  io::HostPort address;
  friend bool operator==(const QuorumVoter&, const QuorumVoter&) = default;
};

// Parses Kafka's `controller.quorum.voters` form: "1@host:port,2@host:port,3@[::1]:port".
// Entries are separated by commas; spaces around an entry are ignored. Each id is a decimal in
// 1..2^32-1, each host non-empty, each port in 1..65535. kInvalidArgument, naming the entry and
// what is wrong, for an empty list, an empty entry, a missing '@', a bad id, a bad address, more
// than 16 voters, and a repeated id or address. The result is in the order given.
[[nodiscard]] StatusOr<std::vector<QuorumVoter>> ParseQuorumVoters(std::string_view text);

struct TcpTransportOptions {
  NodeId self;                      // this voter
  std::vector<QuorumVoter> voters;  // the whole voter set, this voter included
  std::string cluster_id;           // stamped into every envelope (wire.h)
  // A batch's envelopes add up to at most this (the receiving listener's max body size must
  // allow it plus a little framing; broker::ServerOptions' default max_body_bytes is 4 MiB).
  size_t max_batch_bytes = (size_t{4} << 20) - (size_t{64} << 10);
  // Per peer: beyond either, the oldest queued messages are dropped.
  size_t max_queued_messages = 4096;
  size_t max_queued_bytes = size_t{64} << 20;
  std::chrono::milliseconds connect_timeout{1000};  // TCP connect + ApiVersions handshake
  std::chrono::milliseconds request_timeout{2000};  // one batch's answer
  std::chrono::milliseconds backoff_initial{20};
  std::chrono::milliseconds backoff_max{1000};
  std::string client_id = "spool-raft";
};

// Summed over every peer.
struct TcpTransportCounters {
  uint64_t messages_queued = 0;     // accepted by Send() into a peer's queue
  uint64_t messages_sent = 0;       // in a batch the peer acknowledged
  uint64_t batches_sent = 0;        // acknowledged batches
  uint64_t batches_failed = 0;      // broken connection, timeout or refusal: batch dropped
  uint64_t dropped_in_batch = 0;    // messages of failed batches
  uint64_t dropped_queue_full = 0;  // oldest messages dropped by the queue caps
  uint64_t dropped_unknown_peer = 0;
  uint64_t dropped_oversized = 0;  // one envelope larger than max_batch_bytes
  uint64_t dropped_stopped = 0;    // Send() after Stop(), or queued when Stop() ran
  uint64_t connects = 0;           // connections established (handshake done)
  uint64_t connect_failures = 0;
  uint64_t backoffs = 0;  // waits before a reconnect
};

class TcpTransport final : public Transport {
 public:
  // Validates the options (self among the voters, ids and addresses distinct, caps non-zero)
  // and starts one sender coroutine per peer; none connects until it has something to send.
  [[nodiscard]] static StatusOr<std::unique_ptr<TcpTransport>> Create(io::Reactor& reactor,
                                                                      TcpTransportOptions options);
  ~TcpTransport() override;
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  void Send(Message m) override;

  TcpTransportCounters counters() const;
  // Messages queued now for `peer` (0 for an unknown one).
  size_t queued(NodeId peer) const;

  // See "Lifetime" above. Idempotent.
  Task<void> Stop();

  struct Peer;  // implementation detail (tcp_transport.cc)

 private:
  TcpTransport(io::Reactor& reactor, TcpTransportOptions options);

  io::Reactor& reactor_;
  TcpTransportOptions options_;
  std::vector<std::shared_ptr<Peer>> peers_;
  uint64_t dropped_unknown_peer_ = 0;
  uint64_t dropped_oversized_ = 0;
  uint64_t dropped_stopped_ = 0;
  bool stopping_ = false;
  bool stopped_ = false;
};

}  // namespace spool::raft
