// The Raft TCP transport (replication/raft/tcp_transport.h, raft_service.h) over real loopback
// sockets: three RaftDrivers, each on its own 1-shard ShardSet with its own broker::Server on
// 127.0.0.1 (port 0 at first) and a TcpTransport to the others. A leader is elected and 500
// proposals commit and apply identically; the leader's server and driver stop and a new leader
// takes over; the old one restarts on the same port from its files and catches up; garbage
// envelopes in a RaftMessagesRequest are dropped and counted while the voter keeps working; a
// transport to a peer nobody listens on caps its queue and backs off instead of spinning; and
// ParseQuorumVoters accepts and refuses the right strings.
//
// The RequestHandler of the voters' listeners lives here (the broker's controller listener comes
// later): ApiVersions (the client connection's handshake) and RaftMessages, which it hands to
// HandleRaftMessages for the voter's current driver.
//
// Every wait has a deadline: the test thread waits on a future, or polls a condition (PollUntil)
// until a deadline; nothing sleeps to let something happen.
#include "replication/raft/tcp_transport.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/strings/str_cat.h"
#include "broker/handler.h"
#include "broker/server.h"
#include "broker/shard.h"
#include "client/connection.h"
#include "common/io/when_all.h"
#include "proto/body.h"
#include "proto/errors.h"
#include "proto/raft.pb.h"
#include "replication/raft/driver.h"
#include "replication/raft/raft_service.h"
#include "replication/raft/wire.h"
#include "tests/support/test_env.h"
#include "tests/unit/replication/driver_test_util.h"

namespace spool::raft {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

using test::CallOn;
using test::DoOn;
using test::kCallTimeout;
using test::kElection;
using test::kElectionNs;
using test::kSlowdown;
using test::ListSm;
using test::PollUntil;
using test::ProposeInto;

constexpr char kClusterId[] = "tcp-test";

// ---- the controller listener's handler: ApiVersions and RaftMessages ----

class RaftHandler final : public broker::RequestHandler {
 public:
  // On the shard's (= the driver's) reactor thread only.
  void set_driver(RaftDriver* driver) { driver_ = driver; }

  Task<std::optional<broker::Response>> Handle(const broker::RequestContext&,
                                               proto::Frame request) override {
    const proto::FrameHeader header = request.header();
    proto::FrameHeader h = header;
    h.flags = proto::kFlagResponse;
    StatusOr<proto::OutgoingFrame> frame = absl::UnknownError("unset");
    if (header.api_key == v1::API_KEY_API_VERSIONS) {
      v1::ApiVersionsResponse body;
      for (const proto::ApiVersionSupport& api : proto::SupportedApis()) {
        v1::ApiVersionRange* range = body.add_api_keys();
        range->set_api_key(api.api_key);
        range->set_min_version(api.min_version);
        range->set_max_version(api.max_version);
      }
      body.set_cluster_id(kClusterId);
      frame = proto::EncodeFrame(h, body);
    } else if (header.api_key == v1::API_KEY_RAFT_MESSAGES) {
      StatusOr<std::unique_ptr<google::protobuf::Message>> body =
          proto::ParseFrameBody(header, request.body());
      if (!body.ok()) {
        frame = proto::EncodeErrorResponse(header, proto::ErrorCode::INVALID_REQUEST,
                                           std::string(body.status().message()));
      } else if (driver_ == nullptr) {
        v1::RaftMessagesResponse none;
        none.set_error_code(proto::ErrorCode::NOT_CONTROLLER);
        frame = proto::EncodeFrame(h, none);
      } else {
        const auto& messages = static_cast<const v1::RaftMessagesRequest&>(**body);
        StatusOr<v1::RaftMessagesResponse> response =
            co_await HandleRaftMessages(*driver_, messages);
        if (response.ok()) {
          frame = proto::EncodeFrame(h, *response);
        } else {
          frame = proto::EncodeErrorResponse(header, proto::ErrorFromStatus(response.status()),
                                             std::string(response.status().message()));
        }
      }
    } else {
      frame = proto::EncodeErrorResponse(header, proto::ErrorCode::UNSUPPORTED_VERSION,
                                         "a controller listener serves RaftMessages only");
    }
    if (!frame.ok()) co_return std::nullopt;
    co_return broker::Response{*std::move(frame), {}};
  }

