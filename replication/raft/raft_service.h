// The receiving side of the Raft TCP transport (replication/raft/TRANSPORT.md): what a
// controller listener does with a RaftMessagesRequest (API_KEY_RAFT_MESSAGES). Independent of
// the broker: the listener's RequestHandler parses the frame's body and calls this.
//
// Each envelope is handed to RaftDriver::DeliverWire in request order. Bad bytes never crash
// and never fail the batch: an envelope that does not decode, names another cluster or is
// addressed to another voter is dropped and counted by the driver (DriverCounters
// dropped_malformed / dropped_foreign_cluster / dropped_misaddressed); the others are still
// delivered. The response (error_code NONE) is sent once every envelope was delivered; delivery
// is not durability (Raft's own replies carry what was persisted). A stopped or failed driver
// ignores what it is given, as a crashed voter would.
//
// Threading: called on the driver's reactor thread (the listener's shard must be the driver's
// reactor, or the handler hops there first). `driver` and `request` must stay alive until the
// Task completes.
#pragma once

#include "common/status.h"
#include "common/task.h"
#include "proto/raft.pb.h"
#include "replication/raft/driver.h"

namespace spool::raft {

[[nodiscard]] Task<StatusOr<v1::RaftMessagesResponse>> HandleRaftMessages(
    RaftDriver& driver, const v1::RaftMessagesRequest& request);

}  // namespace spool::raft
