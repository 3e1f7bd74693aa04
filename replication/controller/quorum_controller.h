// QuorumController: one controller process's member of the controller quorum. It joins the Raft
// driver (replication/raft/driver.h) and the controller state machine (controller_logic.h,
// controller_state.h): committed metadata entries are applied to a ControllerState, and the
// voter that leads the quorum is the *active controller*, which decides requests on the latest
// image, proposes their records as one Raft entry each, and answers once that entry commits.
// README.md beside this file, "The quorum controller", has the design.
//
// Active controller. A voter becomes active once it leads AND has applied its log up to the
// no-op of its own term (a ReadBarrier on the new leader resolves exactly then; controller_state.h
// says why); it then calls BrokerLiveness::Reset. It stops being active (ControllerState::
// OnLeadershipLost) as soon as it sees it no longer leads in that term. The driver has no
// role-change callback, so the role is polled: before every decision, after every failed
// proposal, and on a timer (`poll_interval_ms`).
//
// Requests. Each request coroutine waits until this voter is active (or fails at once with
// NOT_CONTROLLER, naming the leader when one is known: ControllerLeaderHint()), makes its decision
// and proposes without suspending in between (so decisions are serialized on the latest image and
// a registration's epoch is the index its entry gets), then resolves once the entry commits.
// The outer StatusOr/Status is the controller's answer (NOT_CONTROLLER: retry at the leader;
// kUnavailable "controller stopped"; the driver's error once it failed); the reply inside carries
// the decision's own statuses (controller_logic.h). A decision that produces no records (a
// refusal, a validate-only CreateTopics, a heartbeat that changes nothing) is answered at once.
// A request answered NOT_CONTROLLER after it was proposed may still commit later (a new leader
// may commit the entry): callers retry, and the logic's answers to a retry are idempotent where
// Kafka's are (TOPIC_ALREADY_EXISTS, a registration retry with the same incarnation).
//
// Sessions. On the active controller, every session_timeout_ms / 4 CheckSessions() runs and its
// fencing records are proposed.
//
// Metadata for brokers. ReadMetadata() is linearizable (ReadBarrier, then the committed image).
// FetchMetadata(from) is local to any voter: the committed batches after `from`, from a window of
// the last `retained_batches` batches kept in memory; an older `from` gets the committed image
// instead ("snapshot needed"). WaitForCommitAfter(from, max_wait) is its long poll.
//
// Ownership: owns its RaftDriver (and through it the Raft files under driver.dir); borrows the
// reactor, the file system and the transport, which must outlive it. Threading: every member is
// called on the reactor's thread only. Lifetime: Stop() must complete before destruction (the
// destructor aborts otherwise); after it, no coroutine of the controller touches it again.
// Durability: the metadata is Raft's log and snapshots (fdatasync'd before acknowledgement); a
// reply with an OK outer status means its records are committed on a majority. Liveness
// (heartbeat times) is volatile, as in Kafka.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/event.h"
#include "common/io/file_system.h"
#include "common/io/notifier.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"
#include "replication/controller/broker_liveness.h"
#include "replication/controller/controller_logic.h"
#include "replication/controller/controller_state.h"
#include "replication/raft/driver.h"