 private:
  RaftDriver* driver_ = nullptr;
};

// ---- three voters, each with its shard, listener, transport, files and driver ----

class TcpCluster {
 public:
  explicit TcpCluster(int n, uint64_t snapshot_every = 1024)
      : seed_(testing::TestSeed()), snapshot_every_(snapshot_every) {
    for (int i = 1; i <= n; ++i) {
      auto v = std::make_unique<Voter>();
      v->id = NodeId{static_cast<uint32_t>(i)};
      v->dir = dir_.file(absl::StrCat("node", i));
      auto shards =
          broker::ShardSet::Start(1, io::ReactorOptions{.backend = testing::RequestedBackend()});
      EXPECT_TRUE(shards.ok()) << shards.status();
      if (!shards.ok()) return;
      v->shards = *std::move(shards);
      v->handler = std::make_unique<RaftHandler>();
      ids_.push_back(v->id);
      voters_[i] = std::move(v);
    }
    // Bind every listener first, so each transport knows every address.
    for (auto& [i, v] : voters_) {
      broker::ServerOptions o;
      o.listen = io::HostPort{"127.0.0.1", 0};
      auto server = broker::Server::Bind(*v->shards, o);
      EXPECT_TRUE(server.ok()) << server.status();
      if (!server.ok()) return;
      v->server = *std::move(server);
      v->address = v->server->address();
      quorum_.push_back(QuorumVoter{v->id, v->address});
    }
    for (auto& [i, v] : voters_) {
      EXPECT_TRUE(StartDriver(i).ok());
      v->server->Serve(*v->handler);
    }
  }
  ~TcpCluster() {
    for (auto& [i, v] : voters_) {
      if (v->driver) PermitUncheckedError(Stop(i));
    }
  }

  io::Reactor& reactor(int i) { return *voters_.at(i)->shards->shard(0).reactor; }
  RaftDriver* driver(int i) { return voters_.at(i)->driver.get(); }
  bool running(int i) { return voters_.at(i)->driver != nullptr; }
  const io::HostPort& address(int i) { return voters_.at(i)->address; }
  std::vector<int> All() const {
    std::vector<int> out;
    for (const auto& [i, v] : voters_) out.push_back(i);
    return out;
  }
  std::vector<int> Running() {
    std::vector<int> out;
    for (int i : All()) {
      if (running(i)) out.push_back(i);
    }
    return out;
  }

  // Stops voter i as a crash would look to the others: its listener closes, then its driver
  // and transport stop. Its files stay.
  Status Stop(int i) {
    Voter& v = *voters_.at(i);
    std::optional<Status> st = CallOn<Status>(reactor(i), [&v]() -> Task<Status> {
      co_await v.server->Stop();
      v.handler->set_driver(nullptr);
      Status s = co_await v.driver->Stop();
      co_await v.transport->Stop();
      v.transport_counters = v.transport->counters();
      v.driver.reset();
      v.transport.reset();
      co_return s;
    });
    if (!st.has_value()) return absl::DeadlineExceededError("stop timed out");
    v.server.reset();
    return *st;
  }

  // Restarts a stopped voter from its files, with its listener on the same port as before.
  Status Restart(int i) {
    Voter& v = *voters_.at(i);
    broker::ServerOptions o;
    o.listen = v.address;
    StatusOr<std::unique_ptr<broker::Server>> server = broker::Server::Bind(*v.shards, o);
    RETURN_IF_ERROR(server.status());
    v.server = *std::move(server);
    RETURN_IF_ERROR(StartDriver(i));
    v.server->Serve(*v.handler);
    return absl::OkStatus();
  }

