// client/connection.h against FakeBroker (a scripted stand-in for spoold on a real loopback
// socket): the handshake, pipelining and in-order matching, max in flight, error responses,
// correlation mismatches, timeouts, the peer closing with calls in flight, and destroying the
// connection under suspended calls.
#include "client/connection.h"

#include <poll.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/io/when_all.h"
#include "gtest/gtest.h"
#include "proto/errors.h"
#include "tests/support/test_env.h"
#include "tests/unit/client/fake_broker.h"

namespace spool::client {
namespace {

using spool::client::testing::FakeBroker;
using spool::client::testing::FakeConn;
using spool::testing::MakeReactor;

constexpr auto kMetadata = proto::ApiKey::API_KEY_METADATA;

ConnectionOptions Options() {
  ConnectionOptions o;
  o.connect_timeout = std::chrono::seconds(10);
  o.request_timeout = std::chrono::seconds(10);
  return o;
}

Task<StatusOr<std::unique_ptr<BrokerConnection>>> Open(io::Reactor& r, const FakeBroker& b,
                                                       ConnectionOptions o = Options()) {
  io::HostPort where = b.address();
  co_return co_await BrokerConnection::Connect(r, where, o);
}

v1::MetadataRequest AskFor(const std::string& topic) {
  v1::MetadataRequest m;
  m.add_topics(topic);
  return m;
}

// Answers a MetadataRequest with one topic named like the first topic asked for.
v1::MetadataResponse Echo(const proto::Frame& f) {
  v1::MetadataRequest req;
  EXPECT_TRUE(proto::ParseBody(f.body(), &req).ok());
  v1::MetadataResponse resp;
  resp.add_topics()->set_name(req.topics_size() > 0 ? req.topics(0) : "");
  return resp;
}

// `topic` must outlive the task (literals, or named strings of the caller).
Task<StatusOr<std::string>> AskAndGetName(BrokerConnection& c, std::string_view topic) {
  v1::MetadataRequest req = AskFor(std::string(topic));
  StatusOr<Reply> reply = co_await c.call(kMetadata, req);
  if (!reply.ok()) co_return reply.status();
  const auto& m = reply->as<v1::MetadataResponse>();
  if (m.topics_size() != 1) co_return absl::InternalError("no topic in the response");
  co_return m.topics(0).name();
}

// Runs `n` calls concurrently and returns each one's outcome, in call order.
Task<std::vector<StatusOr<std::string>>> Concurrent(io::Reactor& r, BrokerConnection& c, int n) {
  std::vector<StatusOr<std::string>> out(n, absl::UnknownError("not run"));
  std::vector<Task<void>> tasks;
  for (int i = 0; i < n; ++i) {
    tasks.push_back([](BrokerConnection& c, int i, StatusOr<std::string>* o) -> Task<void> {
      std::string topic = absl::StrCat("t", i);  // named: see HostPort in ConnectRefused...
      *o = co_await AskAndGetName(c, topic);
    }(c, i, &out[i]));
  }
  co_await io::WhenAll(r, std::move(tasks));
  co_return out;
}

TEST(ConnectionTest, HandshakeThenCall) {
  FakeBroker broker([](FakeConn& c, const proto::Frame& f) { c.Reply(f.header(), Echo(f)); }, 7);
  auto r = MakeReactor();
  auto conn = r->block_on(Open(*r, broker));
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->broker_id(), 7);
  EXPECT_FALSE((*conn)->broken());
  auto name = r->block_on(AskAndGetName(**conn, "orders"));
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(*name, "orders");
}

TEST(ConnectionTest, PipelinedCallsAreMatchedInOrder) {
  // Holds every request until five are in, so the calls must be on the wire together; then
  // answers all five at once.
  std::vector<proto::Frame> held;
  FakeBroker broker([&](FakeConn& c, const proto::Frame& f) {
    held.push_back(f);
    if (held.size() < 5) return;
    std::vector<std::byte> all;
    for (const auto& h : held) {
      auto bytes = FakeConn::Response(h.header(), Echo(h));
      all.insert(all.end(), bytes.begin(), bytes.end());
    }
    c.SendRaw(all);
  });
  auto r = MakeReactor();
  auto conn = r->block_on(Open(*r, broker));
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto results = r->block_on(Concurrent(*r, **conn, 5));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    EXPECT_EQ(*results[i], absl::StrCat("t", i));
  }
  auto seen = broker.requests();
  ASSERT_EQ(seen.size(), 5u);
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GT(seen[i].correlation_id, seen[i - 1].correlation_id);
  }
}

