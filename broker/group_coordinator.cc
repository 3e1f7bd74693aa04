// GroupCoordinator, membership half: JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the timers
// (Kafka's classic group protocol; broker/GROUPS.md). Offsets, admin and loading are in
// group_offsets.cc.
#include "broker/group_coordinator.h"

#include <algorithm>
#include <cstdio>
#include <random>

#include "absl/strings/str_cat.h"
#include "broker/group_state.h"

namespace spool::broker {

using v1::ErrorCode;

std::string_view GroupStateName(GroupState state) {
  switch (state) {
    case GroupState::kEmpty:
      return "Empty";
    case GroupState::kPreparingRebalance:
      return "PreparingRebalance";
    case GroupState::kCompletingRebalance:
      return "CompletingRebalance";
    case GroupState::kStable:
      return "Stable";
    case GroupState::kDead:
      return "Dead";
  }
  return "Dead";
}

GroupCoordinator::GroupCoordinator(const GroupConfig& config, Clock& clock)
    : config_(config), clock_(clock) {}

GroupCoordinator::~GroupCoordinator() {
  Shutdown(ErrorCode::NOT_COORDINATOR);
}

GroupCoordinator::Group* GroupCoordinator::Find(const std::string& id) {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : it->second.get();
}
const GroupCoordinator::Group* GroupCoordinator::Find(const std::string& id) const {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : it->second.get();
}

GroupCoordinator::Group& GroupCoordinator::GetOrCreate(const std::string& id) {
  std::unique_ptr<Group>& slot = groups_[id];
  if (!slot) {
    slot = std::make_unique<Group>();
    slot->id = id;
    slot->state_timestamp_ms = clock_.wall_ms();
  }
  return *slot;
}

std::string GroupCoordinator::NewMemberId(const std::string& client_id) {
  // "uuid-ish": 128 random bits in the 8-4-4-4-12 layout, unique across restarts.
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          static_cast<uint64_t>(clock_.monotonic_ns())};
  const uint64_t a = rng() ^ next_member_seq_++;
  const uint64_t b = rng();
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<uint32_t>(a >> 32),
                static_cast<uint32_t>((a >> 16) & 0xffff), static_cast<uint32_t>(a & 0xffff),
                static_cast<uint32_t>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return absl::StrCat(client_id, "-", buf);
}

namespace {

v1::JoinGroupResponse JoinError(ErrorCode code, std::string message, std::string member_id = "") {
  v1::JoinGroupResponse r;
  r.set_error_code(code);
  r.set_error_message(std::move(message));
  r.set_generation_id(-1);
  r.set_member_id(std::move(member_id));
  return r;
}

v1::SyncGroupResponse SyncError(ErrorCode code, std::string message) {
  v1::SyncGroupResponse r;
  r.set_error_code(code);
  r.set_error_message(std::move(message));
  return r;
}

std::vector<std::pair<std::string, std::string>> ProtocolsOf(const v1::JoinGroupRequest& req) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const v1::JoinGroupProtocol& p : req.protocols()) out.emplace_back(p.name(), p.metadata());
  return out;
}

// Fencing of a member named by id and (for static members) instance id: NONE when it is the
// group's current member.
ErrorCode CheckMember(const std::map<std::string, std::string>& static_members, bool has_member,
                      const std::string& member_id, const std::string& instance_id,
                      std::string* message) {
  if (!instance_id.empty()) {
    auto it = static_members.find(instance_id);
    if (it != static_members.end() && it->second != member_id) {
      *message = absl::StrCat("instance ", instance_id, " is now member ", it->second);
      return ErrorCode::FENCED_INSTANCE_ID;
    }
  }
  if (!has_member) {
    *message = absl::StrCat("unknown member ", member_id);
    return ErrorCode::UNKNOWN_MEMBER_ID;
  }
  return ErrorCode::NONE;
}

}  // namespace

int64_t GroupCoordinator::SessionDeadline(const Member& m) const {
  return NowNs() + int64_t{m.session_timeout_ms} * 1'000'000;
}

void GroupCoordinator::TransitionTo(Group& g, GroupState state) {
  g.state = state;
  g.state_timestamp_ms = clock_.wall_ms();
}

