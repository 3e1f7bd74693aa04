#include "client/admin.h"

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "proto/errors.h"

namespace spool::client {
namespace {

// FindCoordinator for `group` (through any broker), retrying COORDINATOR_NOT_AVAILABLE and
// COORDINATOR_LOAD_IN_PROGRESS until `timeout`; then makes sure the coordinator's node is in the
// metadata so Cluster::connection() can reach it.
Task<StatusOr<v1::FindCoordinatorResponse>> LookupCoordinator(Cluster* cluster,
                                                              io::Reactor* reactor,
                                                              std::string group,
                                                              std::chrono::milliseconds timeout) {
  const int64_t deadline = SystemClock::Get().monotonic_ns() +
                           std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
  while (true) {
    StatusOr<std::shared_ptr<BrokerConnection>> conn = co_await cluster->any_connection();
    if (!conn.ok()) co_return conn.status();
    v1::FindCoordinatorRequest request;
    request.set_key(group);
    StatusOr<Reply> reply = co_await (*conn)->call(v1::API_KEY_FIND_COORDINATOR, request);
    if (!reply.ok()) co_return reply.status();
    v1::FindCoordinatorResponse response = reply->as<v1::FindCoordinatorResponse>();
    const proto::ErrorCode code = response.error_code();
    if (code == proto::ErrorCode::NONE) {
      if (!cluster->broker(response.node_id())) {
        std::vector<std::string> none;
        Status st = co_await cluster->refresh(std::move(none));
        if (!st.ok()) co_return st;
      }
      co_return response;
    }
    const bool retry = code == proto::ErrorCode::COORDINATOR_NOT_AVAILABLE ||
                       code == proto::ErrorCode::COORDINATOR_LOAD_IN_PROGRESS;
    if (!retry || SystemClock::Get().monotonic_ns() + 100'000'000 >= deadline) {
      co_return proto::ErrorToStatus(
          code, absl::StrCat("FindCoordinator(", group, "): ", std::string(proto::ErrorName(code)),
                             " ", response.error_message()));
    }
    co_await reactor->sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

StatusOr<std::unique_ptr<AdminSession>> AdminSession::Open(const std::string& bootstrap,
                                                           std::chrono::milliseconds timeout,
                                                           std::string_view client_id) {
  ASSIGN_OR_RETURN(std::vector<io::HostPort> servers, ParseBootstrap(bootstrap));
  std::unique_ptr<AdminSession> s(new AdminSession());
  s->timeout_ = timeout;
  ASSIGN_OR_RETURN(s->runtime_, ClientRuntime::Start(std::string(client_id)));
  ClusterOptions options;
  options.bootstrap = std::move(servers);
  options.connection.client_id = std::string(client_id);
  options.connection.connect_timeout = timeout;
  options.connection.request_timeout = timeout;
  s->cluster_ = std::make_unique<Cluster>(s->runtime_->reactor(), std::move(options));
  return s;
}

AdminSession::~AdminSession() {
  if (runtime_ == nullptr) return;
  Cluster* cluster = cluster_.release();
  // Close and destroy the cluster on its own thread.
  (void)runtime_->call<Status>([cluster]() -> Task<Status> {
    co_await cluster->close();
    delete cluster;
    co_return absl::OkStatus();
  });
  runtime_->shutdown();
}

template <typename Response>
StatusOr<Response> AdminSession::Call(proto::ApiKey api, const google::protobuf::Message& request) {
  Cluster* cluster = cluster_.get();
  const google::protobuf::Message* req = &request;
  return runtime_->call<StatusOr<Response>>([cluster, api, req]() -> Task<StatusOr<Response>> {
    StatusOr<std::shared_ptr<BrokerConnection>> conn = co_await cluster->any_connection();
    if (!conn.ok()) co_return conn.status();
    StatusOr<Reply> reply = co_await (*conn)->call(api, *req);
    if (!reply.ok()) co_return reply.status();
    co_return reply->as<Response>();
  });
}

template <typename Response>
StatusOr<Response> AdminSession::CallCoordinator(const std::string& group, proto::ApiKey api,
                                                 const google::protobuf::Message& request) {
  Cluster* cluster = cluster_.get();
  io::Reactor* reactor = &runtime_->reactor();
  const google::protobuf::Message* req = &request;
  const std::chrono::milliseconds timeout = timeout_;
  return runtime_->call<StatusOr<Response>>(
      [cluster, reactor, group, api, req, timeout]() -> Task<StatusOr<Response>> {
        StatusOr<v1::FindCoordinatorResponse> found =
            co_await LookupCoordinator(cluster, reactor, group, timeout);
        if (!found.ok()) co_return found.status();
        StatusOr<std::shared_ptr<BrokerConnection>> conn =
            co_await cluster->connection(found->node_id());
        if (!conn.ok()) co_return conn.status();
        StatusOr<Reply> reply = co_await (*conn)->call(api, *req);
        if (!reply.ok()) co_return reply.status();
        co_return reply->as<Response>();
      });
}

StatusOr<v1::MetadataResponse> AdminSession::Metadata(const std::vector<std::string>& topics) {
  v1::MetadataRequest request;
  request.set_all_topics(topics.empty());
  for (const std::string& t : topics) request.add_topics(t);
  return Call<v1::MetadataResponse>(v1::API_KEY_METADATA, request);
}

StatusOr<v1::CreateTopicsResponse> AdminSession::CreateTopics(
    const v1::CreateTopicsRequest& request) {
  return Call<v1::CreateTopicsResponse>(v1::API_KEY_CREATE_TOPICS, request);
}

StatusOr<v1::DeleteTopicsResponse> AdminSession::DeleteTopics(
    const v1::DeleteTopicsRequest& request) {
  return Call<v1::DeleteTopicsResponse>(v1::API_KEY_DELETE_TOPICS, request);
}

StatusOr<v1::ListOffsetsResponse> AdminSession::ListOffsets(const v1::ListOffsetsRequest& request) {
  return Call<v1::ListOffsetsResponse>(v1::API_KEY_LIST_OFFSETS, request);
}

StatusOr<v1::DescribeQuorumResponse> AdminSession::DescribeQuorum(const std::string& cluster_id) {
  v1::DescribeQuorumRequest request;
  request.set_cluster_id(cluster_id);
  return Call<v1::DescribeQuorumResponse>(v1::API_KEY_DESCRIBE_QUORUM, request);
}

StatusOr<AdminSession::PartitionOffsets> AdminSession::OffsetsBySpec(
    const std::vector<std::pair<std::string, int32_t>>& parts, v1::OffsetSpec spec,
    int64_t timestamp_ms) {
  PartitionOffsets out;
  v1::ListOffsetsRequest req;
  req.set_replica_id(-1);
  std::map<std::string, v1::ListOffsetsTopic*> topics;
  for (const auto& [topic, partition] : parts) {
    v1::ListOffsetsTopic*& t = topics[topic];
    if (t == nullptr) {
      t = req.add_topics();
      t->set_name(topic);
    }
    v1::ListOffsetsPartition* p = t->add_partitions();
    p->set_partition(partition);
    p->set_current_leader_epoch(-1);
    p->set_spec(spec);
    p->set_timestamp_ms(timestamp_ms);
    out[{topic, partition}] = -1;
  }
  if (parts.empty()) return out;
  ASSIGN_OR_RETURN(v1::ListOffsetsResponse r, ListOffsets(req));
  for (const auto& t : r.topics()) {
    for (const auto& p : t.partitions()) {
      if (p.error_code() == v1::NONE) out[{t.name(), p.partition()}] = p.offset();
    }
  }
  return out;
}

StatusOr<v1::FindCoordinatorResponse> AdminSession::FindCoordinator(const std::string& group) {
  Cluster* cluster = cluster_.get();
  io::Reactor* reactor = &runtime_->reactor();
  const std::chrono::milliseconds timeout = timeout_;
  return runtime_->call<StatusOr<v1::FindCoordinatorResponse>>(
      [cluster, reactor, group, timeout]() {
        return LookupCoordinator(cluster, reactor, group, timeout);
      });
}

StatusOr<v1::ListGroupsResponse> AdminSession::ListGroups(const v1::ListGroupsRequest& request) {
  ASSIGN_OR_RETURN(v1::MetadataResponse metadata, Metadata({}));
  Cluster* cluster = cluster_.get();
  v1::ListGroupsResponse merged;
  for (const v1::BrokerMetadata& broker : metadata.brokers()) {
    const int32_t node = broker.node_id();
    const google::protobuf::Message* req = &request;
    StatusOr<v1::ListGroupsResponse> one = runtime_->call<StatusOr<v1::ListGroupsResponse>>(
        [cluster, node, req]() -> Task<StatusOr<v1::ListGroupsResponse>> {
          // The brokers' addresses come from the cluster's own metadata cache.
          if (!cluster->broker(node).has_value()) {
            Status refreshed = co_await cluster->refresh({});
            if (!refreshed.ok()) co_return refreshed;
          }
          StatusOr<std::shared_ptr<BrokerConnection>> conn = co_await cluster->connection(node);
          if (!conn.ok()) co_return conn.status();
          StatusOr<Reply> reply = co_await (*conn)->call(v1::API_KEY_LIST_GROUPS, *req);
          if (!reply.ok()) co_return reply.status();
          co_return reply->as<v1::ListGroupsResponse>();
        });
    RETURN_IF_ERROR(one.status());
    if (one->error_code() != proto::ErrorCode::NONE &&
        merged.error_code() == proto::ErrorCode::NONE) {
      merged.set_error_code(one->error_code());
      merged.set_error_message(absl::StrCat("broker ", node, ": ", one->error_message()));
    }
    for (const v1::ListedGroup& g : one->groups()) *merged.add_groups() = g;
  }
  return merged;
}

StatusOr<v1::DescribeGroupsResponse> AdminSession::DescribeGroups(
    const std::vector<std::string>& groups) {
  v1::DescribeGroupsResponse merged;
  for (const std::string& group : groups) {
    v1::DescribeGroupsRequest request;
    request.add_groups(group);
    StatusOr<v1::DescribeGroupsResponse> one =
        CallCoordinator<v1::DescribeGroupsResponse>(group, v1::API_KEY_DESCRIBE_GROUPS, request);
    RETURN_IF_ERROR(one.status());
    for (const v1::DescribedGroup& g : one->groups()) *merged.add_groups() = g;
  }
  return merged;
}

StatusOr<v1::DeleteGroupsResponse> AdminSession::DeleteGroups(
    const std::vector<std::string>& groups) {
  v1::DeleteGroupsResponse merged;
  for (const std::string& group : groups) {
    v1::DeleteGroupsRequest request;
    request.add_groups(group);
    StatusOr<v1::DeleteGroupsResponse> one =
        CallCoordinator<v1::DeleteGroupsResponse>(group, v1::API_KEY_DELETE_GROUPS, request);
    RETURN_IF_ERROR(one.status());
    for (const v1::DeleteGroupResult& r : one->results()) *merged.add_results() = r;
  }
  return merged;
}

StatusOr<v1::OffsetFetchResponse> AdminSession::OffsetFetch(const v1::OffsetFetchRequest& request) {
  return CallCoordinator<v1::OffsetFetchResponse>(request.group_id(), v1::API_KEY_OFFSET_FETCH,
                                                  request);
}

StatusOr<AdminSession::PartitionOffsets> AdminSession::CommittedOffsets(
    const std::string& group, const std::vector<std::pair<std::string, int32_t>>& parts) {
  v1::OffsetFetchRequest req;
  req.set_group_id(group);
  req.set_all_topics(parts.empty());
  std::map<std::string, v1::OffsetFetchTopic*> topics;
  for (const auto& [topic, partition] : parts) {
    v1::OffsetFetchTopic*& t = topics[topic];
    if (t == nullptr) {
      t = req.add_topics();
      t->set_name(topic);
    }
    t->add_partitions(partition);
  }
  ASSIGN_OR_RETURN(v1::OffsetFetchResponse r, OffsetFetch(req));
  if (r.error_code() != v1::NONE) {
    return proto::ErrorToStatus(r.error_code(), r.error_message());
  }
  PartitionOffsets out;
  for (const auto& t : r.topics()) {
    for (const auto& p : t.partitions()) {
      if (p.error_code() == v1::NONE && p.committed_offset() >= 0) {
        out[{t.name(), p.partition()}] = p.committed_offset();
      }
    }
  }
  return out;
}

Status AdminSession::CommitOffsetsFromOutside(const std::string& group,
                                              const PartitionOffsets& offsets) {
  v1::OffsetCommitRequest commit;
  commit.set_group_id(group);
  commit.set_generation_id(-1);
  v1::OffsetCommitTopic* t = nullptr;
  for (const auto& [tp, offset] : offsets) {  // sorted by topic, so each topic is one entry
    if (t == nullptr || t->name() != tp.first) {
      t = commit.add_topics();
      t->set_name(tp.first);
    }
    v1::OffsetCommitPartition* p = t->add_partitions();
    p->set_partition(tp.second);
    p->set_committed_offset(offset);
    p->set_committed_leader_epoch(-1);
  }
  ASSIGN_OR_RETURN(v1::OffsetCommitResponse r, OffsetCommit(commit));
  for (const auto& rt : r.topics()) {
    for (const auto& p : rt.partitions()) {
      if (p.error_code() != v1::NONE) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cannot commit ", rt.name(), "-", p.partition(), " for group ", group, ": ",
            std::string(proto::ErrorName(p.error_code())), " ", p.error_message()));
      }
    }
  }
  return absl::OkStatus();
}

StatusOr<v1::OffsetCommitResponse> AdminSession::OffsetCommit(
    const v1::OffsetCommitRequest& request) {
  return CallCoordinator<v1::OffsetCommitResponse>(request.group_id(), v1::API_KEY_OFFSET_COMMIT,
                                                   request);
}

}  // namespace spool::client
