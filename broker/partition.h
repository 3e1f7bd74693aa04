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
//
// Replication roles (broker/REPLICATION.md): a partition is its topic's leader here or a follower
// of another broker, as the cluster metadata says (BecomeLeader / BecomeFollower, from the
// ReplicaManager). Open() makes a standalone leader (the broker itself its whole ISR, at
// options.leader_epoch), which is what a single node and the unit tests use.
//   - Leader: Append() stamps its leader epoch; ReplicaProgress tracks the followers' fetches
//     (OnReplicaFetch), and the HW is the minimum over the ISR of their log ends and the
//     leader's own durable end (written end under flush.policy=interval). ReadForReplica serves
//     followers up to the log end; replica waiters wake at every append.
//   - Follower: appends only what the leader sent (AppendFromLeader, offsets and epochs as the
//     leader's log has them), truncates where its log diverges (TruncateTo), and takes its HW
//     from the leader (min(leader's HW, own log end)). Append() and acks=all waiters fail with
//     NOT_LEADER_OR_FOLLOWER.
// Role changes, follower appends and truncations are serialised by one mutex (role_mutex_), so
// the log's epoch list only ever grows in order.
//
// Idempotent producers (producer_state.h): the leader checks each batch that carries a producer
// id against the dedup table before appending it: a retried duplicate is answered with the
// original offsets and not written again; an out-of-order sequence, an old producer epoch or an
// unknown producer are refused (OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH,
// UNKNOWN_PRODUCER_ID). The table is kept by every replica: the leader records each batch at
// offset assignment, a follower applies the headers of what it replicates, so a new leader
// already knows the batches written before the failover. It is loaded when the partition first
// becomes leader (at Open() for a standalone leader) and again after a truncation that leaves
// it inexact: from the newest producer-state snapshot (producer_snapshot.h) plus the log's batch
// headers after it, or without a snapshot from the log's tail (batch headers of the last
// Options::producer_state_scan_offsets offsets); a producer whose batches are older than that
// tail is then unknown, and its next batch gets UNKNOWN_PRODUCER_ID (the producer takes a new id
// and goes on).
//
// Producer-state snapshots (broker/STATE.md has the file and the rules): a snapshot at offset X
// is the table as of X, and may be used only while the log below X is the history it saw. So
// one is written only of a durable prefix (durable end == visible end == log end, the table
// exactly at that end, under role_mutex_ so no follower append, truncation or role change runs
// meanwhile): at Close() after the final sync, and from RunRetention() (the maintenance timer)
// when the log grew by Options::producer_snapshot_interval_offsets or rolled a segment since the
// last one; never on Append(). TruncateTo() and RestartAt() delete, durably and before they
// return (so before the log can grow again), every snapshot above the new log end; Open()
// deletes those outside [log start, log end] whatever the role, and retention those below the
// new log start. The newest kProducerSnapshotsKept are kept. A failed snapshot write is logged
// and costs nothing but a longer load; a failed deletion after a truncation fails the partition
// (a stale snapshot must never be used).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/fetch_wait.h"
#include "broker/producer_state.h"
#include "broker/request_timers.h"
#include "broker/topic_config.h"
#include "common/clock.h"
#include "common/io/event.h"
#include "common/io/file_system.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/strong_int.h"
#include "common/task.h"
#include "log/coro_sync.h"
#include "log/partition_log.h"
#include "replication/partition/replica_progress.h"

namespace spool::broker {

// How far back (in offsets) the dedup table is rebuilt from the log when there is no snapshot.
inline constexpr int64_t kProducerStateScanOffsets = 200000;
// The log growth (in offsets) after which maintenance writes a new producer-state snapshot.
inline constexpr int64_t kProducerSnapshotIntervalOffsets = 100000;
// How many producer-state snapshots a partition directory keeps.
inline constexpr size_t kProducerSnapshotsKept = 2;

class Partition : public std::enable_shared_from_this<Partition> {
 public:
  struct Options {
    std::string topic;
    int32_t index = 0;
    std::string dir;  // the partition's directory (created if missing)
    TopicConfig config;
    LeaderEpoch leader_epoch{0};
    // Open as a follower of leader_id (nothing fetched until BecomeFollower) rather than as a
    // standalone leader: what the metadata the broker has says.
    bool follower = false;
    int32_t leader_id = -1;
    // The dedup table's load without a snapshot reads this many offsets of the log's tail.
    int64_t producer_state_scan_offsets = kProducerStateScanOffsets;
    // Maintenance writes a snapshot when the log grew by this many offsets (or rolled a
    // segment) since the last one; <= 0: only at Close().
    int64_t producer_snapshot_interval_offsets = kProducerSnapshotIntervalOffsets;
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

