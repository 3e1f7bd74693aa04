// client/cluster.h against FakeBroker (a scripted stand-in for spoold on loopback): metadata
// refresh and caching, unknown topics, per-broker connections shared by concurrent callers, and
// reconnecting after the broker closed a connection.
#include "client/cluster.h"

#include <memory>
#include <vector>

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

// Knows one topic, "orders", with two partitions led by this broker (node 1).
void Answer(FakeBroker* self, FakeConn& c, const proto::Frame& f) {
  v1::MetadataRequest req;
  ASSERT_TRUE(proto::ParseBody(f.body(), &req).ok());
  v1::MetadataResponse resp;
  auto* b = resp.add_brokers();
  b->set_node_id(1);
  b->set_host("127.0.0.1");
  b->set_port(self->port());
  for (const std::string& name : req.topics()) {
    auto* t = resp.add_topics();
    t->set_name(name);
    if (name != "orders") {
      t->set_error_code(proto::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
      continue;
    }
    for (int p = 0; p < 2; ++p) {
      auto* pm = t->add_partitions();
      pm->set_partition(p);
      pm->set_leader_id(1);
      pm->set_leader_epoch(3);
    }
  }
  c.Reply(f.header(), resp);
}

struct Fixture {
  Fixture() : broker([this](FakeConn& c, const proto::Frame& f) { Answer(&broker, c, f); }) {
    ClusterOptions o;
    o.bootstrap = {broker.address()};
    cluster = std::make_unique<Cluster>(*reactor, o);
  }
  ~Fixture() { reactor->block_on(cluster->close()); }
  FakeBroker broker;
  std::unique_ptr<io::Reactor> reactor = MakeReactor();
  std::unique_ptr<Cluster> cluster;
};

Task<Status> Refresh(Cluster& c, std::vector<std::string> topics) {
  co_return co_await c.refresh(std::move(topics));
}
Task<StatusOr<std::shared_ptr<BrokerConnection>>> ConnectionTo(Cluster& c, int32_t node) {
  co_return co_await c.connection(node);
}

TEST(ParseBootstrapTest, ListsAndErrors) {
  auto ok = ParseBootstrap("127.0.0.1:9092, [::1]:9093,host:1");
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->size(), 3u);
  EXPECT_EQ((*ok)[1].host, "::1");
  EXPECT_EQ((*ok)[2].port, 1);
  EXPECT_TRUE(absl::IsInvalidArgument(ParseBootstrap("").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseBootstrap("a:1,nohost").status()));
}

TEST(ClusterTest, RefreshCachesTopicsAndBrokers) {
  Fixture f;
  EXPECT_EQ(f.cluster->topic("orders"), nullptr);
  EXPECT_TRUE(f.cluster->metadata_stale());
  Status st = f.reactor->block_on(Refresh(*f.cluster, {"orders", "nope"}));
  ASSERT_TRUE(st.ok()) << st;
  const TopicInfo* orders = f.cluster->topic("orders");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->error, proto::ErrorCode::NONE);
  ASSERT_EQ(orders->partitions.size(), 2u);
  EXPECT_EQ(orders->partitions[1].partition, 1);
  EXPECT_EQ(orders->partitions[1].leader_id, 1);
  EXPECT_EQ(orders->partitions[1].leader_epoch, 3);
  const TopicInfo* nope = f.cluster->topic("nope");
  ASSERT_NE(nope, nullptr);
  EXPECT_EQ(nope->error, proto::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
  auto where = f.cluster->broker(1);
  ASSERT_TRUE(where.has_value());
  EXPECT_EQ(*where, f.broker.address());
  EXPECT_FALSE(f.cluster->metadata_stale());
}

