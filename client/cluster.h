// Cluster: a client's view of the brokers: bootstrap, the metadata cache, and one connection per
// broker, replaced when it breaks.
//
// Metadata: refresh() asks a reachable broker for the topics the client uses (or all), and
// replaces what is cached for them (and the broker list). Producers and consumers call it on
// start, when they meet a topic they do not know, and after a retriable error that means the
// metadata may be stale (UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER,
// LEADER_NOT_AVAILABLE, FENCED_LEADER_EPOCH, a broken connection), with backoff
// (retry_backoff; the caller sleeps, Cluster does not). A topic the broker does not know is
// cached too, with its error, so callers can tell "unknown" from "never asked".
//
// Connections: connection(node) returns the live connection to a broker, connecting when there
// is none or the cached one is broken(); concurrent callers for the same broker share one
// connect, and get the connection in the order they asked (a per-broker FIFO gate), so callers
// that issue requests right after can rely on their call order (the producer's per-partition
// ordering does). Connections are shared_ptrs: a caller may keep one across co_awaits; a replaced
// connection stays valid (and broken) for whoever still holds it.
//
// Unreachable brokers: a broker whose connect failed or whose connection broke is tried last
// when refresh() looks for any broker to ask (the others, then the bootstrap servers, first), so
// a broker that stopped answering (a crash not yet noticed, a network partition) does not hold
// up every metadata refresh for a connect timeout.
//
// Threading: one reactor thread (a ClientRuntime's). TopicInfo pointers stay valid until the
// next refresh(); do not hold them across a co_await.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/connection.h"
#include "client/fifo_semaphore.h"
#include "common/io/socket.h"
#include "common/status.h"
#include "common/task.h"
#include "proto/errors.h"
#include "proto/metadata.pb.h"

namespace spool::client {

struct ClusterOptions {
  std::vector<io::HostPort> bootstrap;  // bootstrap.servers
  ConnectionOptions connection;
  std::chrono::milliseconds retry_backoff{100};        // retry.backoff.ms
  std::chrono::milliseconds metadata_max_age{300000};  // metadata.max.age.ms
  bool allow_auto_topic_creation = false;              // allow.auto.create.topics
};

// Parses "host:port,host:port" (bootstrap.servers). kInvalidArgument on a bad entry or none.
[[nodiscard]] StatusOr<std::vector<io::HostPort>> ParseBootstrap(std::string_view servers);

struct PartitionInfo {
  int32_t partition = 0;
  int32_t leader_id = -1;  // -1: no leader now
  int32_t leader_epoch = -1;
  proto::ErrorCode error = proto::ErrorCode::NONE;
};

struct TopicInfo {
  std::string name;
  proto::ErrorCode error = proto::ErrorCode::NONE;  // UNKNOWN_TOPIC_OR_PARTITION, ...
  std::vector<PartitionInfo> partitions;            // by partition number
};

class Cluster {
 public:
  // Parses nothing, connects to nothing: the first refresh() or connection() does.
  Cluster(io::Reactor& reactor, ClusterOptions options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Fetches metadata for `topics` (empty: all topics) from a live connection, a known broker or
  // a bootstrap server, trying each in turn. kUnavailable when none answers.
  Task<Status> refresh(std::vector<std::string> topics);

  // Cached metadata, or nullptr if the topic has never been fetched.
  const TopicInfo* topic(const std::string& name) const;
  // The broker's address by node id, if known.
  std::optional<io::HostPort> broker(int32_t node_id) const;
  // Monotonic time (SystemClock) of the last successful refresh(), 0 before the first.
  int64_t last_refresh_ns() const { return last_refresh_ns_; }
  // True when the last refresh is older than metadata_max_age (or there was none).
  bool metadata_stale() const;

  // The live connection to `node_id`, connecting (or reconnecting) when needed. kNotFound when
  // the node is not in the metadata; the connect error otherwise.
  Task<StatusOr<std::shared_ptr<BrokerConnection>>> connection(int32_t node_id);
  // A connection to any broker that answers (for metadata and admin requests).
  Task<StatusOr<std::shared_ptr<BrokerConnection>>> any_connection();

  const ClusterOptions& options() const { return options_; }
  // Closes every connection (calls in flight fail) and refuses new ones: connection() and
  // any_connection() fail with kCancelled afterwards, so nothing reconnects behind the owner's
  // back while it shuts down.
  Task<void> close();
  bool closed() const { return closed_; }

 private:
  Task<StatusOr<std::shared_ptr<BrokerConnection>>> Connect(int32_t node_id, io::HostPort where);

  io::Reactor& reactor_;
  ClusterOptions options_;
  std::map<std::string, TopicInfo> topics_;
  std::map<int32_t, io::HostPort> brokers_;
  std::map<int32_t, std::shared_ptr<BrokerConnection>> connections_;
  std::map<int32_t, std::unique_ptr<FifoSemaphore>> gates_;  // one connect at a time, FIFO
  std::shared_ptr<BrokerConnection> bootstrap_connection_;
  std::map<int32_t, int64_t> failed_at_ns_;  // last connect failure or broken connection
  int64_t last_refresh_ns_ = 0;
  bool closed_ = false;
};

}  // namespace spool::client
