// Helpers for integration tests that run several spoold processes: free loopback ports, one
// request on a fresh connection, and latency percentiles.
//
// Threading: any test thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/io/socket.h"
#include "common/status.h"
#include "google/protobuf/message.h"
#include "tests/support/raw_client.h"

namespace spool::testing {

// A free loopback port (bound and released; a process binds it a moment later).
uint16_t FreePort();

// Milliseconds since `t`.
double MsSince(std::chrono::steady_clock::time_point t);

// The p-quantile (0..1) of `v` (0 when empty).
double Percentile(std::vector<double> v, double p);

// spoold flags for a controller-only process `id` listening on 127.0.0.1:`port`, in the quorum
// `voters` ("id@host:port,...").
std::vector<std::string> ControllerProcessArgs(int id, uint16_t port, const std::string& voters);

// One request/response on a fresh connection: the response, or the connect/transport status.
template <typename Response>
StatusOr<Response> Ask(const io::HostPort& where, int16_t api, const google::protobuf::Message& req,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  StatusOr<std::unique_ptr<RawClient>> c =
      RawClient::Connect(where, std::chrono::milliseconds(2000));
  if (!c.ok()) return c.status();
  Response resp;
  StatusOr<proto::Frame> f = (*c)->Call(api, req, &resp, {}, 0, timeout);
  if (!f.ok()) return f.status();
  return resp;
}

}  // namespace spool::testing
