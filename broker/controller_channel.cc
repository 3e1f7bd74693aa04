// ControllerChannel: the one connection to the voter believed active, the retry loop (leader
// hints, next voter, doubling backoff) and Close() (controller_channel.h).
#include "broker/controller_channel.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/io/notifier.h"
#include "proto/body.h"
#include "proto/errors.h"

namespace spool::broker {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr milliseconds kMaxBackoff{250};
// Calls in flight at once on the connection (a long poll and the broker's other calls).
constexpr int kMaxInFlight = 16;

// What the channel sends, hence all it requires of a controller listener's ApiVersions.
constexpr proto::ApiVersionSupport kRequiredApis[] = {
    {v1::API_KEY_API_VERSIONS, 0, 0},     {v1::API_KEY_BROKER_REGISTRATION, 0, 0},
    {v1::API_KEY_BROKER_HEARTBEAT, 0, 0}, {v1::API_KEY_FETCH_METADATA, 0, 0},
    {v1::API_KEY_ALTER_PARTITION, 0, 0},  {v1::API_KEY_ALLOCATE_PRODUCER_IDS, 0, 0},
    {v1::API_KEY_DESCRIBE_QUORUM, 0, 0},  {v1::API_KEY_CREATE_TOPICS, 0, 0},
    {v1::API_KEY_DELETE_TOPICS, 0, 0},
};

int64_t NowNs() {
  return SystemClock::Get().monotonic_ns();
}

Status Cancelled() {
  return absl::CancelledError("controller channel closed");
}

// State the backoff timers share with the channel: a timer may wake after the channel is gone
// and then touches only this.
struct Shared {
  explicit Shared(io::Reactor& r) : wake(r), idle(r) {}
  io::Notifier wake;  // a backoff timer fired, or Close() began
  io::Notifier idle;  // the last call returned
  bool closing = false;
  int calls = 0;  // calls running
};

Task<void> BackoffTimer(std::shared_ptr<Shared> shared, std::shared_ptr<bool> fired,
                        io::Reactor& reactor, nanoseconds wait) {
  co_await reactor.sleep_for(wait);
  *fired = true;
  shared->wake.notify_all();
}

// Stamps the cluster id into the requests that carry one.
template <typename M>
void Stamp(M& request, const std::string& cluster_id) {
  if constexpr (requires { request.set_cluster_id(cluster_id); })
    request.set_cluster_id(cluster_id);
}

class ChannelImpl final : public ControllerChannel {
 public:
  ChannelImpl(io::Reactor& reactor, ControllerChannelOptions options)
      : reactor_(reactor),
        options_(std::move(options)),
        shared_(std::make_shared<Shared>(reactor)),
        connect_done_(reactor) {}

  ~ChannelImpl() override = default;

  Task<StatusOr<v1::BrokerRegistrationResponse>> BrokerRegistration(
      v1::BrokerRegistrationRequest request, milliseconds timeout) override {
    return Call<v1::BrokerRegistrationResponse>(v1::API_KEY_BROKER_REGISTRATION, std::move(request),
                                                timeout);
  }
  Task<StatusOr<v1::BrokerHeartbeatResponse>> BrokerHeartbeat(v1::BrokerHeartbeatRequest request,
                                                              milliseconds timeout) override {
    return Call<v1::BrokerHeartbeatResponse>(v1::API_KEY_BROKER_HEARTBEAT, std::move(request),
                                             timeout);
  }
  Task<StatusOr<v1::FetchMetadataResponse>> FetchMetadata(v1::FetchMetadataRequest request,
                                                          milliseconds timeout) override {
    return Call<v1::FetchMetadataResponse>(v1::API_KEY_FETCH_METADATA, std::move(request), timeout);
  }
  Task<StatusOr<v1::AlterPartitionResponse>> AlterPartition(v1::AlterPartitionRequest request,
                                                            milliseconds timeout) override {
    return Call<v1::AlterPartitionResponse>(v1::API_KEY_ALTER_PARTITION, std::move(request),
                                            timeout);
  }
  Task<StatusOr<v1::AllocateProducerIdsResponse>> AllocateProducerIds(
      v1::AllocateProducerIdsRequest request, milliseconds timeout) override {
    return Call<v1::AllocateProducerIdsResponse>(v1::API_KEY_ALLOCATE_PRODUCER_IDS,
                                                 std::move(request), timeout);
  }
  Task<StatusOr<v1::DescribeQuorumResponse>> DescribeQuorum(v1::DescribeQuorumRequest request,
                                                            milliseconds timeout) override {
    return Call<v1::DescribeQuorumResponse>(v1::API_KEY_DESCRIBE_QUORUM, std::move(request),
                                            timeout);
  }
  Task<StatusOr<v1::CreateTopicsResponse>> CreateTopics(v1::CreateTopicsRequest request,
                                                        milliseconds timeout) override {
    return Call<v1::CreateTopicsResponse>(v1::API_KEY_CREATE_TOPICS, std::move(request), timeout);
  }
  Task<StatusOr<v1::DeleteTopicsResponse>> DeleteTopics(v1::DeleteTopicsRequest request,
                                                        milliseconds timeout) override {
    return Call<v1::DeleteTopicsResponse>(v1::API_KEY_DELETE_TOPICS, std::move(request), timeout);
  }

  Task<void> Close() override {
    shared_->closing = true;
    shared_->wake.notify_all();
    connect_done_.notify_all();
    std::shared_ptr<client::BrokerConnection> conn = std::move(conn_);
    if (conn != nullptr) co_await conn->close();
    while (shared_->calls > 0) co_await shared_->idle.wait();
  }

 private:
  // Counts a running call, so Close() can wait for it.
  class Running {
   public:
    explicit Running(Shared& s) : s_(s) { ++s_.calls; }
    ~Running() {
      if (--s_.calls == 0) s_.idle.notify_all();
    }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;