  DriverStatus StatusOf(int i) {
    Voter& v = *voters_.at(i);
    return DoOn(reactor(i), [&v] { return v.driver ? v.driver->status() : DriverStatus{}; })
        .value_or(DriverStatus{});
  }
  TcpTransportCounters TransportCounters(int i) {
    Voter& v = *voters_.at(i);
    return DoOn(reactor(i),
                [&v] { return v.transport ? v.transport->counters() : v.transport_counters; })
        .value_or(TcpTransportCounters{});
  }
  std::vector<ListSm::Item> Items(int i) {
    Voter& v = *voters_.at(i);
    return DoOn(reactor(i), [&v] { return v.sm->items(); }).value_or(std::vector<ListSm::Item>{});
  }

  // Waits until exactly one of `among` leads and every other one of them follows it in its term.
  int WaitForLeader(const std::vector<int>& among, milliseconds timeout) {
    int leader = 0;
    PollUntil(
        [&] {
          std::map<int, DriverStatus> s;
          for (int i : among) s[i] = StatusOf(i);
          leader = 0;
          for (auto& [i, st] : s) {
            if (st.role == Role::kLeader) {
              if (leader != 0) return false;
              leader = i;
            }
          }
          if (leader == 0) return false;
          for (auto& [i, st] : s) {
            if (st.term != s[leader].term || st.leader != NodeId{static_cast<uint32_t>(leader)}) {
              return false;
            }
          }
          return true;
        },
        timeout);
    return leader;
  }

  // Proposes every payload concurrently at voter i; one result per payload.
  std::vector<StatusOr<Index>> ProposeAll(int i, const std::vector<std::string>& data) {
    RaftDriver* d = driver(i);
    auto results = std::make_shared<std::vector<StatusOr<Index>>>(data.size(), Index{0});
    io::Reactor& r = reactor(i);
    std::optional<bool> done = CallOn<bool>(r, [d, &r, data, results]() -> Task<bool> {
      std::vector<Task<void>> tasks;
      for (size_t k = 0; k < data.size(); ++k) {
        tasks.push_back(ProposeInto(d, data[k], &(*results)[k]));
      }
      co_await io::WhenAll(r, std::move(tasks));
      co_return true;
    });
    if (!done.has_value()) {
      return std::vector<StatusOr<Index>>(data.size(), absl::DeadlineExceededError("timed out"));
    }
    return *results;
  }

  // Proposes every payload, retrying failures at whoever leads the running voters, until each
  // has succeeded once. False if that did not happen in time.
  bool ProposeUntilCommitted(std::vector<std::string> data, milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    Status last;
    while (!data.empty()) {
      if (SteadyClock::now() > deadline) {
        ADD_FAILURE() << data.size() << " proposals left; last error: " << last;
        return false;
      }
      const int leader = WaitForLeader(Running(), 40 * kElection);
      if (leader == 0) continue;
      std::vector<StatusOr<Index>> r = ProposeAll(leader, data);
      std::vector<std::string> again;
      for (size_t k = 0; k < data.size(); ++k) {
        if (!r[k].ok()) {
          again.push_back(data[k]);
          last = r[k].status();
        }
      }
      data = std::move(again);
    }
    return true;
  }

  // Waits until every voter in `among` has applied the same index, at least `at_least`.
  bool WaitAppliedEqual(const std::vector<int>& among, Index at_least, milliseconds timeout) {
    return PollUntil(
        [&] {
          std::optional<Index> first;
          for (int i : among) {
            const DriverStatus s = StatusOf(i);
            if (s.applied < at_least || s.applied < s.commit) return false;
            if (first.has_value() && *first != s.applied) return false;
            first = s.applied;
          }
          return true;
        },
        timeout);
  }

 private:
  struct Voter {
    NodeId id;
    std::string dir;
    int starts = 0;
    std::unique_ptr<broker::ShardSet> shards;  // declared first: destroyed last
    std::unique_ptr<RaftHandler> handler;
    std::unique_ptr<broker::Server> server;
    io::HostPort address;
    std::unique_ptr<ListSm> sm;
    std::unique_ptr<TcpTransport> transport;
    std::unique_ptr<RaftDriver> driver;
    TcpTransportCounters transport_counters;  // of the last transport, once stopped
  };

