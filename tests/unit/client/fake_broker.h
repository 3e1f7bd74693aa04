// FakeBroker: a tiny broker for client tests, on a real loopback socket. It stands in for spoold
// so a test can control exactly what the client sees: the order and timing of responses, wrong
// correlation ids, error responses, silence (timeouts) and closed connections.
//
// A thread accepts connections; each connection gets its own thread that decodes request frames
// with proto::FrameDecoder and hands each to the test's handler, which answers through the
// FakeConn (Reply, ReplyError, SendRaw, Close) or not at all. ApiVersions requests are answered
// with this build's SupportedApis() before the handler sees anything, unless the test sets
// handle_api_versions to false.
//
// Threading: the handler runs on connection threads (one per connection, so calls on one
// connection are serialized). Shared test state goes through the mutex-guarded helpers here or
// the test's own synchronisation. The destructor shuts every socket down and joins the threads.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "common/io/socket.h"
#include "gtest/gtest.h"
#include "proto/body.h"
#include "proto/frame_decoder.h"
#include "proto/frame_encoder.h"

namespace spool::client::testing {

class FakeConn {
 public:
  explicit FakeConn(int fd) : fd_(fd) {}

  // Sends `bytes` completely (blocking). False when the peer is gone.
  bool SendRaw(std::span<const std::byte> bytes) {
    std::lock_guard lock(mu_);
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  // The encoded response to `request` with `body` (and `payload`), or with an explicit
  // correlation id to test mismatches.
  static std::vector<std::byte> Response(const proto::FrameHeader& request,
                                         const google::protobuf::MessageLite& body,
                                         std::span<const std::span<const std::byte>> payload = {},
                                         std::optional<int32_t> correlation_id = std::nullopt) {
    proto::FrameHeader h = request;
    h.flags = proto::kFlagResponse;
    if (correlation_id) h.correlation_id = *correlation_id;
    auto frame = proto::EncodeFrame(h, body, payload);
    EXPECT_TRUE(frame.ok()) << frame.status();
    return frame.ok() ? frame->Flatten() : std::vector<std::byte>{};
  }
  bool Reply(const proto::FrameHeader& request, const google::protobuf::MessageLite& body,
             std::span<const std::span<const std::byte>> payload = {}) {
    return SendRaw(Response(request, body, payload));
  }
  bool ReplyError(const proto::FrameHeader& request, proto::ErrorCode code,
                  std::string_view message) {
    auto frame = proto::EncodeErrorResponse(request, code, message);
    EXPECT_TRUE(frame.ok()) << frame.status();
    return frame.ok() && SendRaw(frame->Flatten());
  }
  // Closes the connection (the client sees end of stream).
  void Close() { ::shutdown(fd_, SHUT_RDWR); }
  int fd() const { return fd_; }

 private:
  std::mutex mu_;
  int fd_;
};

class FakeBroker {
 public:
  using Handler = std::function<void(FakeConn& conn, const proto::Frame& request)>;

  explicit FakeBroker(Handler handler, int32_t broker_id = 1)
      : handler_(std::move(handler)), broker_id_(broker_id) {
    auto fd = io::ListenTcp(io::HostPort{"127.0.0.1", 0});
    EXPECT_TRUE(fd.ok()) << fd.status();
    listen_fd_ = *fd;
    // ListenTcp makes non-blocking sockets; the fake broker's threads block instead.
    ::fcntl(listen_fd_, F_SETFL, ::fcntl(listen_fd_, F_GETFL) & ~O_NONBLOCK);
    auto port = io::LocalPort(listen_fd_);
    EXPECT_TRUE(port.ok()) << port.status();
    port_ = *port;
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~FakeBroker() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      for (auto& c : conns_) c->Close();
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    for (auto& c : conns_) ::close(c->fd());
    ::close(listen_fd_);
  }

  io::HostPort address() const { return io::HostPort{"127.0.0.1", port_}; }
  uint16_t port() const { return port_; }
  int32_t broker_id() const { return broker_id_; }
  std::atomic<bool> handle_api_versions{true};

  int connections() const { return accepted_.load(); }
  // Requests (other than ApiVersions) seen so far, in arrival order.
  std::vector<proto::FrameHeader> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // Waits (up to `timeout`) until at least `n` non-handshake requests arrived.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
  }
  // Closes every open connection (the client sees its connection break).
  void CloseAll() {
    std::lock_guard lock(mu_);
    for (auto& c : conns_) c->Close();
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        return;  // shut down
      }
      // accept4 without SOCK_NONBLOCK: a blocking socket for the simple loops below.
      accepted_++;
      std::lock_guard lock(mu_);
      conns_.push_back(std::make_unique<FakeConn>(fd));
      FakeConn* conn = conns_.back().get();
      threads_.emplace_back([this, conn] { Serve(*conn); });
    }
  }

  void Serve(FakeConn& conn) {
    proto::FrameDecoder decoder;
    for (;;) {
      std::span<std::byte> space = decoder.WritableSpace();
      ssize_t n = ::recv(conn.fd(), space.data(), space.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      decoder.Commit(static_cast<size_t>(n));
      for (;;) {
        auto frame = decoder.Next();
        if (!frame.ok() || !frame->has_value()) {
          if (!frame.ok()) return;
          break;
        }
        const proto::Frame& f = **frame;
        if (handle_api_versions && f.header().api_key == proto::ApiKey::API_KEY_API_VERSIONS) {
          v1::ApiVersionsResponse r;
          for (const auto& api : proto::SupportedApis()) {
            auto* range = r.add_api_keys();
            range->set_api_key(api.api_key);
            range->set_min_version(api.min_version);
            range->set_max_version(api.max_version);
          }
          r.set_broker_id(broker_id_);
          conn.Reply(f.header(), r);
          continue;
        }
        {
          std::lock_guard lock(mu_);
          requests_.push_back(f.header());
        }
        cv_.notify_all();
        handler_(conn, f);
      }
    }
  }

  Handler handler_;
  int32_t broker_id_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<FakeConn>> conns_;
  std::vector<std::thread> threads_;
  std::vector<proto::FrameHeader> requests_;
};

}  // namespace spool::client::testing
