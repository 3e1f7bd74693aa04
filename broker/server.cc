// Server: listeners, accept loops, counters and the graceful stop. Connections live in
// connection.cc.
#include "broker/server.h"

#include <poll.h>

#include <netdb.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/connection.h"
#include "broker/server_log.h"

namespace spool::broker {
namespace {

using detail::Connection;
using detail::NetShared;
using detail::ShardNet;
using detail::StopWait;

std::string PeerName(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return "unknown";
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    return absl::StrCat(host, ":", ntohs(a->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    return absl::StrCat("[", host, "]:", ntohs(a->sin6_port));
  }
  return "unknown";
}

// Errors of accept(2) that say the process or the machine is out of something: back off a
// little instead of spinning on them.
bool IsResourceError(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

Task<void> AcceptLoop(std::shared_ptr<NetShared> net, ShardNet& s) {
  const ServerOptions& o = net->options;
  while (!s.stopping) {
    StatusOr<int> accepted = co_await s.reactor.accept(s.listen_fd);
    if (s.stopping) {
      if (accepted.ok()) {
        Status closed = co_await s.reactor.close(*accepted);
        PermitUncheckedError(closed);
      }
      break;
    }
    if (!accepted.ok()) {
      const int err = ErrnoOf(accepted.status());
      if (err == ECONNABORTED || err == EINTR || err == EAGAIN) continue;
      LogEvent(LogLevel::kWarning, "net",
               absl::StrCat("event=accept_error shard=", s.shard,
                            " error=", LogValue(std::string(accepted.status().message()))));
      // Out of fds or memory (or something unexpected): back off instead of spinning.
      co_await s.reactor.sleep_for(std::chrono::milliseconds(IsResourceError(err) ? 100 : 10));
      continue;
    }
    const int fd = *accepted;
    net->counters.connections_accepted.fetch_add(1);
    const uint64_t open = net->counters.connections_open.fetch_add(1);
    if (open >= static_cast<uint64_t>(o.max_connections)) {
      net->counters.connections_open.fetch_sub(1);
      const uint64_t rejected = net->counters.connections_rejected.fetch_add(1) + 1;
      LogEvent(LogLevel::kWarning, "net",
               absl::StrCat("event=connection_rejected peer=", PeerName(fd),
                            " reason=max.connections limit=", o.max_connections,
                            " rejected_total=", rejected));
      Status closed = co_await s.reactor.close(fd);
      PermitUncheckedError(closed);  // a refused socket: nothing more to do with it
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const uint64_t id = net->next_connection_id.fetch_add(1);
    auto conn = std::make_shared<Connection>(net, s, fd, id, PeerName(fd));
    s.connections.emplace(id, conn);
    s.reactor.spawn(Connection::Run(std::move(conn)));
  }
  Status st = co_await s.reactor.close(s.listen_fd);
  PermitUncheckedError(st);  // a listener that fails to close has nothing left to lose
  s.listen_fd = -1;
  s.accept_done.set();
}

// Sets the stop wait's timeout flag after `d`, unless the wait is over by then.
Task<void> StopTimer(io::Reactor& reactor, std::weak_ptr<StopWait> wait,
                     std::chrono::nanoseconds d) {
  co_await reactor.sleep_for(d);
  if (std::shared_ptr<StopWait> w = wait.lock()) {
    w->timed_out = true;
    w->progress.set();
  }
}

// The stop of one shard: see Server::Stop().
Task<void> StopShard(std::shared_ptr<NetShared> net, ShardNet& s,
                     std::chrono::steady_clock::time_point deadline) {
  s.stopping = true;
  if (s.listen_fd >= 0 && net->handler == nullptr) {
    // Bound but never served: no accept loop owns the listener.
    ::close(s.listen_fd);
    s.listen_fd = -1;
  }
  if (s.listen_fd >= 0) {
    // Wakes the accept in flight (it fails with EINVAL); the accept loop closes the listener
    // itself once it has returned, so no operation can be waiting on a closed (and possibly
    // reused) fd number.
    ::shutdown(s.listen_fd, SHUT_RDWR);
    co_await s.accept_done.wait();
  }
  auto wait = std::make_shared<StopWait>(s.reactor);
  s.stop_wait = wait;
  std::vector<std::shared_ptr<Connection>> open;
  for (auto& [id, c] : s.connections) open.push_back(c);
  for (auto& c : open) c->BeginStop();
  open.clear();
  const auto left = deadline - std::chrono::steady_clock::now();
  s.reactor.spawn(StopTimer(s.reactor, wait, left));
  while (!s.connections.empty() && !wait->timed_out) {
    wait->progress.reset();
    co_await wait->progress.wait();
  }
  if (!s.connections.empty()) {
    LogEvent(LogLevel::kWarning, "net",
             absl::StrCat("event=stop_timeout shard=", s.shard, " connections=",
                          s.connections.size(), " timeout_ms=", net->options.stop_timeout.count(),
                          " action=close_with_requests_in_flight"));
    for (auto& [id, c] : s.connections) open.push_back(c);
    for (auto& c : open) c->Abort("");
    open.clear();
    while (!s.connections.empty()) {
      wait->progress.reset();
      co_await wait->progress.wait();
    }
  }
  s.stop_wait.reset();
}

}  // namespace

ServerOptions ServerOptionsFromConfig(const BrokerConfig& config) {
  ServerOptions o;
  o.listen = config.listen;
  o.frame_limits = config.frame_limits;
  o.max_inflight_bytes_per_connection = config.max_inflight_bytes_per_connection;
  o.max_inflight_bytes_total = config.max_inflight_bytes_total;
  o.max_connections = config.max_connections;
  return o;
}

Server::Server(ShardSet& shards, std::shared_ptr<NetShared> net, io::HostPort address)
    : shards_(shards), net_(std::move(net)), address_(std::move(address)) {}

Server::~Server() {
  // Stop() closed the listeners; a Server destroyed without it leaves them to the process exit
  // (its accept loops would still reference the shared state, which they keep alive).
  if (!stopped_) {
    LogEvent(LogLevel::kError, "net", "event=server_destroyed_without_stop");
  }
}

namespace {

// Whether a TCP connect to `where` (0.0.0.0 / :: checked on loopback) succeeds within 500 ms.
bool SomethingListens(io::HostPort where) {
  if (where.host == "0.0.0.0" || where.host.empty()) where.host = "127.0.0.1";
  if (where.host == "::") where.host = "::1";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* ai = nullptr;
  const std::string port = std::to_string(where.port);
  if (::getaddrinfo(where.host.c_str(), port.c_str(), &hints, &ai) != 0) return false;
  bool listening = false;
  for (addrinfo* a = ai; a != nullptr && !listening; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      listening = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 500) == 1) {
        int err = 0;
        socklen_t len = sizeof(err);
        listening = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
      }
    }
    ::close(fd);
  }
  ::freeaddrinfo(ai);
  return listening;
}

}  // namespace

StatusOr<std::unique_ptr<Server>> Server::Bind(ShardSet& shards, ServerOptions options) {
  auto net = std::make_shared<NetShared>(shards, options);
  io::HostPort where = options.listen;
  if (where.port != 0) {
    // SO_REUSEPORT would let a second broker of the same user share the port silently (the
    // kernel would spread connections over both), so first ask whether anything accepts
    // connections there. (A plain bind as the probe is refused by the TIME_WAIT sockets a
    // broker that just stopped leaves behind, which would block every quick restart. A process
    // that starts listening between this check and our bind is not caught.)
    // A broker killed with SIGKILL can keep its listeners alive for a moment after it is
    // reaped (io_uring tears a dead process's ring down asynchronously, and a pending accept
    // holds the socket), so a restart gives the port up to 3 s to become free.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (SomethingListens(where)) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return ErrnoStatus(EADDRINUSE,
                           absl::StrCat("another process listens on ", where.ToString()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // kernel state; no event
    }
  }
  std::vector<int> fds;
  for (int i = 0; i < shards.size(); i++) {
    StatusOr<int> fd = io::ListenTcp(where, io::ListenOptions{.reuse_port = true});
    if (!fd.ok()) {
      for (int f : fds) ::close(f);
      return fd.status();
    }
    fds.push_back(*fd);
    if (i == 0 && where.port == 0) {
      StatusOr<uint16_t> port = io::LocalPort(*fd);
      if (!port.ok()) {
        for (int f : fds) ::close(f);
        return port.status();
      }
      where.port = *port;
    }
  }
  for (int i = 0; i < shards.size(); i++) {
    auto s = std::make_unique<ShardNet>(i, *shards.shard(i).reactor);
    s->listen_fd = fds[static_cast<size_t>(i)];
    net->shard_nets.push_back(std::move(s));
  }
  return std::unique_ptr<Server>(new Server(shards, std::move(net), where));
}

void Server::Serve(RequestHandler& handler) {
  if (serving_ || stopped_) return;
  serving_ = true;
  net_->handler = &handler;
  for (int i = 0; i < shards_.size(); i++) {
    shards_.post(i, [net = net_, i] {
      ShardNet& s = *net->shard_nets[static_cast<size_t>(i)];
      s.reactor.spawn(AcceptLoop(net, s));
    });
  }
  const ServerOptions& o = net_->options;
  LogEvent(LogLevel::kInfo, "net",
           absl::StrCat("event=listening address=", address_.ToString(),
                        " listeners=", shards_.size(), " max_connections=", o.max_connections,
                        " max_inflight_bytes_per_connection=", o.max_inflight_bytes_per_connection,
                        " max_inflight_bytes=", o.max_inflight_bytes_total));
}

StatusOr<std::unique_ptr<Server>> Server::Start(ShardSet& shards, RequestHandler& handler,
                                                ServerOptions options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Server> server, Bind(shards, std::move(options)));
  server->Serve(handler);
  return server;
}