  // Creates voter i's transport and starts its driver (empty state machine, its files), on its
  // reactor, and points the listener's handler at the new driver.
  Status StartDriver(int i) {
    Voter& v = *voters_.at(i);
    v.sm = std::make_unique<ListSm>();
    DriverOptions o;
    o.raft.id = v.id;
    o.raft.voters = ids_;
    o.raft.election_timeout_ns = kElectionNs;
    o.raft.heartbeat_interval_ns = kElectionNs / 5;
    o.dir = v.dir;
    o.cluster_id = kClusterId;
    o.snapshot_every = snapshot_every_;
    o.seed = seed_ + v.id.value() * 1000 + static_cast<uint64_t>(++v.starts);
    TcpTransportOptions t;
    t.self = v.id;
    t.voters = quorum_;
    t.cluster_id = kClusterId;
    t.backoff_initial = milliseconds(10);
    t.backoff_max = milliseconds(100);
    std::optional<Status> st = CallOn<Status>(reactor(i), [&v, o, t]() -> Task<Status> {
      io::Reactor& r = *v.shards->shard(0).reactor;
      StatusOr<std::unique_ptr<TcpTransport>> transport = TcpTransport::Create(r, t);
      if (!transport.ok()) co_return transport.status();
      v.transport = *std::move(transport);
      DriverOptions opts = o;
      StatusOr<std::unique_ptr<RaftDriver>> d = co_await RaftDriver::Start(
          r, *v.shards->shard(0).fs, std::move(opts), *v.sm, *v.transport);
      if (!d.ok()) {
        co_await v.transport->Stop();
        v.transport.reset();
        co_return d.status();
      }
      v.driver = *std::move(d);
      v.handler->set_driver(v.driver.get());
      co_return absl::OkStatus();
    });
    if (!st.has_value()) return absl::DeadlineExceededError("start timed out");
    return *st;
  }

  const uint64_t seed_;
  const uint64_t snapshot_every_;
  testing::TempDir dir_;
  std::vector<NodeId> ids_;
  std::vector<QuorumVoter> quorum_;
  std::map<int, std::unique_ptr<Voter>> voters_;
};

std::vector<std::string> Payloads(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int k = 0; k < n; ++k) out.push_back(absl::StrCat(prefix, k));
  return out;
}

// Every voter in `among` applied the same (index, data) sequence, containing every payload.
void ExpectSameAppliedSequence(TcpCluster& c, const std::vector<int>& among,
                               const std::vector<std::string>& payloads) {
  const std::vector<ListSm::Item> first = c.Items(among.front());
  std::set<std::string> data;
  for (const auto& it : first) data.insert(it.second);
  for (const std::string& p : payloads) EXPECT_TRUE(data.contains(p)) << p;
  for (int i : among) EXPECT_EQ(c.Items(i), first) << "voter " << i;
}

// ---- ParseQuorumVoters ----

TEST(ParseQuorumVoters, AcceptsKafkasForm) {
  StatusOr<std::vector<QuorumVoter>> v =
      ParseQuorumVoters("1@localhost:9093, 2@10.0.0.2:9093 ,3@[::1]:19093");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 3u);
  EXPECT_EQ((*v)[0], (QuorumVoter{NodeId{1}, io::HostPort{"localhost", 9093}}));
  EXPECT_EQ((*v)[1], (QuorumVoter{NodeId{2}, io::HostPort{"10.0.0.2", 9093}}));
  EXPECT_EQ((*v)[2], (QuorumVoter{NodeId{3}, io::HostPort{"::1", 19093}}));
  StatusOr<std::vector<QuorumVoter>> one = ParseQuorumVoters("4294967295@h:1");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ((*one)[0].id, NodeId{4294967295u});
}

