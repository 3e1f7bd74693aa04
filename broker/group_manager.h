// GroupManager: runs the group coordinators of a broker, one GroupCoordinator per partition of
// `__consumer_offsets` that this broker leads, each on the shard that owns that partition
// (broker/GROUPS.md).
//
// Placement: group id -> offsets partition (GroupPartition, a stable hash) -> its leader broker
// (CoordinatorNode, what FindCoordinator answers) -> shard (PartitionShard, as for any
// partition). A handler on any shard reaches a group by a message to that shard
// (ShardSet::submit_to); the coordinator state is touched only there, never under a lock.
//
// Leadership: a coordinator runs where its offsets partition is led, for one leadership term
// (Partition::term()). OnRoles (the role listener, after the ReplicaManager applied the roles)
// starts one, loading it from the log, where this broker became leader, and stops one where it
// no longer leads (parked requests answered NOT_COORDINATOR, later ones too): clients find the
// new coordinator and go on from what the log holds.
//
// Durability: records go to the offsets partition through the same log as user data, in the
// order the coordinator made them (one writer queue per partition). WriteDurable() completes
// once the records are covered by the partition's high watermark in the coordinator's term (on
// every ISR member, fdatasync'd); offset commits are acknowledged only then. Group metadata
// records are written without holding anyone up.
//
// Creation: `__consumer_offsets` has offsets.topic.num.partitions partitions and
// offsets.topic.replication.factor replicas (Kafka's rule since KIP-115: never fewer). A
// single-node cluster creates it at Open() with one replica (no other broker can join). A
// cluster creates it once that many brokers are live: at Open() if they are, else at a later
// FindCoordinator (EnsureOffsetsTopic), which answers COORDINATOR_NOT_AVAILABLE until then. A
// cluster of fewer brokers sets offsets.topic.replication.factor to its size.
//
// Loading: a coordinator replays its partition up to the log end (the records of the previous
// leader that this broker's HW has not caught up with count: they were acknowledged by it);
// until then, Acquire() of its groups answers COORDINATOR_LOAD_IN_PROGRESS.
//
// Threading: Open(), Close() and OnRoles() on shard 0; Acquire(), Changed(), WriteDurable() on
// the shard that owns the group (OwnerShard()); the rest from any shard. The ShardSet,
// PartitionManager, config and clock outlive the manager.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/broker_config.h"
#include "broker/group_coordinator.h"
#include "broker/group_records.h"
#include "broker/partition_manager.h"
#include "broker/shard.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/task.h"

namespace spool::broker {

class GroupManager {
 public:
  struct Slot;

  GroupManager(ShardSet& shards, PartitionManager& partitions, const BrokerConfig& config,
               Clock& clock);
  // Drops every shard's coordinators on that shard (without answering parked requests: a
  // "crash"), blocking until each has. After Close() there is nothing left to drop.
  ~GroupManager();

  // Creates `__consumer_offsets` if it is missing and may be made now (see the header; an
  // existing topic keeps its partition count), then starts a coordinator for every offsets
  // partition led here. Shard 0.
  Task<Status> Open();
  // Creates `__consumer_offsets` now if it is missing and may be made (see the header); OK once
  // it exists here. kUnavailable when fewer brokers are live than it needs, while another
  // attempt runs, and for a second after a failed one. Any shard.
  Task<Status> EnsureOffsetsTopic();
  // The role listener: starts and stops coordinators where leadership of offsets partitions
  // moved (see the header). Shard 0; a no-op before Open() and after Close().
  Task<void> OnRoles(const std::vector<std::shared_ptr<const TopicInfo>>& topics);
  // Answers every parked JoinGroup/SyncGroup with NOT_COORDINATOR, stops the timers; later
  // requests get NOT_COORDINATOR. Shard 0.
  Task<void> Close();

  int32_t num_partitions() const { return num_partitions_.load(); }
  int32_t PartitionOf(const std::string& group) const;
  int OwnerShard(const std::string& group) const;
  // The node that coordinates `group`: its offsets partition's leader (-1: none now).
  int32_t CoordinatorNode(const std::string& group) const;

  // On the owning shard: the group's slot, or nullptr with *code NOT_COORDINATOR (not open or
  // closing) or COORDINATOR_LOAD_IN_PROGRESS.
  std::shared_ptr<Slot> Acquire(const std::string& group, v1::ErrorCode* code);
  static GroupCoordinator& CoordinatorOf(Slot& slot);
  // After a call that may have changed the slot's groups: queues the records the coordinator
  // made, re-arms its timer.
  void Changed(const std::shared_ptr<Slot>& slot);
  // Appends `records` and completes when they are durable (or at deadline_ns, RequestTimers
  // time: kDeadlineExceeded). Errors: the partition's close reason, the log's failure.
  Task<Status> WriteDurable(std::shared_ptr<Slot> slot, std::vector<GroupRecord> records,
                            int64_t deadline_ns);

  // The calling shard's groups (ListGroups), filtered by state name; returns
  // COORDINATOR_LOAD_IN_PROGRESS if one of its partitions is still loading (the groups listed
  // are then those loaded), NOT_COORDINATOR when closed, else NONE.
  v1::ErrorCode ListLocal(const std::vector<std::string>& states_filter,
                          std::vector<v1::ListedGroup>* out);

  const GroupConfig& config() const { return group_config_; }

 private:
  struct ShardLocal;
  ShardLocal& local();
  // The calling shard's coordinators made to match the leadership of its offsets partitions.
  void SyncSlots(int shard);
  // `slot` is still this broker's coordinator: its partition leads here in the slot's term and
  // its load has not failed.
  bool Current(const Slot& slot) const;
  // Stops a slot's coordinator (NOT_COORDINATOR to whoever waits).
  static void Retire(Slot& slot);
  // Makes the topic with `replication_factor` replicas.
  Task<Status> CreateOffsetsTopic(int32_t replication_factor);
  static Task<void> Load(GroupManager* self, std::shared_ptr<Slot> slot);
  static Task<void> Pump(std::shared_ptr<Slot> slot);
  static void StartPump(const std::shared_ptr<Slot>& slot);
  void Arm(const std::shared_ptr<Slot>& slot);
  void ArmExpiry(int shard);

  ShardSet& shards_;
  PartitionManager& partitions_;
  const BrokerConfig& config_;
  Clock& clock_;
  GroupConfig group_config_;
  std::atomic<int32_t> num_partitions_{0};        // 0 until the topic exists here
  std::atomic<bool> creating_{false};             // an EnsureOffsetsTopic() is running
  std::atomic<int64_t> retry_creation_at_ns_{0};  // after a failed attempt (RequestTimers time)
  static constexpr int64_t kCreationRetryNs = 1'000'000'000;
  std::vector<std::unique_ptr<ShardLocal>> locals_;
  bool closed_ = false;
};

}  // namespace spool::broker
