// TcpTransport: per-peer queues, the sender coroutines, backoff, and ParseQuorumVoters.
#include "replication/raft/tcp_transport.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <optional>
#include <set>
#include <span>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/connection.h"
#include "common/clock.h"
#include "common/io/event.h"
#include "common/io/notifier.h"
#include "proto/body.h"
#include "proto/errors.h"
#include "proto/raft.pb.h"
#include "replication/raft/wire.h"

namespace spool::raft {
namespace {

// The most voters a static set may have (the snapshot's voter list, wire.h, allows 16).
constexpr size_t kMaxVoters = 16;
// What one envelope adds to a RaftMessagesRequest beyond its bytes: the field tag and a length
// varint (at most 1 + 5 bytes), rounded up.
constexpr size_t kEnvelopeOverhead = 8;

// What the handshake requires of a peer's controller listener: a controller listener serves a
// few APIs only (broker/controller_service.h), not every client API. RaftMessages itself is not
// required: a listener that does not serve it answers each batch with an error, which counts as
// a failed batch.
constexpr proto::ApiVersionSupport kRequiredApis[] = {
    {v1::API_KEY_API_VERSIONS, 0, 0},
};

int64_t NowNs() {
  return SystemClock::Get().monotonic_ns();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status BadVoters(std::string_view entry, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("controller.quorum.voters: entry '",
                                                 std::string(entry), "': ", std::string(why)));
}

StatusOr<QuorumVoter> ParseVoter(std::string_view entry) {
  const size_t at = entry.find('@');
  if (at == std::string_view::npos) return BadVoters(entry, "want id@host:port");
  const std::string_view id_text = entry.substr(0, at);
  uint64_t id = 0;
  const auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (id_text.empty() || ec != std::errc() || end != id_text.data() + id_text.size() || id == 0 ||
      id > UINT32_MAX) {
    return BadVoters(entry, absl::StrCat("bad voter id '", std::string(id_text),
                                         "': want a decimal in 1..", UINT32_MAX));
  }
  const std::string_view address = entry.substr(at + 1);
  StatusOr<io::HostPort> where = io::ParseHostPort(address);
  if (!where.ok()) return BadVoters(entry, std::string(where.status().message()));
  // ParseHostPort reads ":port" as 0.0.0.0 (a listen address); a peer needs a real host.
  if (address.front() == ':' || address.starts_with("[]")) {
    return BadVoters(entry, "the host is empty");
  }
  if (where->port == 0) return BadVoters(entry, "port 0 is not an address to connect to");
  return QuorumVoter{NodeId{static_cast<uint32_t>(id)}, *std::move(where)};
}

}  // namespace

StatusOr<std::vector<QuorumVoter>> ParseQuorumVoters(std::string_view text) {
  if (Trim(text).empty()) {
    return absl::InvalidArgumentError("controller.quorum.voters is empty: want id@host:port,...");
  }
  std::vector<QuorumVoter> out;
  std::set<uint32_t> ids;
  std::set<std::string> addresses;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string_view entry = Trim(text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (entry.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("controller.quorum.voters: entry ",
                                                     out.size() + 1, " is empty in '",
                                                     std::string(text), "'"));
    }
    ASSIGN_OR_RETURN(QuorumVoter voter, ParseVoter(entry));
    if (!ids.insert(voter.id.value()).second) {
      return BadVoters(entry, absl::StrCat("voter id ", voter.id.value(), " is repeated"));
    }
    if (!addresses.insert(voter.address.ToString()).second) {
      return BadVoters(entry, absl::StrCat("address ", voter.address.ToString(),
                                           " belongs to another voter too"));
    }
    out.push_back(std::move(voter));
    if (out.size() > kMaxVoters) {
      return absl::InvalidArgumentError(
          absl::StrCat("controller.quorum.voters: more than ", kMaxVoters, " voters"));
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

// One peer: its queue, its connection and its counters. Shared by the transport, the peer's
// sender coroutine and its backoff timer; only ever touched on the reactor thread.
struct TcpTransport::Peer {
  Peer(io::Reactor& r, QuorumVoter v, std::shared_ptr<const TcpTransportOptions> o)
      : reactor(r), voter(std::move(v)), options(std::move(o)), wake(r), done(r) {}

  io::Reactor& reactor;
  const QuorumVoter voter;
  const std::shared_ptr<const TcpTransportOptions> options;
  std::deque<std::string> queue;  // encoded envelopes, oldest first
  size_t queued_bytes = 0;
  std::shared_ptr<client::BrokerConnection> conn;  // nullptr: not connected
  io::Notifier wake;  // Send(), a backoff timer and Stop() wake the sender here
  io::Event done;     // set when the sender has returned
  bool stopping = false;
  bool timer_armed = false;
  int64_t retry_at_ns = 0;  // no connect or batch before this (backoff)
  std::chrono::nanoseconds backoff{0};
  Status last_error;
  TcpTransportCounters counters;
};

namespace {

using Peer = TcpTransport::Peer;

Task<void> BackoffTimer(std::shared_ptr<Peer> p, std::chrono::nanoseconds wait) {
  co_await p->reactor.sleep_for(wait);
  p->timer_armed = false;
  p->wake.notify_all();
}

// Records a failure: the next connect or batch waits a backoff, doubling up to backoff_max.
void BackOff(Peer& p, Status why) {
  p.last_error = std::move(why);
  const std::chrono::nanoseconds initial = p.options->backoff_initial;
  const std::chrono::nanoseconds max = p.options->backoff_max;
  p.backoff = p.backoff.count() == 0 ? initial : std::min(max, p.backoff * 2);
  p.retry_at_ns = NowNs() + p.backoff.count();
  ++p.counters.backoffs;
}

// Closes and forgets the peer's connection (if any).
Task<void> Disconnect(std::shared_ptr<Peer> p) {
  std::shared_ptr<client::BrokerConnection> conn = std::move(p->conn);
  if (conn != nullptr) co_await conn->close();
}

Task<void> Connect(std::shared_ptr<Peer> p) {
  client::ConnectionOptions co;
  co.client_id = p->options->client_id;
  co.connect_timeout = p->options->connect_timeout;
  co.request_timeout = p->options->request_timeout;
  co.max_in_flight = 1;
  co.required_apis = kRequiredApis;
  io::HostPort where = p->voter.address;
  StatusOr<std::unique_ptr<client::BrokerConnection>> conn =
      co_await client::BrokerConnection::Connect(p->reactor, where, co);
  if (!conn.ok()) {
    ++p->counters.connect_failures;
    BackOff(*p, conn.status());
    co_return;
  }
  p->conn = std::shared_ptr<client::BrokerConnection>(*std::move(conn));
  if (p->stopping) {
    co_await Disconnect(p);
    co_return;
  }
  ++p->counters.connects;
}

// Sends everything queued (up to max_batch_bytes) as one request and waits for its answer.
Task<void> SendBatch(std::shared_ptr<Peer> p) {
  v1::RaftMessagesRequest request;
  size_t bytes = 0;
  while (!p->queue.empty()) {
    const size_t size = p->queue.front().size() + kEnvelopeOverhead;
    if (request.envelopes_size() > 0 && bytes + size > p->options->max_batch_bytes) break;
    bytes += size;
    p->queued_bytes -= p->queue.front().size();
    request.add_envelopes(std::move(p->queue.front()));
    p->queue.pop_front();
  }
  const uint64_t n = static_cast<uint64_t>(request.envelopes_size());
  std::shared_ptr<client::BrokerConnection> conn = p->conn;
  const std::span<const std::span<const std::byte>> no_payload;
  const std::optional<std::chrono::milliseconds> timeout = p->options->request_timeout;
  StatusOr<client::Reply> reply =
      co_await conn->call(proto::ApiKey::API_KEY_RAFT_MESSAGES, request, no_payload, timeout);
  Status failure;
  if (!reply.ok()) {
    failure = reply.status();
  } else {
    const int32_t code = reply->as<v1::RaftMessagesResponse>().error_code();
    if (code != proto::ErrorCode::NONE) {
      failure =
          proto::ErrorToStatus(static_cast<proto::ErrorCode>(code),
                               absl::StrCat("RaftMessages refused by voter ", p->voter.id.value()));
    }
  }
  if (failure.ok()) {
    ++p->counters.batches_sent;
    p->counters.messages_sent += n;
    p->backoff = std::chrono::nanoseconds{0};
    co_return;
  }
  ++p->counters.batches_failed;
  p->counters.dropped_in_batch += n;
  BackOff(*p, failure);
  if (conn->broken() && p->conn == conn) co_await Disconnect(p);
}

// The peer's sender: waits for messages, connects (after the backoff, if one is due), and sends
// one batch at a time until Stop().
Task<void> RunSender(std::shared_ptr<Peer> p) {
  while (!p->stopping) {
    if (p->queue.empty()) {
      co_await p->wake.wait();
      continue;
    }
    const int64_t now = NowNs();
    if (now < p->retry_at_ns) {
      if (!p->timer_armed) {
        p->timer_armed = true;
        p->reactor.spawn(BackoffTimer(p, std::chrono::nanoseconds(p->retry_at_ns - now)));
      }
      co_await p->wake.wait();
      continue;
    }
    if (p->conn != nullptr && p->conn->broken()) {
      // Broke while idle (the peer restarted or closed it): nothing is lost, but reconnect only
      // after a backoff, so a peer that keeps closing connections is not hammered.
      Status why = p->conn->broken_status();
      co_await Disconnect(p);
      BackOff(*p, why);
      continue;
    }
    if (p->conn == nullptr) {
      co_await Connect(p);
      continue;
    }
    co_await SendBatch(p);
  }
  co_await Disconnect(p);
  p->done.set();
}

}  // namespace

TcpTransport::TcpTransport(io::Reactor& reactor, TcpTransportOptions options)
    : reactor_(reactor), options_(std::move(options)) {}

StatusOr<std::unique_ptr<TcpTransport>> TcpTransport::Create(io::Reactor& reactor,
                                                             TcpTransportOptions options) {
  if (options.self == kNoNode) return absl::InvalidArgumentError("TcpTransport: self is 0");
  if (options.max_batch_bytes == 0 || options.max_queued_messages == 0 ||
      options.max_queued_bytes == 0) {
    return absl::InvalidArgumentError("TcpTransport: batch and queue caps must be non-zero");
  }
  if (options.backoff_initial.count() <= 0 || options.backoff_max < options.backoff_initial) {
    return absl::InvalidArgumentError("TcpTransport: want 0 < backoff_initial <= backoff_max");
  }
  std::set<uint32_t> ids;
  std::set<std::string> addresses;
  bool has_self = false;
  for (const QuorumVoter& v : options.voters) {
    if (v.id == kNoNode || !ids.insert(v.id.value()).second ||
        !addresses.insert(v.address.ToString()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("TcpTransport: voter ", v.id.value(), "@", v.address.ToString(),
                       " has id 0, or an id or address another voter has"));
    }
    has_self = has_self || v.id == options.self;
  }
  if (!has_self) {
    return absl::InvalidArgumentError(
        absl::StrCat("TcpTransport: voter ", options.self.value(), " is not in the voter set"));
  }
  std::unique_ptr<TcpTransport> t(new TcpTransport(reactor, std::move(options)));
  auto shared = std::make_shared<const TcpTransportOptions>(t->options_);
  for (const QuorumVoter& v : t->options_.voters) {
    if (v.id == t->options_.self) continue;
    t->peers_.push_back(std::make_shared<Peer>(reactor, v, shared));
  }
  for (const std::shared_ptr<Peer>& p : t->peers_) reactor.spawn(RunSender(p));
  return t;
}

TcpTransport::~TcpTransport() {
  if (!stopped_) {
    std::fprintf(stderr, "TcpTransport destroyed before Stop() completed\n");
    std::abort();
  }
}

void TcpTransport::Send(Message m) {
  if (stopping_) {
    ++dropped_stopped_;
    return;
  }
  Peer* peer = nullptr;
  for (const std::shared_ptr<Peer>& p : peers_) {
    if (p->voter.id == m.to) peer = p.get();
  }
  if (peer == nullptr) {
    ++dropped_unknown_peer_;
    return;
  }
  std::string bytes = EncodeEnvelope(options_.cluster_id, m);
  if (bytes.size() + kEnvelopeOverhead > options_.max_batch_bytes) {
    ++dropped_oversized_;
    return;
  }
  peer->queued_bytes += bytes.size();
  peer->queue.push_back(std::move(bytes));
  ++peer->counters.messages_queued;
  while (peer->queue.size() > options_.max_queued_messages ||
         peer->queued_bytes > options_.max_queued_bytes) {
    peer->queued_bytes -= peer->queue.front().size();
    peer->queue.pop_front();
    ++peer->counters.dropped_queue_full;
  }
  peer->wake.notify_all();
}

TcpTransportCounters TcpTransport::counters() const {
  TcpTransportCounters sum;
  for (const std::shared_ptr<Peer>& p : peers_) {
    const TcpTransportCounters& c = p->counters;
    sum.messages_queued += c.messages_queued;
    sum.messages_sent += c.messages_sent;
    sum.batches_sent += c.batches_sent;
    sum.batches_failed += c.batches_failed;
    sum.dropped_in_batch += c.dropped_in_batch;
    sum.dropped_queue_full += c.dropped_queue_full;
    sum.connects += c.connects;
    sum.connect_failures += c.connect_failures;
    sum.backoffs += c.backoffs;
  }
  sum.dropped_unknown_peer = dropped_unknown_peer_;
  sum.dropped_oversized = dropped_oversized_;
  sum.dropped_stopped = dropped_stopped_;
  return sum;
}

size_t TcpTransport::queued(NodeId peer) const {
  for (const std::shared_ptr<Peer>& p : peers_) {
    if (p->voter.id == peer) return p->queue.size();
  }
  return 0;
}

Task<void> TcpTransport::Stop() {
  stopping_ = true;
  for (const std::shared_ptr<Peer>& p : peers_) {
    p->stopping = true;
    dropped_stopped_ += p->queue.size();
    p->queue.clear();
    p->queued_bytes = 0;
    p->wake.notify_all();
  }
  // Fails a batch in flight at once; the sender then sees `stopping` and returns.
  for (const std::shared_ptr<Peer>& p : peers_) {
    std::shared_ptr<client::BrokerConnection> conn = p->conn;
    if (conn != nullptr) co_await conn->close();
  }
  for (const std::shared_ptr<Peer>& p : peers_) {
    while (!p->done.is_set()) co_await p->done.wait();
  }
  stopped_ = true;
}

}  // namespace spool::raft