TEST(ParseQuorumVoters, RefusesBadStringsWithTheReason) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty"},
      {"   ", "empty"},
      {"1@h:1,,2@h:2", "entry 2 is empty"},
      {"1@h:1,", "entry 2 is empty"},
      {"h:9093", "want id@host:port"},
      {"0@h:1", "bad voter id"},
      {"x@h:1", "bad voter id"},
      {"-1@h:1", "bad voter id"},
      {"4294967296@h:1", "bad voter id"},
      {"@h:1", "bad voter id"},
      {"1@:9093", "host is empty"},
      {"1@[]:9093", "host is empty"},
      {"1@h", "want host:port"},
      {"1@h:0", "port 0"},
      {"1@h:65536", "bad port"},
      {"1@h:x", "bad port"},
      {"1@::1:9093", "brackets"},
      {"1@a:1,1@b:2", "voter id 1 is repeated"},
      {"1@a:1,2@a:1", "belongs to another voter"},
  };
  for (const auto& [text, why] : bad) {
    StatusOr<std::vector<QuorumVoter>> v = ParseQuorumVoters(text);
    ASSERT_FALSE(v.ok()) << "'" << text << "' was accepted";
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(v.status().message().find(why), std::string_view::npos)
        << "'" << text << "': " << v.status();
  }
  std::string many;
  for (int i = 1; i <= 17; ++i) absl::StrAppend(&many, i == 1 ? "" : ",", i, "@h:", i);
  EXPECT_NE(ParseQuorumVoters(many).status().message().find("more than 16"),
            std::string_view::npos);
}

// ---- the transport alone: caps, drops and backoff against a peer nobody listens on ----

// A loopback port nothing listens on: bound (not listening) until the test process ends, so a
// connect is refused and no other process (the suite runs tests in parallel) can take it.
uint16_t DeadPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  return ntohs(a.sin_port);  // fd stays open on purpose (a few per test binary)
}

Message Heartbeat(NodeId from, NodeId to, uint64_t commit) {
  Message m;
  m.type = MessageType::kAppend;
  m.from = from;
  m.to = to;
  m.term = Term{1};
  m.commit = Index{commit};
  return m;
}

TEST(TcpTransport, RefusesBadOptions) {
  std::unique_ptr<io::Reactor> r = testing::MakeReactor();
  TcpTransportOptions o;
  o.self = NodeId{1};
  o.voters = {{NodeId{1}, {"127.0.0.1", 1}}, {NodeId{2}, {"127.0.0.1", 2}}};
  TcpTransportOptions not_member = o;
  not_member.self = NodeId{3};
  EXPECT_FALSE(TcpTransport::Create(*r, not_member).ok());
  TcpTransportOptions repeated = o;
  repeated.voters.push_back({NodeId{2}, {"127.0.0.1", 3}});
  EXPECT_FALSE(TcpTransport::Create(*r, repeated).ok());
  TcpTransportOptions no_cap = o;
  no_cap.max_queued_messages = 0;
  EXPECT_FALSE(TcpTransport::Create(*r, no_cap).ok());
}

TEST(TcpTransport, DeadPeerCapsItsQueueAndBacksOff) {
  std::unique_ptr<io::Reactor> r = testing::MakeReactor();
  TcpTransportOptions o;
  o.self = NodeId{1};
  o.voters = {{NodeId{1}, {"127.0.0.1", DeadPort()}}, {NodeId{2}, {"127.0.0.1", DeadPort()}}};
  o.cluster_id = kClusterId;
  o.max_queued_messages = 10;
  o.backoff_initial = milliseconds(10);
  o.backoff_max = milliseconds(40);
  o.max_batch_bytes = 1024;
  StatusOr<std::unique_ptr<TcpTransport>> created = TcpTransport::Create(*r, o);
  ASSERT_TRUE(created.ok()) << created.status();
  TcpTransport& t = **created;

  for (uint64_t k = 0; k < 100; ++k) t.Send(Heartbeat(NodeId{1}, NodeId{2}, k));
  t.Send(Heartbeat(NodeId{1}, NodeId{1}, 0));  // itself
  t.Send(Heartbeat(NodeId{1}, NodeId{7}, 0));  // not a voter
  Message big = Heartbeat(NodeId{1}, NodeId{2}, 0);
  big.type = MessageType::kAppend;
  big.entries.push_back(Entry{Term{1}, Index{1}, EntryType::kNormal, std::string(2000, 'x')});
  t.Send(big);  // over max_batch_bytes alone
  TcpTransportCounters c = t.counters();
  EXPECT_EQ(c.messages_queued, 100u);
  EXPECT_EQ(c.dropped_queue_full, 90u);  // the oldest ones
  EXPECT_EQ(c.dropped_unknown_peer, 2u);
  EXPECT_EQ(c.dropped_oversized, 1u);
  EXPECT_EQ(t.queued(NodeId{2}), 10u);

  // Let it try for ~400 ms of its own time: with the backoff capped at 40 ms that is at most
  // ~15 connects; a busy loop would make thousands.
  const auto start = SteadyClock::now();
  r->block_on(
      [](io::Reactor* re) -> Task<void> { co_await re->sleep_for(milliseconds(400)); }(r.get()));
  const auto elapsed = SteadyClock::now() - start;
  c = t.counters();
  EXPECT_GE(c.connect_failures, 2u);
  EXPECT_EQ(c.connects, 0u);
  const uint64_t bound = static_cast<uint64_t>(elapsed / milliseconds(10)) + 2;
  EXPECT_LE(c.connect_failures, bound);
  EXPECT_EQ(c.backoffs, c.connect_failures);
  EXPECT_EQ(c.messages_sent, 0u);
  EXPECT_EQ(t.queued(NodeId{2}), 10u);  // still waiting; nothing was sent

  r->block_on(t.Stop());
  c = t.counters();
  EXPECT_EQ(c.dropped_stopped, 10u);
  t.Send(Heartbeat(NodeId{1}, NodeId{2}, 0));
  EXPECT_EQ(t.counters().dropped_stopped, 11u);
  r->block_on(t.Stop());  // idempotent
}

