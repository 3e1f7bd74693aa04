// Server: the broker's network layer. Listeners, connections, framing, response ordering and
// the in-flight limits; what a request means is the RequestHandler's business (handler.h).
//
// Listeners: one SO_REUSEPORT listening socket per shard on the configured address, so the
// kernel spreads incoming connections over the shards; with port 0 the first listener picks an
// ephemeral port and the others bind the same one (address() tells which). Each shard runs an
// accept loop and owns the connections it accepted (ARCHITECTURE.md §3).
//
// Per connection (broker/connection.h): bytes are received straight into the FrameDecoder's
// buffer; each whole frame is handed to RequestHandler::Handle as its own task, so requests are
// pipelined; responses are sent strictly in request order, several at once with one sendmsg
// when they are ready together, straight from the frames' buffers (no copy), and each Response's
// keep_alive is held until its bytes are out. A nullopt response (acks=0) sends nothing. Broken
// framing (any decoder error, or EOF inside a frame) logs one line with the peer and the reason
// and closes that connection at once (responses not yet sent are dropped); nothing else closes
// it.
//
// Limits: a request's bytes (its frame size) are in flight from the moment it is read until its
// response is sent (or, for nullopt, until its turn in the response order comes). A connection
// stops reading while its in-flight bytes are above max_inflight_bytes_per_connection, and
// while the broker-wide total over every connection of every shard is above
// max_inflight_bytes_total; it reads again when they drop. A connection with nothing in flight
// may always read one more frame, however large (within FrameLimits), so it cannot stall. Past
// max_connections a new connection is accepted and closed at once, with a log line, and counted.
//
// Threading and lifetime: Bind(), Serve() and Start() may be called from any thread once the
// ShardSet runs (one thread at a time); the
// ShardSet and the RequestHandler must outlive the Server (handlers still running when Stop()
// gives up finish into a closed connection). Stop() is awaited on a shard thread; it must
// complete before the Server is destroyed. counters() and address() are safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "broker/broker_config.h"
#include "broker/handler.h"
#include "broker/shard.h"
#include "common/io/socket.h"
#include "common/status.h"
#include "common/task.h"
#include "proto/frame.h"

namespace spool::broker {

struct ServerOptions {
  io::HostPort listen{"127.0.0.1", kDefaultPort};
  proto::FrameLimits frame_limits;
  uint64_t max_inflight_bytes_per_connection = 64ull << 20;
  uint64_t max_inflight_bytes_total = 512ull << 20;
  int32_t max_connections = 10000;
  // How long Stop() waits for the responses of requests in flight before it closes the
  // connections anyway.
  std::chrono::milliseconds stop_timeout{10000};
};

// The network settings of a broker config.
ServerOptions ServerOptionsFromConfig(const BrokerConfig& config);

// A snapshot of the server's counters (metrics come in a later issue).
struct ServerCounters {
  uint64_t connections_open = 0;      // connections currently open
  uint64_t connections_accepted = 0;  // every accepted connection, rejected ones included
  uint64_t connections_rejected = 0;  // closed at once because of max_connections
  uint64_t requests = 0;              // whole frames handed to the handler
  uint64_t responses = 0;             // response frames sent
  uint64_t bytes_in = 0;              // bytes received
  uint64_t bytes_out = 0;             // bytes sent
  uint64_t framing_errors = 0;        // connections closed for broken framing
  uint64_t read_pauses = 0;           // times a connection stopped reading for an in-flight limit
  uint64_t inflight_bytes = 0;        // request bytes in flight now, over every connection
};

namespace detail {
struct NetShared;  // broker/connection.h
}  // namespace detail

class Server {
 public:
  // Binds the listeners; errors: the address cannot be bound (EADDRINUSE, ... with the errno
  // attached), also when another process already listens there with SO_REUSEPORT. Nothing is
  // accepted yet (the kernel queues connections in the backlog), so a broker can learn its port
  // (address()), recover, and only then Serve().
  [[nodiscard]] static StatusOr<std::unique_ptr<Server>> Bind(ShardSet& shards,
                                                              ServerOptions options);
  // Starts an accept loop on every shard, handing requests to `handler`. Once; any thread.
  void Serve(RequestHandler& handler);
  // Bind() then Serve().
  [[nodiscard]] static StatusOr<std::unique_ptr<Server>> Start(ShardSet& shards,
                                                               RequestHandler& handler,
                                                               ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound address (the ephemeral port when options.listen.port was 0).
  io::HostPort address() const { return address_; }
  ServerCounters counters() const;

  // Graceful stop: stops accepting (closes the listeners), stops reading new requests, waits up
  // to stop_timeout for the responses of the requests already read to be sent, then closes
  // every connection. Idempotent. From a shard thread.
  Task<void> Stop();

 private:
  Server(ShardSet& shards, std::shared_ptr<detail::NetShared> net, io::HostPort address);

  ShardSet& shards_;
  std::shared_ptr<detail::NetShared> net_;
  io::HostPort address_;
  bool serving_ = false;
  bool stopped_ = false;
};

}  // namespace spool::broker
