// Partition: one partition of a topic as the broker serves it: its PartitionLog, its topic
// config, its leader epoch and its high watermark (HW), plus the waiters that depend on the HW.
//
// The high watermark is what consumers may read and what acks=all waits for. It is kept apart
// from the log on purpose: on a single node it follows the log (durable_end_offset() under
// flush.policy=durable, visible_end_offset() under interval); with replication it will be the
// minimum over the ISR, and only AdvanceHighWatermark's caller changes.
//
// Durability pump (flush.policy=durable): every append kicks one coroutine per partition (at
// most one runs) that waits for the log's current visible end to become durable
// (wait_durable: a group commit, one fdatasync covering every append before it), advances the
// HW, wakes the waiters, and loops while more was appended meanwhile. So the HW moves promptly
// for acks=0/1 producers too, and many appends share one fdatasync.
//
// Waiters: acks=all waits until HW > the batch's last offset (an ordered list keyed by offset,
// the shape a replication purgatory keeps), with a deadline (REQUEST_TIMED_OUT). Long-poll
// fetches register FetchWaiters, notified at every HW advance.
//
// Ownership and threading: a Partition belongs to one shard (PartitionShard()); every member is
// called on that shard's reactor thread. It is held by std::shared_ptr: the shard's table, and
// any request or pump working on it, so Close() (topic deletion, shutdown) can run while others
// still hold it; after Close() every operation fails with the close reason.
//
// Ordering: Append() runs synchronously up to the log's offset assignment (no suspension
// before it), so appends get offsets in the order Append() is called.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/fetch_wait.h"
#include "broker/request_timers.h"
#include "broker/topic_config.h"
#include "common/clock.h"
#include "common/io/event.h"
#include "common/io/file_system.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/strong_int.h"
#include "common/task.h"
#include "log/partition_log.h"

namespace spool::broker {

class Partition : public std::enable_shared_from_this<Partition> {
 public:
  struct Options {
    std::string topic;
    int32_t index = 0;
    std::string dir;  // the partition's directory (created if missing)
    TopicConfig config;
    LeaderEpoch leader_epoch{0};
  };
  // Opens (recovers) the log on the calling reactor, which becomes the partition's. `fs`,
  // `clock` and `timers` must outlive the partition.
  static Task<StatusOr<std::shared_ptr<Partition>>> Open(io::FileSystem& fs, Clock& clock,
                                                         RequestTimers& timers, Options options);
  ~Partition();

  const std::string& topic() const { return options_.topic; }
  int32_t index() const { return options_.index; }
  const TopicConfig& config() const { return options_.config; }
  LeaderEpoch leader_epoch() const { return options_.leader_epoch; }

  // Stamps the leader epoch into `batch` (one whole, verified batch) and appends it. `batch`
  // must stay alive until the Task completes. Errors are the log's (see partition_log.h), or the
  // close reason.
  Task<StatusOr<log::AppendResult>> Append(std::span<std::byte> batch);

  // Completes when the HW passes `last` (OK), at `deadline_ns` (RequestTimers::NowNs() time;
  // kDeadlineExceeded), when the log fails (its error) or when the partition closes (the close
  // reason).
  Task<Status> WaitCommitted(Offset last, int64_t deadline_ns);

  // Whole batches from `from` below the HW, up to max_bytes (at least one batch if any).
  // kOutOfRange below log_start_offset() or above the HW; empty at the HW.
  Task<StatusOr<log::ReadResult>> Read(Offset from, size_t max_bytes);
  // Notifies `waiter` at the next HW advance (or close). Drops waiters that already fired.
  void AddFetchWaiter(std::shared_ptr<FetchWaiter> waiter);
  // Notifies every registered fetch waiter now (broker shutdown).
  void NotifyFetchWaiters();

  Task<StatusOr<std::optional<Offset>>> OffsetForTimestamp(int64_t timestamp_ms);
  // apply_retention() then maybe_roll(); a no-op once closed. Waits first until the HW has caught
  // up with the visible end, so retention (which deletes only whole sealed segments) does not
  // move the log start past the HW: consumers never see log_start_offset > high_watermark.
  Task<Status> RunRetention();

  // Fails the waiters with `reason`, waits for the pump and the operations in flight, closes the
  // log (clean-shutdown marker). Later calls return OK at once.
  Task<Status> Close(Status reason);

  Offset high_watermark() const { return hw_; }
  Offset log_start_offset() const { return log_->log_start_offset(); }
  Offset log_end_offset() const { return log_->log_end_offset(); }
  bool closed() const { return !close_reason_.ok(); }
  log::PartitionLog& log() { return *log_; }
  // Introspection (tests, metrics later).
  size_t commit_waiters() const { return commit_waiters_.size(); }  // acks=all waiting
  size_t fetch_waiters() const { return fetch_waiters_.size(); }    // incl. fired, not purged
  const Status& failure() const { return failure_; }  // not OK once a sync round failed
  bool pump_running() const { return pump_running_; }

 private:
  struct CommitWaiter;
  class OpGuard;

  Partition(io::Reactor& reactor, RequestTimers& timers, Options options,
            std::unique_ptr<log::PartitionLog> log);
  bool durable_policy() const {
    return options_.config.log.flush_policy == log::FlushPolicy::kGroupCommit;
  }
  Status Usable() const;
  void KickPump();
  static Task<void> Pump(std::shared_ptr<Partition> self);
  // Raises the HW to `hw` (never lowers it) and wakes whoever waits for it.
  void AdvanceHighWatermark(Offset hw);
  void Fail(const Status& error);
  void Complete(CommitWaiter& w, Status result);

  io::Reactor& reactor_;
  RequestTimers& timers_;
  Options options_;
  std::unique_ptr<log::PartitionLog> log_;
  Offset hw_;
  Status close_reason_;  // not OK once closed
  Status failure_;       // not OK once the log failed (the pump saw a failed fdatasync)
  std::multimap<int64_t, CommitWaiter*> commit_waiters_;  // keyed by the HW each needs
  std::vector<std::shared_ptr<FetchWaiter>> fetch_waiters_;
  size_t fetch_waiters_purge_at_ = 16;
  bool pump_running_ = false;
  io::Event pump_idle_;

  int ops_in_flight_ = 0;
  io::Event ops_idle_;
  bool log_closed_ = false;
};

}  // namespace spool::broker
