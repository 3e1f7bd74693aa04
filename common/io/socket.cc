#include "common/io/socket.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace spool::io {
namespace {

struct AddrInfoDeleter {
  void operator()(addrinfo* ai) const { ::freeaddrinfo(ai); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

StatusOr<AddrInfoPtr> Resolve(const HostPort& where, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  const std::string port = std::to_string(where.port);
  const char* host = where.host.empty() ? nullptr : where.host.c_str();
  addrinfo* out = nullptr;
  const int rc = ::getaddrinfo(host, port.c_str(), &hints, &out);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve ", where.ToString(), ": ", ::gai_strerror(rc)));
  }
  return AddrInfoPtr(out);
}

}  // namespace

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

StatusOr<HostPort> ParseHostPort(std::string_view text) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", std::string(text), "': want [v6]:port"));
    }
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", std::string(text), "': want host:port"));
    }
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", std::string(text), "': put an IPv6 host in brackets"));
    }
  }
  if (out.host.empty()) out.host = "0.0.0.0";
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535 ||
      port_text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in '", std::string(text), "'"));
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

StatusOr<int> ListenTcp(const HostPort& where, const ListenOptions& options) {
  ASSIGN_OR_RETURN(AddrInfoPtr ai, Resolve(where, /*passive=*/true));
  Status last = absl::UnavailableError(absl::StrCat("no address for ", where.ToString()));
  for (addrinfo* a = ai.get(); a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      last = ErrnoStatus(errno, "socket");
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (options.reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) < 0) {
      last = ErrnoStatus(errno, absl::StrCat("bind ", where.ToString()));
      ::close(fd);
      continue;
    }
    if (::listen(fd, options.backlog) < 0) {
      last = ErrnoStatus(errno, absl::StrCat("listen ", where.ToString()));
      ::close(fd);
      continue;
    }
    return fd;
  }
  return last;
}

StatusOr<uint16_t> LocalPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) {
    return ErrnoStatus(errno, "getsockname");
  }
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return absl::InvalidArgumentError("not an IP socket");
}

Task<StatusOr<int>> ConnectTcp(Reactor& reactor, HostPort where) {
  StatusOr<AddrInfoPtr> ai = Resolve(where, /*passive=*/false);
  if (!ai.ok()) co_return ai.status();
  Status last = absl::UnavailableError(absl::StrCat("no address for ", where.ToString()));
  for (addrinfo* a = ai->get(); a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      last = ErrnoStatus(errno, "socket");
      continue;
    }
    Status st = co_await reactor.connect(fd, a->ai_addr, a->ai_addrlen);
    if (!st.ok()) {
      const int err = ErrnoOf(st);
      last = err != 0 ? ErrnoStatus(err, absl::StrCat("connect to ", where.ToString())) : st;
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    co_return fd;
  }
  co_return last;
}

}  // namespace spool::io
