// Socket operations through the Reactor: accept/connect/recv/send over loopback TCP, short-send
// resumption, peer close, errors. ctest runs this binary once per backend.
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/io/event.h"
#include "common/io/reactor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::io {
namespace {

using spool::testing::MakeReactor;
using spool::testing::ToBytes;
using spool::testing::ToString;

// An owned fd, closed on destruction.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

void SetNonBlocking(int fd) {
  ASSERT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

// A TCP listener on 127.0.0.1 and an ephemeral port.
Fd Listen(sockaddr_in* addr, bool nonblocking) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0));
  EXPECT_GE(fd.get(), 0);
  std::memset(addr, 0, sizeof(*addr));
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr->sin_port = 0;
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(addr), sizeof(*addr)), 0);
  EXPECT_EQ(::listen(fd.get(), 64), 0);
  socklen_t len = sizeof(*addr);
  EXPECT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(addr), &len), 0);
  EXPECT_NE(addr->sin_port, 0);
  return fd;
}

Fd TcpSocket(bool nonblocking) {
  return Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0));
}

// Receives exactly `n` bytes (or fewer if the peer closes first).
Task<StatusOr<std::string>> RecvExactly(Reactor& r, int fd, size_t n) {
  std::string out;
  std::vector<std::byte> buf(4096);
  while (out.size() < n) {
    auto got = co_await r.recv(fd, std::span(buf).first(std::min(buf.size(), n - out.size())));
    if (!got.ok()) co_return got.status();
    if (*got == 0) break;
    out += ToString(std::span(buf).first(*got));
  }
  co_return out;
}

struct EchoResult {
  Status status;
  std::string server_got;
  std::string client_got;
};

Task<void> Server(Reactor& r, int listen_fd, EchoResult* res) {
  auto conn = co_await r.accept(listen_fd);
  if (!conn.ok()) {
    res->status = conn.status();
    co_return;
  }
  Fd c(*conn);
  auto got = co_await RecvExactly(r, c.get(), 4);
  if (!got.ok()) {
    res->status = got.status();
    co_return;
  }
  res->server_got = *got;
  auto pong = ToBytes("pong");
  res->status = co_await r.send(c.get(), pong);
}

Task<void> PingPong(Reactor& r, int listen_fd, const sockaddr_in* addr, bool nonblocking,
                    EchoResult* server, EchoResult* client) {
  r.spawn(Server(r, listen_fd, server));
  Fd s = TcpSocket(nonblocking);
  Status st = co_await r.connect(s.get(), reinterpret_cast<const sockaddr*>(addr), sizeof(*addr));
  if (!st.ok()) {
    client->status = st;
    co_return;
  }
  auto ping = ToBytes("ping");
  st = co_await r.send(s.get(), ping);
  if (!st.ok()) {
    client->status = st;
    co_return;
  }
  auto got = co_await RecvExactly(r, s.get(), 4);
  client->status = got.status();
  if (got.ok()) client->client_got = *got;
  // The server closed its end after sending: the next recv sees end of stream.
  std::byte b[1];
  auto eof = co_await r.recv(s.get(), b);
  if (!eof.ok() || *eof != 0) client->status = Status(absl::StatusCode::kInternal, "no EOF");
}

class SocketTest : public ::testing::TestWithParam<bool> {};

TEST_P(SocketTest, AcceptConnectSendRecvOverLoopback) {
  const bool nonblocking = GetParam();
  auto r = MakeReactor();
  sockaddr_in addr;
  Fd listener = Listen(&addr, nonblocking);
  EchoResult server, client;
  r->block_on(PingPong(*r, listener.get(), &addr, nonblocking, &server, &client));
  EXPECT_TRUE(client.status.ok()) << client.status;
  EXPECT_EQ(client.client_got, "pong");
  // The server task finishes on the same turns; run a little more to be sure it is done.
  r->block_on(r->sleep_for(std::chrono::milliseconds(1)));
  EXPECT_TRUE(server.status.ok()) << server.status;
  EXPECT_EQ(server.server_got, "ping");
}

INSTANTIATE_TEST_SUITE_P(BlockingAndNonBlocking, SocketTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "NonBlocking" : "Blocking"; });

