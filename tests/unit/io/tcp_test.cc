// common/io/socket.h: address parsing, listeners (ephemeral ports, SO_REUSEPORT sharing), and
// ConnectTcp through the reactor, including a refused connection's errno.
#include <unistd.h>

#include <cerrno>

#include "common/io/socket.h"
#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::io {
namespace {

using spool::testing::MakeReactor;

TEST(HostPortTest, ParsesTheForms) {
  auto a = ParseHostPort("127.0.0.1:9092");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9092);
  auto b = ParseHostPort("[::1]:80");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->ToString(), "[::1]:80");
  auto c = ParseHostPort(":0");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->host, "0.0.0.0");
  auto d = ParseHostPort("localhost:65535");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->ToString(), "localhost:65535");
}

TEST(HostPortTest, RefusesBadForms) {
  for (const char* bad :
       {"", "host", "host:", "host:x", "host:65536", "::1:80", "[::1]80", "host:80x", "[::1"}) {
    auto r = ParseHostPort(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << "'" << bad << "' -> " << r.status();
  }
}

Task<StatusOr<int>> Connect(Reactor& r, HostPort where) {
  co_return co_await ConnectTcp(r, where);
}

TEST(TcpTest, ListenOnAnEphemeralPortAndConnect) {
  auto r = MakeReactor();
  auto l = ListenTcp(HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(l.ok()) << l.status();
  auto port = LocalPort(*l);
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_NE(*port, 0);
  auto c = r->block_on(Connect(*r, HostPort{"127.0.0.1", *port}));
  ASSERT_TRUE(c.ok()) << c.status();
  auto peer = r->block_on(r->accept(*l));
  ASSERT_TRUE(peer.ok()) << peer.status();
  ::close(*peer);
  ::close(*c);
  ::close(*l);
}

TEST(TcpTest, ReusePortListenersShareAPort) {
  auto first = ListenTcp(HostPort{"127.0.0.1", 0}, ListenOptions{.reuse_port = true});
  ASSERT_TRUE(first.ok()) << first.status();
  auto port = LocalPort(*first);
  ASSERT_TRUE(port.ok());
  auto second = ListenTcp(HostPort{"127.0.0.1", *port}, ListenOptions{.reuse_port = true});
  ASSERT_TRUE(second.ok()) << second.status();
  auto third = ListenTcp(HostPort{"127.0.0.1", *port});
  EXPECT_EQ(ErrnoOf(third.status()), EADDRINUSE) << third.status();
  ::close(*first);
  ::close(*second);
}

TEST(TcpTest, RefusedConnectionCarriesErrno) {
  auto r = MakeReactor();
  auto l = ListenTcp(HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(l.ok());
  auto port = LocalPort(*l);
  ASSERT_TRUE(port.ok());
  ::close(*l);  // nothing listens there now
  auto c = r->block_on(Connect(*r, HostPort{"127.0.0.1", *port}));
  EXPECT_EQ(ErrnoOf(c.status()), ECONNREFUSED) << c.status();
}

}  // namespace
}  // namespace spool::io