bool GroupCoordinator::SupportsProtocols(const Group& g, const v1::JoinGroupRequest& req) const {
  if (req.protocol_type().empty() || req.protocols_size() == 0) return false;
  if (g.members.empty()) return true;
  if (req.protocol_type() != g.protocol_type) return false;
  for (const v1::JoinGroupProtocol& p : req.protocols()) {
    bool all = true;
    for (const auto& [id, m] : g.members) all = all && m->MetadataFor(p.name()) != nullptr;
    if (all) return true;
  }
  return false;
}

std::string GroupCoordinator::SelectProtocol(const Group& g) const {
  // Candidates: protocols every member supports, in the preference order of the member that
  // joined first; each member votes for its most preferred candidate; most votes wins, ties
  // go to the earlier candidate.
  const Member* first = nullptr;
  for (const auto& [id, m] : g.members) {
    if (first == nullptr || m->join_seq < first->join_seq) first = m.get();
  }
  if (first == nullptr) return "";
  std::vector<std::string> candidates;
  for (const auto& [name, metadata] : first->protocols) {
    bool all = true;
    for (const auto& [id, m] : g.members) all = all && m->MetadataFor(name) != nullptr;
    if (all) candidates.push_back(name);
  }
  std::vector<int> votes(candidates.size(), 0);
  for (const auto& [id, m] : g.members) {
    for (const auto& [name, metadata] : m->protocols) {
      auto it = std::find(candidates.begin(), candidates.end(), name);
      if (it != candidates.end()) {
        votes[static_cast<size_t>(it - candidates.begin())]++;
        break;
      }
    }
  }
  size_t best = 0;
  for (size_t i = 1; i < candidates.size(); i++) {
    if (votes[i] > votes[best]) best = i;
  }
  return candidates.empty() ? "" : candidates[best];
}

void GroupCoordinator::Join(const v1::JoinGroupRequest& req, std::string client_host,
                            JoinCallback done) {
  if (req.group_id().empty()) {
    done(JoinError(ErrorCode::INVALID_GROUP_ID, "the group id is empty", req.member_id()));
    return;
  }
  if (req.session_timeout_ms() < config_.min_session_timeout_ms ||
      req.session_timeout_ms() > config_.max_session_timeout_ms) {
    done(JoinError(
        ErrorCode::INVALID_SESSION_TIMEOUT,
        absl::StrCat("session_timeout_ms ", req.session_timeout_ms(), " is not in [",
                     config_.min_session_timeout_ms, ", ", config_.max_session_timeout_ms, "]"),
        req.member_id()));
    return;
  }
  Group* found = Find(req.group_id());
  if (found == nullptr && !req.member_id().empty()) {
    done(JoinError(ErrorCode::UNKNOWN_MEMBER_ID,
                   absl::StrCat("group ", req.group_id(), " does not exist"), req.member_id()));
    return;
  }
  Group& g = found != nullptr ? *found : GetOrCreate(req.group_id());
  if (g.state == GroupState::kDead) {
    done(JoinError(ErrorCode::COORDINATOR_NOT_AVAILABLE, "the group is being removed",
                   req.member_id()));
    return;
  }
  if (!SupportsProtocols(g, req)) {
    done(JoinError(ErrorCode::INCONSISTENT_GROUP_PROTOCOL,
                   g.members.empty()
                       ? std::string("a join needs a protocol type and at least one protocol")
                       : absl::StrCat("no protocol of type '", req.protocol_type(),
                                      "' that every member of the group supports"),
                   req.member_id()));
    if (found == nullptr) groups_.erase(req.group_id());
    return;
  }
  const std::string& instance = req.group_instance_id();
  if (req.member_id().empty()) {
    auto known = instance.empty() ? g.static_members.end() : g.static_members.find(instance);
    if (known != g.static_members.end()) {
      JoinStaticReplace(g, known->second, req, std::move(done));
    } else {
      JoinNewMember(g, req, std::move(client_host), std::move(done));
    }
    return;
  }
  if (!instance.empty()) {
    auto it = g.static_members.find(instance);
    if (it == g.static_members.end() || it->second != req.member_id()) {
      const bool fenced = it != g.static_members.end();
      done(JoinError(fenced ? ErrorCode::FENCED_INSTANCE_ID : ErrorCode::UNKNOWN_MEMBER_ID,
                     fenced ? absl::StrCat("instance ", instance, " is now member ", it->second)
                            : absl::StrCat("unknown static member ", instance),
                     req.member_id()));
      return;
    }
  }
  if (g.pending.erase(req.member_id()) > 0) {
    JoinNewMember(g, req, std::move(client_host), std::move(done));
    return;
  }
  auto it = g.members.find(req.member_id());
  if (it == g.members.end()) {
    done(JoinError(ErrorCode::UNKNOWN_MEMBER_ID, absl::StrCat("unknown member ", req.member_id()),
                   req.member_id()));
    return;
  }
  JoinKnownMember(g, *it->second, req, std::move(done));
}

