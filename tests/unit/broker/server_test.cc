// Server (broker/server.h) over real loopback sockets on a 2-shard ShardSet: pipelined requests
// answered in request order, nullopt responses skipped, the per-connection and broker-wide
// in-flight byte limits, broken framing, max.connections, many connections over both shards,
// and the graceful Stop().
//
// The RequestHandler here is a stand-in for the data plane (the real one is Broker::handler()):
// it echoes each request's payload back in an ApiVersions-shaped response whose cluster_id names
// the correlation id, answers nothing for a negative correlation id (like an acks=0 produce),
// and, for correlation ids the test holds, waits for an event the test sets (never for time).
#include "broker/server.h"

#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "broker/shard.h"
#include "common/io/event.h"
#include "gtest/gtest.h"
#include "proto/api.pb.h"
#include "proto/body.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_env.h"

namespace spool::broker {
namespace {

using spool::testing::RawClient;
using std::chrono::milliseconds;

constexpr auto kWait = milliseconds(10000);
constexpr int16_t kApi = proto::ApiKey::API_KEY_API_VERSIONS;

// Waits (with a deadline) until `cond` holds, checking it every millisecond: the server's
// counters are plain atomics without a signal to wait on.
template <typename F>
bool WaitFor(F cond, milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

class TestHandler final : public RequestHandler {
 public:
  struct Arrival {
    int32_t correlation_id;
    int shard;
    uint64_t connection_id;
  };

  // Requests with this correlation id wait until Release(id).
  void Hold(int32_t id) {
    std::lock_guard<std::mutex> l(mu_);
    gates_[id];
  }
  void Release(int32_t id) {
    std::lock_guard<std::mutex> l(mu_);
    Gate& g = gates_[id];
    g.released = true;
    if (g.reactor != nullptr) {
      std::shared_ptr<io::Event> ev = g.event;
      g.reactor->post([ev] { ev->set(); });
    }
  }

  // Waits until `n` requests have arrived; returns false on timeout.
  bool WaitArrivals(size_t n, milliseconds timeout = kWait) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [&] { return arrivals_.size() >= n; });
  }
  bool WaitCompleted(size_t n, milliseconds timeout = kWait) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [&] { return completed_ >= n; });
  }
  std::vector<Arrival> arrivals() {
    std::lock_guard<std::mutex> l(mu_);
    return arrivals_;
  }

  Task<std::optional<Response>> Handle(const RequestContext& ctx, proto::Frame request) override {
    const int32_t id = request.header().correlation_id;
    std::shared_ptr<io::Event> wait;
    {
      std::lock_guard<std::mutex> l(mu_);
      arrivals_.push_back({id, ctx.shard, ctx.connection_id});
      if (auto it = gates_.find(id); it != gates_.end() && !it->second.released) {
        it->second.reactor = io::Reactor::current();
        it->second.event = std::make_shared<io::Event>(*io::Reactor::current());
        wait = it->second.event;
      }
    }
    cv_.notify_all();
    if (wait) co_await wait->wait();
    std::optional<Response> out;
    if (id >= 0) {
      v1::ApiVersionsResponse body;
      body.set_cluster_id("echo:" + std::to_string(id));
      proto::FrameHeader h = request.header();
      h.flags = proto::kFlagResponse;
      auto keep = std::make_shared<proto::Frame>(std::move(request));
      std::span<const std::byte> payload = keep->payload();
      std::vector<std::span<const std::byte>> spans;
      if (!payload.empty()) spans.push_back(payload);
      StatusOr<proto::OutgoingFrame> frame = proto::EncodeFrame(h, body, spans);
      if (frame.ok()) {
        out.emplace(Response{*std::move(frame), {keep}});
      }
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      completed_++;
    }
    cv_.notify_all();
    co_return out;
  }

 private:
  struct Gate {
    bool released = false;
    io::Reactor* reactor = nullptr;
    std::shared_ptr<io::Event> event;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int32_t, Gate> gates_;
  std::vector<Arrival> arrivals_;
  size_t completed_ = 0;
};

