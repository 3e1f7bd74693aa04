// BrokerConnection: one TCP connection from a client to a broker, with pipelined requests.
//
// call() sends a request frame and completes with its response. Many calls may be in flight at
// once (up to ConnectionOptions::max_in_flight; more wait their turn, in arrival order); the
// broker answers in request order, so one reader coroutine matches each response to the oldest
// call in flight and checks its correlation id and API key. An error response (kFlagError)
// becomes the call's Status (proto::ErrorResponseStatus), so UNSUPPORTED_VERSION and
// INVALID_REQUEST reach the caller as statuses carrying their wire codes
// (proto::ErrorFromStatus). send() writes a request that gets no response (acks=0 Produce).
//
// Failure: a broken connection (peer closed, a framing error, a response that matches no call,
// a send that failed, a call's timeout, close()) fails every call in flight and every call
// waiting for its turn with kUnavailable carrying NETWORK_EXCEPTION (REQUEST_TIMED_OUT for a
// timeout), and stays broken(): later calls fail at once. A timeout breaks the connection
// because the responses after it could no longer be matched. The owner (Cluster) replaces a
// broken connection with a new one.
//
// Timeouts: each call has a deadline (ConnectionOptions::request_timeout, or the call's own
// timeout, e.g. a long-poll Fetch's max wait plus a margin), set when the call starts, so time
// spent waiting for a slot counts against it. One watchdog coroutine per connection sleeps until
// the earliest deadline of the calls sent (at most 100 ms at a time); a call still waiting for a
// slot is bounded by the deadlines of the calls ahead of it. Calls and sends are written in the
// order they were made (FIFO slots and socket).
//
// Ownership and threading: created, used and destroyed on one reactor thread (a ClientRuntime's).
// The object is a handle on shared state: the reader, the watchdog and calls in progress keep
// that state alive, so destroying the BrokerConnection while calls are suspended is safe (it
// breaks the connection; they fail). The reader closes the socket once no send is in progress.
// The body and payload spans passed to call()/send() must stay alive until the Task completes;
// a Reply keeps its receive buffer alive, so spans into reply.frame stay valid with the Reply.
// A Task from call() must be run to completion (not destroyed while suspended), except by the
// reactor's own destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/io/reactor.h"
#include "common/io/socket.h"
#include "common/status.h"
#include "common/task.h"
#include "google/protobuf/message.h"
#include "proto/body.h"
#include "proto/frame.h"
#include "proto/frame_decoder.h"

namespace spool::client {

struct ConnectionOptions {
  std::string client_id = "spool";                   // client.id
  std::chrono::milliseconds connect_timeout{10000};  // connect + handshake
  std::chrono::milliseconds request_timeout{30000};  // request.timeout.ms
  int max_in_flight = 5;                             // max.in.flight.requests.per.connection
  // Fetch responses carry up to fetch.max.bytes of records, hence the large frame limit.
  proto::FrameLimits limits{.max_frame_bytes = 256u << 20, .max_body_bytes = 16u << 20};
  // What the handshake requires the peer to serve: every client API by default; a connection to
  // a controller listener names only the APIs it sends (that listener serves a few). The span
  // must stay valid while the connection exists (a static table).
  std::span<const proto::ApiVersionSupport> required_apis = proto::SupportedApis();
};

// A response: the frame (keeping the receive buffer alive, so payload spans stay valid) and its
// parsed body, of the API's response type.
struct Reply {
  proto::Frame frame;
  std::unique_ptr<google::protobuf::Message> body;
  template <typename M>
  const M& as() const {
    return static_cast<const M&>(*body);
  }
};

class BrokerConnection {
 public:
  // Connects, and performs the ApiVersions handshake (checking the broker serves every API of
  // options.required_apis at the versions this client speaks). kUnavailable (NETWORK_EXCEPTION)
  // when the broker cannot be reached or does not answer within connect_timeout;
  // kFailedPrecondition (UNSUPPORTED_VERSION) when it lacks an API.
  static Task<StatusOr<std::unique_ptr<BrokerConnection>>> Connect(io::Reactor& reactor,
                                                                   io::HostPort where,
                                                                   ConnectionOptions options);
  ~BrokerConnection();
  BrokerConnection(const BrokerConnection&) = delete;
  BrokerConnection& operator=(const BrokerConnection&) = delete;

  // Sends one request (API version 0) and waits for its response. `timeout` overrides
  // ConnectionOptions::request_timeout for this call.
  Task<StatusOr<Reply>> call(proto::ApiKey api, const google::protobuf::MessageLite& body,
                             std::span<const std::span<const std::byte>> payload = {},
                             std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Sends one request that gets no response (acks=0 Produce): completes once it is written.
  Task<Status> send(proto::ApiKey api, const google::protobuf::MessageLite& body,
                    std::span<const std::span<const std::byte>> payload = {});

  bool broken() const;
  // Why the connection broke (OK while it is not broken).
  Status broken_status() const;
  // Calls sent and not yet answered, plus those waiting for their turn.
  int in_flight() const;
  const io::HostPort& peer() const;
  int32_t broker_id() const;  // from the handshake
  // Fails the calls in flight and closes the socket. Idempotent.
  Task<void> close();

  struct State;  // implementation detail (connection.cc)

 private:
  explicit BrokerConnection(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace spool::client
