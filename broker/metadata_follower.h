// MetadataFollower: a broker's membership in the cluster (broker/README.md "Cluster metadata").
//
// On Start() the broker registers with the active controller (a new broker epoch per process
// run, from a random incarnation id), fetches the committed metadata log until it has applied
// its own registration's index, applies it to the PartitionManager (ApplyMetadata: topics and
// partitions opened or removed), registers the topics it has from before the controller quorum,
// and heartbeats until the controller unfences it. Then it keeps three things going on shard 0:
//   - a fetch loop: FetchMetadata long polls (its own channel, so a poll does not hold up the
//     heartbeats) from the last applied index; each answer is applied to the broker's image and
//     then to the PartitionManager, and wakes whoever waits for metadata;
//   - a heartbeat loop, every broker.heartbeat.interval.ms, carrying the applied index. A broker
//     the controller no longer knows at this epoch (fenced and unregistered, or a new epoch after
//     a controller restart) registers again;
//   - the forwarding of CreateTopics / DeleteTopics to the active controller: each is answered
//     once the topic has appeared in (or gone from) this broker's metadata, so a client that
//     creates a topic through a broker can produce to it there at once (bounded by the request's
//     timeout; past it the controller's answer is returned anyway).
//
// Shutdown: ControlledShutdown() asks the controller to move this broker's leaderships away and
// fence it (heartbeats with want_shut_down, until it agrees or a deadline); Stop() ends the loops
// and closes the channels, WaitStopped() waits for the loops. The destructor needs both done.
//
// Ownership: owns its two channels; borrows the ShardSet, PartitionManager and config. Threading:
// shard 0 only. Durability: nothing of its own (the PartitionManager's store keeps the topics).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "broker/broker_config.h"
#include "broker/controller_channel.h"
#include "broker/partition_manager.h"
#include "broker/shard.h"
#include "common/io/event.h"
#include "common/io/file_system.h"
#include "common/io/notifier.h"
#include "common/status.h"
#include "common/task.h"
#include "replication/controller/metadata_image.h"

namespace spool::broker {

// The incarnation id this broker registers with: 16 random bytes made on the first start and
// kept in <data_dir>/broker.incarnation (broker/STATE.md), so a restart of the same broker (same
// storage) is told apart from a second process claiming the same node.id, which the controller
// refuses (DUPLICATE_BROKER_REGISTRATION) while the first one's session lives. Shard 0.
[[nodiscard]] Task<StatusOr<std::string>> BrokerIncarnation(io::FileSystem& fs,
                                                            const std::string& data_dir);

class MetadataFollower {
 public:
  // `rpc` carries registration, heartbeats and forwarded requests; `fetch` the long polls.
  // `incarnation_id` names this broker's storage (BrokerIncarnation()).
  MetadataFollower(ShardSet& shards, PartitionManager& partitions, const BrokerConfig& config,
                   std::unique_ptr<ControllerChannel> rpc, std::unique_ptr<ControllerChannel> fetch,
                   std::string incarnation_id);
  ~MetadataFollower();

  // Returns once the broker is registered, caught up and unfenced (or the first error, or
  // kDeadlineExceeded after broker.registration.timeout.ms).
  [[nodiscard]] Task<Status> Start();

  [[nodiscard]] Task<v1::CreateTopicsResponse> CreateTopics(v1::CreateTopicsRequest request);
  [[nodiscard]] Task<v1::DeleteTopicsResponse> DeleteTopics(v1::DeleteTopicsRequest request);
  [[nodiscard]] Task<StatusOr<v1::DescribeQuorumResponse>> DescribeQuorum();
  // A block of producer ids for this broker (the idempotent producer's InitProducerId). The
  // answer's error_code is the controller's (controller_logic.h); the status fails only when
  // the controller could not be reached.
  [[nodiscard]] Task<StatusOr<v1::AllocateProducerIdsResponse>> AllocateProducerIds();
  // An ISR change asked by this broker as a partition's leader; cluster id, broker id and epoch
  // are filled in here. Same error split as AllocateProducerIds.
  [[nodiscard]] Task<StatusOr<v1::AlterPartitionResponse>> AlterPartition(
      v1::AlterPartitionRequest request);
  // The topic creator of PartitionManager::EnsureTopic (already validated by the caller).
  [[nodiscard]] Task<Status> CreateTopic(CreateTopicSpec spec);

  // Moves this broker's leaderships away and has it fenced; bounded by `timeout`. Idempotent.
  [[nodiscard]] Task<void> ControlledShutdown(std::chrono::milliseconds timeout);
  // Ends the loops and closes the channels (failing the calls in flight). Idempotent.
  [[nodiscard]] Task<void> Stop();
  // After Stop(): waits for the loops to return. A loop inside a call to an in-process
  // controller returns once that call does (stop the controller first).
  [[nodiscard]] Task<void> WaitStopped();

  int64_t applied_index() const { return applied_; }
  int64_t broker_epoch() const { return epoch_; }
  bool fenced() const { return fenced_; }

 private:
  Task<Status> Register(int64_t deadline_ns);
  // One FetchMetadata round; false when the loop should stop.
  Task<Status> FetchOnce(std::chrono::milliseconds max_wait);
  Task<void> FetchLoop();
  Task<void> HeartbeatLoop();
  Task<Status> Heartbeat(bool want_shut_down, bool* should_shut_down);
  Task<Status> RegisterLegacyTopics();
  // Waits until `pred()` holds, the deadline passes or the follower stops; returns pred().
  template <typename Pred>
  Task<bool> WaitFor(Pred pred, int64_t deadline_ns);
  // A forwarded request's budget: the whole call (the request's timeout_ms, else 30 s), and
  // when waiting for its change to show in this broker's metadata stops (at most 10 s).
  struct ForwardBudget {
    std::chrono::milliseconds timeout;
    int64_t wait_until_ns;
  };
  ForwardBudget Budget(int32_t timeout_ms) const;
  // Waits `ns` nanoseconds, or less when the follower stops.
  Task<void> Pause(int64_t ns);
  void Wake() { changed_->notify_all(); }
  int64_t NowNs() const;

  ShardSet& shards_;
  PartitionManager& partitions_;
  const BrokerConfig& config_;
  std::unique_ptr<ControllerChannel> rpc_;
  std::unique_ptr<ControllerChannel> fetch_;
  std::string incarnation_;

  controller::ClusterImage image_;
  int64_t applied_ = 0;  // the last metadata index applied to image_
  // Whether image_ is also what partitions_ serves (a catch-up applies only its final state).
  bool published_ = false;
  // Answers that bring applied_ below this are not applied to partitions_ (catching up).
  int64_t apply_from_ = 0;
  int64_t epoch_ = -1;
  bool fenced_ = true;
  bool stopping_ = false;
  bool shut_down_ = false;
  // Notified whenever applied_, fenced_ or stopping_ changes (shared with deadline timers).
  std::shared_ptr<io::Notifier> changed_;
  int loops_ = 0;
  io::Notifier loops_done_;
};

}  // namespace spool::broker
