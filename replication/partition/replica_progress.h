// ReplicaProgress: a partition leader's view of its followers (Kafka's replication rules,
// /work/shared/REFERENCE.md "Replication semantics"; broker/REPLICATION.md says how the broker
// uses it). Pure bookkeeping over numbers: no I/O, no clock of its own (times are passed in, so
// tests and the simulator drive it with virtual time).
//
//  - Each follower fetch reports the follower's log end offset (for Spool, what the follower has
//    made durable, or written under flush.policy=interval: the follower fetches from there) and
//    the time; the leader passes its own log end at that moment. A follower is *caught up* at a
//    fetch whose offset reaches the leader's log end then, and also (Kafka's rule) at the time of
//    its previous fetch when this fetch reaches the leader's end at that previous fetch.
//  - High watermark: the minimum over the ISR of the members' log end offsets (the leader's own is
//    passed in: its durable end). A follower not heard from since this leadership began counts as
//    unknown, which holds the HW where it is. The HW does not advance while the ISR is smaller than
//    min.insync.replicas. It never moves backwards here (the caller keeps the maximum).
//  - The ISR used for the HW is the committed one plus members being added (an AlterPartition in
//    flight): a member being removed keeps counting until the removal commits (KIP-497's
//    "maximal ISR"), so the HW never counts on fewer replicas than the controller believes.
//  - Shrink: an ISR follower that is behind the leader's end and has not caught up for
//    replica.lag.time.max.ms. Expand: a follower outside the ISR whose log end reached both the
//    HW and the start offset of the current leader epoch.
//
// Threading: not thread-safe; one owner (the partition's shard).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace spool::replication {

class ReplicaProgress {
 public:
  struct Options {
    int32_t self = -1;
    std::vector<int32_t> replicas;  // including self
    std::vector<int32_t> isr;       // committed ISR (metadata), including self
    int32_t min_insync_replicas = 1;
    int64_t epoch_start_offset = 0;  // the leader's log end when this leadership began
    int64_t now_ns = 0;              // when this leadership began
  };
  explicit ReplicaProgress(Options options);

  // A fetch by follower `id` from `fetch_offset` at `now_ns`, while the leader's log end was
  // `leader_end`. Ignored for a broker that is not a replica.
  void OnFetch(int32_t id, int64_t fetch_offset, int64_t leader_end, int64_t now_ns);

  // The HW the ISR supports, given the leader's own log end for that purpose; nullopt when it
  // cannot be said (a member unknown, or the ISR below min.insync.replicas).
  [[nodiscard]] std::optional<int64_t> HighWatermark(int64_t leader_end) const;

  // ISR followers to remove (see the header), by id.
  [[nodiscard]] std::vector<int32_t> Lagging(int64_t now_ns, int64_t lag_ns,
                                             int64_t leader_end) const;
  // Followers outside the ISR that may join, by id: caught up as above, and heard from within
  // `lag_ns` (a follower that stopped fetching keeps its last offset here, but is not joining).
  [[nodiscard]] std::vector<int32_t> ReadyToJoin(int64_t high_watermark, int64_t now_ns,
                                                 int64_t lag_ns) const;

  // The committed ISR changed (metadata, or an AlterPartition answer). Clears the pending
  // change when it is what committed.
  void SetIsr(std::vector<int32_t> isr);
  // An AlterPartition asking for `isr` is in flight (nullopt: none is any more).
  void SetPending(std::optional<std::vector<int32_t>> isr);

  const std::vector<int32_t>& isr() const { return isr_; }
  const std::optional<std::vector<int32_t>>& pending() const { return pending_; }
  bool InIsr(int32_t id) const;
  // ISR size as the controller has it, for min.insync.replicas checks on produce.
  size_t isr_size() const { return isr_.size(); }
  int32_t min_insync_replicas() const { return options_.min_insync_replicas; }
  // A follower's last reported log end (-1: not heard from in this leadership).
  int64_t FollowerEnd(int32_t id) const;
  const std::vector<int32_t>& replicas() const { return options_.replicas; }

 private:
  struct Follower {
    int32_t id = -1;
    int64_t log_end = -1;
    int64_t last_caught_up_ns = 0;
    int64_t last_fetch_ns = 0;
    int64_t leader_end_at_last_fetch = -1;
  };
  Follower* Find(int32_t id);
  const Follower* Find(int32_t id) const;
  // The ISR the HW counts: committed plus pending additions.
  std::vector<int32_t> MaximalIsr() const;

  Options options_;
  std::vector<int32_t> isr_;
  std::optional<std::vector<int32_t>> pending_;
  std::vector<Follower> followers_;
};

}  // namespace spool::replication
