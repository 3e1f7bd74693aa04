// GroupCoordinator, offsets half: OffsetCommit validation and application, OffsetFetch,
// DescribeGroups, ListGroups, DeleteGroups, offset expiry, and loading from the log
// (broker/GROUPS.md). Membership is in group_coordinator.cc.
#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "broker/group_coordinator.h"
#include "broker/group_state.h"

namespace spool::broker {

using v1::ErrorCode;

ErrorCode GroupCoordinator::ValidateCommit(const v1::OffsetCommitRequest& req,
                                           std::string* message) const {
  if (req.group_id().empty()) {
    *message = "the group id is empty";
    return ErrorCode::INVALID_GROUP_ID;
  }
  const bool outside =
      req.generation_id() < 0 && req.member_id().empty() && req.group_instance_id().empty();
  const Group* g = Find(req.group_id());
  if (g == nullptr) {
    if (outside) return ErrorCode::NONE;  // a commit of a manually assigned consumer
    *message = absl::StrCat("group ", req.group_id(), " does not exist");
    return req.generation_id() < 0 ? ErrorCode::UNKNOWN_MEMBER_ID : ErrorCode::ILLEGAL_GENERATION;
  }
  if (g->state == GroupState::kDead) {
    *message = "the group is being removed";
    return ErrorCode::COORDINATOR_NOT_AVAILABLE;
  }
  if (outside) {
    if (g->members.empty()) return ErrorCode::NONE;
    *message = "a commit outside group membership while the group has members";
    return ErrorCode::UNKNOWN_MEMBER_ID;
  }
  if (!req.group_instance_id().empty()) {
    auto it = g->static_members.find(req.group_instance_id());
    if (it != g->static_members.end() && it->second != req.member_id()) {
      *message = absl::StrCat("instance ", req.group_instance_id(), " is now member ", it->second);
      return ErrorCode::FENCED_INSTANCE_ID;
    }
  }
  if (!g->members.contains(req.member_id())) {
    *message = absl::StrCat("unknown member ", req.member_id());
    return ErrorCode::UNKNOWN_MEMBER_ID;
  }
  if (req.generation_id() != g->generation) {
    *message =
        absl::StrCat("generation ", req.generation_id(), " is not the group's ", g->generation);
    return ErrorCode::ILLEGAL_GENERATION;
  }
  if (g->state == GroupState::kCompletingRebalance) {
    *message = "the group is completing a rebalance";
    return ErrorCode::REBALANCE_IN_PROGRESS;
  }
  return ErrorCode::NONE;
}

void GroupCoordinator::ApplyCommit(const std::string& group, const std::string& topic,
                                   int32_t partition, OffsetValue value) {
  GetOrCreate(group).offsets[std::make_pair(topic, partition)] = std::move(value);
}

v1::OffsetFetchResponse GroupCoordinator::FetchOffsets(const v1::OffsetFetchRequest& req) const {
  v1::OffsetFetchResponse r;
  r.set_error_code(ErrorCode::NONE);
  const Group* g = Find(req.group_id());
  auto fill = [](v1::OffsetFetchPartitionResponse* out, const OffsetValue* v) {
    out->set_error_code(ErrorCode::NONE);
    out->set_committed_offset(v != nullptr ? v->offset : -1);
    out->set_committed_leader_epoch(v != nullptr ? v->leader_epoch : -1);
    if (v != nullptr) out->set_metadata(v->metadata);
  };
  if (req.all_topics()) {
    if (g == nullptr) return r;
    v1::OffsetFetchTopicResponse* topic = nullptr;
    for (const auto& [key, value] : g->offsets) {
      if (topic == nullptr || topic->name() != key.first) {
        topic = r.add_topics();
        topic->set_name(key.first);
      }
      v1::OffsetFetchPartitionResponse* p = topic->add_partitions();
      p->set_partition(key.second);
      fill(p, &value);
    }
    return r;
  }
  for (const v1::OffsetFetchTopic& t : req.topics()) {
    v1::OffsetFetchTopicResponse* topic = r.add_topics();
    topic->set_name(t.name());
    for (int32_t partition : t.partitions()) {
      v1::OffsetFetchPartitionResponse* p = topic->add_partitions();
      p->set_partition(partition);
      const OffsetValue* v = nullptr;
      if (g != nullptr) {
        auto it = g->offsets.find(std::make_pair(t.name(), partition));
        if (it != g->offsets.end()) v = &it->second;
      }
      fill(p, v);
    }
  }
  return r;
}

v1::DescribedGroup GroupCoordinator::Describe(const std::string& group) const {
  v1::DescribedGroup d;
  d.set_group_id(group);
  const Group* g = Find(group);
  if (g == nullptr) {
    d.set_error_code(ErrorCode::GROUP_ID_NOT_FOUND);
    d.set_error_message(absl::StrCat("group ", group, " does not exist"));
    d.set_group_state(std::string(GroupStateName(GroupState::kDead)));
    return d;
  }
  d.set_error_code(ErrorCode::NONE);
  d.set_group_state(std::string(GroupStateName(g->state)));
  d.set_protocol_type(g->protocol_type);
  d.set_protocol_name(g->protocol);
  d.set_generation_id(g->generation);
  d.set_leader(g->leader);
  for (const auto& [id, m] : g->members) {
    v1::DescribedGroupMember* dm = d.add_members();
    dm->set_member_id(id);
    dm->set_group_instance_id(m->instance_id);
    dm->set_client_id(m->client_id);
    dm->set_client_host(m->client_host);
    if (const std::string* md = m->MetadataFor(g->protocol)) dm->set_member_metadata(*md);
    dm->set_member_assignment(m->assignment);
  }
  return d;
}

void GroupCoordinator::List(const std::vector<std::string>& states_filter,
                            std::vector<v1::ListedGroup>* out) const {
  for (const auto& [id, g] : groups_) {
    const std::string_view state = GroupStateName(g->state);
    if (!states_filter.empty() &&
        std::none_of(states_filter.begin(), states_filter.end(), [state](const std::string& s) {
          return absl::EqualsIgnoreCase(s, absl::string_view(state.data(), state.size()));
        })) {
      continue;
    }
    v1::ListedGroup lg;
    lg.set_group_id(id);
    lg.set_protocol_type(g->protocol_type);
    lg.set_group_state(std::string(state));
    out->push_back(std::move(lg));
  }
}

ErrorCode GroupCoordinator::Delete(const std::string& group, std::vector<GroupRecord>* tombstones) {
  Group* g = Find(group);
  if (g == nullptr) return ErrorCode::GROUP_ID_NOT_FOUND;
  if (!g->members.empty() || g->state != GroupState::kEmpty) return ErrorCode::NON_EMPTY_GROUP;
  for (const auto& [key, value] : g->offsets) {
    tombstones->push_back(GroupRecord::Offset(group, key.first, key.second, std::nullopt));
  }
  tombstones->push_back(GroupRecord::Group(group, std::nullopt));
  groups_.erase(group);
  return ErrorCode::NONE;
}

std::vector<GroupRecord> GroupCoordinator::ExpireOffsets() {
  std::vector<GroupRecord> out;
  if (config_.offsets_retention_ms <= 0) return out;
  const int64_t now = clock_.wall_ms();
  std::vector<std::string> drop;
  for (auto& [id, g] : groups_) {
    if (g->state != GroupState::kEmpty || !g->members.empty()) continue;
    // KIP-211: offsets of a group expire once it has been empty for the retention period (and,
    // for a group that never had members, that long after their own commit).
    for (auto it = g->offsets.begin(); it != g->offsets.end();) {
      const int64_t since = std::max(g->state_timestamp_ms, it->second.commit_timestamp_ms);
      if (now - since >= config_.offsets_retention_ms) {
        out.push_back(GroupRecord::Offset(id, it->first.first, it->first.second, std::nullopt));
        it = g->offsets.erase(it);
      } else {
        ++it;
      }
    }
    if (g->offsets.empty() && g->pending.empty()) drop.push_back(id);
  }
  for (const std::string& id : drop) {
    out.push_back(GroupRecord::Group(id, std::nullopt));
    groups_.erase(id);
  }
  return out;
}

void GroupCoordinator::Replay(const GroupRecord& record) {
  if (record.kind == GroupRecord::Kind::kOffset) {
    if (record.offset) {
      ApplyCommit(record.group, record.topic, record.partition, *record.offset);
      return;
    }
    Group* g = Find(record.group);
    if (g != nullptr) g->offsets.erase(std::make_pair(record.topic, record.partition));
    return;
  }
  if (!record.metadata) {
    Group* g = Find(record.group);
    if (g == nullptr) return;
    if (g->offsets.empty()) {
      groups_.erase(record.group);
      return;
    }
    g->members.clear();
    g->static_members.clear();
    g->state = GroupState::kEmpty;
    return;
  }
  const GroupMetadataValue& v = *record.metadata;
  Group& g = GetOrCreate(record.group);
  g.members.clear();
  g.static_members.clear();
  g.protocol_type = v.protocol_type;
  g.generation = v.generation;
  g.protocol = v.protocol;
  g.leader = v.leader;
  g.state_timestamp_ms = v.state_timestamp_ms;
  for (const MemberRecord& mr : v.members) {
    auto m = std::make_unique<Member>();
    m->id = mr.member_id;
    m->instance_id = mr.instance_id;
    m->client_id = mr.client_id;
    m->client_host = mr.client_host;
    m->rebalance_timeout_ms = mr.rebalance_timeout_ms;
    m->session_timeout_ms = mr.session_timeout_ms;
    m->protocols.emplace_back(v.protocol, mr.subscription);
    m->assignment = mr.assignment;
    m->join_seq = join_seq_++;
    if (!m->instance_id.empty()) g.static_members[m->instance_id] = m->id;
    g.members[m->id] = std::move(m);
  }
  g.state = g.members.empty() ? GroupState::kEmpty : GroupState::kStable;
}

void GroupCoordinator::FinishLoad() {
  for (auto& [id, g] : groups_) {
    for (auto& [mid, m] : g->members) m->heartbeat_deadline_ns = SessionDeadline(*m);
  }
}

std::optional<GroupState> GroupCoordinator::StateOf(const std::string& group) const {
  const Group* g = Find(group);
  if (g == nullptr) return std::nullopt;
  return g->state;
}

int32_t GroupCoordinator::GenerationOf(const std::string& group) const {
  const Group* g = Find(group);
  return g == nullptr ? -1 : g->generation;
}

size_t GroupCoordinator::group_count() const {
  return groups_.size();
}

}  // namespace spool::broker
