// Cluster: a client's view of the brokers: bootstrap, the metadata cache, and one connection per
// broker, replaced when it breaks.
//
// Metadata: refresh() asks any reachable broker for the topics the client uses (or all), and
// replaces what is cached for them. Producers and consumers call it on start, when they meet a
// topic they do not know, and after a retriable error that means the metadata may be stale
// (UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, FENCED_LEADER_EPOCH,
// a broken connection), with backoff (retry.backoff.ms).
//
// Threading: one reactor thread (a ClientRuntime's). Pointers returned stay valid until the next
// refresh() or connection replacement on that thread; do not hold them across a co_await of
// something else.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/connection.h"
#include "common/io/socket.h"
#include "common/status.h"
#include "common/task.h"
#include "proto/metadata.pb.h"

namespace spool::client {

struct ClusterOptions {
  std::vector<io::HostPort> bootstrap;  // bootstrap.servers
  ConnectionOptions connection;
  std::chrono::milliseconds retry_backoff{100};        // retry.backoff.ms
  std::chrono::milliseconds metadata_max_age{300000};  // metadata.max.age.ms
};

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
  // Parses nothing, connects to nothing: the first refresh() does.
  Cluster(io::Reactor& reactor, ClusterOptions options);
  ~Cluster();

  // Fetches metadata for `topics` (empty: all topics) from any bootstrap or known broker, trying
  // each in turn. kUnavailable when none answers.
  Task<Status> refresh(std::vector<std::string> topics);

  // Cached metadata, or nullptr if the topic has never been fetched.
  const TopicInfo* topic(const std::string& name) const;
  // The broker's address by node id, if known.
  std::optional<io::HostPort> broker(int32_t node_id) const;

  // The live connection to `node_id`, connecting (or reconnecting) when needed.
  Task<StatusOr<BrokerConnection*>> connection(int32_t node_id);
  // A connection to any broker that answers (for metadata and admin requests).
  Task<StatusOr<BrokerConnection*>> any_connection();

  const ClusterOptions& options() const { return options_; }
  // Closes every connection.
  Task<void> close();

 private:
  io::Reactor& reactor_;
  ClusterOptions options_;
  std::map<std::string, TopicInfo> topics_;
  std::map<int32_t, io::HostPort> brokers_;
  std::map<int32_t, std::unique_ptr<BrokerConnection>> connections_;
  std::unique_ptr<BrokerConnection> bootstrap_connection_;
};

}  // namespace spool::client