ServerCounters Server::counters() const {
  const detail::NetCounters& c = net_->counters;
  ServerCounters out;
  out.connections_open = c.connections_open.load();
  out.connections_accepted = c.connections_accepted.load();
  out.connections_rejected = c.connections_rejected.load();
  out.requests = c.requests.load();
  out.responses = c.responses.load();
  out.bytes_in = c.bytes_in.load();
  out.bytes_out = c.bytes_out.load();
  out.framing_errors = c.framing_errors.load();
  out.read_pauses = c.read_pauses.load();
  out.inflight_bytes = net_->inflight_total.load();
  return out;
}

Task<void> Server::Stop() {
  if (stopped_) co_return;
  stopped_ = true;
  const auto deadline = std::chrono::steady_clock::now() + net_->options.stop_timeout;
  std::shared_ptr<NetShared> net = net_;
  // Named, not a temporary inside the co_await: GCC 12 mishandles the lifetime of a capturing
  // lambda temporary in a co_await expression (its captures were released twice).
  absl::AnyInvocable<Task<void>(Shard&)> stop_shard = [net, deadline](Shard& shard) -> Task<void> {
    co_await StopShard(net, *net->shard_nets[static_cast<size_t>(shard.id)], deadline);
  };
  Task<void> all = shards_.on_all(std::move(stop_shard));
  co_await std::move(all);
  LogEvent(
      LogLevel::kInfo, "net",
      absl::StrCat("event=stopped connections_accepted=", net->counters.connections_accepted.load(),
                   " requests=", net->counters.requests.load()));
}

}  // namespace spool::broker