void GroupCoordinator::JoinNewMember(Group& g, const v1::JoinGroupRequest& req, std::string host,
                                     JoinCallback done) {
  const bool had_id = !req.member_id().empty();  // came back after MEMBER_ID_REQUIRED
  if (!had_id && g.members.size() + g.pending.size() >= static_cast<size_t>(config_.max_size)) {
    done(JoinError(ErrorCode::GROUP_MAX_SIZE_REACHED,
                   absl::StrCat("the group has reached group.max.size ", config_.max_size)));
    return;
  }
  if (!had_id && req.group_instance_id().empty()) {
    // KIP-394: a dynamic member gets its id first and must join again with it.
    std::string id = NewMemberId(req.client_id());
    g.pending[id] = NowNs() + int64_t{req.session_timeout_ms()} * 1'000'000;
    done(JoinError(ErrorCode::MEMBER_ID_REQUIRED, "join again with the member id given", id));
    return;
  }
  auto m = std::make_unique<Member>();
  m->id = had_id ? req.member_id() : NewMemberId(req.client_id());
  m->instance_id = req.group_instance_id();
  m->client_id = req.client_id();
  m->client_host = std::move(host);
  m->session_timeout_ms = req.session_timeout_ms();
  m->rebalance_timeout_ms =
      req.rebalance_timeout_ms() > 0 ? req.rebalance_timeout_ms() : req.session_timeout_ms();
  m->protocols = ProtocolsOf(req);
  m->join = std::move(done);
  m->join_seq = join_seq_++;
  m->heartbeat_deadline_ns = SessionDeadline(*m);
  if (g.members.empty()) g.protocol_type = req.protocol_type();
  if (!m->instance_id.empty()) g.static_members[m->instance_id] = m->id;
  const std::string id = m->id;
  g.members[id] = std::move(m);
  g.new_member_added = true;
  if (g.state == GroupState::kPreparingRebalance) {
    MaybeCompleteJoin(g);
  } else {
    PrepareRebalance(g, absl::StrCat("new member ", id));
  }
}

void GroupCoordinator::JoinStaticReplace(Group& g, std::string old_id,
                                         const v1::JoinGroupRequest& req, JoinCallback done) {
  auto node = g.members.extract(old_id);
  std::unique_ptr<Member> m = std::move(node.mapped());
  // The old incarnation is fenced: whatever it still has parked learns it.
  if (m->join) {
    m->join(
        JoinError(ErrorCode::FENCED_INSTANCE_ID, "a newer member has this instance id", old_id));
    m->join = nullptr;
  }
  if (m->sync) {
    m->sync(SyncError(ErrorCode::FENCED_INSTANCE_ID, "a newer member has this instance id"));
    m->sync = nullptr;
  }
  const auto protocols = ProtocolsOf(req);
  const bool changed = protocols != m->protocols;
  m->id = NewMemberId(req.client_id());
  m->client_id = req.client_id();
  m->session_timeout_ms = req.session_timeout_ms();
  m->rebalance_timeout_ms =
      req.rebalance_timeout_ms() > 0 ? req.rebalance_timeout_ms() : req.session_timeout_ms();
  m->protocols = protocols;
  m->heartbeat_deadline_ns = SessionDeadline(*m);
  g.static_members[m->instance_id] = m->id;
  if (g.leader == old_id) g.leader = m->id;
  Member& member = *m;
  g.members[m->id] = std::move(m);
  if (g.state == GroupState::kStable && !changed) {
    // KIP-345: the restarted instance takes its old slot; no rebalance. The leader is told to
    // keep the current assignment (KIP-814 skip_assignment).
    Persist(g);
    v1::JoinGroupResponse r = CurrentJoinResponse(g, member);
    r.set_skip_assignment(member.id == g.leader);
    done(std::move(r));
    return;
  }
  member.join = std::move(done);
  member.join_seq = join_seq_++;
  if (g.state == GroupState::kPreparingRebalance) {
    MaybeCompleteJoin(g);
  } else {
    PrepareRebalance(g, absl::StrCat("static member ", member.instance_id, " rejoined"));
  }
}

