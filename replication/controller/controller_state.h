// ControllerState: the metadata images a controller keeps around the Raft log, for speculative
// application (replication/controller/README.md, "Speculative application").
//
//  - committed(): every committed metadata entry applied (what every replica agrees on).
//  - latest(): committed plus this controller's own proposals not yet committed, in index
//    order. The active controller decides on latest() (controller_logic.h), so a second request
//    sees the effect of the first before it commits (two CreateTopics of one name: the second
//    gets TOPIC_ALREADY_EXISTS), and replies to a request only once its entry commits.
//
// A new active controller must not decide before it has applied its log up to the no-op of its
// own term (as in KRaft): entries of earlier terms may still be uncommitted in its log, and
// latest() builds on committed(). RaftNode commits that no-op first thing in a term.
//
// The driver calls Propose() for each entry it proposes (with the index Raft gives it),
// ApplyCommitted() for each committed entry that carries a batch (in index order; Raft's no-op
// entries are skipped), OnLeadershipLost() when it stops leading (pending proposals may still
// commit later: they then come back through ApplyCommitted() like any other entry), and
// Restore() when Raft installs a snapshot.
//
// One Raft entry's data is one MetadataRecordBatch: EncodeBatch()/DecodeBatch().
//
// A plain value type; the driver's thread only. No I/O: durability is Raft's.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "replication/controller/metadata_image.h"

namespace spool::controller {

class ControllerState {
 public:
  ControllerState() = default;
  // Starts from a snapshot: `image` is the state after the log up to `index`.
  ControllerState(ClusterImage image, int64_t index);

  const ClusterImage& committed() const { return committed_; }
  int64_t committed_index() const { return committed_index_; }
  const ClusterImage& latest() const { return latest_; }
  // The index of the last pending proposal, or committed_index() when none is pending.
  int64_t latest_index() const;
  size_t pending_count() const { return pending_.size(); }

  // The active controller proposed `records` as the Raft entry `index` (> latest_index()):
  // applies them to latest(). kFailedPrecondition for an index not after latest_index();
  // kInvalidArgument for a RegisterBrokerRecord whose epoch is not `index` (controller_logic.h,
  // RegisterBroker); an error from ClusterImage::ApplyBatch() leaves everything unchanged
  // (propose nothing then).
  [[nodiscard]] Status Propose(int64_t index, std::vector<v1::MetadataRecord> records);

  // The Raft entry `index` (> committed_index()) committed with `records`: applies them to
  // committed(). True when it was the oldest pending proposal with the same records (latest()
  // already holds it: the driver may now send that request's reply). An entry before every
  // pending proposal is applied under them (latest() is rebuilt; if they no longer apply, they
  // are dropped). Otherwise another leader's entry took the index of one of ours: every pending
  // proposal is dropped and latest() = committed(). An error (kDataLoss from ApplyBatch) means
  // the log and this state disagree: the state is unchanged and the driver must stop applying.
  [[nodiscard]] StatusOr<bool> ApplyCommitted(int64_t index,
                                              std::span<const v1::MetadataRecord> records);

  // No longer the active controller: pending proposals are dropped, latest() = committed().
  void OnLeadershipLost();

  // Raft installed a snapshot: committed() = latest() = image, at `index`; nothing pending.
  void Restore(ClusterImage image, int64_t index);

 private:
  struct Pending {
    int64_t index;
    std::vector<v1::MetadataRecord> records;
  };

  // latest_ = committed_ + every pending proposal (all dropped if one no longer applies).
  void RebuildLatest();

  ClusterImage committed_;
  int64_t committed_index_ = 0;
  ClusterImage latest_;
  std::deque<Pending> pending_;
};

// The data of one metadata log entry (deterministic serialization).
[[nodiscard]] std::string EncodeBatch(std::span<const v1::MetadataRecord> records);
// kDataLoss when `data` is not a MetadataRecordBatch.
[[nodiscard]] StatusOr<std::vector<v1::MetadataRecord>> DecodeBatch(std::string_view data);

}  // namespace spool::controller
