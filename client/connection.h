// BrokerConnection: one TCP connection from a client to a broker, with pipelined requests.
//
// call() sends a request frame and completes with its response. Many calls may be in flight at
// once (up to ConnectionOptions::max_in_flight; more wait their turn); the broker answers in
// request order, so one reader coroutine matches each response to the oldest call in flight and
// checks the correlation id. An error response (kFlagError) becomes the call's Status
// (proto::ErrorResponseStatus), so UNSUPPORTED_VERSION and INVALID_REQUEST reach the caller as
// statuses carrying their wire codes.
//
// Failure: a broken connection (peer closed, framing error, mismatched correlation id, a call's
// timeout) fails every call in flight with kUnavailable carrying NETWORK_EXCEPTION (or
// REQUEST_TIMED_OUT for the timeout) and the connection stays broken(); the owner (Cluster)
// replaces it. A timeout breaks the connection because later responses could not be matched.
//
// Threading: created, used and destroyed on one reactor thread (a ClientRuntime's). Payload
// spans passed to call()/send() must stay alive until the Task completes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
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
  std::string client_id = "spool";
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds request_timeout{30000};  // request.timeout.ms
  int max_in_flight = 5;                             // max.in.flight.requests.per.connection
  proto::FrameLimits limits{.max_frame_bytes = 256u << 20, .max_body_bytes = 16u << 20};
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
  // Connects, and performs the ApiVersions handshake (checking the broker serves every API at
  // the versions this client speaks). kUnavailable when the broker cannot be reached.
  static Task<StatusOr<std::unique_ptr<BrokerConnection>>> Connect(io::Reactor& reactor,
                                                                   io::HostPort where,
                                                                   ConnectionOptions options);
  ~BrokerConnection();

  // Sends one request (API version 0) and waits for its response.
  Task<StatusOr<Reply>> call(proto::ApiKey api, const google::protobuf::MessageLite& body,
                             std::span<const std::span<const std::byte>> payload = {});
  // Sends one request that gets no response (acks=0 Produce): completes once it is written.
  Task<Status> send(proto::ApiKey api, const google::protobuf::MessageLite& body,
                    std::span<const std::span<const std::byte>> payload = {});

  bool broken() const;
  const io::HostPort& peer() const;
  int32_t broker_id() const;  // from the handshake
  // Fails the calls in flight and closes the socket. Idempotent.
  Task<void> close();

 private:
  struct State;
  explicit BrokerConnection(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace spool::client
