// ControllerChannel: one broker's (or a CLI's) requests to the active controller of a quorum.
//
// Each call is sent to the voter believed to be active; a NOT_CONTROLLER error frame moves it to
// the leader named in the answer, or else to the next voter in the list; a broken connection, a
// refused connect or a timeout moves it to the next voter too. It retries (with a backoff that
// doubles from retry_backoff up to 250 ms, no busy loop) until the call's deadline, and then
// returns the last error (kUnavailable / kDeadlineExceeded with the wire code inside, as
// proto::ErrorFromStatus reads it). A response that arrived is returned as it is: its own
// error_code is the controller's decision and is never retried here (the caller decides).
// INCONSISTENT_CLUSTER_ID is such a decision.
//
// One connection at a time (to the current voter), pipelined: calls in flight share it and are
// answered in order, so a long-poll FetchMetadata delays calls behind it. Callers that long-poll
// use a channel of their own for it.
//
// A call that fails after it was sent may still take effect (the controller may commit it):
// callers retry only idempotent requests or rely on the controller's idempotent answers
// (TOPIC_ALREADY_EXISTS, a re-registration with the same incarnation).
//
// Ownership and threading: created, used and closed on one reactor thread (the broker's shard 0).
// Close() must complete before destruction; it fails the calls in flight with kCancelled and
// waits for them to return.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "client/connection.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"
#include "proto/admin.pb.h"
#include "proto/controller.pb.h"
#include "replication/raft/tcp_transport.h"

namespace spool::broker {

struct ControllerChannelOptions {
  std::string cluster_id;                 // stamped into each request that has the field
  std::vector<raft::QuorumVoter> voters;  // controller.quorum.voters
  std::string client_id = "spool-broker";
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds retry_backoff{50};
};

class ControllerChannel {
 public:
  static std::unique_ptr<ControllerChannel> Create(io::Reactor& reactor,
                                                   ControllerChannelOptions options);
  virtual ~ControllerChannel() = default;

  // `timeout` bounds the whole call, retries included (a long poll's own wait must fit in it).
  virtual Task<StatusOr<v1::BrokerRegistrationResponse>> BrokerRegistration(
      v1::BrokerRegistrationRequest request, std::chrono::milliseconds timeout) = 0;
  virtual Task<StatusOr<v1::BrokerHeartbeatResponse>> BrokerHeartbeat(
      v1::BrokerHeartbeatRequest request, std::chrono::milliseconds timeout) = 0;
  virtual Task<StatusOr<v1::FetchMetadataResponse>> FetchMetadata(
      v1::FetchMetadataRequest request, std::chrono::milliseconds timeout) = 0;
  virtual Task<StatusOr<v1::AlterPartitionResponse>> AlterPartition(
      v1::AlterPartitionRequest request, std::chrono::milliseconds timeout) = 0;
  virtual Task<StatusOr<v1::AllocateProducerIdsResponse>> AllocateProducerIds(
      v1::AllocateProducerIdsRequest request, std::chrono::milliseconds timeout) = 0;
  // Answered by whichever voter it reaches (not redirected to the leader).
  virtual Task<StatusOr<v1::DescribeQuorumResponse>> DescribeQuorum(
      v1::DescribeQuorumRequest request, std::chrono::milliseconds timeout) = 0;
  virtual Task<StatusOr<v1::CreateTopicsResponse>> CreateTopics(
      v1::CreateTopicsRequest request, std::chrono::milliseconds timeout) = 0;
  virtual Task<StatusOr<v1::DeleteTopicsResponse>> DeleteTopics(
      v1::DeleteTopicsRequest request, std::chrono::milliseconds timeout) = 0;

  virtual Task<void> Close() = 0;
};

}  // namespace spool::broker
