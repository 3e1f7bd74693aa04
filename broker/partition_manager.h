// PartitionManager: the broker's topics and partitions across shards.
//
// Topic metadata: the TopicStore (shard 0) is the durable truth. Every shard keeps its own
// read-only snapshot of the topic list (name -> TopicInfo), replaced as a whole by a message to
// that shard when topics change, so a handler on any shard looks topics up without a lock.
//
// Partitions: each is owned by the shard PartitionShard(topic, partition, n) names and lives in
// that shard's table; only that shard touches it. Handlers hop there with ShardSet::submit_to.
//
// Topic changes (shard 0, one at a time): CreateTopic writes the store (durable) first, then
// opens the partitions on every shard, then publishes the new snapshot everywhere, so a shard
// that sees a topic finds all its partitions. DeleteTopic marks the topic deleted in the store
// (durable), unpublishes it everywhere, closes its partitions, removes their directories, then
// drops the record; Open() finishes a deletion a crash interrupted.
//
// Retention: every shard runs apply_retention() and maybe_roll() over its partitions every
// retention_check_interval_ms (RequestTimers, no sleeping task per partition).
//
// Threading: Open(), Close(), CreateTopic(), DeleteTopic() on shard 0. Topics()/FindTopic() and
// the Local*() accessors on any shard, about that shard. The ShardSet, config, clock and the file
// systems of StorageOptions must outlive the manager.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "broker/broker.h"
#include "broker/broker_config.h"
#include "broker/partition.h"
#include "broker/request_timers.h"
#include "broker/shard.h"
#include "broker/topic_config.h"
#include "broker/topic_store.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/task.h"
#include "log/coro_sync.h"

namespace spool::broker {

struct TopicInfo {
  std::string name;
  int32_t num_partitions = 0;
  int32_t replication_factor = 1;
  std::map<std::string, std::string> overrides;  // as created
  TopicConfig config;                            // effective
};
using TopicSnapshot = std::unordered_map<std::string, std::shared_ptr<const TopicInfo>>;

class PartitionManager;

// Test seam: the FileSystem each shard's partitions and (on shard 0) the topic store use.
// Unset: the shard's own (ShardSet). The file systems must outlive the broker and belong to the
// shard's reactor (e.g. a FaultFileSystem made on that shard).
struct StorageOptions {
  std::function<io::FileSystem*(int shard)> file_system;
};

// Broker::Open with a storage seam (broker.cc; tests use it for fault injection).
Task<StatusOr<std::unique_ptr<Broker>>> OpenBroker(ShardSet& shards, const BrokerConfig& config,
                                                   Clock& clock, StorageOptions storage);

// The partition manager of a broker made by OpenBroker()/Broker::Open() (for introspection:
// tests, and metrics later).
PartitionManager& PartitionsOf(Broker& broker);

struct CreateTopicSpec {
  std::string name;
  int32_t num_partitions = 0;      // 0: num.partitions
  int32_t replication_factor = 0;  // 0: default.replication.factor
  std::map<std::string, std::string> configs;
};

class PartitionManager {
 public:
  PartitionManager(ShardSet& shards, const BrokerConfig& config, Clock& clock,
                   StorageOptions storage);
  // Without a Close() before (a failed Open, or a test "crash"), drops every shard's partitions
  // on that shard (no flush, no marker: the next Open() recovers) and stops its timers, blocking
  // until each shard has; the ShardSet must still be running then.
  ~PartitionManager();

  // Loads the store, finishes interrupted deletions, opens every partition on its shard (shards
  // in parallel), publishes the topics and starts retention. Shard 0.
  Task<Status> Open();
  // Stops retention and closes every partition on its shard. Returns the first error. Shard 0.
  Task<Status> Close();

  // Validates `spec` (name, partitions, replication factor, configs) and, unless
  // `validate_only`, creates the topic. Errors carry wire codes (proto::ErrorToStatus):
  // INVALID_TOPIC, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG,
  // TOPIC_ALREADY_EXISTS; storage errors as they come. Shard 0.
  Task<StatusOr<TopicInfo>> CreateTopic(CreateTopicSpec spec, bool validate_only);
  // UNKNOWN_TOPIC_OR_PARTITION if there is no such topic; INVALID_TOPIC for an internal topic
  // (__consumer_offsets). Shard 0.
  Task<Status> DeleteTopic(std::string name);
  // Auto-creation with the defaults; OK if the topic exists (also when someone else made it
  // meanwhile). Any shard (hops to shard 0).
  Task<Status> EnsureTopic(std::string name);

  // The calling shard's snapshot.
  std::shared_ptr<const TopicSnapshot> Topics() const;
  std::shared_ptr<const TopicInfo> FindTopic(const std::string& name) const;
  int OwnerShard(const std::string& topic, int32_t partition) const {
    return PartitionShard(topic, partition, shards_.size());
  }
  // On the owning shard: the partition, or nullptr.
  std::shared_ptr<Partition> LocalPartition(const std::string& topic, int32_t partition) const;
  // Every partition of the calling shard.
  std::vector<std::shared_ptr<Partition>> LocalPartitions() const;
  RequestTimers& LocalTimers();

  TopicConfig DefaultTopicConfig() const;
  ShardSet& shards() { return shards_; }

 private:
  struct ShardLocal;
  ShardLocal& local() const;
  io::FileSystem& FsOf(int shard) const;
  std::string PartitionDir(const std::string& topic, int32_t partition) const;
  StatusOr<TopicInfo> InfoFromRecord(const v1::TopicRecord& record) const;
  // Opens on each shard the partitions of `topics` it owns, and registers them there.
  Task<Status> OpenPartitions(std::vector<std::shared_ptr<const TopicInfo>> topics);
  // Replaces every shard's snapshot with the current topic list.
  Task<void> Publish();
  // Closes `topic`'s partitions on their shards and removes their directories.
  Task<Status> DropPartitions(std::string topic, int32_t num_partitions);
  static Task<void> RetentionPass(PartitionManager* self, int shard);
  void ArmRetention(int shard);

  ShardSet& shards_;
  const BrokerConfig& config_;
  Clock& clock_;
  StorageOptions storage_;
  std::vector<std::unique_ptr<ShardLocal>> locals_;
  // Shard 0 only.
  std::unique_ptr<TopicStore> store_;
  TopicSnapshot topics_;  // the master copy the snapshots are made from
  log::AsyncMutex admin_mutex_;
  bool closed_ = false;
};

}  // namespace spool::broker
