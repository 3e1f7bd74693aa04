// Fetcher: the consumer's background work on the ClientRuntime's I/O thread (internal).
//
// One driver coroutine keeps, for every broker that leads an assigned partition, one Fetch in
// flight ahead of poll(): it takes the partitions that can be fetched now from the shared
// SubscriptionState (position known, not in flight, not backed off), groups them by leader,
// sends one long-poll Fetch per broker that has none in flight, and queues what comes back.
// It stops sending while the queue holds prefetch_max_bytes or more. It also looks up the
// positions of partitions awaiting a reset (ListOffsets earliest / latest), and refreshes metadata
// when a partition has no known leader, after NOT_LEADER / UNKNOWN_TOPIC-style errors and broken
// connections, and every metadata_max_age_ms, never more often than retry_backoff_ms.
//
// Ownership and threading: created, used and destroyed on the I/O thread. The SharedState is
// shared with the user thread under its mutex; the fetcher signals `changed` whenever it queued
// data or resolved a position. Wake() is for the I/O thread; other threads post it (the consumer
// posts through a weak_ptr, so a wake-up posted after the fetcher is gone does nothing). Stop()
// must complete before the fetcher is destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "client/cluster.h"
#include "common/io/event.h"
#include "common/io/notifier.h"
#include "common/io/reactor.h"
#include "common/io/socket.h"
#include "common/status.h"
#include "common/task.h"
#include "consumer/consumer.h"
#include "consumer/group_state.h"
#include "consumer/subscription_state.h"
#include "proto/list_offsets.pb.h"

namespace spool::consumer {

// The state the user thread and the I/O thread share.
struct SharedState {
  explicit SharedState(SubscriptionOptions options) : subs(options) {}
  absl::Mutex mu;
  absl::CondVar changed;  // data queued, a position resolved, an error queued, a group event
  SubscriptionState subs ABSL_GUARDED_BY(mu);
  GroupState group ABSL_GUARDED_BY(mu);  // consumer groups (group_state.h)
};

class Fetcher : public std::enable_shared_from_this<Fetcher> {
 public:
  Fetcher(io::Reactor& reactor, ConsumerConfig config, std::vector<io::HostPort> bootstrap,
          std::shared_ptr<SharedState> shared);
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // Spawns the driver.
  void Start();
  // Makes the driver look at the shared state again (assignment, seeks, resets, queue space).
  void Wake();
  // Stops the driver, fails fetches in flight by closing the connections, and waits for every
  // task of the fetcher to end.
  Task<void> Stop();

  // The offset ListOffsets gives for `tp` (spec earliest / latest / by timestamp; -1 when no
  // record has such a timestamp), retrying retriable errors until `timeout_ms` passes.
  Task<StatusOr<int64_t>> LookupOffset(TopicPartition tp, v1::OffsetSpec spec, int64_t timestamp_ms,
                                       int64_t timeout_ms);

 private:
  Task<void> Drive();
  Task<void> FetchFrom(int32_t node, std::vector<FetchTarget> targets);
  Task<void> ResolveResets(int32_t node, std::vector<ResetTarget> targets);
  // One ListOffsets round trip to `node` for `parts`; per partition the offset or the error.
  struct OffsetQuery {
    TopicPartition tp;
    v1::OffsetSpec spec = v1::OFFSET_SPEC_EARLIEST;
    int64_t timestamp_ms = 0;
  };
  Task<std::vector<StatusOr<int64_t>>> QueryOffsets(int32_t node, std::vector<OffsetQuery> parts);
  // Leader node of `tp` in the cached metadata, or nullopt.
  std::optional<int32_t> LeaderOf(const TopicPartition& tp) const;
  // Refreshes metadata for the assigned topics when needed and allowed now.
  Task<void> MaybeRefreshMetadata(const std::set<std::string>& topics, int64_t now_ns);
  void ArmTimer(int64_t at_ns, int64_t now_ns);
  void TaskDone();

  io::Reactor& reactor_;
  ConsumerConfig config_;
  std::shared_ptr<SharedState> shared_;
  client::Cluster cluster_;
  io::Event wake_;
  io::Notifier idle_;
  std::set<int32_t> fetching_;  // brokers with a fetch in flight
  bool stopping_ = false;
  int active_ = 0;  // driver, fetches and lookups running
  bool metadata_needed_ = true;
  int64_t metadata_next_ns_ = 0;  // no refresh before this (backoff)
  int64_t timer_at_ns_ = 0;       // the armed wake-up timer's deadline, 0 if none
};

}  // namespace spool::consumer
