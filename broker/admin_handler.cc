// CreateTopics, DeleteTopics and DescribeQuorum: each is checked here, then forwarded to the
// active controller through the MetadataFollower on shard 0, which answers once the change is in
// this broker's metadata (metadata_follower.h). Each topic gets its own result, in request order.
#include <set>

#include "absl/strings/str_cat.h"
#include "broker/group_records.h"
#include "broker/metadata_follower.h"
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
  // Checked here (names, counts, configs against this broker's rules); what passes goes to the
  // controller in one request, and its answers are put back in request order.
  v1::CreateTopicsResponse response;
  v1::CreateTopicsRequest forward;
  forward.set_timeout_ms(request->timeout_ms());
  forward.set_validate_only(request->validate_only());
  std::vector<int> forwarded;  // response index of each forwarded topic
  std::vector<TopicInfo> checked;
  std::set<std::string> seen;
  for (const v1::CreatableTopic& t : request->topics()) {
    v1::CreatableTopicResult* out = response.add_topics();
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
    StatusOr<TopicInfo> ok = core.partitions.CheckCreate(spec);
    if (!ok.ok()) {
      SetError(out, ok.status());
      continue;
    }
    v1::CreatableTopic* f = forward.add_topics();
    f->set_name(ok->name);
    f->set_num_partitions(ok->num_partitions);
    f->set_replication_factor(ok->replication_factor);
    for (const auto& [k, v] : ok->overrides) (*f->mutable_configs())[k] = v;
    forwarded.push_back(response.topics_size() - 1);
    checked.push_back(*std::move(ok));
  }
  if (!forwarded.empty()) {
    auto answer = std::make_shared<v1::CreateTopicsResponse>();
    auto sent = std::make_shared<v1::CreateTopicsRequest>(std::move(forward));
    absl::AnyInvocable<Task<void>()> work = [&core, sent, answer]() -> Task<void> {
      *answer = co_await core.metadata->CreateTopics(std::move(*sent));
    };
    co_await core.shards.submit_to<void>(0, std::move(work));
    for (size_t i = 0; i < forwarded.size(); i++) {
      v1::CreatableTopicResult* out = response.mutable_topics(forwarded[i]);
      if (static_cast<int>(i) >= answer->topics_size()) {
        SetError(out, absl::InternalError("the controller did not answer for this topic"));
        continue;
      }
      const v1::CreatableTopicResult& a = answer->topics(static_cast<int>(i));
      out->set_error_code(a.error_code());
      out->set_error_message(a.error_message());
      if (a.error_code() != ErrorCode::NONE) continue;
      out->set_topic_id(a.topic_id());
      out->set_num_partitions(checked[i].num_partitions);
      out->set_replication_factor(checked[i].replication_factor);
      for (const auto& [k, v] : EffectiveConfig(checked[i].config))
        (*out->mutable_configs())[k] = v;
    }
  }
  co_return MakeResponse(frame.header(), response);
}

Task<StatusOr<Response>> HandleDeleteTopics(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::DeleteTopicsRequest> request) {
  v1::DeleteTopicsResponse response;
  v1::DeleteTopicsRequest forward;
  forward.set_timeout_ms(request->timeout_ms());
  std::vector<int> forwarded;
  for (const std::string& name : request->topic_names()) {
    v1::DeletableTopicResult* out = response.add_results();
    out->set_name(name);
    if (IsInternalTopic(name)) {
      out->set_error_code(ErrorCode::INVALID_TOPIC);
      out->set_error_message(absl::StrCat("topic ", name, " is internal and cannot be deleted"));
      continue;
    }
    forward.add_topic_names(name);
    forwarded.push_back(response.results_size() - 1);
  }
  if (!forwarded.empty()) {
    auto answer = std::make_shared<v1::DeleteTopicsResponse>();
    auto sent = std::make_shared<v1::DeleteTopicsRequest>(std::move(forward));
    absl::AnyInvocable<Task<void>()> work = [&core, sent, answer]() -> Task<void> {
      *answer = co_await core.metadata->DeleteTopics(std::move(*sent));
    };
    co_await core.shards.submit_to<void>(0, std::move(work));
    for (size_t i = 0; i < forwarded.size(); i++) {
      v1::DeletableTopicResult* out = response.mutable_results(forwarded[i]);
      if (static_cast<int>(i) >= answer->results_size()) {
        out->set_error_code(ErrorCode::UNKNOWN);
        out->set_error_message("the controller did not answer for this topic");
        continue;
      }
      out->set_error_code(answer->results(static_cast<int>(i)).error_code());
      out->set_error_message(answer->results(static_cast<int>(i)).error_message());
    }
  }
  co_return MakeResponse(frame.header(), response);
}

Task<StatusOr<Response>> HandleDescribeQuorum(BrokerCore& core, proto::Frame frame,
                                              std::unique_ptr<v1::DescribeQuorumRequest>) {
  auto answer = std::make_shared<StatusOr<v1::DescribeQuorumResponse>>();
  absl::AnyInvocable<Task<void>()> work = [&core, answer]() -> Task<void> {
    *answer = co_await core.metadata->DescribeQuorum();
  };
  co_await core.shards.submit_to<void>(0, std::move(work));
  v1::DescribeQuorumResponse response;
  if (answer->ok()) {
    response = **answer;
  } else {
    response.set_error_code(proto::ErrorFromStatus(answer->status()));
    response.set_error_message(std::string(answer->status().message()));
  }
  co_return MakeResponse(frame.header(), response);
}

}  // namespace spool::broker
