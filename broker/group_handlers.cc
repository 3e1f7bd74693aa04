// FindCoordinator, JoinGroup, SyncGroup, Heartbeat and LeaveGroup. Each runs on the connection's
// shard, hops to the shard that owns the group's offsets partition (GroupManager::OwnerShard)
// and calls the GroupCoordinator there; JoinGroup and SyncGroup stay parked on that shard until
// the coordinator answers them (a rebalance completing, a timeout, or the broker closing).
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/group_handlers_util.h"
#include "broker/request_handlers.h"
#include "common/io/event.h"

namespace spool::broker {

using v1::ErrorCode;

namespace {

// A response the coordinator will give later, awaited on the group's shard.
template <typename T>
struct Parked {
  explicit Parked(io::Reactor& r) : done(r) {}
  io::Event done;
  std::optional<T> value;
};

}  // namespace

Task<StatusOr<Response>> HandleFindCoordinator(
    BrokerCore& core, proto::Frame frame, std::unique_ptr<v1::FindCoordinatorRequest> request) {
  v1::FindCoordinatorResponse r;
  if (Status bad = ValidateGroupId(request->key()); !bad.ok()) {
    r.set_error_code(ErrorCode::INVALID_GROUP_ID);
    r.set_error_message(std::string(bad.message()));
    r.set_node_id(-1);
    co_return MakeResponse(frame.header(), r);
  }
  if (core.groups.num_partitions() == 0) {
    // __consumer_offsets is made at the first need in a cluster (group_manager.h).
    Status made = co_await core.groups.EnsureOffsetsTopic();
    if (!made.ok() || core.groups.num_partitions() == 0) {
      r.set_error_code(ErrorCode::COORDINATOR_NOT_AVAILABLE);
      r.set_error_message(made.ok() ? "the group coordinator is not running yet"
                                    : std::string(made.message()));
      r.set_node_id(-1);
      co_return MakeResponse(frame.header(), r);
    }
  }
  // The coordinator is the leader of the group's __consumer_offsets partition.
  const int32_t node = core.groups.CoordinatorNode(request->key());
  if (node == core.config.node_id) {
    const io::HostPort& adv =
        core.config.advertised.host.empty() ? core.config.listen : core.config.advertised;
    r.set_error_code(ErrorCode::NONE);
    r.set_node_id(node);
    r.set_host(adv.host);
    r.set_port(adv.port != 0 ? adv.port : core.config.listen.port);
    co_return MakeResponse(frame.header(), r);
  }
  for (const BrokerInfo& b : *core.partitions.Brokers()) {
    if (b.id != node) continue;
    r.set_error_code(ErrorCode::NONE);
    r.set_node_id(node);
    r.set_host(b.host);
    r.set_port(b.port);
    co_return MakeResponse(frame.header(), r);
  }
  r.set_error_code(ErrorCode::COORDINATOR_NOT_AVAILABLE);
  r.set_error_message("the group's offsets partition has no live leader");
  r.set_node_id(-1);
  co_return MakeResponse(frame.header(), r);
}

Task<StatusOr<Response>> HandleJoinGroup(BrokerCore& core, proto::Frame frame,
                                         std::unique_ptr<v1::JoinGroupRequest> request,
                                         std::string peer) {
  if (Status bad = ValidateGroupId(request->group_id()); !bad.ok()) {
    v1::JoinGroupResponse r;
    r.set_error_code(ErrorCode::INVALID_GROUP_ID);
    r.set_error_message(std::string(bad.message()));
    r.set_generation_id(-1);
    r.set_member_id(request->member_id());
    co_return MakeResponse(frame.header(), r);
  }
  if (Status bad = ValidateJoinStrings(*request); !bad.ok()) {
    v1::JoinGroupResponse r;
    r.set_error_code(ErrorCode::INVALID_REQUEST);
    r.set_error_message(std::string(bad.message()));
    r.set_generation_id(-1);
    co_return MakeResponse(frame.header(), r);
  }
  const int owner = core.groups.OwnerShard(request->group_id());
  BrokerCore* c = &core;
  absl::AnyInvocable<Task<v1::JoinGroupResponse>()> work =
      [c, req = std::move(request), peer = std::move(peer)]() -> Task<v1::JoinGroupResponse> {
    ErrorCode code = ErrorCode::NONE;
    std::shared_ptr<GroupManager::Slot> slot = c->groups.Acquire(req->group_id(), &code);
    if (slot == nullptr) {
      v1::JoinGroupResponse r;
      r.set_error_code(code);
      r.set_generation_id(-1);
      r.set_member_id(req->member_id());
      co_return r;
    }
    auto parked = std::make_shared<Parked<v1::JoinGroupResponse>>(*io::Reactor::current());
    GroupManager::CoordinatorOf(*slot).Join(*req, peer, [parked](v1::JoinGroupResponse r) {
      parked->value = std::move(r);
      parked->done.set();
    });
    c->groups.Changed(slot);
    co_await parked->done.wait();
    co_return std::move(*parked->value);
  };
  v1::JoinGroupResponse r =
      co_await core.shards.submit_to<v1::JoinGroupResponse>(owner, std::move(work));
  co_return MakeResponse(frame.header(), r);
}

Task<StatusOr<Response>> HandleSyncGroup(BrokerCore& core, proto::Frame frame,
                                         std::unique_ptr<v1::SyncGroupRequest> request) {
  if (Status bad = ValidateGroupId(request->group_id()); !bad.ok()) {
    v1::SyncGroupResponse r;
    r.set_error_code(ErrorCode::INVALID_GROUP_ID);
    r.set_error_message(std::string(bad.message()));
    co_return MakeResponse(frame.header(), r);
  }
  const int owner = core.groups.OwnerShard(request->group_id());
  BrokerCore* c = &core;
  absl::AnyInvocable<Task<v1::SyncGroupResponse>()> work =
      [c, req = std::move(request)]() -> Task<v1::SyncGroupResponse> {
    ErrorCode code = ErrorCode::NONE;
    std::shared_ptr<GroupManager::Slot> slot = c->groups.Acquire(req->group_id(), &code);
    if (slot == nullptr) {
      v1::SyncGroupResponse r;
      r.set_error_code(code);
      co_return r;
    }
    auto parked = std::make_shared<Parked<v1::SyncGroupResponse>>(*io::Reactor::current());
    GroupManager::CoordinatorOf(*slot).Sync(*req, [parked](v1::SyncGroupResponse r) {
      parked->value = std::move(r);
      parked->done.set();
    });
    c->groups.Changed(slot);
    co_await parked->done.wait();
    co_return std::move(*parked->value);
  };
  v1::SyncGroupResponse r =
      co_await core.shards.submit_to<v1::SyncGroupResponse>(owner, std::move(work));
  co_return MakeResponse(frame.header(), r);
}

Task<StatusOr<Response>> HandleHeartbeat(BrokerCore& core, proto::Frame frame,
                                         std::unique_ptr<v1::HeartbeatRequest> request) {
  if (Status bad = ValidateGroupId(request->group_id()); !bad.ok()) {
    v1::HeartbeatResponse r;
    r.set_error_code(ErrorCode::INVALID_GROUP_ID);
    r.set_error_message(std::string(bad.message()));
    co_return MakeResponse(frame.header(), r);
  }
  const int owner = core.groups.OwnerShard(request->group_id());
  BrokerCore* c = &core;
  absl::AnyInvocable<Task<v1::HeartbeatResponse>()> work =
      [c, req = std::move(request)]() -> Task<v1::HeartbeatResponse> {
    ErrorCode code = ErrorCode::NONE;
    std::shared_ptr<GroupManager::Slot> slot = c->groups.Acquire(req->group_id(), &code);
    v1::HeartbeatResponse r;
    if (slot == nullptr) {
      r.set_error_code(code);
      co_return r;
    }
    r = GroupManager::CoordinatorOf(*slot).Heartbeat(*req);
    c->groups.Changed(slot);
    co_return r;
  };
  v1::HeartbeatResponse r =
      co_await core.shards.submit_to<v1::HeartbeatResponse>(owner, std::move(work));
  co_return MakeResponse(frame.header(), r);
}

Task<StatusOr<Response>> HandleLeaveGroup(BrokerCore& core, proto::Frame frame,
                                          std::unique_ptr<v1::LeaveGroupRequest> request) {
  if (Status bad = ValidateGroupId(request->group_id()); !bad.ok()) {
    v1::LeaveGroupResponse r;
    r.set_error_code(ErrorCode::INVALID_GROUP_ID);
    r.set_error_message(std::string(bad.message()));
    co_return MakeResponse(frame.header(), r);
  }
  const int owner = core.groups.OwnerShard(request->group_id());
  BrokerCore* c = &core;
  absl::AnyInvocable<Task<v1::LeaveGroupResponse>()> work =
      [c, req = std::move(request)]() -> Task<v1::LeaveGroupResponse> {
    ErrorCode code = ErrorCode::NONE;
    std::shared_ptr<GroupManager::Slot> slot = c->groups.Acquire(req->group_id(), &code);
    v1::LeaveGroupResponse r;
    if (slot == nullptr) {
      r.set_error_code(code);
      co_return r;
    }
    r = GroupManager::CoordinatorOf(*slot).Leave(*req);
    c->groups.Changed(slot);
    co_return r;
  };
  v1::LeaveGroupResponse r =
      co_await core.shards.submit_to<v1::LeaveGroupResponse>(owner, std::move(work));
  co_return MakeResponse(frame.header(), r);
}

}  // namespace spool::broker
