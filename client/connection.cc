#include "client/connection.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <coroutine>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/fifo_semaphore.h"
#include "common/clock.h"
#include "common/io/notifier.h"
#include "proto/errors.h"
#include "proto/frame_encoder.h"

namespace spool::client {
namespace {

using Nanos = std::chrono::nanoseconds;

// The watchdog never sleeps longer than this, so a call with a short timeout sent while it
// sleeps is noticed in time, and a broken connection's state is released soon.
constexpr Nanos kWatchdogTick = std::chrono::milliseconds(100);
constexpr size_t kReadAhead = 256 * 1024;

int64_t NowNs() {
  return SystemClock::Get().monotonic_ns();
}

// TCP's simultaneous open lets a connect to a loopback port nobody listens on succeed when the
// kernel happens to pick that same port as the local one: the socket is connected to itself.
// It would then hold the broker's port (and after close, a TIME_WAIT that keeps a restarting
// broker from binding it), so such a socket is reset at once.
bool ConnectedToItself(int fd) {
  sockaddr_storage local{}, peer{};
  socklen_t local_len = sizeof(local), peer_len = sizeof(peer);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) return false;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) return false;
  return local_len == peer_len && std::memcmp(&local, &peer, local_len) == 0;
}

Status NetworkError(std::string_view what) {
  return proto::ErrorToStatus(proto::ErrorCode::NETWORK_EXCEPTION, what);
}

}  // namespace

struct BrokerConnection::State {
  State(io::Reactor& r, io::HostPort p, ConnectionOptions o, int socket)
      : reactor(r),
        peer(std::move(p)),
        options(std::move(o)),
        fd(socket),
        decoder(options.limits, kReadAhead),
        slots(r, std::max(1, options.max_in_flight)),
        socket(r, 1),
        send_done(r),
        watchdog_wake(r),
        closed(r) {}

  struct Pending {
    int32_t correlation_id = 0;
    int16_t api_key = 0;
    int64_t deadline_ns = 0;
    std::coroutine_handle<> waiter;
    std::optional<StatusOr<Reply>> result;
  };
  struct ResultAwaiter {
    Pending& p;
    bool await_ready() const noexcept { return p.result.has_value(); }
    void await_suspend(std::coroutine_handle<> h) noexcept { p.waiter = h; }
    void await_resume() const noexcept {}
  };

  void Complete(Pending& p, StatusOr<Reply> result) {
    p.result.emplace(std::move(result));
    if (p.waiter) reactor.schedule(std::exchange(p.waiter, {}));
  }

  // Marks the connection broken with `why`, fails every call in flight, and shuts the socket
  // down so the reader's recv returns; the reader then closes it.
  void Break(Status why) {
    if (!broken.ok()) return;
    broken = std::move(why);
    std::deque<std::shared_ptr<Pending>> failed;
    failed.swap(in_flight);
    for (auto& p : failed) Complete(*p, broken);
    slots.close();
    socket.close();
    send_done.notify_all();
    watchdog_wake.notify_all();
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }

  // Matches one response to the oldest call in flight.
  void Deliver(proto::Frame frame) {
    const proto::FrameHeader& h = frame.header();
    if (in_flight.empty()) {
      Break(NetworkError(absl::StrCat("response from ", peer.ToString(), " (correlation id ",
                                      h.correlation_id, ") with no request in flight")));
      return;
    }
    std::shared_ptr<Pending> p = in_flight.front();
    if (!h.is_response() || h.correlation_id != p->correlation_id || h.api_key != p->api_key) {
      Break(NetworkError(absl::StrCat("response from ", peer.ToString(), " has correlation id ",
                                      h.correlation_id, " and API key ", h.api_key, ", expected ",
                                      p->correlation_id, " and ", p->api_key)));
      return;
    }
    in_flight.pop_front();
    if (Status st = proto::ErrorResponseStatus(h, frame.body()); !st.ok()) {
      Complete(*p, std::move(st));
      return;
    }
    auto body = proto::ParseFrameBody(h, frame.body());
    if (!body.ok()) {
      // The framing is intact, so the stream stays usable; only this call fails.
      Complete(*p, body.status());
      return;
    }
    Complete(*p, Reply{std::move(frame), *std::move(body)});
  }

