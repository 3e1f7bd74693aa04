// TCP endpoints: parsing "host:port", creating listeners, and connecting through a reactor.
//
// Addresses are numeric IPv4/IPv6 or names resolved with getaddrinfo (which may block: resolve
// at start-up or off the hot path; loopback and numeric addresses never touch DNS).
// Every socket made here is SOCK_CLOEXEC and non-blocking, and TCP_NODELAY is set on connected
// sockets (Spool batches on its own; Nagle would only add latency).
// Free functions; thread-safe. The fds belong to the caller.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"

namespace spool::io {

struct HostPort {
  std::string host;  // without brackets for IPv6
  uint16_t port = 0;
  std::string ToString() const;  // "host:port", "[::1]:port" for IPv6
  friend bool operator==(const HostPort&, const HostPort&) = default;
};

// Parses "host:port", "[v6]:port" or ":port" (host 0.0.0.0). kInvalidArgument otherwise.
[[nodiscard]] StatusOr<HostPort> ParseHostPort(std::string_view text);

struct ListenOptions {
  int backlog = 1024;
  // SO_REUSEPORT: several listeners (one per reactor) share the port and the kernel spreads
  // incoming connections over them.
  bool reuse_port = false;
};

// A listening socket bound to `where` (port 0 picks an ephemeral port; see LocalPort()).
[[nodiscard]] StatusOr<int> ListenTcp(const HostPort& where, const ListenOptions& options = {});

// The port a socket is bound to.
[[nodiscard]] StatusOr<uint16_t> LocalPort(int fd);

// Resolves `where` and connects a new non-blocking socket through `reactor`, trying each address
// in turn. Returns the connected fd (TCP_NODELAY set). Errors carry the errno of the last try
// (ECONNREFUSED: nothing listens there).
Task<StatusOr<int>> ConnectTcp(Reactor& reactor, HostPort where);

}  // namespace spool::io