// Runs fn() on shard `i` and waits for it on this (test) thread.
void RunOnShard(ShardSet& shards, int i, absl::AnyInvocable<Task<void>()> fn) {
  std::promise<void> done;
  shards.post(i, [&shards, i, &done, fn = std::move(fn)]() mutable {
    shards.shard(i).reactor->spawn(
        [](absl::AnyInvocable<Task<void>()> f, std::promise<void>* d) -> Task<void> {
          co_await f();
          d->set_value();
        }(std::move(fn), &done));
  });
  done.get_future().get();
}

std::vector<std::byte> Bytes(size_t n, uint8_t fill) {
  return std::vector<std::byte>(n, std::byte{fill});
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options = {}) {
    auto set = ShardSet::Start(2);
    ASSERT_TRUE(set.ok()) << set.status();
    shards_ = *std::move(set);
    options.listen = io::HostPort{"127.0.0.1", 0};
    auto server = Server::Start(*shards_, handler_, options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_NE(server_->address().port, 0);
  }

  void TearDown() override {
    if (server_) {
      Server* s = server_.get();
      RunOnShard(*shards_, 0, [s]() -> Task<void> { co_await s->Stop(); });
      server_.reset();
    }
    shards_.reset();
  }

  std::unique_ptr<RawClient> Connect() {
    auto c = RawClient::Connect(server_->address());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  // Reads one response and returns its correlation id (or -1000 on error, with a failure).
  int32_t ReadId(RawClient& c, std::vector<std::byte>* payload = nullptr) {
    v1::ApiVersionsResponse body;
    auto f = c.ReadResponse(&body);
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok()) return -1000;
    EXPECT_EQ(body.cluster_id(), "echo:" + std::to_string(f->header().correlation_id));
    if (payload != nullptr) payload->assign(f->payload().begin(), f->payload().end());
    return f->header().correlation_id;
  }

  Status Send(RawClient& c, int32_t id, std::span<const std::byte> payload = {}) {
    v1::ApiVersionsRequest req;
    std::vector<std::span<const std::byte>> spans;
    if (!payload.empty()) spans.push_back(payload);
    return c.SendRequest(kApi, id, req, spans);
  }

  TestHandler handler_;
  std::unique_ptr<ShardSet> shards_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, EchoRoundTripCarriesThePayload) {
  StartServer();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const auto payload = Bytes(100000, 0xab);  // several recvs and a multi-iovec send
  ASSERT_TRUE(Send(*c, 7, payload).ok());
  std::vector<std::byte> got;
  EXPECT_EQ(ReadId(*c, &got), 7);
  EXPECT_EQ(got, payload);
  // The counters move right after the send completes, which may be after the client has read.
  ASSERT_TRUE(WaitFor([&] { return server_->counters().responses == 1; }));
  const ServerCounters n = server_->counters();
  EXPECT_EQ(n.requests, 1u);
  EXPECT_GE(n.bytes_in, payload.size());
  EXPECT_GE(n.bytes_out, payload.size());
}

TEST_F(ServerTest, PipelinedResponsesComeBackInRequestOrder) {
  StartServer();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  for (int32_t id : {1, 2, 3}) handler_.Hold(id);
  for (int32_t id = 1; id <= 5; id++) ASSERT_TRUE(Send(*c, id).ok());
  ASSERT_TRUE(handler_.WaitArrivals(5));
  // 4 and 5 are done long before 1..3; they must still wait for them.
  ASSERT_TRUE(handler_.WaitCompleted(2));
  handler_.Release(3);
  ASSERT_TRUE(handler_.WaitCompleted(3));
  handler_.Release(2);
  ASSERT_TRUE(handler_.WaitCompleted(4));
  handler_.Release(1);
  for (int32_t id = 1; id <= 5; id++) EXPECT_EQ(ReadId(*c), id);
  // Handlers saw the requests in arrival order.
  std::vector<int32_t> order;
  for (const auto& a : handler_.arrivals()) order.push_back(a.correlation_id);
  EXPECT_EQ(order, (std::vector<int32_t>{1, 2, 3, 4, 5}));
}

