// PartitionManager: the broker's topics and partitions across shards.
//
// Topic metadata: the cluster metadata (the controller quorum's ClusterImage, followed by
// MetadataFollower) is the truth; ApplyMetadata() makes the local state match it. The TopicStore
// (shard 0) is the broker's durable copy of the topics it knows, with each partition's replicas
// and leadership, so a restarted broker reopens its partitions before it has caught up. Every
// shard keeps its own read-only snapshot of the topic list (name -> TopicInfo) and of the live
// brokers, replaced as a whole by a message to that shard when they change, so a handler on any
// shard looks them up without a lock.
//
// Partitions: a broker opens the partitions it is a replica of. Each is owned by the shard
// PartitionShard(topic, partition, n) names and lives in that shard's table; only that shard
// touches it. Handlers hop there with ShardSet::submit_to.
//
// Topic changes (shard 0, one at a time, in ApplyMetadata): a new topic is written to the store
// (durable) first, then its partitions are opened on their shards, then the new snapshot is
// published everywhere, so a shard that sees a topic finds all its partitions. A topic gone from
// the metadata (or replaced by another topic of the same name: another topic id) is marked
// deleted in the store (durable), unpublished everywhere, its partitions closed and their
// directories removed, then its record is dropped; Open() finishes a deletion a crash
// interrupted. Topics from before the controller quorum (no topic id in the store) are never
// deleted this way: the broker registers them with the controller first (LegacyTopics()).
//
// Creating and deleting topics is the controller's job: CheckCreate() validates a request
// before it is forwarded, EnsureTopic() asks the topic creator the broker installs
// (MetadataFollower: forward to the controller, then wait for the metadata).
//
// Retention: every shard runs apply_retention() and maybe_roll() over its partitions every
// retention_check_interval_ms (RequestTimers, no sleeping task per partition).
//
// Threading: Open(), Close(), ApplyMetadata() on shard 0. Topics()/FindTopic()/Brokers() and
// the Local*() accessors on any shard, about that shard. The ShardSet, config, clock and the
// file systems of StorageOptions must outlive the manager.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
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
#include "replication/controller/metadata_image.h"

namespace spool::broker {

// One partition's replicas and leadership, from the cluster metadata.
struct PartitionInfo {
  std::vector<int32_t> replicas;
  std::vector<int32_t> isr;
  int32_t leader = -1;  // -1: offline
  int32_t leader_epoch = 0;
  int32_t partition_epoch = 0;
  bool operator==(const PartitionInfo&) const = default;
};

struct TopicInfo {
  std::string name;
  std::string topic_id;  // 16 bytes; empty for a topic from before the controller quorum
  int32_t num_partitions = 0;
  int32_t replication_factor = 1;
  std::map<std::string, std::string> overrides;  // as created
  TopicConfig config;                            // effective
  // Partition i at index i. Empty for a topic from before the controller quorum until it is
  // registered: then every partition is hosted and led here, at leader epoch 0.
  std::vector<PartitionInfo> partitions;

  // Whether broker `node` is a replica of partition `p` (hosts its log).
  bool Hosts(int32_t node, int32_t p) const;
  // The partition's leader (-1: offline) and leader epoch; `self` leads a pre-quorum topic.
  int32_t LeaderOf(int32_t p, int32_t self) const;
  int32_t LeaderEpochOf(int32_t p) const;
};
using TopicSnapshot = std::unordered_map<std::string, std::shared_ptr<const TopicInfo>>;

// A registered, unfenced broker as clients reach it (Metadata).
struct BrokerInfo {
  int32_t id = -1;
  std::string host;
  int32_t port = 0;
  std::optional<std::string> rack;
};
using BrokerList = std::vector<BrokerInfo>;  // by id

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

  // Validates a topic to create (name, partitions, replication factor, configs) and returns it
  // as it would be made, with its effective config; the defaults (0) are filled in. Errors carry
  // wire codes (proto::ErrorToStatus): INVALID_TOPIC, INVALID_PARTITIONS,
  // INVALID_REPLICATION_FACTOR, INVALID_CONFIG. Whether it exists is the controller's to say.
  // Any shard.
  StatusOr<TopicInfo> CheckCreate(const CreateTopicSpec& spec) const;

  // Makes the local topics and partitions match `image` (the header comment says how), and
  // publishes them and the live brokers. Storage errors stop it (the next call goes on from
  // where it stopped). Shard 0; calls do not overlap.
  Task<Status> ApplyMetadata(const controller::ClusterImage& image);
  // The topics from before the controller quorum (no topic id) that `image` lacks. Shard 0.
  std::vector<TopicInfo> LegacyTopicsMissingFrom(const controller::ClusterImage& image) const;

  // Creates the topic through the topic creator (set_topic_creator) unless it exists: OK when
  // it exists (also when someone else made it meanwhile). Any shard (hops to shard 0).
  Task<Status> EnsureTopic(CreateTopicSpec spec);
  // The topic creator: creates the topic in the cluster and returns once it is published here
  // (TOPIC_ALREADY_EXISTS when it existed). Set once, before Open() returns; runs on shard 0.
  using TopicCreator = std::function<Task<Status>(CreateTopicSpec)>;
  void set_topic_creator(TopicCreator creator) { creator_ = std::move(creator); }
  // Told, on shard 0, which topics' partitions may have changed role (new or changed leader,
  // leader epoch, ISR or replicas; every topic at the first ApplyMetadata), after their
  // partitions are open and before the change is published (the ReplicaManager). Set before
  // Open().
  using RoleListener = std::function<Task<void>(std::vector<std::shared_ptr<const TopicInfo>>)>;
  void set_role_listener(RoleListener listener) { role_listener_ = std::move(listener); }

  // The calling shard's snapshots.
  std::shared_ptr<const TopicSnapshot> Topics() const;
  std::shared_ptr<const TopicInfo> FindTopic(const std::string& name) const;
  std::shared_ptr<const BrokerList> Brokers() const;
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
  StatusOr<TopicInfo> InfoFromImage(const controller::TopicImage& topic) const;
  struct PartitionRef {
    std::shared_ptr<const TopicInfo> topic;
    int32_t index = 0;
  };
  // Opens on each shard the partitions it owns among `refs`, and registers them there (one
  // already open there is kept as it is).
  Task<Status> OpenPartitions(std::vector<PartitionRef> refs);
  // Replaces every shard's snapshots with the current topic list and brokers.
  Task<void> Publish();
  // Closes these partitions of `topic` on their shards and removes their directories.
  Task<Status> DropPartitions(std::string topic, std::vector<int32_t> partitions);
  // ApplyMetadata's step for one new or changed topic: the record (durable), then the partitions
  // newly hosted here opened and those no longer hosted dropped, then topics_ (not published).
  Task<Status> ApplyTopic(std::shared_ptr<const TopicInfo> before, TopicInfo next);
  // Every partition of `topic` has this broker as its only replica.
  bool HostedOnlyHere(const TopicInfo& topic) const;
  // The deletion steps of the header comment, for a topic in topics_ or only in the store.
  Task<Status> RemoveTopic(std::string name, int32_t num_partitions);
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
  BrokerList brokers_;
  TopicCreator creator_;
  RoleListener role_listener_;
  bool roles_applied_ = false;  // the first ApplyMetadata has told the role listener
  log::AsyncMutex admin_mutex_;
  bool closed_ = false;
};

}  // namespace spool::broker
