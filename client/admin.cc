#include "client/admin.h"

#include "absl/strings/str_cat.h"

namespace spool::client {

StatusOr<std::unique_ptr<AdminSession>> AdminSession::Open(const std::string& bootstrap,
                                                           std::chrono::milliseconds timeout,
                                                           std::string_view client_id) {
  ASSIGN_OR_RETURN(std::vector<io::HostPort> servers, ParseBootstrap(bootstrap));
  std::unique_ptr<AdminSession> s(new AdminSession());
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

}  // namespace spool::client
