// GroupClient: the user-thread side of the consumer's group membership (internal): subscribe(),
// the rebalance steps poll() runs (group_state.h), the commit calls, and leaving on unsubscribe()
// and close(). The network side is the Coordinator (coordinator.h) on the I/O thread.
//
// Threading: the consumer's user thread (one at a time, as every Consumer method). It calls the
// rebalance listener and commit callbacks with SharedState::mu released. The Coordinator is
// created, used and destroyed on the I/O thread (StartOnIo / StopOnIo run there); the user thread
// reaches it only through ClientRuntime::call / post.
#pragma once

#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "client/runtime.h"
#include "common/status.h"
#include "common/task.h"
#include "consumer/consumer.h"
#include "consumer/coordinator.h"
#include "consumer/fetcher.h"

namespace spool::consumer {

class GroupClient {
 public:
  GroupClient(const ConsumerConfig& config, client::ClientRuntime& runtime,
              std::shared_ptr<SharedState> shared);

  bool enabled() const { return !config_.group_id.empty(); }
  // Whether every configured assignor is cooperative (then the member keeps its partitions
  // while it rejoins; otherwise it revokes them all first).
  bool cooperative() const { return cooperative_; }

  // I/O thread: creates / stops the Coordinator (nothing without a group_id).
  Task<Status> StartOnIo(std::vector<io::HostPort> bootstrap);
  Task<Status> StopOnIo();

  [[nodiscard]] Status Subscribe(std::vector<std::string> topics, std::optional<std::regex> pattern,
                                 ConsumerRebalanceListener* listener);
  // Commits (auto-commit), revokes through the listener, leaves, clears the assignment.
  [[nodiscard]] Status Unsubscribe();
  bool subscribed() const;
  std::vector<std::string> Subscription() const;
  std::pair<std::string, int32_t> Generation() const;

  // poll() bookkeeping for max.poll.interval.ms.
  void PollStarted();
  void PollEnded();
  // Inside poll(), with SharedState::mu held: applies what the group said (lost partitions, a
  // new assignment, a rejoin to prepare), calling the listener with the lock released. Returns
  // a fatal group error.
  [[nodiscard]] Status ProcessEvents() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu);

  [[nodiscard]] Status CommitSync(std::optional<OffsetMap> offsets);
  void CommitAsync(std::optional<OffsetMap> offsets, OffsetCommitCallback callback);
  [[nodiscard]] StatusOr<OffsetMap> Committed(const std::vector<TopicPartition>& partitions);
  // Runs the callbacks of finished commit_async() calls. Lock not held.
  void RunCallbacks();
  // Makes the Coordinator look at the shared state (assignment changes, awaited offsets).
  void Wake();
  // close(): unsubscribes (or, for a manual assignment, commits with auto-commit), waits for
  // commits in flight and runs their callbacks.
  [[nodiscard]] Status Close();

 private:
  // Positions of `partitions` that have one (what a commit of them stores).
  OffsetMap PositionsLocked(const std::vector<TopicPartition>& partitions) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu);
  Status CommitNow(OffsetMap offsets);

  const ConsumerConfig& config_;
  client::ClientRuntime& runtime_;
  std::shared_ptr<SharedState> shared_;
  bool cooperative_ = true;
  ConsumerRebalanceListener* listener_ = nullptr;
  std::shared_ptr<Coordinator> coordinator_;  // created, used and destroyed on the I/O thread
};

}  // namespace spool::consumer