TEST_F(ServerTest, NulloptResponsesAreSkipped) {
  StartServer();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  handler_.Hold(1);
  ASSERT_TRUE(Send(*c, 1).ok());
  ASSERT_TRUE(Send(*c, -2).ok());  // no response
  ASSERT_TRUE(Send(*c, 3).ok());
  ASSERT_TRUE(Send(*c, -4).ok());  // no response
  ASSERT_TRUE(handler_.WaitArrivals(4));
  handler_.Release(1);
  EXPECT_EQ(ReadId(*c), 1);
  EXPECT_EQ(ReadId(*c), 3);
  ASSERT_TRUE(Send(*c, 5).ok());
  EXPECT_EQ(ReadId(*c), 5);
  ASSERT_TRUE(WaitFor([&] { return server_->counters().inflight_bytes == 0; }));
  ASSERT_TRUE(WaitFor([&] { return server_->counters().responses == 3; }));
  EXPECT_EQ(server_->counters().requests, 5u);
}

TEST_F(ServerTest, ConnectionInflightLimitPausesReading) {
  ServerOptions o;
  o.max_inflight_bytes_per_connection = 1000;
  StartServer(o);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const auto payload = Bytes(580, 1);  // ~600-byte frames: two are over the limit
  handler_.Hold(1);
  handler_.Hold(2);
  ASSERT_TRUE(Send(*c, 1, payload).ok());
  ASSERT_TRUE(Send(*c, 2, payload).ok());
  ASSERT_TRUE(handler_.WaitArrivals(2));
  // The reader has stopped: it checks the budget before every recv.
  ASSERT_TRUE(WaitFor([&] { return server_->counters().read_pauses >= 1; }));
  ASSERT_TRUE(Send(*c, 3, payload).ok());
  EXPECT_EQ(handler_.arrivals().size(), 2u) << "read a request while over the budget";
  handler_.Release(1);
  EXPECT_EQ(ReadId(*c), 1);
  // 600 bytes in flight now: under the budget, so request 3 is read.
  ASSERT_TRUE(handler_.WaitArrivals(3));
  handler_.Release(2);
  EXPECT_EQ(ReadId(*c), 2);
  EXPECT_EQ(ReadId(*c), 3);
}

TEST_F(ServerTest, FrameLargerThanTheBudgetIsReadWhenNothingElseIsInFlight) {
  ServerOptions o;
  o.max_inflight_bytes_per_connection = 1000;
  o.max_inflight_bytes_total = 1000;
  StartServer(o);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const auto big = Bytes(5000, 2);
  ASSERT_TRUE(Send(*c, 1, big).ok());
  std::vector<std::byte> got;
  EXPECT_EQ(ReadId(*c, &got), 1);
  EXPECT_EQ(got, big);
  ASSERT_TRUE(Send(*c, 2, big).ok());
  EXPECT_EQ(ReadId(*c), 2);
}

TEST_F(ServerTest, BrokerWideInflightLimitPausesOtherConnections) {
  ServerOptions o;
  o.max_inflight_bytes_per_connection = 1 << 20;
  o.max_inflight_bytes_total = 1000;
  StartServer(o);
  auto b = Connect();  // connected (and reading) before the budget is used up
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(Send(*b, 10).ok());
  EXPECT_EQ(ReadId(*b), 10);
  auto a = Connect();
  ASSERT_NE(a, nullptr);
  handler_.Hold(1);
  ASSERT_TRUE(Send(*a, 1, Bytes(1200, 3)).ok());  // alone over the broker-wide budget
  ASSERT_TRUE(handler_.WaitArrivals(2));
  ASSERT_TRUE(WaitFor([&] { return server_->counters().read_pauses >= 1; }));
  // b's reader was already waiting in recv: this one still gets in, then b stops reading.
  ASSERT_TRUE(Send(*b, 11).ok());
  EXPECT_EQ(ReadId(*b), 11);
  ASSERT_TRUE(WaitFor([&] { return server_->counters().read_pauses >= 2; }));
  ASSERT_TRUE(Send(*b, 12).ok());
  EXPECT_EQ(handler_.arrivals().size(), 3u) << "read a request while over the total budget";
  handler_.Release(1);
  EXPECT_EQ(ReadId(*a), 1);
  // The budget is free again: b (on whichever shard) is woken and reads request 12.
  EXPECT_EQ(ReadId(*b), 12);
  ASSERT_TRUE(Send(*a, 2).ok());
  EXPECT_EQ(ReadId(*a), 2);
}

