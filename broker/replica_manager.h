// ReplicaManager: runs each hosted partition as leader or follower as the cluster metadata says
// (broker/REPLICATION.md), and keeps the ISRs of the partitions this broker leads.
//
//  - ApplyRoles(topics): after the PartitionManager has applied a metadata change (and before it
//    publishes it), every hosted partition of those topics becomes leader (Partition::
//    BecomeLeader with the metadata's epoch, ISR and partition epoch) or follower of the
//    metadata's leader (BecomeFollower, then handed to the shard's ReplicaFetcher for that
//    leader; -1: none until a leader is elected).
//  - ISR upkeep: every shard checks its led partitions every isr_check_interval: followers that
//    have lagged past replica.lag.time.max.ms leave the ISR, followers that caught up join it,
//    through AlterPartition to the controller (one change in flight per partition; the answer's
//    partition state is applied at once, the metadata brings it to everyone else). A refused
//    change (stale partition or leader epoch) waits for the metadata.
//
// Ownership and threading: one per broker, made and destroyed with it; ApplyRoles and Stop on
// shard 0 (they hop to every shard), the per-shard state only on its shard. The
// AlterPartition sender (MetadataFollower) is installed before Start and used on shard 0.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "broker/broker_config.h"
#include "broker/partition_manager.h"
#include "broker/replica_fetcher.h"
#include "broker/shard.h"
#include "common/io/notifier.h"
#include "common/task.h"
#include "proto/controller.pb.h"

namespace spool::broker {

class ReplicaManager {
 public:
  using AlterPartitionFn =
      std::function<Task<StatusOr<v1::AlterPartitionResponse>>(v1::AlterPartitionRequest)>;

  ReplicaManager(ShardSet& shards, PartitionManager& partitions, const BrokerConfig& config);
  ~ReplicaManager();

  void set_alter_partition(AlterPartitionFn fn) { alter_ = std::move(fn); }
  // This broker's epoch (its registration), sent with follower fetches. Any thread.
  void set_broker_epoch(int64_t epoch) { broker_epoch_.store(epoch); }
  // Arms the ISR checks on every shard. Shard 0.
  Task<void> Start();
  // Applies the roles of these topics' hosted partitions. Shard 0.
  Task<void> ApplyRoles(std::vector<std::shared_ptr<const TopicInfo>> topics);
  // Stops every fetcher and the ISR checks, and waits for the AlterPartition calls in flight.
  // Shard 0; idempotent. After it, roles are no longer applied.
  Task<void> Stop();

  // How often each shard checks the ISRs of the partitions it leads.
  std::chrono::milliseconds isr_check_interval() const;

 private:
  struct ShardState;
  ShardState& local();
  Task<void> ApplyOnShard(int shard, const std::vector<std::shared_ptr<const TopicInfo>>& topics);
  void ArmIsrCheck(int shard);
  void CheckIsrs(int shard);
  static Task<void> AlterIsr(ReplicaManager* self, std::shared_ptr<Partition> p,
                             std::string topic_id, std::vector<int32_t> isr);

  ShardSet& shards_;
  PartitionManager& partitions_;
  const BrokerConfig& config_;
  // Shard 0: the AlterPartition sender, the calls into it in flight, and whether Stop() began.
  AlterPartitionFn alter_;
  int sends_ = 0;
  bool sends_closed_ = false;
  std::unique_ptr<io::Notifier> sends_idle_;
  std::vector<std::unique_ptr<ShardState>> locals_;
  std::atomic<int64_t> broker_epoch_{-1};
};

}  // namespace spool::broker