namespace spool::controller {

struct QuorumControllerOptions {
  raft::DriverOptions driver;
  ControllerConfig config;
  // Topic ids and placement (CreateTopics). 0: derived from the clock and the voter id.
  uint64_t seed = 0;
  // Committed batches kept for FetchMetadata.
  size_t retained_batches = 4096;
  // How often the role is polled (and sessions checked, at most every session_timeout_ms / 4).
  // 0: min(50 ms, election timeout / 4).
  int64_t poll_interval_ms = 0;
};

// The committed image at a log position (a linearizable read: ReadMetadata).
struct MetadataView {
  int64_t index = 0;  // the last metadata entry applied to `image`
  ClusterImage image;
};

// One committed metadata entry.
struct MetadataBatch {
  int64_t index = 0;
  std::vector<v1::MetadataRecord> records;
};

// The answer to FetchMetadata(from).
struct MetadataDelta {
  // `from` is older than the retained batches: `image` is the committed image at `up_to`; reset
  // to it (ClusterImage assignment), then fetch from `up_to`.
  bool snapshot_needed = false;
  std::optional<ClusterImage> image;
  // The batches after `from`, in index order; applying them (ClusterImage::ApplyBatch) to the
  // image at `from` gives the image at `up_to`.
  std::vector<MetadataBatch> batches;
  int64_t up_to = 0;  // fetch from here next time
};

struct BrokerStatus {
  int32_t id = -1;
  int64_t epoch = -1;
  bool fenced = true;
  std::optional<std::string> rack;
  std::vector<Endpoint> endpoints;
  // Active controller only: milliseconds since its last heartbeat (or registration).
  std::optional<int64_t> ms_since_contact;
};

// `spool cluster`: the quorum as this voter sees it, and the brokers of its committed image.
struct QuorumStatus {
  raft::DriverStatus raft;     // role, term, leader, commit, applied, per-voter lag (leader only)
  bool active = false;         // this voter is the active controller
  int64_t metadata_index = 0;  // the last metadata entry applied (committed image)
  size_t pending = 0;          // proposals not yet committed (active controller)
  std::vector<BrokerStatus> brokers;  // by id
};

// The leader named by a NOT_CONTROLLER status, or raft::kNoNode when unknown.
[[nodiscard]] raft::NodeId ControllerLeaderHint(const Status& status);

class QuorumController {
 public:
  // Starts the Raft driver over options.driver.dir (restoring the state from its snapshot and
  // log), the role poller and the session timer.
  [[nodiscard]] static Task<StatusOr<std::unique_ptr<QuorumController>>> Start(
      io::Reactor& reactor, io::FileSystem& fs, QuorumControllerOptions options,
      raft::Transport& transport);
  ~QuorumController();
  QuorumController(const QuorumController&) = delete;
  QuorumController& operator=(const QuorumController&) = delete;

  // The driver, to deliver incoming Raft messages (Deliver/DeliverWire, LocalNetwork::Attach).
  raft::RaftDriver& driver() { return *driver_; }
  raft::NodeId id() const { return driver_->id(); }

  // ---- requests (controller_logic.h has each decision and its refusals) ----
  [[nodiscard]] Task<StatusOr<RegisterBrokerReply>> RegisterBroker(RegisterBrokerRequest request);
  // want_shutdown = controlled shutdown through the heartbeat.
  [[nodiscard]] Task<StatusOr<HeartbeatReply>> BrokerHeartbeat(HeartbeatRequest request);
  [[nodiscard]] Task<Status> ControlledShutdown(BrokerRef broker);
  [[nodiscard]] Task<Status> UnregisterBroker(int32_t broker_id);
  [[nodiscard]] Task<StatusOr<ProducerIdBlock>> AllocateProducerIds(BrokerRef broker);
  [[nodiscard]] Task<StatusOr<std::vector<CreatedTopic>>> CreateTopics(CreateTopicsRequest request);
  [[nodiscard]] Task<StatusOr<std::vector<DeletedTopic>>> DeleteTopics(
      std::vector<std::string> names);
  [[nodiscard]] Task<StatusOr<AlterPartitionReply>> AlterPartition(AlterPartitionRequest request);
  [[nodiscard]] Task<StatusOr<std::vector<Status>>> AlterConfigs(std::vector<ConfigChange> changes);

  // ---- metadata ----
  // Linearizable: the committed image after everything committed before the call. Active
  // controller only (NOT_CONTROLLER elsewhere).
  [[nodiscard]] Task<StatusOr<MetadataView>> ReadMetadata();
  // The committed batches after `from_index` (at most `max_batches`), on any voter; not
  // linearizable (a lagging voter answers with less).
  [[nodiscard]] MetadataDelta FetchMetadata(int64_t from_index,
                                            size_t max_batches = SIZE_MAX) const;
  // This voter's committed image (local, not linearizable) and its index.
  const ClusterImage& committed_image() const { return state_.committed(); }
  int64_t committed_index() const { return state_.committed_index(); }
  // FetchMetadata's long poll, on any voter: completes once committed_index() > `index`, once
  // `max_wait` has passed (on the steady clock, whatever options.driver.clock is), or once
  // Stop() or EndLongPolls() has begun, whichever comes first; at once when one already holds
  // (the caller then reads FetchMetadata(index) for what is there). No polling: it is
  // woken by the state machine's Apply/Restore and by Stop(), and by one shared timer armed for
  // the earliest deadline of the waits in progress.
  [[nodiscard]] Task<void> WaitForCommitAfter(int64_t index, std::chrono::nanoseconds max_wait);
  // Ends every WaitForCommitAfter now and makes later ones complete at once. A process calls it
  // before it stops its controller listener, so parked long polls answer and do not hold the
  // listener's Stop() for their max_wait. Idempotent.
  void EndLongPolls();