TEST_F(ServerTest, BrokenFramingClosesOnlyThatConnection) {
  StartServer();
  auto good = Connect();
  auto garbage = Connect();
  auto torn = Connect();
  ASSERT_TRUE(good && garbage && torn);
  const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(garbage->SendBytes(spool::testing::ToBytes(http)).ok());
  EXPECT_TRUE(garbage->WaitForClose());

  // Half a frame, then EOF.
  v1::ApiVersionsRequest req;
  auto frame = proto::EncodeFrame(spool::testing::RequestHeader(kApi, 1), req, {});
  ASSERT_TRUE(frame.ok());
  std::vector<std::byte> flat = frame->Flatten();
  flat.resize(flat.size() / 2 + 1);
  ASSERT_TRUE(torn->SendBytes(flat).ok());
  torn->ShutdownWrite();
  EXPECT_TRUE(torn->WaitForClose());

  ASSERT_TRUE(Send(*good, 5).ok());
  EXPECT_EQ(ReadId(*good), 5);
  EXPECT_EQ(server_->counters().framing_errors, 2u);
}

TEST_F(ServerTest, OversizedFrameHeaderClosesTheConnection) {
  ServerOptions o;
  o.frame_limits.max_frame_bytes = 4096;
  StartServer(o);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(Send(*c, 1, Bytes(8000, 4)).ok());
  EXPECT_TRUE(c->WaitForClose());
  EXPECT_EQ(handler_.arrivals().size(), 0u);
  EXPECT_EQ(server_->counters().framing_errors, 1u);
}

TEST_F(ServerTest, ManyConnectionsOverBothShards) {
  StartServer();
  constexpr int kConnections = 40;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kConnections; i++) {
    clients.push_back(Connect());
    ASSERT_NE(clients.back(), nullptr);
  }
  for (int i = 0; i < kConnections; i++) {
    for (int k = 0; k < 3; k++) ASSERT_TRUE(Send(*clients[i], i * 10 + k).ok());
  }
  for (int i = 0; i < kConnections; i++) {
    for (int k = 0; k < 3; k++) EXPECT_EQ(ReadId(*clients[i]), i * 10 + k);
  }
  std::set<int> shards;
  std::set<uint64_t> conns;
  for (const auto& a : handler_.arrivals()) {
    shards.insert(a.shard);
    conns.insert(a.connection_id);
  }
  EXPECT_EQ(shards, (std::set<int>{0, 1})) << "SO_REUSEPORT should spread 40 connections";
  EXPECT_EQ(conns.size(), static_cast<size_t>(kConnections));
  EXPECT_EQ(server_->counters().connections_open, static_cast<uint64_t>(kConnections));
  clients.clear();
  EXPECT_TRUE(WaitFor([&] { return server_->counters().connections_open == 0; }));
}

TEST_F(ServerTest, MaxConnectionsAcceptsAndClosesTheExtraOne) {
  ServerOptions o;
  o.max_connections = 2;
  StartServer(o);
  auto a = Connect();
  auto b = Connect();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(Send(*a, 1).ok());
  ASSERT_TRUE(Send(*b, 2).ok());
  EXPECT_EQ(ReadId(*a), 1);
  EXPECT_EQ(ReadId(*b), 2);
  auto extra = Connect();
  ASSERT_NE(extra, nullptr);
  EXPECT_TRUE(extra->WaitForClose());
  EXPECT_EQ(server_->counters().connections_rejected, 1u);
  a.reset();
  ASSERT_TRUE(WaitFor([&] { return server_->counters().connections_open == 1; }));
  auto again = Connect();
  ASSERT_NE(again, nullptr);
  ASSERT_TRUE(Send(*again, 3).ok());
  EXPECT_EQ(ReadId(*again), 3);
}

