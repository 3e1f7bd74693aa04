// RaftDriver: runs one RaftNode for real, on one reactor, over FileStorage, a Transport and a
// StateMachine (the node and its Ready contract: replication/raft/README.md, ready.h).
//
// What it does:
//   - Ready loop, exactly the contract of ready.h: persist (snapshot, entries, hard state, one
//     fdatasync through FileStorage), then OnSnapshotPersisted / OnPersisted, then hand the
//     Ready's messages to the Transport, then apply: restore, committed entries, confirmed reads.
//     Readys are handled one at a time in the order taken; inputs that arrive while a Ready is
//     being persisted accumulate in the node and leave together in the next Ready (group commit).
//   - Time: the node is ticked from `clock` (monotonic) before every input and by a timer that
//     sleeps on the reactor until node.next_deadline_ns(). An input that moves the deadline
//     earlier arms an earlier timer; nothing polls.
//   - Snapshots: once `snapshot_every` entries have been applied since the last snapshot, the
//     state machine's image is handed to RaftNode::Compact at the end of that Ready (at most one
//     snapshot per Ready); the node truncates its log and the next Ready persists the snapshot.
//     A follower the leader's log no longer covers gets the snapshot (InstallSnapshot) and the
//     driver restores its state machine from it.
//
// Ownership: the driver owns its RaftNode and FileStorage; it borrows the reactor, the file
// system, the state machine and the transport, which must all outlive it. The state machine must
// be empty when Start() is called: the driver restores it from the latest snapshot on disk and
// then the node re-delivers the committed entries after it (the state machine itself is not
// durable; Raft's log and snapshots are).
//
// Threading: every member is called on the driver's reactor thread only (the thread running
// `reactor`), and the driver calls the state machine and the transport on that thread only.
// Other threads reach it with Reactor::post or io::RunOn.
//
// Lifetime: Stop() must complete before the driver is destroyed (the destructor aborts
// otherwise). Stop() fails every pending Propose/ReadBarrier with kUnavailable, waits for the
// Ready in progress to finish its fdatasync, closes the storage and disarms the timers; after it
// no coroutine of the driver touches the driver again.
//
// Durability: a Propose that resolves OK is committed (durable on a majority of voters) and
// applied to the local state machine. Everything the node votes or acknowledges is fdatasync'd
// before the message that depends on it leaves.
//
// Errors: a failed Persist or a state machine that fails Apply/Restore makes the driver *failed*:
// it stops processing (a failed Persist leaves the disk in an unknown state; the cure is a
// restart, which recovers from the files) and every call returns that error (status().error).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/io/event.h"
#include "common/io/file_system.h"
#include "common/io/notifier.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"
#include "replication/raft/config.h"
#include "replication/raft/file_storage.h"
#include "replication/raft/raft_node.h"
#include "replication/raft/types.h"

namespace spool::raft {

// Delivers messages to other voters. Best effort: a message may be dropped, delayed or
// reordered (Raft tolerates all three). Called on the driver's reactor thread; must not block
// and must not call back into the driver inline.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void Send(Message m) = 0;
};

// The replicated state machine. Called on the driver's reactor thread only.
class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // Applies the committed entry at `index` (normal entries only, in index order, each once per
  // driver lifetime). An error makes the driver failed.
  [[nodiscard]] virtual Status Apply(Index index, std::string_view data) = 0;
  // An image of everything applied so far, for a snapshot.
  [[nodiscard]] virtual std::string Snapshot() = 0;
  // Replaces the whole state with an image produced by Snapshot() (on this or another voter).
  [[nodiscard]] virtual Status Restore(std::string_view image) = 0;
};

struct DriverOptions {
  Config raft;             // this voter's id, the voter set and the timing
  std::string dir;         // FileStorage's directory (created if missing)
  std::string cluster_id;  // wire envelopes of another cluster are dropped (DeliverWire)
  // Snapshot once this many entries were applied since the last snapshot; 0 = never.
  uint64_t snapshot_every = 1024;
  // Election-timeout randomness. 0: derived from the id and the clock.
  uint64_t seed = 0;
  // Monotonic time for the node. nullptr: SystemClock. It must run at the pace of the reactor's
  // sleep_for (a manual clock would never fire the timers).
  const Clock* clock = nullptr;
};

struct DriverCounters {
  uint64_t readys = 0;
  uint64_t persists = 0;  // Readys that wrote and fdatasync'd something
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  uint64_t dropped_foreign_cluster = 0;  // DeliverWire: envelope of another cluster
  uint64_t dropped_malformed = 0;        // DeliverWire: did not decode (wire.h)
  uint64_t dropped_misaddressed = 0;     // DeliverWire/Deliver: `to` is not this voter
  uint64_t snapshots_taken = 0;          // Compact calls
  uint64_t snapshots_restored = 0;       // snapshots installed from the leader
  uint64_t timer_wakeups = 0;
};

// One voter as the leader sees it (`spool cluster`).
struct VoterStatus {
  NodeId id;
  Index match;          // highest index known durable on that voter (the leader: persisted)
  uint64_t lag = 0;     // leader's last index - match
  bool active = false;  // heard from within the current check-quorum period (self: true)
};

struct DriverStatus {
  NodeId id;
  Role role = Role::kFollower;
  Term term;
  NodeId leader = kNoNode;
  Index commit;
  Index applied;
  Index last_index;
  Index snapshot_index;
  std::vector<VoterStatus> voters;  // leader only: every voter, in the order of the config
  DriverCounters counters;
  Status error;  // OK unless the driver failed
  bool stopped = false;
};

