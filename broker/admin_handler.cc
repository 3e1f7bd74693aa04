// CreateTopics and DeleteTopics. Both hop to shard 0, where PartitionManager makes topic
// changes one at a time; each topic gets its own result, in request order.
#include <set>

#include "absl/strings/str_cat.h"
#include "broker/request_handlers.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;

namespace {

void SetError(v1::CreatableTopicResult* out, const Status& st) {
  out->set_error_code(proto::ErrorFromStatus(st));
  out->set_error_message(std::string(st.message()));
}

}  // namespace

Task<StatusOr<Response>> HandleCreateTopics(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::CreateTopicsRequest> request) {
  auto response = std::make_shared<v1::CreateTopicsResponse>();
  std::shared_ptr<v1::CreateTopicsRequest> req(std::move(request));
  absl::AnyInvocable<Task<void>()> work = [&core, req, response]() -> Task<void> {
    std::set<std::string> seen;
    for (const v1::CreatableTopic& t : req->topics()) {
      v1::CreatableTopicResult* out = response->add_topics();
      out->set_name(t.name());
      if (!seen.insert(t.name()).second) {
        SetError(out, proto::ErrorToStatus(ErrorCode::INVALID_REQUEST,
                                           "the topic is named twice in the request"));
        continue;
      }
      if (t.assignments_size() > 0) {
        SetError(out, proto::ErrorToStatus(ErrorCode::INVALID_REQUEST,
                                           "manual replica assignment is not supported"));
        continue;
      }
      CreateTopicSpec spec;
      spec.name = t.name();
      spec.num_partitions = t.num_partitions();
      spec.replication_factor = t.replication_factor();
      spec.configs.insert(t.configs().begin(), t.configs().end());
      StatusOr<TopicInfo> made =
          co_await core.partitions.CreateTopic(std::move(spec), req->validate_only());
      if (!made.ok()) {
        SetError(out, made.status());
        continue;
      }
      out->set_error_code(ErrorCode::NONE);
      out->set_num_partitions(made->num_partitions);
      out->set_replication_factor(made->replication_factor);
      for (const auto& [k, v] : EffectiveConfig(made->config)) (*out->mutable_configs())[k] = v;
    }
  };
  co_await core.shards.submit_to<void>(0, std::move(work));
  co_return MakeResponse(frame.header(), *response);
}

Task<StatusOr<Response>> HandleDeleteTopics(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::DeleteTopicsRequest> request) {
  auto response = std::make_shared<v1::DeleteTopicsResponse>();
  std::shared_ptr<v1::DeleteTopicsRequest> req(std::move(request));
  absl::AnyInvocable<Task<void>()> work = [&core, req, response]() -> Task<void> {
    for (const std::string& name : req->topic_names()) {
      v1::DeletableTopicResult* out = response->add_results();
      out->set_name(name);
      Status st = co_await core.partitions.DeleteTopic(name);
      out->set_error_code(proto::ErrorFromStatus(st));
      if (!st.ok()) out->set_error_message(std::string(st.message()));
    }
  };
  co_await core.shards.submit_to<void>(0, std::move(work));
  co_return MakeResponse(frame.header(), *response);
}

}  // namespace spool::broker
