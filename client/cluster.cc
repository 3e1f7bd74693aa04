#include "client/cluster.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/clock.h"

namespace spool::client {

StatusOr<std::vector<io::HostPort>> ParseBootstrap(std::string_view servers) {
  std::vector<io::HostPort> out;
  size_t pos = 0;
  while (pos <= servers.size()) {
    size_t comma = servers.find(',', pos);
    if (comma == std::string_view::npos) comma = servers.size();
    std::string_view part = servers.substr(pos, comma - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) {
      ASSIGN_OR_RETURN(io::HostPort hp, io::ParseHostPort(part));
      out.push_back(std::move(hp));
    }
    pos = comma + 1;
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bootstrap servers '", std::string(servers), "' name no host:port"));
  }
  return out;
}

Cluster::Cluster(io::Reactor& reactor, ClusterOptions options)
    : reactor_(reactor), options_(std::move(options)) {}

Cluster::~Cluster() = default;

bool Cluster::metadata_stale() const {
  if (last_refresh_ns_ == 0) return true;
  int64_t age = SystemClock::Get().monotonic_ns() - last_refresh_ns_;
  return age > std::chrono::nanoseconds(options_.metadata_max_age).count();
}

const TopicInfo* Cluster::topic(const std::string& name) const {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : &it->second;
}

std::optional<io::HostPort> Cluster::broker(int32_t node_id) const {
  auto it = brokers_.find(node_id);
  if (it == brokers_.end()) return std::nullopt;
  return it->second;
}

Task<StatusOr<std::shared_ptr<BrokerConnection>>> Cluster::Connect(int32_t node_id,
                                                                   io::HostPort where) {
  StatusOr<std::unique_ptr<BrokerConnection>> conn =
      co_await BrokerConnection::Connect(reactor_, where, options_.connection);
  if (!conn.ok()) {
    failed_at_ns_[node_id] = SystemClock::Get().monotonic_ns();
    co_return conn.status();
  }
  std::shared_ptr<BrokerConnection> shared = *std::move(conn);
  if (closed_) {
    co_await shared->close();
    co_return absl::CancelledError("cluster closed");
  }
  connections_[node_id] = shared;
  failed_at_ns_.erase(node_id);
  co_return shared;
}

Task<StatusOr<std::shared_ptr<BrokerConnection>>> Cluster::connection(int32_t node_id) {
  if (closed_) co_return absl::CancelledError("cluster closed");
  std::unique_ptr<FifoSemaphore>& gate = gates_[node_id];
  if (!gate) gate = std::make_unique<FifoSemaphore>(reactor_, 1);
  FifoSemaphore* g = gate.get();
  // Callers pass the gate in arrival order (it does not suspend when nobody is queued).
  bool got = co_await g->acquire();
  if (!got) co_return absl::CancelledError("cluster closed");
  StatusOr<std::shared_ptr<BrokerConnection>> result = absl::CancelledError("cluster closed");
  if (auto it = connections_.find(node_id); it != connections_.end() && !it->second->broken()) {
    result = it->second;
  } else if (std::optional<io::HostPort> where = broker(node_id); !where) {
    result = absl::NotFoundError(absl::StrCat("broker ", node_id, " is not in the metadata"));
  } else if (!closed_) {
    io::HostPort address = *std::move(where);
    result = co_await Connect(node_id, address);
  }
  g->release();
  co_return result;
}

Task<StatusOr<std::shared_ptr<BrokerConnection>>> Cluster::any_connection() {
  if (closed_) co_return absl::CancelledError("cluster closed");
  for (const auto& [id, conn] : connections_) {
    if (!conn->broken()) co_return conn;
    failed_at_ns_.try_emplace(id, SystemClock::Get().monotonic_ns());
  }
  if (bootstrap_connection_ && !bootstrap_connection_->broken()) co_return bootstrap_connection_;
  Status last = absl::UnavailableError("no bootstrap servers configured");
  // Brokers that never failed first, then those that failed longest ago; the bootstrap servers
  // come before any that failed.
  std::vector<std::pair<int64_t, int32_t>> order;
  for (const auto& [id, where] : brokers_) {
    auto failed = failed_at_ns_.find(id);
    order.emplace_back(failed == failed_at_ns_.end() ? 0 : failed->second, id);
  }
  std::sort(order.begin(), order.end());
  std::vector<int32_t> known, failed_before;
  for (const auto& [at, id] : order) (at == 0 ? known : failed_before).push_back(id);
  for (int32_t id : known) {
    StatusOr<std::shared_ptr<BrokerConnection>> conn = co_await connection(id);
    if (conn.ok()) co_return conn;
    last = conn.status();
  }
  std::vector<io::HostPort> bootstrap = options_.bootstrap;
  for (const io::HostPort& where : bootstrap) {
    StatusOr<std::unique_ptr<BrokerConnection>> conn =
        co_await BrokerConnection::Connect(reactor_, where, options_.connection);
    if (conn.ok() && closed_) {
      co_await (*conn)->close();
      co_return absl::CancelledError("cluster closed");
    }
    if (conn.ok()) {
      bootstrap_connection_ = *std::move(conn);
      co_return bootstrap_connection_;
    }
    last = conn.status();
  }
  for (int32_t id : failed_before) {
    StatusOr<std::shared_ptr<BrokerConnection>> conn = co_await connection(id);
    if (conn.ok()) co_return conn;
    last = conn.status();
  }
  co_return proto::ErrorToStatus(proto::ErrorCode::NETWORK_EXCEPTION,
                                 absl::StrCat("no broker reachable: ", last.message()));
}

Task<Status> Cluster::refresh(std::vector<std::string> topics) {
  v1::MetadataRequest request;
  request.set_all_topics(topics.empty());
  for (const std::string& t : topics) request.add_topics(t);
  request.set_allow_auto_topic_creation(options_.allow_auto_topic_creation);

  // One retry on a fresh connection: the cached one may have broken since it was handed out.
  Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    StatusOr<std::shared_ptr<BrokerConnection>> conn = co_await any_connection();
    if (!conn.ok()) co_return conn.status();
    std::shared_ptr<BrokerConnection> c = *std::move(conn);
    StatusOr<Reply> reply = co_await c->call(proto::ApiKey::API_KEY_METADATA, request);
    if (!reply.ok()) {
      last = reply.status();
      if (c->broken()) continue;
      co_return last;
    }
    const auto& response = reply->as<v1::MetadataResponse>();
    if (response.brokers_size() > 0) brokers_.clear();
    for (const v1::BrokerMetadata& b : response.brokers()) {
      brokers_[b.node_id()] =
          io::HostPort{.host = b.host(), .port = static_cast<uint16_t>(b.port())};
    }
    for (const v1::TopicMetadata& t : response.topics()) {
      TopicInfo info;
      info.name = t.name();
      info.error = t.error_code();
      for (const v1::PartitionMetadata& p : t.partitions()) {
        if (p.partition() < 0) continue;
        size_t index = static_cast<size_t>(p.partition());
        if (info.partitions.size() <= index) info.partitions.resize(index + 1);
        info.partitions[index] = PartitionInfo{.partition = p.partition(),
                                               .leader_id = p.leader_id(),
                                               .leader_epoch = p.leader_epoch(),
                                               .error = p.error_code()};
      }
      for (size_t i = 0; i < info.partitions.size(); ++i) {
        info.partitions[i].partition = static_cast<int32_t>(i);
      }
      topics_[info.name] = std::move(info);
    }
    last_refresh_ns_ = SystemClock::Get().monotonic_ns();
    co_return absl::OkStatus();
  }
  co_return last;
}

Task<void> Cluster::close() {
  closed_ = true;
  for (auto& [id, gate] : gates_) gate->close();
  std::vector<std::shared_ptr<BrokerConnection>> all;
  for (auto& [id, conn] : connections_) all.push_back(conn);
  if (bootstrap_connection_) all.push_back(bootstrap_connection_);
  connections_.clear();
  bootstrap_connection_.reset();
  for (auto& conn : all) co_await conn->close();
}

}  // namespace spool::client