// A listener that answers the handshake and holds every RaftMessages request until released.
class HoldingHandler final : public broker::RequestHandler {
 public:
  std::atomic<int> held{0};

  // From any thread: answers the held requests.
  void Release(io::Reactor& reactor) {
    reactor.post([this] {
      released_ = true;
      if (gate_) gate_->set();
    });
  }

  Task<std::optional<broker::Response>> Handle(const broker::RequestContext&,
                                               proto::Frame request) override {
    proto::FrameHeader h = request.header();
    h.flags = proto::kFlagResponse;
    StatusOr<proto::OutgoingFrame> frame = absl::UnknownError("unset");
    if (h.api_key == v1::API_KEY_API_VERSIONS) {
      v1::ApiVersionsResponse body;
      for (const proto::ApiVersionSupport& api : proto::SupportedApis()) {
        v1::ApiVersionRange* range = body.add_api_keys();
        range->set_api_key(api.api_key);
        range->set_max_version(api.max_version);
      }
      frame = proto::EncodeFrame(h, body);
    } else {
      if (!gate_) gate_ = std::make_shared<io::Event>(*io::Reactor::current());
      std::shared_ptr<io::Event> gate = gate_;
      held.fetch_add(1);
      if (!released_) co_await gate->wait();
      v1::RaftMessagesResponse body;
      frame = proto::EncodeFrame(h, body);
    }
    if (!frame.ok()) co_return std::nullopt;
    co_return broker::Response{*std::move(frame), {}};
  }

 private:
  bool released_ = false;  // on the shard's thread
  std::shared_ptr<io::Event> gate_;
};