void GroupCoordinator::JoinKnownMember(Group& g, Member& m, const v1::JoinGroupRequest& req,
                                       JoinCallback done) {
  const bool changed = ProtocolsOf(req) != m.protocols;
  switch (g.state) {
    case GroupState::kPreparingRebalance:
      UpdateMember(m, req, std::move(done));
      MaybeCompleteJoin(g);
      return;
    case GroupState::kCompletingRebalance:
      if (!changed) {
        done(CurrentJoinResponse(g, m));
        return;
      }
      UpdateMember(m, req, std::move(done));
      PrepareRebalance(g, absl::StrCat("member ", m.id, " changed its protocols"));
      return;
    case GroupState::kStable:
      if (!changed && m.id != g.leader) {
        m.heartbeat_deadline_ns = SessionDeadline(m);
        done(CurrentJoinResponse(g, m));
        return;
      }
      UpdateMember(m, req, std::move(done));
      PrepareRebalance(g, absl::StrCat("member ", m.id, " rejoined"));
      return;
    case GroupState::kEmpty:
    case GroupState::kDead:
      break;
  }
  done(JoinError(ErrorCode::UNKNOWN_MEMBER_ID, absl::StrCat("unknown member ", m.id), m.id));
}

void GroupCoordinator::UpdateMember(Member& m, const v1::JoinGroupRequest& req, JoinCallback done) {
  if (m.join) {
    m.join(JoinError(ErrorCode::REBALANCE_IN_PROGRESS, "superseded by a newer JoinGroup", m.id));
  }
  m.protocols = ProtocolsOf(req);
  m.session_timeout_ms = req.session_timeout_ms();
  m.rebalance_timeout_ms =
      req.rebalance_timeout_ms() > 0 ? req.rebalance_timeout_ms() : req.session_timeout_ms();
  m.client_id = req.client_id();
  m.join = std::move(done);
  m.join_seq = join_seq_++;
}

void GroupCoordinator::PrepareRebalance(Group& g, const std::string& reason) {
  (void)reason;
  if (g.state == GroupState::kCompletingRebalance) {
    for (auto& [id, m] : g.members) {
      m->assignment.clear();
      if (m->sync) {
        m->sync(SyncError(ErrorCode::REBALANCE_IN_PROGRESS, "the group is rebalancing"));
        m->sync = nullptr;
      }
    }
  }
  const bool was_empty = g.state == GroupState::kEmpty;
  TransitionTo(g, GroupState::kPreparingRebalance);
  int32_t timeout_ms = 0;
  for (const auto& [id, m] : g.members) timeout_ms = std::max(timeout_ms, m->rebalance_timeout_ms);
  const int64_t now = NowNs();
  if (was_empty && config_.initial_rebalance_delay_ms > 0) {
    g.initial_delay = true;
    g.new_member_added = false;
    g.rebalance_end_ns = now + int64_t{timeout_ms} * 1'000'000;
    g.join_deadline_ns =
        now + int64_t{std::min(config_.initial_rebalance_delay_ms, timeout_ms)} * 1'000'000;
    return;
  }
  g.initial_delay = false;
  g.join_deadline_ns = now + int64_t{timeout_ms} * 1'000'000;
  MaybeCompleteJoin(g);
}

void GroupCoordinator::MaybeCompleteJoin(Group& g) {
  if (g.state != GroupState::kPreparingRebalance || g.initial_delay) return;
  if (!g.pending.empty()) return;
  for (const auto& [id, m] : g.members) {
    if (!m->join) return;
  }
  CompleteJoin(g);
}

