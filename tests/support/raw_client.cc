#include "tests/support/raw_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/body.h"

namespace spool::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Limits of a client: responses (fetch) may be far larger than requests.
proto::FrameLimits ClientLimits() {
  proto::FrameLimits l;
  l.max_frame_bytes = 1u << 30;
  l.max_body_bytes = 64u << 20;
  return l;
}

int MillisLeft(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Waits for `events` on fd until the deadline: >0 ready, 0 timeout, -errno.
int PollUntil(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, MillisLeft(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return -errno;
    return rc;
  }
}

}  // namespace

proto::FrameHeader RequestHeader(int16_t api_key, int32_t correlation_id, int16_t api_version) {
  proto::FrameHeader h;
  h.api_key = api_key;
  h.api_version = api_version;
  h.correlation_id = correlation_id;
  return h;
}

RawClient::RawClient(int fd) : fd_(fd), decoder_(ClientLimits()) {}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

StatusOr<std::unique_ptr<RawClient>> RawClient::Connect(const io::HostPort& where, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* ai = nullptr;
  const std::string port = std::to_string(where.port);
  if (int rc = ::getaddrinfo(where.host.c_str(), port.c_str(), &hints, &ai); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve ", where.ToString(), ": ", ::gai_strerror(rc)));
  }
  Status last = absl::UnavailableError("no address");
  for (addrinfo* a = ai; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      last = ErrnoStatus(errno, "socket");
      continue;
    }
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      const int ready = PollUntil(fd, POLLOUT, deadline);
      if (ready == 0) {
        ::close(fd);
        ::freeaddrinfo(ai);
        return absl::DeadlineExceededError(absl::StrCat("connect to ", where.ToString()));
      }
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        errno = err;
        rc = -1;
      } else {
        rc = 0;
      }
    }
    if (rc < 0) {
      last = ErrnoStatus(errno, absl::StrCat("connect to ", where.ToString()));
      ::close(fd);
      continue;
    }
    // Blocking from here on; waits are poll() with deadlines.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::freeaddrinfo(ai);
    return std::unique_ptr<RawClient>(new RawClient(fd));
  }
  ::freeaddrinfo(ai);
  return last;
}

Status RawClient::SendBytes(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "send");
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return Status();
}

Status RawClient::SendFrame(const proto::OutgoingFrame& frame) {
  const std::vector<std::byte> flat = frame.Flatten();
  return SendBytes(flat);
}

Status RawClient::SendRequest(int16_t api_key, int32_t correlation_id,
                              const google::protobuf::MessageLite& body,
                              std::span<const std::span<const std::byte>> payload,
                              int16_t api_version) {
  proto::FrameLimits limits = ClientLimits();
  ASSIGN_OR_RETURN(proto::OutgoingFrame frame,
                   proto::EncodeFrame(RequestHeader(api_key, correlation_id, api_version), body,
                                      payload, limits));
  return SendFrame(frame);
}

StatusOr<proto::Frame> RawClient::ReadFrame(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<proto::Frame> frame, decoder_.Next());
    if (frame.has_value()) return *std::move(frame);
    const int ready = PollUntil(fd_, POLLIN, deadline);
    if (ready < 0) return ErrnoStatus(-ready, "poll");
    if (ready == 0) return absl::DeadlineExceededError("no whole response frame in time");
    std::span<std::byte> space = decoder_.WritableSpace();
    const ssize_t n = ::recv(fd_, space.data(), space.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ECONNRESET) return absl::UnavailableError("connection reset by peer");
    if (n < 0) return ErrnoStatus(errno, "recv");
    if (n == 0) {
      if (decoder_.at_frame_boundary()) return absl::UnavailableError("peer closed the connection");
      return absl::DataLossError("peer closed the connection inside a frame");
    }
    decoder_.Commit(static_cast<size_t>(n));
  }
}

StatusOr<proto::Frame> RawClient::ReadResponse(google::protobuf::Message* body, Millis timeout) {
  ASSIGN_OR_RETURN(proto::Frame frame, ReadFrame(timeout));
  if (!frame.header().is_response()) {
    return absl::InvalidArgumentError("got a frame without the response flag");
  }
  RETURN_IF_ERROR(proto::ErrorResponseStatus(frame.header(), frame.body()));
  RETURN_IF_ERROR(proto::ParseBody(frame.body(), body));
  return frame;
}

StatusOr<proto::Frame> RawClient::Call(int16_t api_key,
                                       const google::protobuf::MessageLite& request,
                                       google::protobuf::Message* response,
                                       std::span<const std::span<const std::byte>> payload,
                                       int16_t api_version, Millis timeout) {
  const int32_t id = next_correlation_id_++;
  RETURN_IF_ERROR(SendRequest(api_key, id, request, payload, api_version));
  ASSIGN_OR_RETURN(proto::Frame frame, ReadResponse(response, timeout));
  if (frame.header().correlation_id != id || frame.header().api_key != api_key) {
    return absl::InternalError(absl::StrCat("response (api ", frame.header().api_key, ", id ",
                                            frame.header().correlation_id, ") to request (api ",
                                            api_key, ", id ", id, ")"));
  }
  return frame;
}

bool RawClient::WaitForClose(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  std::vector<std::byte> sink(64 * 1024);
  for (;;) {
    const int ready = PollUntil(fd_, POLLIN, deadline);
    if (ready <= 0) return false;
    const ssize_t n = ::recv(fd_, sink.data(), sink.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET || errno == EPIPE;
  }
}

void RawClient::ShutdownWrite() {
  ::shutdown(fd_, SHUT_WR);
}

}  // namespace spool::testing
