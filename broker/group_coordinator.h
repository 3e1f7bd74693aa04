// GroupCoordinator: the consumer-group state machine of one partition of `__consumer_offsets`
// (every group whose id hashes there), Kafka's classic group protocol. broker/GROUPS.md
// describes the states, the timers and every error answer.
//
// Pure: no I/O and no timers of its own. Time comes from the Clock it is given (monotonic for
// session / rebalance deadlines, wall for commit timestamps and offset expiry), so tests drive it
// with a ManualClock: advance the clock, call Tick(). The owner (GroupShard) calls Tick() at
// NextDeadlineNs() and persists what TakeRecords() hands out.
//
// Parked requests: Join() and Sync() take a callback that is called exactly once with the
// response, either before they return or later from Join/Sync/Heartbeat/Leave/Tick/Shutdown,
// when the rebalance gets that far. Callbacks must not call back into the coordinator.
//
// Durability: the coordinator never waits for the disk. Offset commits are applied by
// ApplyCommit() only after their records are durable (the owner's job); group metadata changes
// (a new generation's assignment, a static member's new id, an empty group) are queued as
// records in TakeRecords() and written by the owner without holding up the members.
//
// Threading: not thread-safe; one shard's thread uses it.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "broker/group_config.h"
#include "broker/group_records.h"
#include "common/clock.h"
#include "proto/group.pb.h"

namespace spool::broker {

enum class GroupState { kEmpty, kPreparingRebalance, kCompletingRebalance, kStable, kDead };
// Kafka's names: "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead".
std::string_view GroupStateName(GroupState state);

class GroupCoordinator {
 public:
  using JoinCallback = absl::AnyInvocable<void(v1::JoinGroupResponse)>;
  using SyncCallback = absl::AnyInvocable<void(v1::SyncGroupResponse)>;

  GroupCoordinator(const GroupConfig& config, Clock& clock);
  // Drops parked callbacks without calling them (call Shutdown() first for an orderly close).
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  // Membership. `client_host` is the peer, for DescribeGroups.
  void Join(const v1::JoinGroupRequest& request, std::string client_host, JoinCallback done);
  void Sync(const v1::SyncGroupRequest& request, SyncCallback done);
  v1::HeartbeatResponse Heartbeat(const v1::HeartbeatRequest& request);
  v1::LeaveGroupResponse Leave(const v1::LeaveGroupRequest& request);

  // Offsets. ValidateCommit() checks the group-level fencing (generation, member id, instance
  // id, state) and returns NONE or the error every partition of the request gets, with
  // `*message` set. ApplyCommit() records a durable commit (creating an empty group for a
  // commit outside membership).
  v1::ErrorCode ValidateCommit(const v1::OffsetCommitRequest& request, std::string* message) const;
  void ApplyCommit(const std::string& group, const std::string& topic, int32_t partition,
                   OffsetValue value);
  v1::OffsetFetchResponse FetchOffsets(const v1::OffsetFetchRequest& request) const;

  // Admin. Delete(): NONE (the group is gone; its tombstones appended to *tombstones),
  // GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP.
  v1::DescribedGroup Describe(const std::string& group) const;
  void List(const std::vector<std::string>& states_filter, std::vector<v1::ListedGroup>* out) const;
  v1::ErrorCode Delete(const std::string& group, std::vector<GroupRecord>* tombstones);
  // Removes the offsets of groups that stayed Empty for offsets.retention.ms (and groups left
  // with nothing) and returns their tombstones.
  std::vector<GroupRecord> ExpireOffsets();

  // Loading: Replay() every record of the partition in log order, then FinishLoad() (members of
  // loaded groups get a fresh session deadline, as after a coordinator move).
  void Replay(const GroupRecord& record);
  void FinishLoad();

  // Fires what is due (pending-member, session and rebalance deadlines).
  void Tick();
  // The earliest monotonic_ns() at which Tick() has something to do.
  std::optional<int64_t> NextDeadlineNs() const;
  // Group metadata records to persist, in order (cleared).
  std::vector<GroupRecord> TakeRecords();
  // Answers every parked Join/Sync with `code` (the coordinator is going away).
  void Shutdown(v1::ErrorCode code);

  // Introspection for tests.
  std::optional<GroupState> StateOf(const std::string& group) const;
  int32_t GenerationOf(const std::string& group) const;
  size_t group_count() const;

 private:
  struct Member;
  struct Group;
  Group* Find(const std::string& id);
  const Group* Find(const std::string& id) const;
  Group& GetOrCreate(const std::string& id);
  std::string NewMemberId(const std::string& client_id);

  void JoinNewMember(Group& g, const v1::JoinGroupRequest& req, std::string host,
                     JoinCallback done);
  void JoinStaticReplace(Group& g, std::string old_id, const v1::JoinGroupRequest& req,
                         JoinCallback done);
  void JoinKnownMember(Group& g, Member& m, const v1::JoinGroupRequest& req, JoinCallback done);
  void UpdateMember(Member& m, const v1::JoinGroupRequest& req, JoinCallback done);
  void PrepareRebalance(Group& g, const std::string& reason);
  void MaybeCompleteJoin(Group& g);
  void CompleteJoin(Group& g);
  void RemoveMember(Group& g, const std::string& member_id, v1::ErrorCode parked_error);
  void TransitionTo(Group& g, GroupState state);
  void Persist(const Group& g);
  void RespondJoin(Group& g, Member& m, v1::ErrorCode code);
  v1::JoinGroupResponse CurrentJoinResponse(const Group& g, const Member& m) const;
  void MaybeDropGroup(const std::string& id);
  bool SupportsProtocols(const Group& g, const v1::JoinGroupRequest& req) const;
  std::string SelectProtocol(const Group& g) const;
  int64_t SessionDeadline(const Member& m) const;
  int64_t NowNs() const { return clock_.monotonic_ns(); }

  const GroupConfig& config_;
  Clock& clock_;
  std::map<std::string, std::unique_ptr<Group>> groups_;
  std::vector<GroupRecord> records_;
  uint64_t next_member_seq_ = 1;
  uint64_t join_seq_ = 1;
};

}  // namespace spool::broker