TEST(ConnectionTest, NeverMoreThanMaxInFlight) {
  // With max_in_flight 2, after two unanswered requests nothing more may arrive until one is
  // answered. The check for "nothing more" is a bounded poll: a client that ignored the limit
  // would have sent all four requests at once.
  std::vector<proto::Frame> held;
  std::atomic<bool> extra_seen{false};
  FakeBroker broker([&](FakeConn& c, const proto::Frame& f) {
    held.push_back(f);
    if (held.size() == 2) {
      pollfd p{.fd = c.fd(), .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 300) > 0) extra_seen = true;
      for (const auto& h : held) c.Reply(h.header(), Echo(h));
    } else if (held.size() > 2) {
      c.Reply(f.header(), Echo(f));
    }
  });
  auto r = MakeReactor();
  ConnectionOptions o = Options();
  o.max_in_flight = 2;
  auto conn = r->block_on(Open(*r, broker, o));
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto results = r->block_on(Concurrent(*r, **conn, 4));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    EXPECT_EQ(*results[i], absl::StrCat("t", i));
  }
  EXPECT_FALSE(extra_seen) << "a third request arrived while two were unanswered";
}

// Regression: a freed slot or socket went to whichever call ran first, so a new call could
// overtake calls already waiting, and the producer saw its batches reordered.
TEST(ConnectionTest, CallsAreSentInCallOrderUnderContention) {
  std::mutex mu;
  std::vector<std::string> order;
  FakeBroker broker([&](FakeConn& c, const proto::Frame& f) {
    v1::MetadataResponse resp = Echo(f);
    {
      std::lock_guard lock(mu);
      order.push_back(resp.topics(0).name());
    }
    c.Reply(f.header(), resp);
  });
  auto r = MakeReactor();
  ConnectionOptions o = Options();
  o.max_in_flight = 2;
  auto conn = r->block_on(Open(*r, broker, o));
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto results = r->block_on(Concurrent(*r, **conn, 30));
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    EXPECT_EQ(*results[i], absl::StrCat("t", i));
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(order.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(order[i], absl::StrCat("t", i));
}

TEST(ConnectionTest, ErrorResponseBecomesStatusAndConnectionStaysUsable) {
  std::atomic<int> n{0};
  FakeBroker broker([&](FakeConn& c, const proto::Frame& f) {
    if (n++ == 0) {
      c.ReplyError(f.header(), proto::ErrorCode::INVALID_REQUEST, "bad body");
    } else {
      c.Reply(f.header(), Echo(f));
    }
  });
  auto r = MakeReactor();
  auto conn = r->block_on(Open(*r, broker));
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto first = r->block_on(AskAndGetName(**conn, "a"));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(proto::ErrorFromStatus(first.status()), proto::ErrorCode::INVALID_REQUEST)
      << first.status();
  EXPECT_NE(first.status().message().find("bad body"), std::string::npos) << first.status();
  EXPECT_FALSE((*conn)->broken());
  auto second = r->block_on(AskAndGetName(**conn, "b"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, "b");
}

TEST(ConnectionTest, WrongCorrelationIdBreaksTheConnection) {
  FakeBroker broker([](FakeConn& c, const proto::Frame& f) {
    c.SendRaw(FakeConn::Response(f.header(), Echo(f), {}, f.header().correlation_id + 100));
  });
  auto r = MakeReactor();
  auto conn = r->block_on(Open(*r, broker));
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto result = r->block_on(AskAndGetName(**conn, "a"));
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(absl::IsUnavailable(result.status())) << result.status();
  EXPECT_EQ(proto::ErrorFromStatus(result.status()), proto::ErrorCode::NETWORK_EXCEPTION);
  EXPECT_TRUE((*conn)->broken());
  // Later calls fail at once with the same reason.
  auto later = r->block_on(AskAndGetName(**conn, "b"));
  EXPECT_TRUE(absl::IsUnavailable(later.status())) << later.status();
  EXPECT_EQ(broker.requests().size(), 1u);
}

TEST(ConnectionTest, TimeoutFailsTheCallAndBreaksTheConnection) {
  FakeBroker broker([](FakeConn&, const proto::Frame&) {});  // never answers
  auto r = MakeReactor();
  ConnectionOptions o = Options();
  o.request_timeout = std::chrono::milliseconds(200);
  auto conn = r->block_on(Open(*r, broker, o));
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto start = std::chrono::steady_clock::now();
  auto results = r->block_on(Concurrent(*r, **conn, 3));
  auto took = std::chrono::steady_clock::now() - start;
  for (const auto& res : results) {
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(proto::ErrorFromStatus(res.status()), proto::ErrorCode::REQUEST_TIMED_OUT)
        << res.status();
  }
  EXPECT_TRUE((*conn)->broken());
  EXPECT_GE(took, std::chrono::milliseconds(200));
}

TEST(ConnectionTest, PerCallTimeoutOverridesTheDefault) {
  FakeBroker broker([](FakeConn&, const proto::Frame&) {});
  auto r = MakeReactor();
  auto conn = r->block_on(Open(*r, broker));  // default timeout 10 s
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto result = r->block_on([](BrokerConnection& c) -> Task<StatusOr<Reply>> {
    v1::MetadataRequest req = AskFor("x");
    co_return co_await c.call(kMetadata, req, {}, std::chrono::milliseconds(150));
  }(**conn));
  EXPECT_EQ(proto::ErrorFromStatus(result.status()), proto::ErrorCode::REQUEST_TIMED_OUT)
      << result.status();
}

TEST(ConnectionTest, PeerCloseFailsEveryCallInFlight) {
  std::vector<proto::Frame> held;
  FakeBroker broker([&](FakeConn& c, const proto::Frame& f) {
    held.push_back(f);
    if (held.size() == 3) c.Close();
  });
  auto r = MakeReactor();
  auto conn = r->block_on(Open(*r, broker));
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto results = r->block_on(Concurrent(*r, **conn, 3));
  for (const auto& res : results) {
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(proto::ErrorFromStatus(res.status()), proto::ErrorCode::NETWORK_EXCEPTION)
        << res.status();
  }
  EXPECT_TRUE((*conn)->broken());
}

TEST(ConnectionTest, DestroyingTheConnectionFailsSuspendedCalls) {
  FakeBroker broker([](FakeConn&, const proto::Frame&) {});
  auto r = MakeReactor();
  auto conn = r->block_on(Open(*r, broker));
  ASSERT_TRUE(conn.ok()) << conn.status();
  std::unique_ptr<BrokerConnection> owned = *std::move(conn);
  auto results = r->block_on([](io::Reactor& r, std::unique_ptr<BrokerConnection>& c,
                                FakeBroker& b) -> Task<std::vector<StatusOr<std::string>>> {
    std::vector<StatusOr<std::string>> out(2, absl::UnknownError("not run"));
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 2; ++i) {
      tasks.push_back([](BrokerConnection& c, StatusOr<std::string>* o) -> Task<void> {
        std::string topic = "x";
        *o = co_await AskAndGetName(c, topic);
      }(*c, &out[i]));
    }
    // Destroys the connection once both requests reached the broker.
    tasks.push_back([](io::Reactor& r, std::unique_ptr<BrokerConnection>& c,
                       FakeBroker& b) -> Task<void> {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (b.requests().size() < 2 && std::chrono::steady_clock::now() < deadline) {
        co_await r.sleep_for(std::chrono::milliseconds(1));  // polls a condition, with a deadline
      }
      c.reset();
    }(r, c, b));
    co_await io::WhenAll(r, std::move(tasks));
    co_return out;
  }(*r, owned, broker));
  for (const auto& res : results) {
    EXPECT_TRUE(absl::IsUnavailable(res.status())) << res.status();
  }
}

TEST(ConnectionTest, SendWithoutResponseKeepsOrder) {
  FakeBroker broker([](FakeConn& c, const proto::Frame& f) {
    if (f.header().api_key == kMetadata) c.Reply(f.header(), Echo(f));
  });
  auto r = MakeReactor();
  auto conn = r->block_on(Open(*r, broker));
  ASSERT_TRUE(conn.ok()) << conn.status();
  Status sent = r->block_on([](BrokerConnection& c) -> Task<Status> {
    v1::ProduceRequest p;
    p.set_acks(0);
    co_return co_await c.send(proto::ApiKey::API_KEY_PRODUCE, p);
  }(**conn));
  ASSERT_TRUE(sent.ok()) << sent;
  auto name = r->block_on(AskAndGetName(**conn, "after"));
  ASSERT_TRUE(name.ok()) << name.status();
  auto seen = broker.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].api_key, proto::ApiKey::API_KEY_PRODUCE);
  EXPECT_EQ(seen[1].api_key, kMetadata);
}