TEST(ClusterTest, ConnectionIsReusedAndSharedByConcurrentCallers) {
  Fixture f;
  ASSERT_TRUE(f.reactor->block_on(Refresh(*f.cluster, {"orders"})).ok());
  int before = f.broker.connections();
  auto conns = f.reactor->block_on(
      [](io::Reactor& r, Cluster& c) -> Task<std::vector<std::shared_ptr<BrokerConnection>>> {
        std::vector<std::shared_ptr<BrokerConnection>> out(3);
        std::vector<Task<void>> tasks;
        for (int i = 0; i < 3; ++i) {
          tasks.push_back([](Cluster& c, std::shared_ptr<BrokerConnection>* o) -> Task<void> {
            auto conn = co_await c.connection(1);
            if (conn.ok()) *o = *conn;
          }(c, &out[i]));
        }
        co_await io::WhenAll(r, std::move(tasks));
        co_return out;
      }(*f.reactor, *f.cluster));
  ASSERT_NE(conns[0], nullptr);
  EXPECT_EQ(conns[0], conns[1]);
  EXPECT_EQ(conns[0], conns[2]);
  EXPECT_EQ(f.broker.connections(), before + 1);
  auto again = f.reactor->block_on(ConnectionTo(*f.cluster, 1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, conns[0]);
  EXPECT_EQ(f.cluster->broker(1)->port, f.broker.port());
}

// Regression: callers queued behind a connect could be overtaken by a caller that arrived after
// the connect finished, which reordered the producer's requests.
TEST(ClusterTest, CallersGetTheConnectionInArrivalOrder) {
  Fixture f;
  ASSERT_TRUE(f.reactor->block_on(Refresh(*f.cluster, {"orders"})).ok());
  auto order = f.reactor->block_on([](io::Reactor& r, Cluster& c) -> Task<std::vector<int>> {
    std::vector<int> got;
    std::vector<Task<void>> tasks;
    // Five callers while the connect is in progress, then five more one loop turn apart, some
    // of them after the connect completed but before the queued callers ran.
    for (int i = 0; i < 10; ++i) {
      tasks.push_back([](io::Reactor& r, Cluster& c, int i, std::vector<int>* got) -> Task<void> {
        for (int turn = 5; turn < i; ++turn) co_await r.sleep_for(std::chrono::nanoseconds(0));
        auto conn = co_await c.connection(1);
        if (conn.ok()) got->push_back(i);
      }(r, c, i, &got));
    }
    co_await io::WhenAll(r, std::move(tasks));
    co_return got;
  }(*f.reactor, *f.cluster));
  ASSERT_EQ(order.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(order[i], i);
}

TEST(ClusterTest, ReconnectsAfterTheBrokerClosedTheConnection) {
  Fixture f;
  ASSERT_TRUE(f.reactor->block_on(Refresh(*f.cluster, {"orders"})).ok());
  auto first = f.reactor->block_on(ConnectionTo(*f.cluster, 1));
  ASSERT_TRUE(first.ok()) << first.status();
  f.broker.CloseAll();
  // Waits (with a deadline) until the client noticed the close.
  f.reactor->block_on([](io::Reactor& r, BrokerConnection& c) -> Task<void> {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!c.broken() && std::chrono::steady_clock::now() < deadline) {
      co_await r.sleep_for(std::chrono::milliseconds(1));
    }
  }(*f.reactor, **first));
  ASSERT_TRUE((*first)->broken());
  auto second = f.reactor->block_on(ConnectionTo(*f.cluster, 1));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(*second, *first);
  EXPECT_FALSE((*second)->broken());
  // The new connection works, and a refresh goes through it.
  Status st = f.reactor->block_on(Refresh(*f.cluster, {"orders"}));
  EXPECT_TRUE(st.ok()) << st;
}

TEST(ClusterTest, UnreachableBootstrapIsUnavailable) {
  uint16_t port;
  {
    FakeBroker gone([](FakeConn&, const proto::Frame&) {});
    port = gone.port();
  }
  auto r = MakeReactor();
  ClusterOptions o;
  o.bootstrap = {io::HostPort{"127.0.0.1", port}};
  Cluster cluster(*r, o);
  Status st = r->block_on(Refresh(cluster, {"orders"}));
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;
  auto conn = r->block_on(ConnectionTo(cluster, 5));
  EXPECT_TRUE(absl::IsNotFound(conn.status())) << conn.status();
}

}  // namespace
}  // namespace spool::client
