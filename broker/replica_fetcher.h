// ReplicaFetcher: one shard's follower side towards one leader broker (broker/REPLICATION.md,
// "Follower fetches"). It holds the partitions of that shard that follow that leader, and runs
// one loop: a Fetch (replica_id = this broker) naming all of them, each from its log end with
// its latest leader epoch, then for each partition in the answer:
//   - diverging_epoch: truncate the divergent suffix (KIP-279's rule: to the smaller of the
//     leader's end of that epoch and this log's end of it; when this log lacks that epoch, to
//     this log's end of the largest epoch below it), then fetch again;
//   - records: append them as they are (Partition::AppendFromLeader), wait until they are
//     durable (flush.policy=durable; the next fetch offset tells the leader what this replica
//     has made durable), then take the leader's HW;
//   - OFFSET_OUT_OF_RANGE: below the leader's log start, restart the log there; past the
//     leader's end (a log the divergence check could not place), cut it to the leader's HW;
//   - a leadership error (the metadata has moved on, or not yet): skip the partition for
//     replica.fetch.backoff.ms; the ReplicaManager moves it when the metadata says so.
// The partitions of one answer are handled concurrently (their fdatasyncs overlap); the next
// Fetch goes out once all are done. One Fetch is in flight at a time; while it long-polls, the
// leader answers as soon as one of the partitions has new records. A broken connection is retried
// after the backoff.
//
// Ownership and threading: made, used and destroyed on its shard (the ReplicaManager's shard
// state). Stop() must complete before destruction.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/broker_config.h"
#include "broker/partition.h"
#include "broker/partition_manager.h"
#include "broker/request_timers.h"
#include "client/connection.h"
#include "common/io/notifier.h"
#include "common/task.h"

namespace spool::broker {

class ReplicaFetcher {
 public:
  // `broker_epoch` is this broker's current epoch (sent with each fetch); it outlives the fetcher.
  ReplicaFetcher(PartitionManager& partitions, const BrokerConfig& config, RequestTimers& timers,
                 const std::atomic<int64_t>& broker_epoch, int32_t leader);
  ~ReplicaFetcher();
  ReplicaFetcher(const ReplicaFetcher&) = delete;
  ReplicaFetcher& operator=(const ReplicaFetcher&) = delete;

  // Follows `p` at `leader_epoch` (replacing an earlier entry for it).
  void Add(std::shared_ptr<Partition> p, int32_t leader_epoch);
  // Stops following `p` (a fetch in flight that names it drops its answer).
  void Remove(const Partition* p);
  bool empty() const { return entries_.empty(); }
  int32_t leader() const { return leader_; }

  void Start();
  // Ends the loop (breaking a fetch in flight) and waits for it. Idempotent.
  Task<void> Stop();

 private:
  struct Entry {
    std::shared_ptr<Partition> partition;
    int32_t leader_epoch = 0;
    int64_t retry_at_ns = 0;
    uint64_t generation = 0;  // changes at every Add, so an answer for an older entry is dropped
  };
  Task<void> Loop();
  Task<Status> Connect();
  Task<Status> FetchOnce();
  // Handles one partition's answer; `data` is its record bytes (empty when none).
  Task<void> HandlePartition(Entry entry, const v1::FetchPartitionResponse& answer,
                             std::span<const std::byte> data);
  Entry* Find(const Partition* p, uint64_t generation);
  // Suspends until `until_ns`, an Add() or Stop().
  Task<void> Pause(int64_t until_ns);

  PartitionManager& partitions_;
  const BrokerConfig& config_;
  RequestTimers& timers_;
  const std::atomic<int64_t>& broker_epoch_;
  const int32_t leader_;
  io::Reactor& reactor_;
  std::vector<Entry> entries_;
  uint64_t next_generation_ = 1;
  std::shared_ptr<client::BrokerConnection> conn_;
  std::shared_ptr<io::Notifier> wake_;
  bool running_ = false;
  bool stopping_ = false;
  io::Notifier done_;
};

}  // namespace spool::broker