TEST(TcpTransport, StopFailsTheBatchInFlightAtOnce) {
  auto shards =
      broker::ShardSet::Start(1, io::ReactorOptions{.backend = testing::RequestedBackend()});
  ASSERT_TRUE(shards.ok()) << shards.status();
  io::Reactor& server_reactor = *(*shards)->shard(0).reactor;
  HoldingHandler handler;
  broker::ServerOptions so;
  so.listen = io::HostPort{"127.0.0.1", 0};
  so.stop_timeout = milliseconds(2000);
  auto server = broker::Server::Start(**shards, handler, so);
  ASSERT_TRUE(server.ok()) << server.status();

  std::unique_ptr<io::Reactor> r = testing::MakeReactor();
  TcpTransportOptions o;
  o.self = NodeId{1};
  o.voters = {{NodeId{1}, {"127.0.0.1", DeadPort()}}, {NodeId{2}, (*server)->address()}};
  o.cluster_id = kClusterId;
  o.request_timeout = milliseconds(60'000);  // only Stop() can end the wait
  StatusOr<std::unique_ptr<TcpTransport>> created = TcpTransport::Create(*r, o);
  ASSERT_TRUE(created.ok()) << created.status();
  TcpTransport& t = **created;
  t.Send(Heartbeat(NodeId{1}, NodeId{2}, 1));
  // Runs the reactor until the listener holds the batch (a condition with a deadline).
  const bool arrived = r->block_on([](io::Reactor* re, HoldingHandler* h) -> Task<bool> {
    const auto deadline = SteadyClock::now() + kCallTimeout;
    while (h->held.load() == 0 && SteadyClock::now() < deadline) {
      co_await re->sleep_for(milliseconds(1));
    }
    co_return h->held.load() > 0;
  }(r.get(), &handler));
  ASSERT_TRUE(arrived) << "the batch never reached the listener";
  t.Send(Heartbeat(NodeId{1}, NodeId{2}, 2));  // queued behind the batch in flight

  const auto start = SteadyClock::now();
  r->block_on(t.Stop());
  EXPECT_LT(SteadyClock::now() - start, milliseconds(5000));
  const TcpTransportCounters c = t.counters();
  EXPECT_EQ(c.connects, 1u);
  EXPECT_EQ(c.batches_failed, 1u);
  EXPECT_EQ(c.dropped_in_batch, 1u);
  EXPECT_EQ(c.dropped_stopped, 1u);
  EXPECT_EQ(c.messages_sent, 0u);
  created->reset();  // nothing of the transport may be touched from here on
  r.reset();

  handler.Release(server_reactor);
  std::promise<void> stopped;
  server_reactor.post([&] {
    server_reactor.spawn([](broker::Server* s, std::promise<void>* p) -> Task<void> {
      co_await s->Stop();
      p->set_value();
    }(server->get(), &stopped));
  });
  ASSERT_EQ(stopped.get_future().wait_for(kCallTimeout), std::future_status::ready);
}

// ---- three voters over TCP ----

TEST(TcpTransportCluster, ElectsCommitsFailsOverAndCatchesUp) {
  TcpCluster c(3, /*snapshot_every=*/200);
  const int leader = c.WaitForLeader(c.All(), 40 * kElection);
  ASSERT_NE(leader, 0) << "no leader elected over TCP";

  const std::vector<std::string> first = Payloads("a", 500);
  ASSERT_TRUE(c.ProposeUntilCommitted(first, milliseconds(60'000)));
  const DriverStatus at_leader = c.StatusOf(leader);
  ASSERT_TRUE(c.WaitAppliedEqual(c.All(), at_leader.commit, milliseconds(20'000)));
  ExpectSameAppliedSequence(c, c.All(), first);
  const TcpTransportCounters tc = c.TransportCounters(leader);
  EXPECT_GE(tc.messages_sent, 2u);
  EXPECT_GE(tc.connects, 2u);
  EXPECT_GT(tc.batches_sent, 0u);
  // 500 concurrent proposals travel in far fewer batches than messages.
  EXPECT_LT(tc.batches_sent, tc.messages_sent);

  // The leader goes away: its listener closes and its driver stops.
  ASSERT_TRUE(c.Stop(leader).ok());
  std::vector<int> rest = c.Running();
  const int next = c.WaitForLeader(rest, 40 * kElection);
  ASSERT_NE(next, 0) << "no new leader after the leader stopped";
  EXPECT_NE(next, leader);
  const std::vector<std::string> second = Payloads("b", 300);
  ASSERT_TRUE(c.ProposeUntilCommitted(second, milliseconds(60'000)));

  // It restarts on the same port from its files and catches up.
  ASSERT_TRUE(c.Restart(leader).ok());
  const DriverStatus now = c.StatusOf(next);
  ASSERT_TRUE(c.WaitAppliedEqual(c.All(), now.commit, milliseconds(30'000)))
      << "the restarted voter did not catch up";
  ExpectSameAppliedSequence(c, c.All(), second);
  ExpectSameAppliedSequence(c, c.All(), first);
  EXPECT_NE(c.WaitForLeader(c.All(), 40 * kElection), 0);
  // The survivors' transports lost the connection and came back.
  EXPECT_GE(c.TransportCounters(next).connects, 3u);
}

// Sends one RaftMessagesRequest with `envelopes` to `where` from `reactor`; the error code.
StatusOr<int32_t> SendRaw(io::Reactor& reactor, const io::HostPort& where,
                          std::vector<std::string> envelopes) {
  std::optional<StatusOr<int32_t>> r =
      CallOn<StatusOr<int32_t>>(reactor, [&reactor, where, envelopes]() -> Task<StatusOr<int32_t>> {
        client::ConnectionOptions co;
        io::HostPort to = where;
        StatusOr<std::unique_ptr<client::BrokerConnection>> conn =
            co_await client::BrokerConnection::Connect(reactor, to, co);
        if (!conn.ok()) co_return conn.status();
        v1::RaftMessagesRequest request;
        for (const std::string& e : envelopes) request.add_envelopes(e);
        const std::span<const std::span<const std::byte>> no_payload;
        const std::optional<milliseconds> timeout = milliseconds(5000);
        StatusOr<client::Reply> reply = co_await (*conn)->call(proto::ApiKey::API_KEY_RAFT_MESSAGES,
                                                               request, no_payload, timeout);
        co_await (*conn)->close();
        if (!reply.ok()) co_return reply.status();
        co_return reply->as<v1::RaftMessagesResponse>().error_code();
      });
  if (!r.has_value()) return absl::DeadlineExceededError("raw send timed out");
  return *r;
}

TEST(TcpTransportCluster, GarbageEnvelopesAreDroppedAndCounted) {
  TcpCluster c(3);
  const int leader = c.WaitForLeader(c.All(), 40 * kElection);
  ASSERT_NE(leader, 0);
  ASSERT_TRUE(c.ProposeUntilCommitted(Payloads("x", 20), milliseconds(30'000)));
  const int victim = leader == 1 ? 2 : 1;
  const DriverStatus before = c.StatusOf(victim);

  uint64_t seed = testing::TestSeed();
  std::vector<std::string> garbage;
  for (int k = 0; k < 8; ++k) {
    std::string bytes;
    for (int b = 0; b < 1 + k * 7; ++b) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      bytes.push_back(static_cast<char>(seed >> 56));
    }
    garbage.push_back(bytes);
  }
  garbage.push_back("");  // an empty envelope: no message
  const Message ok =
      Heartbeat(NodeId{static_cast<uint32_t>(leader)}, NodeId{static_cast<uint32_t>(victim)}, 0);
  const std::string valid = EncodeEnvelope(kClusterId, ok);
  garbage.push_back(valid.substr(0, valid.size() / 2));      // truncated
  garbage.push_back(EncodeEnvelope("another-cluster", ok));  // foreign
  StatusOr<int32_t> code = SendRaw(c.reactor(leader), c.address(victim), garbage);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, proto::ErrorCode::NONE);

  const DriverStatus after = c.StatusOf(victim);
  const uint64_t malformed = after.counters.dropped_malformed - before.counters.dropped_malformed;
  // Random bytes may happen to parse as an empty envelope, which the decoder refuses too (no
  // message): every one of the 10 is malformed, the last one foreign.
  EXPECT_EQ(malformed, 10u);
  EXPECT_EQ(after.counters.dropped_foreign_cluster - before.counters.dropped_foreign_cluster, 1u);
  EXPECT_TRUE(after.error.ok()) << after.error;

  // The voter keeps working: new proposals commit and it applies them.
  const std::vector<std::string> more = Payloads("y", 50);
  ASSERT_TRUE(c.ProposeUntilCommitted(more, milliseconds(30'000)));
  const DriverStatus lead = c.StatusOf(c.WaitForLeader(c.All(), 40 * kElection));
  ASSERT_TRUE(c.WaitAppliedEqual(c.All(), lead.commit, milliseconds(20'000)));
  ExpectSameAppliedSequence(c, c.All(), more);
}

}  // namespace
}  // namespace spool::raft