Task<void> AcceptN(Reactor& r, int listen_fd, int n, int* accepted, Event* done) {
  for (int i = 0; i < n; ++i) {
    auto c = co_await r.accept(listen_fd);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) break;
    Fd conn(*c);
    auto got = co_await RecvExactly(r, conn.get(), 1);
    EXPECT_TRUE(got.ok() && got->size() == 1);
    ++*accepted;
  }
  done->set();
}

Task<void> ConnectAndSend(Reactor& r, sockaddr_in addr, int* connected) {
  Fd s = TcpSocket(true);
  Status st = co_await r.connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  EXPECT_TRUE(st.ok()) << st;
  auto one = ToBytes("x");
  st = co_await r.send(s.get(), one);
  EXPECT_TRUE(st.ok()) << st;
  ++*connected;
  // Keep the socket open until the server has read the byte.
  auto eof = co_await r.recv(s.get(), std::span(one));
  EXPECT_TRUE(eof.ok());
}

Task<void> Wait(Event& e) {
  co_await e.wait();
}

TEST(SocketTest, ManyConcurrentConnections) {
  auto r = MakeReactor();
  sockaddr_in addr;
  Fd listener = Listen(&addr, false);
  constexpr int kClients = 32;
  int accepted = 0;
  int connected = 0;
  Event done(*r);
  r->spawn(AcceptN(*r, listener.get(), kClients, &accepted, &done));
  for (int i = 0; i < kClients; ++i) r->spawn(ConnectAndSend(*r, addr, &connected));
  r->block_on(Wait(done));
  EXPECT_EQ(accepted, kClients);
  EXPECT_EQ(connected, kClients);
}

TEST(SocketTest, ConnectToAClosedPortIsRefused) {
  auto r = MakeReactor();
  sockaddr_in addr;
  { Fd gone = Listen(&addr, false); }  // the port is free again, nobody listens
  for (bool nonblocking : {false, true}) {
    Fd s = TcpSocket(nonblocking);
    Status st =
        r->block_on(r->connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)));
    EXPECT_EQ(ErrnoOf(st), ECONNREFUSED) << st;
    EXPECT_TRUE(absl::IsUnavailable(st)) << st;
  }
}

Task<void> Drain(Reactor& r, int fd, size_t total, size_t chunk, std::vector<std::byte>* out,
                 Status* st) {
  std::vector<std::byte> buf(chunk);
  while (out->size() < total) {
    auto n = co_await r.recv(fd, buf);
    if (!n.ok()) {
      *st = n.status();
      co_return;
    }
    if (*n == 0) break;
    out->insert(out->end(), buf.begin(), buf.begin() + static_cast<long>(*n));
  }
}

Task<Status> SendAll(Reactor& r, int fd, std::span<const std::byte> data) {
  co_return co_await r.send(fd, data);
}

