// ControllerService: the RequestHandler of a controller listener (a second broker::Server of a
// process whose `process.roles` include `controller`). It serves the APIs of
// proto/controller.proto, the Raft messages between voters (raft_service.h), CreateTopics and
// DeleteTopics forwarded by brokers, and ApiVersions (listing InternalApis(), CreateTopics,
// DeleteTopics, DescribeQuorum and ApiVersions itself, with this voter's id and the cluster id).
// Anything else gets an error frame with UNSUPPORTED_VERSION; a body that does not parse, or a
// payload on any frame, gets INVALID_REQUEST. Nothing a peer sends can crash it.
//
// Every request hops to the controller's shard (where the QuorumController lives) and calls it.
// When the QuorumController answers NOT_CONTROLLER (this voter is not active, or lost leadership
// before the request committed), the response is an error frame with NOT_CONTROLLER and the
// leader it knows in ErrorResponse.controller_id, so ControllerChannel retries there; a
// controller that is stopping or whose driver failed answers the same way (with the leader it
// last knew, or -1). A request naming another cluster id gets INCONSISTENT_CLUSTER_ID in its own
// response's error_code (CreateTopics and DeleteTopics carry no cluster id). A decision's own
// refusals travel in the response's error_code with Kafka's number (controller_errors.h).
// CreateTopics results echo the configs given (the forwarding broker fills the effective ones).
// FetchMetadata and DescribeQuorum are answered by any voter, from its committed state;
// FetchMetadata long-polls up to max_wait_ms (capped at 10 s) for a newer committed batch.
//
// Ownership: borrows the ShardSet and the QuorumController, which must outlive it and every
// request it is handling (spoold stops the controller listener before it stops the controller;
// it first calls QuorumController::EndLongPolls() on the controller's shard, so FetchMetadata
// long polls answer at once instead of holding the listener's Stop() for their max_wait).
// Threading: RequestHandler's rules; the QuorumController is used on `controller_shard` only.
#pragma once

#include <memory>
#include <string>

#include "broker/handler.h"
#include "broker/shard.h"
#include "replication/controller/quorum_controller.h"

namespace spool::broker {

[[nodiscard]] std::unique_ptr<RequestHandler> MakeControllerService(
    ShardSet& shards, int controller_shard, controller::QuorumController& controller,
    std::string cluster_id);

}  // namespace spool::broker