void GroupCoordinator::CompleteJoin(Group& g) {
  g.initial_delay = false;
  // Dynamic members that did not rejoin in time are gone; static ones stay until their session
  // times out (KIP-345).
  std::vector<std::string> gone;
  for (const auto& [id, m] : g.members) {
    if (!m->join && m->instance_id.empty()) gone.push_back(id);
  }
  for (const std::string& id : gone) RemoveMember(g, id, ErrorCode::UNKNOWN_MEMBER_ID);
  g.generation++;
  if (g.members.empty()) {
    g.protocol.clear();
    g.leader.clear();
    TransitionTo(g, GroupState::kEmpty);
    Persist(g);
    return;
  }
  g.protocol = SelectProtocol(g);
  // The leader stays if it rejoined; otherwise the member that joined first leads.
  Member* leader = nullptr;
  auto it = g.members.find(g.leader);
  if (it != g.members.end() && it->second->join) leader = it->second.get();
  for (const auto& [id, m] : g.members) {
    if (leader == nullptr && m->join) leader = m.get();
    if (leader != nullptr && m->join && !(leader->id == g.leader) && m->join_seq < leader->join_seq)
      leader = m.get();
  }
  if (leader == nullptr)
    leader = it != g.members.end() ? it->second.get() : g.members.begin()->second.get();
  g.leader = leader->id;
  TransitionTo(g, GroupState::kCompletingRebalance);
  for (auto& [id, m] : g.members) {
    m->heartbeat_deadline_ns = SessionDeadline(*m);
    if (m->join) RespondJoin(g, *m, ErrorCode::NONE);
  }
}

v1::JoinGroupResponse GroupCoordinator::CurrentJoinResponse(const Group& g, const Member& m) const {
  v1::JoinGroupResponse r;
  r.set_error_code(ErrorCode::NONE);
  r.set_generation_id(g.generation);
  r.set_protocol_type(g.protocol_type);
  r.set_protocol_name(g.protocol);
  r.set_leader(g.leader);
  r.set_member_id(m.id);
  if (m.id == g.leader) {
    for (const auto& [id, other] : g.members) {
      v1::JoinGroupMember* jm = r.add_members();
      jm->set_member_id(id);
      jm->set_group_instance_id(other->instance_id);
      if (const std::string* md = other->MetadataFor(g.protocol)) jm->set_metadata(*md);
    }
  }
  return r;
}

void GroupCoordinator::RespondJoin(Group& g, Member& m, ErrorCode code) {
  JoinCallback cb = std::move(m.join);
  m.join = nullptr;
  if (!cb) return;
  if (code != ErrorCode::NONE) {
    cb(JoinError(code, "removed from the group", m.id));
    return;
  }
  cb(CurrentJoinResponse(g, m));
}

void GroupCoordinator::RemoveMember(Group& g, const std::string& member_id,
                                    ErrorCode parked_error) {
  auto it = g.members.find(member_id);
  if (it == g.members.end()) return;
  Member& m = *it->second;
  if (m.join) RespondJoin(g, m, parked_error);
  if (m.sync) {
    m.sync(SyncError(parked_error, "removed from the group"));
    m.sync = nullptr;
  }
  if (!m.instance_id.empty()) {
    auto s = g.static_members.find(m.instance_id);
    if (s != g.static_members.end() && s->second == member_id) g.static_members.erase(s);
  }
  g.members.erase(it);
  if (g.leader == member_id) g.leader = g.members.empty() ? "" : g.members.begin()->first;
}

