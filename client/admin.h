// AdminSession: a synchronous admin view of a cluster for topic and cluster commands. It owns a
// ClientRuntime (the I/O thread) and a client::Cluster living on it, and turns each admin request
// (Metadata, CreateTopics, DeleteTopics, ListOffsets) into one blocking call that returns the
// broker's response or a Status saying what went wrong (unreachable broker, error response).
//
// Threading: one user thread at a time. Errors inside a response (a topic's error code) are left
// in the response for the caller to report.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/cluster.h"
#include "client/runtime.h"
#include "common/status.h"
#include "proto/admin.pb.h"
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

 private:
  AdminSession() = default;
  template <typename Response>
  StatusOr<Response> Call(proto::ApiKey api, const google::protobuf::Message& request);

  std::unique_ptr<ClientRuntime> runtime_;
  std::unique_ptr<Cluster> cluster_;  // used and destroyed on runtime_'s thread
};

}  // namespace spool::client