  // ---- replication roles ----
  struct LeaderRole {
    int32_t self = -1;  // this broker's id
    int32_t leader_epoch = 0;
    int32_t partition_epoch = 0;
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
  };
  // Leads at role.leader_epoch. A new epoch (or coming from follower): waits for follower work
  // in flight, records the epoch at the log end (durable), restarts the follower bookkeeping;
  // the HW stays where it was until the ISR supports more. The same epoch: takes the new ISR
  // and partition epoch (acks=all waiters fail with NOT_ENOUGH_REPLICAS_AFTER_APPEND when the
  // ISR falls below min.insync.replicas). An older epoch is ignored.
  Task<Status> BecomeLeader(LeaderRole role);
  // Follows `leader` (-1: none known) at `leader_epoch`: acks=all waiters fail with
  // NOT_LEADER_OR_FOLLOWER; the HW is capped at the log end. An older epoch is ignored.
  Task<Status> BecomeFollower(int32_t leader, int32_t leader_epoch);
  bool is_leader() const { return leader_; }
  int32_t leader_id() const { return leader_id_; }
  int32_t partition_epoch() const { return partition_epoch_; }
  // Leader only (nullptr otherwise): the followers' progress and the ISR.
  const replication::ReplicaProgress* progress() const { return progress_.get(); }
  // Records an ISR change asked of the controller (the ISR it asks for, based on the current
  // partition epoch), or none (nullopt). It counts for the HW until it is resolved: an answer,
  // or metadata with a newer partition epoch than its base.
  void SetPendingIsr(std::optional<std::vector<int32_t>> isr);
  // The ReplicaManager's bookkeeping of its AlterPartition calls for this partition (its shard).
  struct AlterState {
    bool in_flight = false;
    int64_t sent_ns = 0;
  };
  AlterState& alter_state() { return alter_state_; }
  // acks=all admission: NOT_LEADER_OR_FOLLOWER off the leader, NOT_ENOUGH_REPLICAS when the
  // ISR is smaller than min.insync.replicas.
  Status CheckAcksAll() const;

  // Leader: follower `replica` fetched from `fetch_offset` (its log end) at `now_ns`; may
  // advance the HW.
  void OnReplicaFetch(int32_t replica, Offset fetch_offset, int64_t now_ns);
  // Leader: whole batches from `from` up to the log's visible end (not the HW), for followers.
  // kOutOfRange outside [log start, log end].
  Task<StatusOr<log::ReadResult>> ReadForReplica(Offset from, size_t max_bytes);
  // Leader: notifies `waiter` at the next append (or close).
  void AddReplicaWaiter(std::shared_ptr<FetchWaiter> waiter);

  // Follower: appends batches exactly as the leader's log has them (log::append_replica), if
  // this partition still follows at `leader_epoch` (else kAborted). Durable per the log's
  // rules; the caller waits with log().wait_durable() when the policy needs it.
  Task<StatusOr<log::AppendResult>> AppendFromLeader(std::span<std::byte> batches,
                                                     int32_t leader_epoch);
  // Follower: cuts the log at `offset` (log::truncate_to), if still following at
  // `leader_epoch`; the HW is capped at the new end.
  Task<Status> TruncateTo(Offset offset, int32_t leader_epoch);
  // Follower: empties the log and starts it over at `offset`, above its end (its leader's log
  // start is past this log's end), if still following at `leader_epoch`.
  Task<Status> RestartAt(Offset offset, int32_t leader_epoch);
  // Follower: the leader's HW as a fetch answer reported it.
  void SetFollowerHighWatermark(Offset leader_hw);

  // Stamps the leader epoch into `batch` (one whole, verified batch) and appends it, after the
  // idempotent-producer check (see the header): a duplicate returns the original's offsets
  // without writing. `batch` must stay alive until the Task completes. Errors are the log's (see
  // partition_log.h), the close reason, NOT_LEADER_OR_FOLLOWER, or the dedup refusals.
  Task<StatusOr<log::AppendResult>> Append(std::span<std::byte> batch);

  // Completes when the HW passes `last` (OK), at `deadline_ns` (RequestTimers::NowNs() time;
  // kDeadlineExceeded), when the log fails (its error) or when the partition closes (the close
  // reason). With `term` (term() read before the Append that wrote `last`): refused with
  // NOT_LEADER_OR_FOLLOWER unless this partition still leads in that term, and failed so when
  // the term ends (a follower's HW says nothing about a batch a truncation may have cut).
  Task<Status> WaitCommitted(Offset last, int64_t deadline_ns,
                             std::optional<uint64_t> term = std::nullopt);
  // Changes whenever a leadership of this partition begins or ends. Append() fails with
  // NOT_LEADER_OR_FOLLOWER when the term changed while it was writing.
  uint64_t term() const { return term_; }

