// OffsetCommit, OffsetFetch, DescribeGroups, ListGroups and DeleteGroups (broker/GROUPS.md).
// Like group_handlers.cc: checks that need only the request (and the topic snapshot) run on the
// connection's shard; the rest on the shard that owns the group. A commit is answered only after
// its records are durable in `__consumer_offsets`.
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/group_handlers_util.h"
#include "broker/request_handlers.h"
#include "proto/errors.h"

namespace spool::broker {

using v1::ErrorCode;

namespace {

// The wire code for a failed durable write of group records.
ErrorCode WriteError(const Status& st) {
  if (st.GetPayload(proto::kErrorCodePayloadUrl).has_value()) {
    const ErrorCode code = proto::ErrorFromStatus(st);
    switch (code) {
      case ErrorCode::NOT_LEADER_OR_FOLLOWER:  // the offsets partition's leadership moved
        return ErrorCode::NOT_COORDINATOR;
      case ErrorCode::NOT_ENOUGH_REPLICAS:  // Kafka's mapping: try again (the ISR may grow)
      case ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND:
        return ErrorCode::COORDINATOR_NOT_AVAILABLE;
      default:
        return code;
    }
  }
  if (absl::IsDeadlineExceeded(st)) return ErrorCode::REQUEST_TIMED_OUT;
  return ErrorCode::KAFKA_STORAGE_ERROR;
}

struct CommitItem {
  std::string topic;
  int32_t partition = 0;
  ErrorCode error = ErrorCode::NONE;
  std::string message;
};

}  // namespace

Task<StatusOr<Response>> HandleOffsetCommit(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::OffsetCommitRequest> request) {
  auto items = std::make_shared<std::vector<CommitItem>>();
  const Status group_ok = ValidateGroupId(request->group_id());
  for (const v1::OffsetCommitTopic& t : request->topics()) {
    std::shared_ptr<const TopicInfo> info = core.partitions.FindTopic(t.name());
    for (const v1::OffsetCommitPartition& p : t.partitions()) {
      CommitItem item;
      item.topic = t.name();
      item.partition = p.partition();
      if (!group_ok.ok()) {
        item.error = ErrorCode::INVALID_GROUP_ID;
        item.message = std::string(group_ok.message());
      } else if (p.metadata().size() >
                 static_cast<size_t>(core.config.groups.offset_metadata_max_bytes)) {
        item.error = ErrorCode::INVALID_COMMIT_OFFSET_SIZE;
        item.message = absl::StrCat("metadata of ", p.metadata().size(),
                                    " bytes is over offset.metadata.max.bytes ",
                                    core.config.groups.offset_metadata_max_bytes);
      } else if (info == nullptr || p.partition() < 0 || p.partition() >= info->num_partitions) {
        item.error = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
        item.message = absl::StrCat("no partition ", t.name(), "-", p.partition());
      }
      items->push_back(std::move(item));
    }
  }
  if (group_ok.ok()) {
    const int owner = core.groups.OwnerShard(request->group_id());
    BrokerCore* c = &core;
    const v1::OffsetCommitRequest* req = request.get();
    absl::AnyInvocable<Task<void>()> work = [c, req, items]() -> Task<void> {
      auto fail_all = [&items](ErrorCode code, const std::string& message) {
        for (CommitItem& item : *items) {
          if (item.error != ErrorCode::NONE) continue;
          item.error = code;
          item.message = message;
        }
      };
      ErrorCode code = ErrorCode::NONE;
      std::shared_ptr<GroupManager::Slot> slot = c->groups.Acquire(req->group_id(), &code);
      if (slot == nullptr) {
        fail_all(code, "");
        co_return;
      }
      std::string message;
      code = GroupManager::CoordinatorOf(*slot).ValidateCommit(*req, &message);
      if (code != ErrorCode::NONE) {
        fail_all(code, message);
        co_return;
      }
      const int64_t now_ms = c->clock.wall_ms();
      std::vector<GroupRecord> records;
      std::vector<std::pair<size_t, OffsetValue>> applied;
      size_t i = 0;
      for (const v1::OffsetCommitTopic& t : req->topics()) {
        for (const v1::OffsetCommitPartition& p : t.partitions()) {
          const size_t index = i++;
          if ((*items)[index].error != ErrorCode::NONE) continue;
          OffsetValue v{p.committed_offset(), p.committed_leader_epoch(), p.metadata(), now_ms};
          records.push_back(GroupRecord::Offset(req->group_id(), t.name(), p.partition(), v));
          applied.emplace_back(index, std::move(v));
        }
      }
      if (records.empty()) co_return;
      const int64_t deadline =
          RequestTimers::NowNs() + int64_t{c->config.groups.offsets_commit_timeout_ms} * 1'000'000;
      Status written = co_await c->groups.WriteDurable(slot, std::move(records), deadline);
      if (!written.ok()) {
        fail_all(WriteError(written), std::string(written.message()));
        co_return;
      }
      for (auto& [index, value] : applied) {
        const CommitItem& item = (*items)[index];
        GroupManager::CoordinatorOf(*slot).ApplyCommit(req->group_id(), item.topic, item.partition,
                                                       std::move(value));
      }
    };
    co_await core.shards.submit_to<void>(owner, std::move(work));
  }
  v1::OffsetCommitResponse response;
  size_t i = 0;
  for (const v1::OffsetCommitTopic& t : request->topics()) {
    v1::OffsetCommitTopicResponse* tr = response.add_topics();
    tr->set_name(t.name());
    for (int j = 0; j < t.partitions_size(); j++) {
      const CommitItem& item = (*items)[i++];
      v1::OffsetCommitPartitionResponse* pr = tr->add_partitions();
      pr->set_partition(item.partition);
      pr->set_error_code(item.error);
      if (!item.message.empty()) pr->set_error_message(item.message);
    }
  }
  co_return MakeResponse(frame.header(), response);
}

Task<StatusOr<Response>> HandleOffsetFetch(BrokerCore& core, proto::Frame frame,
                                           std::unique_ptr<v1::OffsetFetchRequest> request) {
  if (Status bad = ValidateGroupId(request->group_id()); !bad.ok()) {
    v1::OffsetFetchResponse r;
    r.set_error_code(ErrorCode::INVALID_GROUP_ID);
    r.set_error_message(std::string(bad.message()));
    co_return MakeResponse(frame.header(), r);
  }
  const int owner = core.groups.OwnerShard(request->group_id());
  BrokerCore* c = &core;
  absl::AnyInvocable<Task<v1::OffsetFetchResponse>()> work =
      [c, req = std::move(request)]() -> Task<v1::OffsetFetchResponse> {
    ErrorCode code = ErrorCode::NONE;
    std::shared_ptr<GroupManager::Slot> slot = c->groups.Acquire(req->group_id(), &code);
    if (slot == nullptr) {
      v1::OffsetFetchResponse r;
      r.set_error_code(code);
      co_return r;
    }
    co_return GroupManager::CoordinatorOf(*slot).FetchOffsets(*req);
  };
  v1::OffsetFetchResponse r =
      co_await core.shards.submit_to<v1::OffsetFetchResponse>(owner, std::move(work));
  co_return MakeResponse(frame.header(), r);
}

Task<StatusOr<Response>> HandleDescribeGroups(BrokerCore& core, proto::Frame frame,
                                              std::unique_ptr<v1::DescribeGroupsRequest> request) {
  v1::DescribeGroupsResponse response;
  for (const std::string& group : request->groups()) {
    if (Status bad = ValidateGroupId(group); !bad.ok()) {
      v1::DescribedGroup* d = response.add_groups();
      d->set_group_id(group);
      d->set_error_code(ErrorCode::INVALID_GROUP_ID);
      d->set_error_message(std::string(bad.message()));
      continue;
    }
    BrokerCore* c = &core;
    absl::AnyInvocable<Task<v1::DescribedGroup>()> work = [c, group]() -> Task<v1::DescribedGroup> {
      ErrorCode code = ErrorCode::NONE;
      std::shared_ptr<GroupManager::Slot> slot = c->groups.Acquire(group, &code);
      if (slot == nullptr) {
        v1::DescribedGroup d;
        d.set_group_id(group);
        d.set_error_code(code);
        co_return d;
      }
      co_return GroupManager::CoordinatorOf(*slot).Describe(group);
    };
    v1::DescribedGroup d = co_await core.shards.submit_to<v1::DescribedGroup>(
        core.groups.OwnerShard(group), std::move(work));
    *response.add_groups() = std::move(d);
  }
  co_return MakeResponse(frame.header(), response);
}

Task<StatusOr<Response>> HandleListGroups(BrokerCore& core, proto::Frame frame,
                                          std::unique_ptr<v1::ListGroupsRequest> request) {
  const int n = core.shards.size();
  auto per_shard = std::make_shared<std::vector<std::vector<v1::ListedGroup>>>(n);
  auto codes = std::make_shared<std::vector<ErrorCode>>(n, ErrorCode::NONE);
  std::vector<std::string> filter(request->states_filter().begin(), request->states_filter().end());
  BrokerCore* c = &core;
  absl::AnyInvocable<Task<void>(Shard&)> work = [c, per_shard, codes,
                                                 filter](Shard& s) -> Task<void> {
    (*codes)[static_cast<size_t>(s.id)] =
        c->groups.ListLocal(filter, &(*per_shard)[static_cast<size_t>(s.id)]);
    co_return;
  };
  co_await core.shards.on_all(std::move(work));
  v1::ListGroupsResponse response;
  response.set_error_code(ErrorCode::NONE);
  for (int i = 0; i < n; i++) {
    if ((*codes)[static_cast<size_t>(i)] != ErrorCode::NONE) {
      response.set_error_code((*codes)[static_cast<size_t>(i)]);
    }
    for (v1::ListedGroup& g : (*per_shard)[static_cast<size_t>(i)]) {
      *response.add_groups() = std::move(g);
    }
  }
  co_return MakeResponse(frame.header(), response);
}

Task<StatusOr<Response>> HandleDeleteGroups(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::DeleteGroupsRequest> request) {
  v1::DeleteGroupsResponse response;
  for (const std::string& group : request->groups()) {
    v1::DeleteGroupResult* result = response.add_results();
    result->set_group_id(group);
    if (Status bad = ValidateGroupId(group); !bad.ok()) {
      result->set_error_code(ErrorCode::INVALID_GROUP_ID);
      result->set_error_message(std::string(bad.message()));
      continue;
    }
    BrokerCore* c = &core;
    absl::AnyInvocable<Task<v1::DeleteGroupResult>()> work =
        [c, group]() -> Task<v1::DeleteGroupResult> {
      v1::DeleteGroupResult r;
      r.set_group_id(group);
      ErrorCode code = ErrorCode::NONE;
      std::shared_ptr<GroupManager::Slot> slot = c->groups.Acquire(group, &code);
      if (slot == nullptr) {
        r.set_error_code(code);
        co_return r;
      }
      std::vector<GroupRecord> tombstones;
      code = GroupManager::CoordinatorOf(*slot).Delete(group, &tombstones);
      r.set_error_code(code);
      if (code == ErrorCode::NON_EMPTY_GROUP) r.set_error_message("the group has members");
      if (code == ErrorCode::GROUP_ID_NOT_FOUND) r.set_error_message("no such group");
      if (code != ErrorCode::NONE) co_return r;
      const int64_t deadline =
          RequestTimers::NowNs() + int64_t{c->config.groups.offsets_commit_timeout_ms} * 1'000'000;
      Status written = co_await c->groups.WriteDurable(slot, std::move(tombstones), deadline);
      if (!written.ok()) {
        r.set_error_code(WriteError(written));
        r.set_error_message(std::string(written.message()));
      }
      co_return r;
    };
    *result = co_await core.shards.submit_to<v1::DeleteGroupResult>(core.groups.OwnerShard(group),
                                                                    std::move(work));
  }
  co_return MakeResponse(frame.header(), response);
}

}  // namespace spool::broker