class RaftDriver {
 public:
  // Opens the storage under options.dir, restores `sm` from its snapshot, builds the node and
  // starts the Ready loop and the timer. A single voter campaigns at once.
  [[nodiscard]] static Task<StatusOr<std::unique_ptr<RaftDriver>>> Start(io::Reactor& reactor,
                                                                         io::FileSystem& fs,
                                                                         DriverOptions options,
                                                                         StateMachine& sm,
                                                                         Transport& transport);
  ~RaftDriver();
  RaftDriver(const RaftDriver&) = delete;
  RaftDriver& operator=(const RaftDriver&) = delete;

  // An incoming message (ignored once stopped or failed, or when not addressed to this voter).
  void Deliver(Message m);
  // An incoming RaftEnvelope (proto/raft.proto): decoded, its cluster id checked, then
  // Deliver(). Malformed or foreign envelopes are dropped and counted.
  void DeliverWire(std::string_view bytes);

  // Appends `data` to the log. Resolves with the entry's index once it is committed and applied
  // to the local state machine. Fails with kUnavailable when this voter is not the leader (the
  // known leader is named: LeaderHint()), when it loses leadership before the entry commits,
  // and when the driver stops. Such an entry may or may not commit later (a new leader may
  // still commit it): a caller that retries must tolerate a duplicate.
  [[nodiscard]] Task<StatusOr<Index>> Propose(std::string data);
  // The index the next entry appended to this voter's log gets: on the leader, the index of
  // Propose(data) when `co_await driver.Propose(...)` directly follows this call on the reactor
  // thread (no suspension in between), for records that carry their own index (KRaft-style
  // broker epochs).
  Index next_index() const { return node_->log().last_index() + 1; }

  // Linearizable read barrier (ReadIndex, README "ReadIndex"): resolves OK once the local state
  // machine has applied everything committed before the call, as confirmed by a heartbeat
  // round with a majority; reads of the state machine after that are not stale. Leader only
  // (kUnavailable naming the leader elsewhere). While a new leader has not yet committed its
  // first entry it waits for it. A leader cut off from the quorum never answers: its check-quorum
  // makes it step down within an election timeout and the barrier fails with kUnavailable.
  [[nodiscard]] Task<Status> ReadBarrier();

  // Role, term, leader, commit, applied, per-voter match and lag (leader only), counters.
  DriverStatus status() const;
  NodeId id() const { return options_.raft.id; }

  // See "Lifetime" above. Returns the storage's close status. Idempotent.
  [[nodiscard]] Task<Status> Stop();

 private:
  // Shared with the timer coroutines, which may outlive the driver: `driver` is cleared by
  // Stop(), after which a waking timer does nothing.
  struct Shared {
    RaftDriver* driver = nullptr;
  };
  // A pending Propose or ReadBarrier. Owned jointly by the driver and the waiting coroutine, so
  // the coroutine never needs the driver after it wakes.
  struct Waiter {
    explicit Waiter(io::Reactor& r) : done(r) {}
    io::Event done;
    Term term;               // Propose: the term it was proposed in
    Index index;             // Propose: the entry; ReadBarrier: the confirmed read index
    bool confirmed = false;  // ReadBarrier: the node confirmed the read
    bool retry = false;      // ReadBarrier: the leader was not ready; ask again
    StatusOr<Index> result = Index{0};
    void Resolve(StatusOr<Index> r) {
      result = std::move(r);
      done.set();
    }
  };

  RaftDriver(io::Reactor& reactor, DriverOptions options, StateMachine& sm, Transport& transport,
             std::unique_ptr<FileStorage> storage);

  int64_t Now() const { return clock_->monotonic_ns(); }
  bool Accepting() const { return !stopping_ && error_.ok(); }
  Status Refusal() const;  // why a call is refused (stopped or failed)
  static Status StoppedError();
  Status NotLeader() const;
  // After every input: fail proposals leadership no longer covers, re-arm the timer, wake the
  // Ready loop.
  void AfterInput();
  void ArmTimer();
  static Task<void> TimerTask(std::shared_ptr<Shared> shared, io::Reactor* reactor,
                              int64_t deadline_ns, int64_t wait_ns);
  void OnTimer(int64_t deadline_ns);

  Task<void> ReadyLoop();
  // Step 4 of the contract for one Ready (driver_apply.cc).
  [[nodiscard]] Status Apply(Ready& rd);
  void ResolveProposal(const Entry& e);
  void ResolveReads();
  void CheckLeadership();
  void Fail(Status st);
  void FailAll(const Status& st);

  io::Reactor& reactor_;
  DriverOptions options_;
  const Clock* clock_;
  StateMachine& sm_;
  Transport& transport_;
  std::unique_ptr<FileStorage> storage_;
  std::unique_ptr<RaftNode> node_;
  std::shared_ptr<Shared> shared_;

  io::Notifier wake_;    // the Ready loop waits here for input
  io::Event loop_done_;  // set when the Ready loop has returned
  io::Event stop_done_;  // set when Stop() has completed
  bool loop_running_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  Status error_;
  Status close_status_;

  Index applied_;
  int64_t armed_ns_ = INT64_MAX;  // the earliest deadline a live timer will wake at
  uint64_t next_read_id_ = 0;
  std::map<Index, std::shared_ptr<Waiter>> proposals_;
  std::map<uint64_t, std::shared_ptr<Waiter>> reads_;
  std::vector<std::shared_ptr<Waiter>> read_retries_;  // ReadBarriers waiting to ask again
  DriverCounters counters_;
};

// The leader named by a kUnavailable status of Propose/ReadBarrier, or kNoNode when unknown.
NodeId LeaderHint(const Status& status);

}  // namespace spool::raft