   private:
    Shared& s_;
  };

  size_t Next(size_t voter) const { return (voter + 1) % options_.voters.size(); }

  std::optional<size_t> VoterIndex(int32_t id) const {
    for (size_t i = 0; i < options_.voters.size(); ++i) {
      if (static_cast<int64_t>(options_.voters[i].id.value()) == id) return i;
    }
    return std::nullopt;
  }

  // Forgets `conn` (when it is still the current one) and moves to voter `next`. Calls still in
  // flight on it keep it alive; the last one to finish destroys it, which closes it.
  void MoveOn(const std::shared_ptr<client::BrokerConnection>& conn, size_t next) {
    if (conn_ != conn) return;  // another call already moved on
    conn_.reset();
    current_ = next;
  }

  // The connection to the current voter, connecting when there is none (one connect at a time;
  // other calls wait for it).
  Task<StatusOr<std::shared_ptr<client::BrokerConnection>>> Connection(int64_t deadline_ns) {
    while (connecting_ && !shared_->closing) co_await connect_done_.wait();
    if (shared_->closing) co_return Cancelled();
    if (conn_ != nullptr && !conn_->broken()) co_return conn_;
    if (conn_ != nullptr) MoveOn(conn_, Next(current_));
    const size_t target = current_;
    client::ConnectionOptions co;
    co.client_id = options_.client_id;
    co.connect_timeout =
        std::clamp(std::chrono::duration_cast<milliseconds>(nanoseconds(deadline_ns - NowNs())),
                   milliseconds(1), options_.connect_timeout);
    co.max_in_flight = kMaxInFlight;
    co.required_apis = kRequiredApis;
    io::HostPort where = options_.voters[target].address;
    connecting_ = true;
    StatusOr<std::unique_ptr<client::BrokerConnection>> conn =
        co_await client::BrokerConnection::Connect(reactor_, where, co);
    connecting_ = false;
    connect_done_.notify_all();
    if (!conn.ok()) {
      if (current_ == target) current_ = Next(target);
      co_return conn.status();
    }
    std::shared_ptr<client::BrokerConnection> c(*std::move(conn));
    if (shared_->closing) {
      co_await c->close();
      co_return Cancelled();
    }
    conn_ = c;
    current_ = target;
    co_return c;
  }

  // Waits `d` (or less, when Close() begins).
  Task<void> Backoff(nanoseconds d) {
    auto fired = std::make_shared<bool>(false);
    reactor_.spawn(BackoffTimer(shared_, fired, reactor_, d));
    while (!*fired && !shared_->closing) co_await shared_->wake.wait();
  }

  template <typename Response, typename Request>
  Task<StatusOr<Response>> Call(v1::ApiKey api, Request request, milliseconds timeout) {
    Running running(*shared_);
    Stamp(request, options_.cluster_id);
    const int64_t deadline = NowNs() + nanoseconds(timeout).count();
    nanoseconds backoff = options_.retry_backoff;
    size_t redirects = 0;  // leader hints followed at once since the last backoff
    Status last = proto::ErrorToStatus(proto::ErrorCode::REQUEST_TIMED_OUT,
                                       "controller call: no attempt within the timeout");
    if (options_.voters.empty()) {
      co_return absl::InvalidArgumentError("controller channel: no voters");
    }
    for (;;) {
      if (shared_->closing) co_return Cancelled();
      if (NowNs() >= deadline) co_return last;
      bool redirected = false;
      StatusOr<std::shared_ptr<client::BrokerConnection>> conn = co_await Connection(deadline);
      if (!conn.ok()) {
        if (shared_->closing) co_return Cancelled();
        last = conn.status();
      } else {
        const std::span<const std::span<const std::byte>> no_payload;
        const std::optional<milliseconds> attempt =
            std::max(milliseconds(1),
                     std::chrono::duration_cast<milliseconds>(nanoseconds(deadline - NowNs())));
        StatusOr<client::Reply> reply = co_await (*conn)->call(api, request, no_payload, attempt);
        if (shared_->closing) co_return Cancelled();
        if (reply.ok()) co_return reply->as<Response>();
        last = reply.status();
        const proto::ErrorCode code = proto::ErrorFromStatus(last);
        if (code == proto::ErrorCode::NOT_CONTROLLER) {
          const std::optional<size_t> hint = VoterIndex(proto::ErrorControllerId(last));
          const size_t from = current_;
          if (hint.has_value() && *hint != from && redirects < options_.voters.size()) {
            ++redirects;
            redirected = true;
            MoveOn(*conn, *hint);
          } else {
            MoveOn(*conn, Next(from));
          }
        } else if ((*conn)->broken()) {
          MoveOn(*conn, Next(current_));
        } else {
          // An error frame about the request itself (UNSUPPORTED_VERSION, INVALID_REQUEST, ...):
          // another voter would answer the same.
          co_return last;
        }
      }
      if (redirected) continue;
      redirects = 0;
      const int64_t left = deadline - NowNs();
      if (left <= 0) co_return last;
      co_await Backoff(std::min(backoff, nanoseconds(left)));
      backoff = std::min<nanoseconds>(backoff * 2, kMaxBackoff);
    }
  }

  io::Reactor& reactor_;
  const ControllerChannelOptions options_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<client::BrokerConnection> conn_;  // to voters[current_], or nullptr
  size_t current_ = 0;
  bool connecting_ = false;
  io::Notifier connect_done_;
};

}  // namespace

std::unique_ptr<ControllerChannel> ControllerChannel::Create(io::Reactor& reactor,
                                                             ControllerChannelOptions options) {
  return std::make_unique<ChannelImpl>(reactor, std::move(options));
}

}  // namespace spool::broker