  io::Reactor& reactor;
  io::HostPort peer;
  ConnectionOptions options;
  int fd;
  int32_t broker_id = -1;
  proto::FrameDecoder decoder;
  int32_t next_correlation_id = 1;
  Status broken;         // OK while the connection works
  int active = 0;        // calls holding a slot: sending or awaiting their response
  int waiting = 0;       // calls waiting for a slot
  bool sending = false;  // a sendv is in progress (the reader closes the socket only after)
  bool reader_done = false;
  std::deque<std::shared_ptr<Pending>> in_flight;  // sent calls, oldest first
  FifoSemaphore slots;                             // max_in_flight permits, granted in call order
  FifoSemaphore socket;                            // one writer at a time, in call order
  io::Notifier send_done;                          // a sendv finished
  io::Notifier watchdog_wake;                      // a call was sent, or the connection broke
  io::Notifier closed;                             // the reader closed the socket
};

namespace {

using State = BrokerConnection::State;

Task<void> ReadLoop(std::shared_ptr<State> s) {
  while (s->broken.ok()) {
    std::span<std::byte> space = s->decoder.WritableSpace();
    StatusOr<size_t> n = co_await s->reactor.recv(s->fd, space);
    if (!n.ok()) {
      s->Break(NetworkError(
          absl::StrCat("receive from ", s->peer.ToString(), ": ", n.status().message())));
      break;
    }
    if (*n == 0) {
      s->Break(NetworkError(absl::StrCat("connection closed by ", s->peer.ToString())));
      break;
    }
    s->decoder.Commit(*n);
    while (s->broken.ok()) {
      StatusOr<std::optional<proto::Frame>> frame = s->decoder.Next();
      if (!frame.ok()) {
        s->Break(NetworkError(
            absl::StrCat("bad frame from ", s->peer.ToString(), ": ", frame.status().message())));
        break;
      }
      if (!frame->has_value()) break;
      s->Deliver(**std::move(frame));
    }
  }
  // Close the socket once no sendv uses it (a later send sees the broken state and never
  // starts), so the descriptor number cannot be reused under a send in progress.
  while (s->sending) co_await s->send_done.wait();
  int fd = std::exchange(s->fd, -1);
  Status st = co_await s->reactor.close(fd);
  PermitUncheckedError(st);  // the descriptor is released either way
  s->reader_done = true;
  s->closed.notify_all();
}

Task<void> Watchdog(std::shared_ptr<State> s) {
  while (s->broken.ok()) {
    if (s->in_flight.empty()) {
      co_await s->watchdog_wake.wait();
      continue;
    }
    int64_t earliest = s->in_flight.front()->deadline_ns;
    for (const auto& p : s->in_flight) earliest = std::min(earliest, p->deadline_ns);
    int64_t now = NowNs();
    if (earliest <= now) {
      s->Break(proto::ErrorToStatus(
          proto::ErrorCode::REQUEST_TIMED_OUT,
          absl::StrCat("no response from ", s->peer.ToString(), " within the request timeout")));
      break;
    }
    co_await s->reactor.sleep_for(std::min(Nanos(earliest - now), kWatchdogTick));
  }
}

// Takes a slot and the socket, and writes one frame. On success returns the Pending entry of a
// call (nullptr for send()); the caller owns one slot until it finishes.
Task<StatusOr<std::shared_ptr<State::Pending>>> Write(
    std::shared_ptr<State> s, proto::ApiKey api, const google::protobuf::MessageLite& body,
    std::span<const std::span<const std::byte>> payload, bool expect_response, int64_t deadline) {
  bool got = co_await s->socket.acquire();
  if (!got || !s->broken.ok()) {
    if (got) s->socket.release();
    co_return s->broken.ok() ? absl::InternalError("socket lock refused") : s->broken;
  }
  proto::FrameHeader header;
  header.api_key = static_cast<int16_t>(api);
  header.correlation_id = s->next_correlation_id++;
  StatusOr<proto::OutgoingFrame> frame = proto::EncodeFrame(header, body, payload);
  if (!frame.ok()) {
    s->socket.release();
    co_return frame.status();
  }
  std::shared_ptr<State::Pending> pending;
  if (expect_response) {
    pending = std::make_shared<State::Pending>();
    pending->correlation_id = header.correlation_id;
    pending->api_key = header.api_key;
    pending->deadline_ns = deadline;
    // Queued before the write: the response may arrive before sendv completes.
    s->in_flight.push_back(pending);
    s->watchdog_wake.notify_all();
  }
  std::vector<iovec> iov;
  frame->AppendIovecs(&iov);
  s->sending = true;
  Status st = co_await s->reactor.sendv(s->fd, iov);
  s->sending = false;
  s->send_done.notify_all();
  s->socket.release();
  if (!st.ok()) {
    s->Break(NetworkError(absl::StrCat("send to ", s->peer.ToString(), ": ", st.message())));
    co_return s->broken;
  }
  co_return pending;
}

Task<StatusOr<Reply>> CallImpl(std::shared_ptr<State> s, proto::ApiKey api,
                               const google::protobuf::MessageLite& body,
                               std::span<const std::span<const std::byte>> payload,
                               std::chrono::milliseconds timeout) {
  int64_t deadline = NowNs() + Nanos(timeout).count();
  ++s->waiting;
  bool got = co_await s->slots.acquire();
  --s->waiting;
  if (!got || !s->broken.ok()) {
    if (got) s->slots.release();
    co_return s->broken.ok() ? absl::InternalError("call slot refused") : s->broken;
  }
  ++s->active;
  StatusOr<std::shared_ptr<State::Pending>> pending =
      co_await Write(s, api, body, payload, /*expect_response=*/true, deadline);
  if (pending.ok()) co_await State::ResultAwaiter{**pending};
  --s->active;
  s->slots.release();
  if (!pending.ok()) co_return pending.status();
  co_return std::move(*(*pending)->result);
}

Task<Status> SendImpl(std::shared_ptr<State> s, proto::ApiKey api,
                      const google::protobuf::MessageLite& body,
                      std::span<const std::span<const std::byte>> payload) {
  StatusOr<std::shared_ptr<State::Pending>> written =
      co_await Write(s, api, body, payload, /*expect_response=*/false, 0);
  co_return written.status();
}

// ConnectTcp raced against connect_timeout. The loser cleans up: a connect that completes after
// the timeout closes its socket.
Task<StatusOr<int>> ConnectWithTimeout(io::Reactor& reactor, io::HostPort where,
                                       std::chrono::milliseconds timeout) {
  struct Race {
    explicit Race(io::Reactor& r) : done(r) {}
    std::optional<StatusOr<int>> result;
    bool timed_out = false;
    io::Notifier done;
  };
  auto race = std::make_shared<Race>(reactor);
  reactor.spawn([](std::shared_ptr<Race> r, io::Reactor& re, io::HostPort w) -> Task<void> {
    StatusOr<int> fd = co_await io::ConnectTcp(re, std::move(w));
    if (r->timed_out) {
      if (fd.ok()) {
        Status st = co_await re.close(*fd);
        PermitUncheckedError(st);
      }
      co_return;
    }
    r->result.emplace(std::move(fd));
    r->done.notify_all();
  }(race, reactor, where));
  reactor.spawn([](std::shared_ptr<Race> r, io::Reactor& re, Nanos d) -> Task<void> {
    co_await re.sleep_for(d);
    if (r->result.has_value()) co_return;
    r->timed_out = true;
    r->done.notify_all();
  }(race, reactor, timeout));
  while (!race->result.has_value() && !race->timed_out) co_await race->done.wait();
  if (!race->result.has_value()) {
    co_return NetworkError(absl::StrCat("connect to ", where.ToString(), " timed out"));
  }
  co_return std::move(*race->result);
}

Status CheckApiVersions(const v1::ApiVersionsResponse& response, const io::HostPort& peer,
                        std::span<const proto::ApiVersionSupport> required) {
  if (response.error_code() != proto::ErrorCode::NONE) {
    return proto::ErrorToStatus(response.error_code(),
                                absl::StrCat("ApiVersions from ", peer.ToString()));
  }
  for (const proto::ApiVersionSupport& need : required) {
    bool served = false;
    for (const v1::ApiVersionRange& range : response.api_keys()) {
      if (range.api_key() == need.api_key && range.min_version() <= need.max_version &&
          range.max_version() >= need.min_version) {
        served = true;
        break;
      }
    }
    if (!served) {
      return proto::ErrorToStatus(proto::ErrorCode::UNSUPPORTED_VERSION,
                                  absl::StrCat("broker ", peer.ToString(), " does not serve API ",
                                               v1::ApiKey_Name(need.api_key), " at versions ",
                                               need.min_version, "..", need.max_version));
    }
  }
  return absl::OkStatus();
}

}  // namespace