void GroupCoordinator::Sync(const v1::SyncGroupRequest& req, SyncCallback done) {
  Group* g = Find(req.group_id());
  if (g == nullptr) {
    done(SyncError(ErrorCode::UNKNOWN_MEMBER_ID,
                   absl::StrCat("group ", req.group_id(), " does not exist")));
    return;
  }
  if (g->state == GroupState::kDead) {
    done(SyncError(ErrorCode::COORDINATOR_NOT_AVAILABLE, "the group is being removed"));
    return;
  }
  std::string message;
  auto it = g->members.find(req.member_id());
  const ErrorCode member = CheckMember(g->static_members, it != g->members.end(), req.member_id(),
                                       req.group_instance_id(), &message);
  if (member != ErrorCode::NONE) {
    done(SyncError(member, message));
    return;
  }
  if (req.generation_id() != g->generation) {
    done(SyncError(
        ErrorCode::ILLEGAL_GENERATION,
        absl::StrCat("generation ", req.generation_id(), " is not the group's ", g->generation)));
    return;
  }
  if ((!req.protocol_type().empty() && req.protocol_type() != g->protocol_type) ||
      (!req.protocol_name().empty() && req.protocol_name() != g->protocol)) {
    done(SyncError(ErrorCode::INCONSISTENT_GROUP_PROTOCOL,
                   absl::StrCat("the group's protocol is ", g->protocol_type, "/", g->protocol)));
    return;
  }
  Member& m = *it->second;
  switch (g->state) {
    case GroupState::kPreparingRebalance:
      done(SyncError(ErrorCode::REBALANCE_IN_PROGRESS, "the group is rebalancing: rejoin"));
      return;
    case GroupState::kStable: {
      v1::SyncGroupResponse r;
      r.set_protocol_type(g->protocol_type);
      r.set_protocol_name(g->protocol);
      r.set_assignment(m.assignment);
      done(std::move(r));
      return;
    }
    case GroupState::kCompletingRebalance:
      break;
    case GroupState::kEmpty:
    case GroupState::kDead:
      done(SyncError(ErrorCode::UNKNOWN_MEMBER_ID, "the group has no members"));
      return;
  }
  if (m.sync) m.sync(SyncError(ErrorCode::REBALANCE_IN_PROGRESS, "superseded by a newer sync"));
  m.sync = std::move(done);
  m.heartbeat_deadline_ns = SessionDeadline(m);
  if (m.id != g->leader) return;  // parked until the leader's assignment arrives
  for (auto& [id, other] : g->members) other->assignment.clear();
  for (const v1::SyncGroupAssignment& a : req.assignments()) {
    auto target = g->members.find(a.member_id());
    if (target != g->members.end()) target->second->assignment = a.assignment();
  }
  TransitionTo(*g, GroupState::kStable);
  Persist(*g);
  for (auto& [id, other] : g->members) {
    if (!other->sync) continue;
    v1::SyncGroupResponse r;
    r.set_protocol_type(g->protocol_type);
    r.set_protocol_name(g->protocol);
    r.set_assignment(other->assignment);
    SyncCallback cb = std::move(other->sync);
    other->sync = nullptr;
    cb(std::move(r));
  }
}

v1::HeartbeatResponse GroupCoordinator::Heartbeat(const v1::HeartbeatRequest& req) {
  v1::HeartbeatResponse r;
  auto fail = [&r](ErrorCode code, std::string message) {
    r.set_error_code(code);
    r.set_error_message(std::move(message));
    return r;
  };
  Group* g = Find(req.group_id());
  if (g == nullptr) {
    return fail(ErrorCode::UNKNOWN_MEMBER_ID,
                absl::StrCat("group ", req.group_id(), " does not exist"));
  }
  if (g->state == GroupState::kDead) {
    return fail(ErrorCode::COORDINATOR_NOT_AVAILABLE, "the group is being removed");
  }
  std::string message;
  auto it = g->members.find(req.member_id());
  const ErrorCode member = CheckMember(g->static_members, it != g->members.end(), req.member_id(),
                                       req.group_instance_id(), &message);
  if (member != ErrorCode::NONE) return fail(member, message);
  if (req.generation_id() != g->generation) {
    return fail(ErrorCode::ILLEGAL_GENERATION, absl::StrCat("generation ", req.generation_id(),
                                                            " is not the group's ", g->generation));
  }
  it->second->heartbeat_deadline_ns = SessionDeadline(*it->second);
  if (g->state == GroupState::kPreparingRebalance) {
    return fail(ErrorCode::REBALANCE_IN_PROGRESS, "the group is rebalancing: rejoin");
  }
  r.set_error_code(ErrorCode::NONE);
  return r;
}

v1::LeaveGroupResponse GroupCoordinator::Leave(const v1::LeaveGroupRequest& req) {
  v1::LeaveGroupResponse r;
  r.set_error_code(ErrorCode::NONE);
  Group* g = Find(req.group_id());
  if (g != nullptr && g->state == GroupState::kDead) {
    r.set_error_code(ErrorCode::COORDINATOR_NOT_AVAILABLE);
    r.set_error_message("the group is being removed");
    return r;
  }
  bool removed = false;
  for (const v1::LeaveGroupMember& lm : req.members()) {
    v1::LeaveGroupMemberResponse* out = r.add_members();
    out->set_member_id(lm.member_id());
    out->set_group_instance_id(lm.group_instance_id());
    out->set_error_code(ErrorCode::UNKNOWN_MEMBER_ID);
    if (g == nullptr) continue;
    if (!lm.group_instance_id().empty()) {
      auto it = g->static_members.find(lm.group_instance_id());
      if (it == g->static_members.end()) continue;
      if (!lm.member_id().empty() && it->second != lm.member_id()) {
        out->set_error_code(ErrorCode::FENCED_INSTANCE_ID);
        continue;
      }
      out->set_member_id(it->second);
      RemoveMember(*g, it->second, ErrorCode::UNKNOWN_MEMBER_ID);
    } else if (g->pending.erase(lm.member_id()) > 0) {
      // A member that never finished joining.
    } else if (g->members.contains(lm.member_id())) {
      RemoveMember(*g, lm.member_id(), ErrorCode::UNKNOWN_MEMBER_ID);
    } else {
      continue;
    }
    out->set_error_code(ErrorCode::NONE);
    removed = true;
  }
  if (g != nullptr && removed) {
    if (g->state == GroupState::kStable || g->state == GroupState::kCompletingRebalance) {
      PrepareRebalance(*g, "a member left");
    } else {
      MaybeCompleteJoin(*g);
    }
  }
  return r;
}