// One large send into a socket with a tiny send buffer, drained concurrently in small reads:
// the send is resumed after each short count, and every byte arrives in order.
void ShortSendResumption(bool nonblocking) {
  auto r = MakeReactor();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd a(sv[0]), b(sv[1]);
  const int small = 4096;
  ASSERT_EQ(::setsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  ASSERT_EQ(::setsockopt(b.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
  if (nonblocking) {
    SetNonBlocking(a.get());
    SetNonBlocking(b.get());
  }
  std::mt19937_64 rng(spool::testing::TestSeed());
  std::vector<std::byte> data(2 << 20);
  for (auto& x : data) x = static_cast<std::byte>(rng());

  std::vector<std::byte> got;
  Status drain_status;
  const uint64_t resumes_before = r->stats().short_resumes;
  r->spawn(Drain(*r, b.get(), data.size(), 1000, &got, &drain_status));
  Status st = r->block_on(SendAll(*r, a.get(), data));
  ASSERT_TRUE(st.ok()) << st;
  a = Fd();  // close: the drain sees EOF after the last byte
  r->block_on(Drain(*r, b.get(), data.size(), 1000, &got, &drain_status));
  EXPECT_TRUE(drain_status.ok()) << drain_status;
  ASSERT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data) << "bytes arrived out of order or corrupted";
  EXPECT_GT(r->stats().short_resumes, resumes_before);
}

TEST(SocketTest, ShortSendsAreResumedBlockingSockets) {
  ShortSendResumption(false);
}
TEST(SocketTest, ShortSendsAreResumedNonBlockingSockets) {
  ShortSendResumption(true);
}

Task<void> RecvInto(Reactor& r, int fd, StatusOr<size_t>* out, std::span<std::byte> buf) {
  *out = co_await r.recv(fd, buf);
}

Task<void> SendAfterTurns(Reactor& r, int fd, std::string s) {
  for (int i = 0; i < 5; ++i) co_await r.sleep_for(std::chrono::nanoseconds(0));
  auto bytes = ToBytes(s);
  Status st = co_await r.send(fd, bytes);
  EXPECT_TRUE(st.ok()) << st;
}

// sendv: a frame-like iovec list (some empty entries, more entries than IOV_MAX) into a tiny
// send buffer, drained concurrently: every short sendmsg is resumed mid-iovec and the bytes
// arrive whole and in order.
Task<Status> SendVectored(Reactor& r, int fd, std::vector<iovec> iov) {
  co_return co_await r.sendv(fd, iov);
}

void VectoredSendResumption(bool nonblocking) {
  auto r = MakeReactor();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd a(sv[0]), b(sv[1]);
  const int small = 4096;
  ASSERT_EQ(::setsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  ASSERT_EQ(::setsockopt(b.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
  if (nonblocking) {
    SetNonBlocking(a.get());
    SetNonBlocking(b.get());
  }
  std::mt19937_64 rng(spool::testing::TestSeed());
  std::vector<std::byte> data(3 << 20);
  for (auto& x : data) x = static_cast<std::byte>(rng());
  std::vector<iovec> iov;
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t len = std::min<size_t>(data.size() - pos, rng() % 3 == 0 ? 0 : rng() % 4000);
    iov.push_back(iovec{data.data() + pos, len});
    pos += len;
  }
  ASSERT_GT(iov.size(), static_cast<size_t>(IOV_MAX));

  std::vector<std::byte> got;
  Status drain_status;
  const uint64_t resumes_before = r->stats().short_resumes;
  r->spawn(Drain(*r, b.get(), data.size(), 1000, &got, &drain_status));
  Status st = r->block_on(SendVectored(*r, a.get(), std::move(iov)));
  ASSERT_TRUE(st.ok()) << st;
  a = Fd();
  r->block_on(Drain(*r, b.get(), data.size(), 1000, &got, &drain_status));
  EXPECT_TRUE(drain_status.ok()) << drain_status;
  ASSERT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data) << "bytes arrived out of order or corrupted";
  EXPECT_GT(r->stats().short_resumes, resumes_before);
}
TEST(SocketTest, VectoredSendsAreResumedBlockingSockets) {
  VectoredSendResumption(false);
}
TEST(SocketTest, VectoredSendsAreResumedNonBlockingSockets) {
  VectoredSendResumption(true);
}

TEST(SocketTest, VectoredSendOfNothingCompletes) {
  auto r = MakeReactor();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd a(sv[0]), b(sv[1]);
  std::vector<iovec> iov{{nullptr, 0}, {nullptr, 0}};
  Status st = r->block_on(SendVectored(*r, a.get(), iov));
  EXPECT_TRUE(st.ok()) << st;
}

TEST(SocketTest, VectoredSendToAClosedPeerIsEpipe) {
  auto r = MakeReactor();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd a(sv[0]);
  ::close(sv[1]);
  std::string text = "hello";
  std::vector<iovec> iov{{text.data(), text.size()}};
  Status st = r->block_on(SendVectored(*r, a.get(), iov));
  EXPECT_EQ(ErrnoOf(st), EPIPE) << st;
}

TEST(SocketTest, RecvWaitsForDataOnBothSocketKinds) {
  for (bool nonblocking : {false, true}) {
    auto r = MakeReactor();
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    Fd a(sv[0]), b(sv[1]);
    if (nonblocking) SetNonBlocking(b.get());
    std::vector<std::byte> buf(64);
    StatusOr<size_t> n = 0;
    r->spawn(SendAfterTurns(*r, a.get(), "late"));
    r->block_on(RecvInto(*r, b.get(), &n, buf));
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(ToString(std::span(buf).first(*n)), "late");
  }
}

// One fd used for a pending recv and a send at the same time (full duplex).
Task<void> Duplex(Reactor& r, int a, int b, std::string* a_got, bool* sent) {
  std::vector<std::byte> buf(16);
  StatusOr<size_t> n = 0;
  Event got(r);
  r.spawn([](Reactor& r, int fd, std::span<std::byte> buf, StatusOr<size_t>* n,
             Event* got) -> Task<void> {
    *n = co_await r.recv(fd, buf);
    got->set();
  }(r, a, buf, &n, &got));
  // While that recv waits on `a`, send a lot through `a`; the peer echoes one byte at the end.
  std::vector<std::byte> big(1 << 20, std::byte{'z'});
  r.spawn([](Reactor& r, int b, size_t total) -> Task<void> {
    auto all = co_await RecvExactly(r, b, total);
    EXPECT_TRUE(all.ok() && all->size() == total);
    auto reply = ToBytes("!");
    Status st = co_await r.send(b, reply);
    EXPECT_TRUE(st.ok()) << st;
  }(r, b, big.size()));
  Status st = co_await r.send(a, big);
  *sent = st.ok();
  co_await got.wait();
  if (n.ok()) *a_got = ToString(std::span(buf).first(*n));
}

TEST(SocketTest, RecvAndSendOnTheSameFdAtOnce) {
  auto r = MakeReactor();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd a(sv[0]), b(sv[1]);
  std::string a_got;
  bool sent = false;
  r->block_on(Duplex(*r, a.get(), b.get(), &a_got, &sent));
  EXPECT_TRUE(sent);
  EXPECT_EQ(a_got, "!");
}

Task<void> CloseAfterTurns(Reactor& r, int fd, Status* st) {
  for (int i = 0; i < 5; ++i) co_await r.sleep_for(std::chrono::nanoseconds(0));
  *st = co_await r.close(fd);
}

TEST(SocketTest, CloseCancelsARecvWaitingOnTheFd) {
  auto r = MakeReactor();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd b(sv[1]);
  std::vector<std::byte> buf(16);
  StatusOr<size_t> n = 0;
  Status closed;
  r->spawn(CloseAfterTurns(*r, sv[0], &closed));
  // If the close does not cancel the recv, data from the peer ends it (and the test fails)
  // instead of a hang.
  r->spawn([](Reactor& r, int fd) -> Task<void> {
    co_await r.sleep_for(std::chrono::seconds(10));
    auto x = ToBytes("x");
    PermitUncheckedError(co_await r.send(fd, x));
  }(*r, b.get()));
  r->block_on(RecvInto(*r, sv[0], &n, buf));
  EXPECT_EQ(ErrnoOf(n.status()), ECANCELED) << n.status();
  EXPECT_TRUE(absl::IsCancelled(n.status())) << n.status();
  r->block_on(r->sleep_for(std::chrono::nanoseconds(0)));
  EXPECT_TRUE(closed.ok()) << closed;
}

TEST(SocketTest, SendToAClosedPeerIsEpipeWithoutSignal) {
  auto r = MakeReactor();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Fd a(sv[0]);
  ::close(sv[1]);
  auto data = ToBytes("into the void");
  Status st = r->block_on(r->send(a.get(), data));
  EXPECT_EQ(ErrnoOf(st), EPIPE) << st;  // and the process is still alive: no SIGPIPE
}

TEST(SocketTest, ErrorsCarryErrno) {
  auto r = MakeReactor();
  std::byte buf[8];
  auto n = r->block_on(r->recv(987654, buf));
  EXPECT_EQ(ErrnoOf(n.status()), EBADF) << n.status();
  EXPECT_THAT(std::string(n.status().message()), ::testing::HasSubstr("recv fd 987654"));
  // recv on something that is not a socket.
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Fd rd(p[0]), wr(p[1]);
  auto ns = r->block_on(r->recv(rd.get(), buf));
  EXPECT_EQ(ErrnoOf(ns.status()), ENOTSOCK) << ns.status();
  auto acc = r->block_on(r->accept(rd.get()));
  EXPECT_EQ(ErrnoOf(acc.status()), ENOTSOCK) << acc.status();
}

}  // namespace
}  // namespace spool::io