TEST_F(ServerTest, StopWaitsForResponsesInFlight) {
  StartServer();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  handler_.Hold(1);
  ASSERT_TRUE(Send(*c, 1).ok());
  ASSERT_TRUE(handler_.WaitArrivals(1));
  Server* s = server_.get();
  std::promise<void> stopped;
  std::future<void> stopped_f = stopped.get_future();
  shards_->post(1, [&] {
    shards_->shard(1).reactor->spawn([](Server* srv, std::promise<void>* p) -> Task<void> {
      co_await srv->Stop();
      p->set_value();
    }(s, &stopped));
  });
  // The listeners go first: new connections are refused.
  ASSERT_TRUE(WaitFor([&] {
    auto probe = RawClient::Connect(server_->address(), milliseconds(1000));
    return !probe.ok() && ErrnoOf(probe.status()) == ECONNREFUSED;
  }));
  EXPECT_EQ(stopped_f.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "Stop() returned with a response still owed";
  handler_.Release(1);
  EXPECT_EQ(ReadId(*c), 1);
  ASSERT_EQ(stopped_f.wait_for(kWait), std::future_status::ready);
  EXPECT_TRUE(c->WaitForClose());
  server_.reset();  // stopped already
}

TEST_F(ServerTest, StopGivesUpOnAHandlerThatNeverFinishesAfterTheTimeout) {
  ServerOptions o;
  o.stop_timeout = milliseconds(200);
  StartServer(o);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  handler_.Hold(1);
  ASSERT_TRUE(Send(*c, 1).ok());
  ASSERT_TRUE(handler_.WaitArrivals(1));
  Server* s = server_.get();
  RunOnShard(*shards_, 0, [s]() -> Task<void> { co_await s->Stop(); });
  EXPECT_TRUE(c->WaitForClose());
  EXPECT_EQ(server_->counters().connections_open, 0u);
  EXPECT_EQ(server_->counters().inflight_bytes, 0u);
  // The handler finishes later into a closed connection: nothing breaks.
  handler_.Release(1);
  EXPECT_TRUE(handler_.WaitCompleted(1));
  server_.reset();
}

TEST(ServerStartTest, PortInUseIsAnError) {
  auto set = ShardSet::Start(1);
  ASSERT_TRUE(set.ok());
  auto taken = io::ListenTcp(io::HostPort{"127.0.0.1", 0});  // without SO_REUSEPORT
  ASSERT_TRUE(taken.ok());
  auto port = io::LocalPort(*taken);
  ASSERT_TRUE(port.ok());
  TestHandler handler;
  ServerOptions o;
  o.listen = io::HostPort{"127.0.0.1", *port};
  auto server = Server::Start(**set, handler, o);
  EXPECT_EQ(ErrnoOf(server.status()), EADDRINUSE) << server.status();
  ::close(*taken);
}

TEST(ServerStartTest, ASecondServerCannotShareAFixedPort) {
  auto set = ShardSet::Start(2);
  ASSERT_TRUE(set.ok());
  TestHandler handler;
  ServerOptions o;
  o.listen = io::HostPort{"127.0.0.1", 0};
  auto first = Server::Start(**set, handler, o);
  ASSERT_TRUE(first.ok()) << first.status();
  // Both would bind with SO_REUSEPORT; the second must still be refused.
  o.listen = (*first)->address();
  auto second = Server::Start(**set, handler, o);
  EXPECT_EQ(ErrnoOf(second.status()), EADDRINUSE) << second.status();
  Server* s = first->get();
  RunOnShard(**set, 0, [s]() -> Task<void> { co_await s->Stop(); });
}

}  // namespace
}  // namespace spool::broker
