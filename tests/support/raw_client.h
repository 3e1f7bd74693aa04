// RawClient: a small blocking-socket client of the native protocol for tests. It sends whatever
// bytes a test wants (whole frames, broken ones, halves) and reads whole response frames with a
// deadline, so a test can check exactly what a broker answers and when it closes a connection.
//
// Waiting is poll(2) with the time left to the deadline, never a sleep. Not thread-safe: one test
// thread per client. The destructor closes the socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/io/socket.h"
#include "common/status.h"
#include "google/protobuf/message.h"
#include "google/protobuf/message_lite.h"
#include "proto/frame.h"
#include "proto/frame_decoder.h"
#include "proto/frame_encoder.h"

namespace spool::testing {

class RawClient {
 public:
  using Millis = std::chrono::milliseconds;

  // Connects with a deadline. kDeadlineExceeded on timeout; the errno of connect(2) otherwise
  // (ECONNREFUSED: nothing listens there).
  static StatusOr<std::unique_ptr<RawClient>> Connect(const io::HostPort& where,
                                                      Millis timeout = Millis(5000));
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Sends every byte (blocking, MSG_NOSIGNAL). EPIPE / ECONNRESET when the peer has closed.
  [[nodiscard]] Status SendBytes(std::span<const std::byte> bytes);
  [[nodiscard]] Status SendFrame(const proto::OutgoingFrame& frame);
  // Encodes a request frame (header fields from the arguments) and sends it.
  [[nodiscard]] Status SendRequest(int16_t api_key, int32_t correlation_id,
                                   const google::protobuf::MessageLite& body,
                                   std::span<const std::span<const std::byte>> payload = {},
                                   int16_t api_version = 0);

  // Reads one whole frame. kDeadlineExceeded when none is complete in time; kUnavailable when
  // the peer closed the connection (kDataLoss if it did so inside a frame); kInvalidArgument
  // for bytes that are not valid framing.
  StatusOr<proto::Frame> ReadFrame(Millis timeout = Millis(10000));
  // ReadFrame, then parses its body into `body` (kInvalidArgument if it does not parse). A
  // response with the error flag comes back as its status (proto::ErrorResponseStatus), so
  // proto::ErrorFromStatus() gives the wire code.
  StatusOr<proto::Frame> ReadResponse(google::protobuf::Message* body,
                                      Millis timeout = Millis(10000));

  // One request/response exchange: sends `request` with the next correlation id, reads the
  // response into `response` (as ReadResponse) and checks the correlation id came back.
  StatusOr<proto::Frame> Call(int16_t api_key, const google::protobuf::MessageLite& request,
                              google::protobuf::Message* response,
                              std::span<const std::span<const std::byte>> payload = {},
                              int16_t api_version = 0, Millis timeout = Millis(10000));

  // True once the peer has closed the connection (EOF or reset) within `timeout`; bytes that
  // arrive meanwhile are read and dropped.
  bool WaitForClose(Millis timeout = Millis(10000));
  // Half-closes: the peer sees EOF, and can still send.
  void ShutdownWrite();

  int fd() const { return fd_; }

 private:
  explicit RawClient(int fd);

  int fd_;
  int32_t next_correlation_id_ = 1;
  proto::FrameDecoder decoder_;
};

// A frame header for a request.
proto::FrameHeader RequestHeader(int16_t api_key, int32_t correlation_id, int16_t api_version = 0);

}  // namespace spool::testing