BrokerConnection::BrokerConnection(std::shared_ptr<State> state) : state_(std::move(state)) {}

BrokerConnection::~BrokerConnection() {
  if (state_) state_->Break(NetworkError("connection closed by the client"));
}

Task<StatusOr<std::unique_ptr<BrokerConnection>>> BrokerConnection::Connect(
    io::Reactor& reactor, io::HostPort where, ConnectionOptions options) {
  std::chrono::milliseconds timeout = options.connect_timeout;
  StatusOr<int> fd = co_await ConnectWithTimeout(reactor, where, timeout);
  // The message names the address already.
  if (!fd.ok()) co_return NetworkError(std::string(fd.status().message()));
  if (ConnectedToItself(*fd)) {
    const linger reset{.l_onoff = 1, .l_linger = 0};  // RST on close: no TIME_WAIT
    ::setsockopt(*fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    Status closed = co_await reactor.close(*fd);
    PermitUncheckedError(closed);
    co_return NetworkError(
        absl::StrCat("connect to ", where.ToString(), ": connected to itself (nothing listens)"));
  }
  auto state = std::make_shared<State>(reactor, where, std::move(options), *fd);
  reactor.spawn(ReadLoop(state));
  reactor.spawn(Watchdog(state));
  std::unique_ptr<BrokerConnection> conn(new BrokerConnection(state));

  v1::ApiVersionsRequest request;
  request.set_client_software_name(state->options.client_id);
  request.set_client_software_version("0.1.0");
  StatusOr<Reply> reply =
      co_await conn->call(proto::ApiKey::API_KEY_API_VERSIONS, request, {}, timeout);
  if (!reply.ok()) co_return reply.status();
  const auto& response = reply->as<v1::ApiVersionsResponse>();
  Status handshake = CheckApiVersions(response, where, state->options.required_apis);
  if (!handshake.ok()) co_return handshake;
  state->broker_id = response.broker_id();
  co_return conn;
}

Task<StatusOr<Reply>> BrokerConnection::call(proto::ApiKey api,
                                             const google::protobuf::MessageLite& body,
                                             std::span<const std::span<const std::byte>> payload,
                                             std::optional<std::chrono::milliseconds> timeout) {
  return CallImpl(state_, api, body, payload, timeout.value_or(state_->options.request_timeout));
}

Task<Status> BrokerConnection::send(proto::ApiKey api, const google::protobuf::MessageLite& body,
                                    std::span<const std::span<const std::byte>> payload) {
  return SendImpl(state_, api, body, payload);
}

bool BrokerConnection::broken() const {
  return !state_->broken.ok();
}
Status BrokerConnection::broken_status() const {
  return state_->broken;
}
int BrokerConnection::in_flight() const {
  return state_->active + state_->waiting;
}
const io::HostPort& BrokerConnection::peer() const {
  return state_->peer;
}
int32_t BrokerConnection::broker_id() const {
  return state_->broker_id;
}

Task<void> BrokerConnection::close() {
  std::shared_ptr<State> s = state_;
  s->Break(NetworkError("connection closed by the client"));
  while (!s->reader_done) co_await s->closed.wait();
}

}  // namespace spool::client