void GroupCoordinator::Tick() {
  const int64_t now = NowNs();
  std::vector<std::string> ids;
  for (const auto& [id, g] : groups_) ids.push_back(id);
  for (const std::string& id : ids) {
    Group* g = Find(id);
    if (g == nullptr) continue;
    bool changed = false;
    for (auto it = g->pending.begin(); it != g->pending.end();) {
      if (it->second <= now) {
        it = g->pending.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
    std::vector<std::string> expired;
    for (const auto& [mid, m] : g->members) {
      if (!m->join && !m->sync && m->heartbeat_deadline_ns <= now) expired.push_back(mid);
    }
    for (const std::string& mid : expired) RemoveMember(*g, mid, ErrorCode::UNKNOWN_MEMBER_ID);
    if (!expired.empty() &&
        (g->state == GroupState::kStable || g->state == GroupState::kCompletingRebalance)) {
      PrepareRebalance(*g, "a member's session timed out");
      continue;
    }
    if (g->state != GroupState::kPreparingRebalance) continue;
    if (g->join_deadline_ns <= now) {
      const int64_t remaining = g->rebalance_end_ns - now;
      if (g->initial_delay && g->new_member_added && remaining > 0) {
        g->new_member_added = false;
        g->join_deadline_ns =
            now +
            std::min<int64_t>(int64_t{config_.initial_rebalance_delay_ms} * 1'000'000, remaining);
      } else {
        CompleteJoin(*g);
      }
    } else if (changed || !expired.empty()) {
      MaybeCompleteJoin(*g);
    }
  }
}

std::optional<int64_t> GroupCoordinator::NextDeadlineNs() const {
  std::optional<int64_t> next;
  auto consider = [&next](int64_t t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& [id, g] : groups_) {
    if (g->state == GroupState::kPreparingRebalance) consider(g->join_deadline_ns);
    for (const auto& [mid, deadline] : g->pending) consider(deadline);
    for (const auto& [mid, m] : g->members) {
      if (!m->join && !m->sync) consider(m->heartbeat_deadline_ns);
    }
  }
  return next;
}

std::vector<GroupRecord> GroupCoordinator::TakeRecords() {
  return std::exchange(records_, {});
}

void GroupCoordinator::Persist(const Group& g) {
  GroupMetadataValue v;
  v.protocol_type = g.protocol_type;
  v.generation = g.generation;
  v.protocol = g.protocol;
  v.leader = g.leader;
  v.state_timestamp_ms = g.state_timestamp_ms;
  for (const auto& [id, m] : g.members) {
    MemberRecord mr;
    mr.member_id = id;
    mr.instance_id = m->instance_id;
    mr.client_id = m->client_id;
    mr.client_host = m->client_host;
    mr.rebalance_timeout_ms = m->rebalance_timeout_ms;
    mr.session_timeout_ms = m->session_timeout_ms;
    if (const std::string* md = m->MetadataFor(g.protocol)) mr.subscription = *md;
    mr.assignment = m->assignment;
    v.members.push_back(std::move(mr));
  }
  records_.push_back(GroupRecord::Group(g.id, std::move(v)));
}

void GroupCoordinator::Shutdown(ErrorCode code) {
  for (auto& [id, g] : groups_) {
    for (auto& [mid, m] : g->members) {
      if (m->join) {
        JoinCallback cb = std::move(m->join);
        m->join = nullptr;
        cb(JoinError(code, "the coordinator is closing", mid));
      }
      if (m->sync) {
        SyncCallback cb = std::move(m->sync);
        m->sync = nullptr;
        cb(SyncError(code, "the coordinator is closing"));
      }
    }
  }
}

}  // namespace spool::broker
