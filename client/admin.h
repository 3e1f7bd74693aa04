// AdminSession: a synchronous admin view of a cluster for topic and cluster commands. It owns a
// ClientRuntime (the I/O thread) and a client::Cluster living on it, and turns each admin request
// (Metadata, CreateTopics, DeleteTopics, ListOffsets, DescribeQuorum, and the consumer-group
// calls) into one blocking call that returns the broker's response or a Status saying what went
// wrong (unreachable broker, error response).
//
// Group calls go to the group's coordinator (FindCoordinator first, retried while the answer is
// COORDINATOR_NOT_AVAILABLE / COORDINATOR_LOAD_IN_PROGRESS, up to the session's timeout);
// ListGroups asks every broker in the metadata and merges the answers.
//
// Threading: one user thread at a time. Errors inside a response (a topic's error code, a
// group's error code) are left in the response for the caller to report.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/cluster.h"
#include "client/runtime.h"
#include "common/status.h"
#include "proto/admin.pb.h"
#include "proto/controller.pb.h"
#include "proto/group.pb.h"
#include "proto/list_offsets.pb.h"
#include "proto/metadata.pb.h"

namespace spool::client {

class AdminSession {
 public:
  // `bootstrap` is "host:port[,host:port...]". Connects lazily (the first request).
  static StatusOr<std::unique_ptr<AdminSession>> Open(const std::string& bootstrap,
                                                      std::chrono::milliseconds timeout,
                                                      std::string_view client_id = "spool-admin");
  ~AdminSession();

  StatusOr<v1::MetadataResponse> Metadata(const std::vector<std::string>& topics);  // empty: all
  StatusOr<v1::CreateTopicsResponse> CreateTopics(const v1::CreateTopicsRequest& request);
  StatusOr<v1::DeleteTopicsResponse> DeleteTopics(const v1::DeleteTopicsRequest& request);
  StatusOr<v1::ListOffsetsResponse> ListOffsets(const v1::ListOffsetsRequest& request);
  // The controller quorum and the registered brokers (API_KEY_DESCRIBE_QUORUM, a client API: the
  // broker forwards it to the controller quorum). `cluster_id` is stamped into the request (the
  // one Metadata returned; empty: let the broker fill in its own). An error the broker or the
  // controller answered with is left in the response's error_code; a broker that does not serve
  // the API (an error frame) or cannot be reached is a Status.
  StatusOr<v1::DescribeQuorumResponse> DescribeQuorum(const std::string& cluster_id = "");

  // (topic, partition) -> offset, for the helpers below.
  using PartitionOffsets = std::map<std::pair<std::string, int32_t>, int64_t>;
  // ListOffsets for each partition by `spec` (timestamp_ms only for OFFSET_SPEC_BY_TIMESTAMP):
  // every requested partition is in the result, -1 where the broker answered an error or found
  // no offset.
  StatusOr<PartitionOffsets> OffsetsBySpec(
      const std::vector<std::pair<std::string, int32_t>>& parts, v1::OffsetSpec spec,
      int64_t timestamp_ms = 0);

  // ---- consumer groups (proto/group.proto) ----
  // The coordinator of `group` (its error code as a Status: kUnavailable for
  // COORDINATOR_NOT_AVAILABLE after retrying until the timeout).
  StatusOr<v1::FindCoordinatorResponse> FindCoordinator(const std::string& group);
  // Every group of every broker (states_filter as in the request; empty: all).
  StatusOr<v1::ListGroupsResponse> ListGroups(const v1::ListGroupsRequest& request);
  // Each group from its coordinator; results in request order.
  StatusOr<v1::DescribeGroupsResponse> DescribeGroups(const std::vector<std::string>& groups);
  // Deletes empty groups (NON_EMPTY_GROUP while a group has members), each at its coordinator.
  StatusOr<v1::DeleteGroupsResponse> DeleteGroups(const std::vector<std::string>& groups);
  // Committed offsets of a group: the request's topics, or every partition with all_topics.
  StatusOr<v1::OffsetFetchResponse> OffsetFetch(const v1::OffsetFetchRequest& request);
  // The group's committed offsets of `parts` (empty: every partition it has one for); a
  // partition without a committed offset is absent. The group's own error as a Status.
  StatusOr<PartitionOffsets> CommittedOffsets(
      const std::string& group, const std::vector<std::pair<std::string, int32_t>>& parts);
  // Commits offsets for a group from outside it: generation_id -1 and an empty member id, which
  // the coordinator accepts only while the group has no members (offset resets).
  StatusOr<v1::OffsetCommitResponse> OffsetCommit(const v1::OffsetCommitRequest& request);
  // OffsetCommit of `offsets` for `group` from outside it (generation -1, leader epoch -1); the
  // first partition's error as a Status (kFailedPrecondition naming the code).
  Status CommitOffsetsFromOutside(const std::string& group, const PartitionOffsets& offsets);

 private:
  AdminSession() = default;
  template <typename Response>
  StatusOr<Response> Call(proto::ApiKey api, const google::protobuf::Message& request);
  // The same, sent to `group`'s coordinator.
  template <typename Response>
  StatusOr<Response> CallCoordinator(const std::string& group, proto::ApiKey api,
                                     const google::protobuf::Message& request);

  std::chrono::milliseconds timeout_{30000};
  std::unique_ptr<ClientRuntime> runtime_;
  std::unique_ptr<Cluster> cluster_;  // used and destroyed on runtime_'s thread
};

}  // namespace spool::client
