// Fetch from a follower replica (replica_id >= 0 and replica_epoch > 0, its broker epoch), on the
// partition leader
// (broker/REPLICATION.md, "Follower fetches").
//
// Per partition, in order: unknown -> UNKNOWN_TOPIC_OR_PARTITION; not led here ->
// NOT_LEADER_OR_FOLLOWER (LEADER_NOT_AVAILABLE when offline); a current_leader_epoch other than
// the leader's -> FENCED_LEADER_EPOCH (older) / UNKNOWN_LEADER_EPOCH (newer); the fetching broker
// not a replica -> NOT_LEADER_OR_FOLLOWER. Then the divergence check: when the follower's
// last_fetched_epoch is not one the leader has, or fetch_offset is past that epoch's end on the
// leader, the answer is diverging_epoch = (the largest epoch <= last_fetched_epoch the leader
// has, its end offset) and no records; the follower truncates there and fetches again.
// Otherwise the fetch counts as the follower's progress (its log end = fetch_offset), which may
// advance the HW, and returns whole batches from fetch_offset up to the leader's log end
// (OFFSET_OUT_OF_RANGE outside [log start, log end]) with the HW after the update.
//
// Long poll: with no records and no error anywhere, the fetch waits (max_wait_ms) until an
// append to one of its partitions, then reads again.
//
// Threading: on the connection's shard, hopping to the owning shards (FanOut).
#pragma once

#include <memory>

#include "broker/request_handlers.h"

namespace spool::broker {

Task<StatusOr<Response>> HandleReplicaFetch(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::FetchRequest> request);

}  // namespace spool::broker
