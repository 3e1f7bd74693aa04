// Coordinator: the consumer's side of its group (internal), on the ClientRuntime's I/O thread.
// Kafka's classic protocol (proto/group.proto): FindCoordinator, JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch.
//
// One driver coroutine:
//   - finds the coordinator (retrying COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS and broken connections after retry_backoff_ms);
//   - when GroupState::rejoin_needed and the user thread allowed it (join_allowed, after the
//     rebalance listener ran in poll()), joins: JoinGroup (again at once with the member id on
//     MEMBER_ID_REQUIRED), the leader runs the negotiated assignor over the members'
//     subscriptions and its topic metadata, SyncGroup; the assignment is published as
//     GroupState::pending for poll() to apply;
//   - in a generation: heartbeats every heartbeat_interval_ms (REBALANCE_IN_PROGRESS: rejoin;
//     ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID: the partitions are lost, rejoin), auto-commits
//     every auto_commit_interval_ms, leaves the group when poll() was not called for
//     max_poll_interval_ms (the next poll() reports the partitions lost and rejoins), and checks
//     the subscribed topics' metadata every metadata_max_age_ms (new partitions, new pattern
//     matches: rejoin);
//   - looks up the committed offsets of partitions that await them (OffsetFetch).
// Commit() and FetchCommitted() serve commit_sync / commit_async / committed(); commits go out
// one at a time, in call order. Membership is in coordinator.cc, commits and offset lookups in
// coordinator_offsets.cc.
//
// Ownership and threading: created, used and destroyed on the I/O thread; it owns its own
// client::Cluster (connections apart from the fetcher's, so a JoinGroup held by the coordinator
// never delays fetches). GroupState and SubscriptionState are read and written under
// SharedState::mu. Stop() must complete before destruction.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/cluster.h"
#include "client/fifo_semaphore.h"
#include "common/io/event.h"
#include "common/io/notifier.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"
#include "consumer/assignor.h"
#include "consumer/consumer.h"
#include "consumer/fetcher.h"
#include "proto/group.pb.h"

namespace spool::consumer {

class Coordinator : public std::enable_shared_from_this<Coordinator> {
 public:
  Coordinator(io::Reactor& reactor, ConsumerConfig config, std::vector<io::HostPort> bootstrap,
              std::shared_ptr<SharedState> shared);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  void Start();
  // Look at the shared state again (subscription, join_allowed, partitions awaiting offsets).
  void Wake();
  // Ends the driver and every task, closing the connections.
  Task<void> Stop();

  // Commits `offsets` (in the current generation while subscribed; generation -1 otherwise),
  // retrying retriable errors until request_timeout_ms. See Consumer::commit_sync.
  Task<Status> Commit(OffsetMap offsets);
  // The committed offsets of `partitions` (absent: none), retrying until request_timeout_ms.
  Task<StatusOr<OffsetMap>> FetchCommitted(std::vector<TopicPartition> partitions);
  // Leaves the group: LeaveGroup for a dynamic member in a generation, and forgets the member
  // id and generation. `send` false: forget only (static members, close()).
  Task<Status> Leave(bool send);
  // Waits until no commit is in flight.
  Task<Status> Drain();

 private:
  Task<void> Drive();
  // The coordinator's node, looking it up when unknown. kUnavailable to retry later.
  Task<StatusOr<int32_t>> EnsureCoordinator();
  // One request to the coordinator; a broken connection marks it unknown.
  Task<StatusOr<client::Reply>> CallCoordinator(proto::ApiKey api,
                                                const google::protobuf::Message& request,
                                                std::chrono::milliseconds timeout);
  Task<Status> JoinAndSync();
  Task<void> CloseConnections();  // both clusters; calls in flight fail
  // The leader's share of a rebalance: the assignment of every member, encoded.
  Task<StatusOr<std::vector<std::pair<std::string, std::string>>>> ComputeAssignment(
      std::string protocol, std::vector<v1::JoinGroupMember> members);
  Task<void> Heartbeat();
  Task<void> AutoCommit();
  Task<void> CheckMetadata();
  Task<void> ResolveCommitted();
  // The topics the subscription stands for now (a pattern's matches), with their partition
  // counts, from fresh metadata.
  Task<StatusOr<TopicPartitionCounts>> SubscribedTopics();
  // Fenced: the member's partitions are lost; the next poll() reports them and rejoins.
  void MarkLost(bool forget_member_id);
  void SetFatal(Status status);
  // What an error answer to JoinGroup or SyncGroup (`api`) means for the join loop: rejoin
  // (after forgetting the member id or generation as the code demands), or stop with *error
  // (a coordinator to find again: retried later; anything else: fatal). NONE: proceed.
  enum class JoinStep { kProceed, kRejoin, kFail };
  JoinStep OnJoinError(std::string_view api, proto::ErrorCode code, const std::string& message,
                       Status* error);
  void RequestRejoin();
  void ArmTimer(int64_t at_ns, int64_t now_ns);
  void TaskDone();
  bool Cooperative() const;

  io::Reactor& reactor_;
  ConsumerConfig config_;
  std::shared_ptr<SharedState> shared_;
  client::Cluster cluster_;
  // JoinGroup and SyncGroup go over a connection of their own: the coordinator parks them until
  // the rebalance completes, and a broker answers a connection's requests in order, so on the
  // shared connection they would hold up the commits and fetches of offsets a cooperative member
  // still makes while it rejoins (consumption would pause for the whole rebalance).
  client::Cluster join_cluster_;
  io::Event wake_;
  io::Notifier idle_;
  client::FifoSemaphore commit_gate_;
  bool stopping_ = false;
  int active_ = 0;
  int commits_in_flight_ = 0;

  // Membership, as this member knows it (mirrored into GroupState for the user thread).
  std::string member_id_;
  int32_t generation_ = -1;
  bool joined_ = false;  // in a generation: heartbeats and auto-commit run
  std::optional<int32_t> coordinator_node_;
  TopicPartitionCounts joined_topics_;  // partition counts at the last join
  std::map<TopicPartition, int64_t> last_committed_;

  int64_t next_heartbeat_ns_ = 0;
  int64_t next_auto_commit_ns_ = 0;
  int64_t next_metadata_ns_ = 0;
  int64_t next_join_ns_ = 0;       // backoff after a failed join
  int64_t next_committed_ns_ = 0;  // backoff after a failed OffsetFetch
  bool resolving_ = false;
  int64_t timer_at_ns_ = 0;
};

}  // namespace spool::consumer