  bool active() const { return active_; }
  [[nodiscard]] QuorumStatus status() const;

  // Stops the timers and the driver (pending requests fail with NOT_CONTROLLER or kUnavailable)
  // and waits until no coroutine of the controller runs. Returns the driver's Stop() status.
  // Idempotent.
  [[nodiscard]] Task<Status> Stop();

 private:
  // The driver's view of the state machine: decode + ControllerState.
  class Machine final : public raft::StateMachine {
   public:
    explicit Machine(QuorumController& c) : c_(c) {}
    [[nodiscard]] Status Apply(raft::Index index, std::string_view data) override;
    [[nodiscard]] std::string Snapshot() override;
    [[nodiscard]] Status Restore(std::string_view image) override;

   private:
    QuorumController& c_;
  };
  // Counts a running coroutine of the controller, so Stop() can wait for it.
  class Running {
   public:
    explicit Running(QuorumController& c) : c_(c) { ++c_.running_; }
    ~Running();
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;

   private:
    QuorumController& c_;
  };

  // The long polls in progress (WaitForCommitAfter). Shared with the deadline timers, which may
  // wake after the controller is gone and then touch only this.
  struct CommitWaits {
    explicit CommitWaits(io::Reactor& r) : advanced(r) {}
    io::Notifier advanced;             // a commit was applied, a deadline passed, or Stop()
    std::multiset<int64_t> deadlines;  // of the waits in progress (steady clock, ns)
    std::multiset<int64_t> armed;      // the targets of the timers sleeping now
  };
  // Sleeps until `target`, wakes the waits whose deadline passed, and re-arms itself for the
  // next deadline unless an earlier timer is armed.
  static Task<void> CommitWaitTimer(std::shared_ptr<CommitWaits> waits, io::Reactor& reactor,
                                    int64_t target);

  QuorumController(io::Reactor& reactor, QuorumControllerOptions options);

  int64_t NowMs() const { return clock_->monotonic_ns() / 1'000'000; }
  // Compares the driver's role with active_: deactivates, or starts an activation.
  void CheckRole();
  void Deactivate();
  Task<void> Activate(raft::Term term);
  // OK once active; NOT_CONTROLLER (or the stop/failure) when this voter does not lead.
  Task<Status> AwaitActive();
  // Proposes `records` (if any) as the next entry and waits for its commit. Call right after the
  // decision, with no suspension in between. `expected_index`: a registration's epoch, or 0.
  Task<Status> ProposeAndCommit(std::vector<v1::MetadataRecord> records, int64_t expected_index);
  // The caller-facing error for a refused/failed driver call (or a non-leader, when `st` is OK).
  Status Refusal(const Status& st) const;
  Task<void> PollLoop();
  Task<void> CheckSessionsNow();
  // Preferred-leader election (ControllerConfig::auto_leader_rebalance), proposed when needed.
  Task<void> RebalanceLeadersNow();
  void Retain(int64_t index, std::vector<v1::MetadataRecord> records);

  io::Reactor& reactor_;
  QuorumControllerOptions options_;
  const Clock* clock_;
  Machine machine_;
  std::unique_ptr<raft::RaftDriver> driver_;
  ControllerState state_;
  BrokerLiveness liveness_;
  std::mt19937_64 rng_;

  bool active_ = false;
  raft::Term active_term_;
  bool activating_ = false;
  int64_t last_session_check_ms_ = 0;
  bool session_check_running_ = false;
  int64_t last_rebalance_ms_ = 0;
  bool rebalance_running_ = false;
  io::Notifier role_changed_;  // activation finished (either way), deactivation, stop
  std::shared_ptr<CommitWaits> commit_waits_;
  bool long_polls_ended_ = false;

  // FetchMetadata's window: every committed batch after window_start_ is in batches_.
  std::deque<MetadataBatch> batches_;
  int64_t window_start_ = 0;

  int running_ = 0;    // Running guards alive
  io::Notifier idle_;  // notified when running_ drops to 0
  bool stopping_ = false;
  bool stopped_ = false;
  bool poll_running_ = false;
  io::Event poll_done_;
  io::Event stop_done_;
  Status stop_status_;
};

}  // namespace spool::controller