  // Whole batches from `from` below the HW, up to max_bytes (at least one batch if any).
  // kOutOfRange below log_start_offset() or above the HW; empty at the HW.
  Task<StatusOr<log::ReadResult>> Read(Offset from, size_t max_bytes);
  // Notifies `waiter` at the next HW advance (or close). Drops waiters that already fired.
  void AddFetchWaiter(std::shared_ptr<FetchWaiter> waiter);
  // Notifies every registered fetch waiter now (broker shutdown).
  void NotifyFetchWaiters();
  // Notifies every replica waiter now (shutdown, role change).
  void NotifyReplicaWaiters();

  Task<StatusOr<std::optional<Offset>>> OffsetForTimestamp(int64_t timestamp_ms);
  // apply_retention() then maybe_roll(), then a producer-state snapshot when one is due (see
  // the header); a no-op once closed. Retention (which deletes only whole sealed segments)
  // never moves the log start past the HW: consumers never see log_start_offset >
  // high_watermark. Snapshots below the new log start are deleted.
  Task<Status> RunRetention();

  // Fails the waiters with `reason`, waits for the pump and the operations in flight, makes the
  // log durable and writes a producer-state snapshot at its end (when the table is loaded),
  // closes the log (clean-shutdown marker). Later calls return OK at once.
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
  // The dedup table (leader, or a follower that led before): for tests.
  const ProducerStateTable& producer_state() const { return producers_; }
  bool producer_state_loaded() const { return producers_loaded_; }
  // The offset of the last producer-state snapshot this partition loaded or wrote, if any.
  std::optional<Offset> last_producer_snapshot() const { return last_snapshot_; }

 private:
  struct CommitWaiter;
  class OpGuard;

  Partition(io::Reactor& reactor, io::FileSystem& fs, RequestTimers& timers, Options options,
            std::unique_ptr<log::PartitionLog> log);
  bool durable_policy() const {
    return options_.config.log.flush_policy == log::FlushPolicy::kGroupCommit;
  }
  Status Usable() const;
  void KickPump();
  static Task<void> Pump(std::shared_ptr<Partition> self);
  // Raises the HW to `hw` (never lowers it) and wakes whoever waits for it.
  void AdvanceHighWatermark(Offset hw);
  // Leader: the HW the ISR supports now (ReplicaProgress over the leader's own end).
  void UpdateLeaderHighWatermark();
  void FailCommitWaiters(const Status& why);
  // Rebuilds producers_ (from the newest snapshot and the log after it, or the log's tail)
  // unless it is loaded. On the partition's reactor.
  Task<Status> LoadProducerState();
  // Writes a producer-state snapshot at the log end if the log is durable there and the table
  // is loaded and exact; `due_only`: only when the interval or a roll says one is due. The
  // caller holds role_mutex_ (or runs alone: Close). OK when nothing was due.
  Task<Status> SnapshotProducerState(bool due_only);
  // Deletes, durably, the snapshots outside [log start, log end] (after a truncation, a restart
  // or retention).
  Task<Status> DropSnapshotsOutsideLog();
  Status NotLeader() const;
  // The follower operations' check (before and after taking the role mutex): usable, and still
  // following at `leader_epoch` (else kAborted).
  Status StillFollowing(int32_t leader_epoch) const;
  void Fail(const Status& error);
  void Complete(CommitWaiter& w, Status result);

  io::Reactor& reactor_;
  io::FileSystem& fs_;
  RequestTimers& timers_;
  Options options_;
  std::unique_ptr<log::PartitionLog> log_;
  Offset hw_;
  Status close_reason_;  // not OK once closed
  Status failure_;       // not OK once the log failed (the pump saw a failed fdatasync)
  std::multimap<int64_t, CommitWaiter*> commit_waiters_;  // keyed by the HW each needs
  std::vector<std::shared_ptr<FetchWaiter>> fetch_waiters_;
  size_t fetch_waiters_purge_at_ = 16;
  std::vector<std::shared_ptr<FetchWaiter>> replica_waiters_;

  bool leader_ = true;
  uint64_t term_ = 0;
  int32_t pending_base_epoch_ = -1;  // partition epoch a pending ISR change was based on
  AlterState alter_state_;
  int32_t leader_id_ = -1;
  int32_t partition_epoch_ = 0;
  int32_t self_ = -1;
  std::unique_ptr<replication::ReplicaProgress> progress_;
  bool pump_running_ = false;
  io::Event pump_idle_;

  int ops_in_flight_ = 0;
  io::Event ops_idle_;
  bool log_closed_ = false;
  log::AsyncMutex role_mutex_;
  ProducerStateTable producers_;
  bool producers_loaded_ = false;        // producers_ reflects the log's tail (see the header)
  std::optional<Offset> last_snapshot_;  // loaded or written
  Offset snapshot_base_;                 // log end at the last snapshot (or at the load)
  uint64_t snapshot_rolls_ = 0;          // log_->stats().rolls then
};

}  // namespace spool::broker