TEST(ConnectionTest, ConnectRefusedIsUnavailable) {
  uint16_t port;
  {
    FakeBroker gone([](FakeConn&, const proto::Frame&) {});
    port = gone.port();
  }
  auto r = MakeReactor();
  io::HostPort nobody{"127.0.0.1", port};
  auto conn = r->block_on(
      [](io::Reactor& r, io::HostPort where) -> Task<StatusOr<std::unique_ptr<BrokerConnection>>> {
        // Named arguments: GCC 12 mis-destroys a prvalue class argument of a coroutine call
        // (ASan: bad-free of the std::string inside a temporary HostPort).
        ConnectionOptions options = Options();
        co_return co_await BrokerConnection::Connect(r, where, options);
      }(*r, nobody));
  ASSERT_FALSE(conn.ok());
  EXPECT_TRUE(absl::IsUnavailable(conn.status())) << conn.status();
  EXPECT_EQ(proto::ErrorFromStatus(conn.status()), proto::ErrorCode::NETWORK_EXCEPTION);
}

TEST(ConnectionTest, HandshakeRefusesABrokerWithoutOurApis) {
  FakeBroker broker([](FakeConn& c, const proto::Frame& f) {
    v1::ApiVersionsResponse r;  // serves nothing
    c.Reply(f.header(), r);
  });
  broker.handle_api_versions = false;
  auto r = MakeReactor();
  auto conn = r->block_on(Open(*r, broker));
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(proto::ErrorFromStatus(conn.status()), proto::ErrorCode::UNSUPPORTED_VERSION)
      << conn.status();
}

TEST(ConnectionTest, SilentHandshakeTimesOut) {
  FakeBroker broker([](FakeConn&, const proto::Frame&) {});
  broker.handle_api_versions = false;
  auto r = MakeReactor();
  ConnectionOptions o = Options();
  o.connect_timeout = std::chrono::milliseconds(200);
  auto conn = r->block_on(Open(*r, broker, o));
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(proto::ErrorFromStatus(conn.status()), proto::ErrorCode::REQUEST_TIMED_OUT)
      << conn.status();
}

}  // namespace
}  // namespace spool::client
