// The Coordinator's membership side (coordinator.h): coordinator lookup, JoinGroup / SyncGroup,
// heartbeats, leaving, the driver loop. Commits and offset lookups: coordinator_offsets.cc.
#include "consumer/coordinator.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "consumer/coordinator_util.h"
#include "consumer/group_protocol.h"
#include "proto/body.h"
#include "proto/errors.h"

namespace spool::consumer {
namespace coordinator_util {

int64_t NowNs() {
  return SystemClock::Get().monotonic_ns();
}
int64_t MsToNs(int64_t ms) {
  return ms * 1'000'000;
}
bool CoordinatorMoved(proto::ErrorCode code) {
  return code == proto::ErrorCode::COORDINATOR_NOT_AVAILABLE ||
         code == proto::ErrorCode::NOT_COORDINATOR || code == proto::ErrorCode::NETWORK_EXCEPTION ||
         code == proto::ErrorCode::REQUEST_TIMED_OUT;
}

Status GroupError(std::string_view what, proto::ErrorCode code, std::string_view message) {
  std::string text = absl::StrCat(std::string(what), ": ", std::string(proto::ErrorName(code)));
  if (!message.empty()) absl::StrAppend(&text, " (", std::string(message), ")");
  return proto::ErrorToStatus(code, text);
}

}  // namespace coordinator_util

using coordinator_util::CoordinatorMoved;
using coordinator_util::GroupError;
using coordinator_util::MsToNs;
using coordinator_util::NowNs;

namespace {

using std::chrono::milliseconds;

client::ClusterOptions MakeOptions(const ConsumerConfig& config,
                                   std::vector<io::HostPort> bootstrap) {
  client::ClusterOptions o;
  o.bootstrap = std::move(bootstrap);
  o.connection.client_id = config.client_id;
  o.connection.request_timeout = milliseconds(config.request_timeout_ms);
  o.connection.connect_timeout = milliseconds(config.request_timeout_ms);
  o.retry_backoff = milliseconds(config.retry_backoff_ms);
  o.metadata_max_age = milliseconds(config.metadata_max_age_ms);
  return o;
}

bool Matches(const std::regex& pattern, const std::string& topic) {
  return !topic.starts_with("__") && std::regex_match(topic, pattern);
}

}  // namespace

Coordinator::Coordinator(io::Reactor& reactor, ConsumerConfig config,
                         std::vector<io::HostPort> bootstrap, std::shared_ptr<SharedState> shared)
    : reactor_(reactor),
      config_(std::move(config)),
      shared_(std::move(shared)),
      cluster_(reactor, MakeOptions(config_, bootstrap)),
      join_cluster_(reactor, MakeOptions(config_, std::move(bootstrap))),
      wake_(reactor),
      idle_(reactor),
      commit_gate_(reactor, 1) {}

Coordinator::~Coordinator() = default;

void Coordinator::Start() {
  ++active_;
  reactor_.spawn(Drive());
}

void Coordinator::Wake() {
  wake_.set();
}

void Coordinator::TaskDone() {
  --active_;
  idle_.notify_all();
}

bool Coordinator::Cooperative() const {
  for (const std::string& name : config_.partition_assignment_strategy) {
    if (name != "cooperative-sticky") return false;
  }
  return true;
}

void Coordinator::ArmTimer(int64_t at_ns, int64_t now_ns) {
  if (at_ns <= 0 || (timer_at_ns_ != 0 && timer_at_ns_ <= at_ns && timer_at_ns_ > now_ns)) return;
  timer_at_ns_ = at_ns;
  std::weak_ptr<Coordinator> weak = weak_from_this();
  reactor_.spawn([](io::Reactor& reactor, std::weak_ptr<Coordinator> weak, int64_t at,
                    int64_t delay) -> Task<void> {
    co_await reactor.sleep_for(std::chrono::nanoseconds(delay));
    std::shared_ptr<Coordinator> self = weak.lock();
    if (!self) co_return;
    if (self->timer_at_ns_ == at) self->timer_at_ns_ = 0;
    self->Wake();
  }(reactor_, std::move(weak), at_ns, std::max<int64_t>(at_ns - now_ns, 0)));
}

void Coordinator::RequestRejoin() {
  absl::MutexLock lock(&shared_->mu);
  shared_->group.rejoin_needed = true;
  shared_->changed.SignalAll();
}

void Coordinator::MarkLost(bool forget_member_id) {
  generation_ = -1;
  joined_ = false;
  if (forget_member_id) member_id_.clear();
  absl::MutexLock lock(&shared_->mu);
  GroupState& g = shared_->group;
  g.Lose();
  g.member_id = member_id_;
  shared_->changed.SignalAll();
}

Coordinator::JoinStep Coordinator::OnJoinError(std::string_view api, proto::ErrorCode code,
                                               const std::string& message, Status* error) {
  switch (code) {
    case proto::ErrorCode::NONE:
      return JoinStep::kProceed;
    case proto::ErrorCode::UNKNOWN_MEMBER_ID:
      member_id_.clear();
      generation_ = -1;
      return JoinStep::kRejoin;
    case proto::ErrorCode::ILLEGAL_GENERATION:
      generation_ = -1;
      return JoinStep::kRejoin;
    case proto::ErrorCode::REBALANCE_IN_PROGRESS:
      return JoinStep::kRejoin;
    case proto::ErrorCode::COORDINATOR_NOT_AVAILABLE:
    case proto::ErrorCode::NOT_COORDINATOR:
      coordinator_node_.reset();
      *error = GroupError(api, code, message);
      return JoinStep::kFail;
    case proto::ErrorCode::COORDINATOR_LOAD_IN_PROGRESS:
      *error = GroupError(api, code, message);
      return JoinStep::kFail;
    default:
      // FENCED_INSTANCE_ID, INVALID_GROUP_ID, GROUP_MAX_SIZE_REACHED,
      // INCONSISTENT_GROUP_PROTOCOL, INVALID_SESSION_TIMEOUT, ...: not retried.
      *error = GroupError(api, code, message);
      SetFatal(*error);
      return JoinStep::kFail;
  }
}

void Coordinator::SetFatal(Status status) {
  joined_ = false;
  absl::MutexLock lock(&shared_->mu);
  shared_->group.fatal = std::move(status);
  shared_->changed.SignalAll();
}

Task<StatusOr<int32_t>> Coordinator::EnsureCoordinator() {
  if (coordinator_node_) co_return *coordinator_node_;
  StatusOr<std::shared_ptr<client::BrokerConnection>> conn = co_await cluster_.any_connection();
  if (!conn.ok()) co_return conn.status();
  v1::FindCoordinatorRequest request;
  request.set_key(config_.group_id);
  StatusOr<client::Reply> reply =
      co_await (*conn)->call(proto::ApiKey::API_KEY_FIND_COORDINATOR, request);
  if (!reply.ok()) co_return reply.status();
  const auto& response = reply->as<v1::FindCoordinatorResponse>();
  if (response.error_code() != proto::ErrorCode::NONE) {
    co_return GroupError("FindCoordinator", response.error_code(), response.error_message());
  }
  const int32_t node = response.node_id();
  std::optional<io::HostPort> known = cluster_.broker(node);
  if (!known) {
    // The coordinator is a broker the cached metadata does not list yet.
    std::vector<std::string> none;
    Status st = co_await cluster_.refresh(std::move(none));
    if (!st.ok()) co_return st;
    if (!cluster_.broker(node)) {
      co_return absl::UnavailableError(
          absl::StrCat("coordinator node ", node, " is not in the metadata"));
    }
  }
  if (!join_cluster_.broker(node)) {
    std::vector<std::string> none;
    Status st = co_await join_cluster_.refresh(std::move(none));
    if (!st.ok()) co_return st;
  }
  coordinator_node_ = node;
  co_return node;
}

Task<StatusOr<client::Reply>> Coordinator::CallCoordinator(proto::ApiKey api,
                                                           const google::protobuf::Message& request,
                                                           milliseconds timeout) {
  StatusOr<int32_t> node = co_await EnsureCoordinator();
  if (!node.ok()) co_return node.status();
  const bool membership =
      api == proto::ApiKey::API_KEY_JOIN_GROUP || api == proto::ApiKey::API_KEY_SYNC_GROUP;
  client::Cluster& cluster = membership ? join_cluster_ : cluster_;
  StatusOr<std::shared_ptr<client::BrokerConnection>> conn = co_await cluster.connection(*node);
  if (!conn.ok()) {
    coordinator_node_.reset();
    co_return conn.status();
  }
  std::shared_ptr<client::BrokerConnection> c = *std::move(conn);
  StatusOr<client::Reply> reply = co_await c->call(api, request, {}, timeout);
  if (!reply.ok()) coordinator_node_.reset();
  co_return reply;
}

Task<StatusOr<TopicPartitionCounts>> Coordinator::SubscribedTopics() {
  std::vector<std::string> topics;
  std::optional<std::regex> pattern;
  {
    absl::MutexLock lock(&shared_->mu);
    topics = shared_->group.topics;
    pattern = shared_->group.pattern;
  }
  TopicPartitionCounts out;
  if (pattern) {
    // Every topic, filtered here (the metadata cache cannot list what it holds).
    StatusOr<std::shared_ptr<client::BrokerConnection>> conn = co_await cluster_.any_connection();
    if (!conn.ok()) co_return conn.status();
    v1::MetadataRequest request;
    request.set_all_topics(true);
    StatusOr<client::Reply> reply =
        co_await (*conn)->call(proto::ApiKey::API_KEY_METADATA, request);
    if (!reply.ok()) co_return reply.status();
    for (const auto& t : reply->as<v1::MetadataResponse>().topics()) {
      if (t.error_code() != proto::ErrorCode::NONE || t.is_internal()) continue;
      if (Matches(*pattern, t.name())) out[t.name()] = t.partitions_size();
    }
    co_return out;
  }
  std::vector<std::string> ask = topics;
  Status st = co_await cluster_.refresh(std::move(ask));
  if (!st.ok()) co_return st;
  for (const std::string& t : topics) {
    const client::TopicInfo* info = cluster_.topic(t);
    if (info == nullptr || info->error != proto::ErrorCode::NONE) continue;
    out[t] = static_cast<int32_t>(info->partitions.size());
  }
  co_return out;
}

Task<StatusOr<std::vector<std::pair<std::string, std::string>>>> Coordinator::ComputeAssignment(
    std::string protocol, std::vector<v1::JoinGroupMember> members) {
  StatusOr<std::unique_ptr<Assignor>> assignor = MakeAssignor(protocol);
  if (!assignor.ok()) co_return assignor.status();
  std::vector<MemberSubscription> subs;
  std::set<std::string> topics;
  for (const v1::JoinGroupMember& m : members) {
    StatusOr<MemberSubscription> s =
        DecodeSubscription(m.member_id(), m.group_instance_id(), m.metadata());
    if (!s.ok()) co_return s.status();
    topics.insert(s->topics.begin(), s->topics.end());
    subs.push_back(*std::move(s));
  }
  std::vector<std::string> ask(topics.begin(), topics.end());
  TopicPartitionCounts counts;
  if (!ask.empty()) {
    Status st = co_await cluster_.refresh(std::move(ask));
    if (!st.ok()) co_return st;
  }
  for (const std::string& t : topics) {
    const client::TopicInfo* info = cluster_.topic(t);
    if (info == nullptr || info->error != proto::ErrorCode::NONE) continue;
    counts[t] = static_cast<int32_t>(info->partitions.size());
  }
  const GroupAssignment assignment = (*assignor)->Assign(counts, subs);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [member, parts] : assignment) out.emplace_back(member, EncodeAssignment(parts));
  co_return out;
}

Task<Status> Coordinator::JoinAndSync() {
  joined_ = false;  // no heartbeats or auto-commits until the new generation is synced
  StatusOr<TopicPartitionCounts> topics = co_await SubscribedTopics();
  if (!topics.ok()) co_return topics.status();
  std::vector<std::string> names;
  for (const auto& [t, n] : *topics) names.push_back(t);
  std::vector<TopicPartition> owned;
  int32_t owned_generation = -1;
  uint64_t version = 0;
  {
    absl::MutexLock lock(&shared_->mu);
    GroupState& g = shared_->group;
    version = g.subscription_version;
    if (Cooperative()) {
      owned = g.owned;
      owned_generation = g.owned_generation;
    }
  }
  const milliseconds join_timeout(
      std::max<int64_t>(config_.request_timeout_ms, int64_t{config_.max_poll_interval_ms} + 5000));
  for (int attempt = 0; attempt < 5 && !stopping_; ++attempt) {
    v1::JoinGroupRequest join;
    join.set_group_id(config_.group_id);
    join.set_session_timeout_ms(config_.session_timeout_ms);
    join.set_rebalance_timeout_ms(config_.max_poll_interval_ms);
    join.set_member_id(member_id_);
    join.set_group_instance_id(config_.group_instance_id);
    join.set_protocol_type(std::string(kConsumerProtocolType));
    join.set_client_id(config_.client_id);
    const std::string metadata = EncodeSubscription(names, owned, owned_generation);
    for (const std::string& name : config_.partition_assignment_strategy) {
      v1::JoinGroupProtocol* p = join.add_protocols();
      p->set_name(name);
      p->set_metadata(metadata);
    }
    {
      // The coordinator keeps a member whose JoinGroup it holds and completes the join within
      // the rebalance timeout, so the session cannot run out before then plus a session: a
      // long rebalance must not make poll() give up partitions it still owns.
      absl::MutexLock lock(&shared_->mu);
      int64_t& renewed = shared_->group.session_renewed_ns;
      renewed = std::max(renewed, NowNs() + MsToNs(config_.max_poll_interval_ms));
    }
    StatusOr<client::Reply> reply =
        co_await CallCoordinator(proto::ApiKey::API_KEY_JOIN_GROUP, join, join_timeout);
    if (!reply.ok()) co_return reply.status();
    const auto& jr = reply->as<v1::JoinGroupResponse>();
    if (jr.error_code() == proto::ErrorCode::MEMBER_ID_REQUIRED) {
      member_id_ = jr.member_id();
      continue;
    }
    Status join_error;
    const JoinStep joined =
        OnJoinError("JoinGroup", jr.error_code(), jr.error_message(), &join_error);
    if (joined == JoinStep::kRejoin) continue;
    if (joined == JoinStep::kFail) co_return join_error;
    generation_ = jr.generation_id();
    member_id_ = jr.member_id();
    const std::string protocol = jr.protocol_name();

    v1::SyncGroupRequest sync;
    sync.set_group_id(config_.group_id);
    sync.set_generation_id(generation_);
    sync.set_member_id(member_id_);
    sync.set_group_instance_id(config_.group_instance_id);
    sync.set_protocol_type(std::string(kConsumerProtocolType));
    sync.set_protocol_name(protocol);
    if (jr.leader() == member_id_ && !jr.skip_assignment()) {
      std::vector<v1::JoinGroupMember> members(jr.members().begin(), jr.members().end());
      StatusOr<std::vector<std::pair<std::string, std::string>>> computed =
          co_await ComputeAssignment(protocol, std::move(members));
      if (!computed.ok()) co_return computed.status();
      for (auto& [member, bytes] : *computed) {
        v1::SyncGroupAssignment* a = sync.add_assignments();
        a->set_member_id(member);
        a->set_assignment(std::move(bytes));
      }
    }
    const int64_t sync_sent = NowNs();
    StatusOr<client::Reply> synced =
        co_await CallCoordinator(proto::ApiKey::API_KEY_SYNC_GROUP, sync, join_timeout);
    if (!synced.ok()) co_return synced.status();
    const auto& sr = synced->as<v1::SyncGroupResponse>();
    Status sync_error;
    const JoinStep synced_step =
        OnJoinError("SyncGroup", sr.error_code(), sr.error_message(), &sync_error);
    if (synced_step == JoinStep::kRejoin) continue;
    if (synced_step == JoinStep::kFail) co_return sync_error;
    StatusOr<std::vector<TopicPartition>> assigned = DecodeAssignment(sr.assignment());
    if (!assigned.ok()) {
      SetFatal(assigned.status());
      co_return assigned.status();
    }
    joined_ = true;
    joined_topics_ = *topics;
    const int64_t now = NowNs();
    next_heartbeat_ns_ = now + MsToNs(config_.heartbeat_interval_ms);
    next_auto_commit_ns_ = now + MsToNs(config_.auto_commit_interval_ms);
    next_metadata_ns_ = now + MsToNs(config_.metadata_max_age_ms);
    absl::MutexLock lock(&shared_->mu);
    GroupState& g = shared_->group;
    g.pending = PendingAssignment{generation_, *std::move(assigned)};
    g.generation = generation_;
    g.session_renewed_ns = sync_sent;
    g.member_id = member_id_;
    g.resolved_topics = names;
    g.joined_version = version;
    g.join_allowed = false;
    // A subscribe() while joining asks for another round.
    g.rejoin_needed = g.subscription_version != version;
    shared_->changed.SignalAll();
    co_return absl::OkStatus();
  }
  co_return absl::UnavailableError("JoinGroup: the group kept rebalancing; retrying");
}

Task<void> Coordinator::Heartbeat() {
  v1::HeartbeatRequest request;
  request.set_group_id(config_.group_id);
  request.set_generation_id(generation_);
  request.set_member_id(member_id_);
  request.set_group_instance_id(config_.group_instance_id);
  const int32_t generation = generation_;
  const int64_t sent = NowNs();
  StatusOr<client::Reply> reply = co_await CallCoordinator(
      proto::ApiKey::API_KEY_HEARTBEAT, request, milliseconds(config_.request_timeout_ms));
  if (!reply.ok() || generation != generation_ || !joined_) co_return;
  const proto::ErrorCode code = reply->as<v1::HeartbeatResponse>().error_code();
  if (code == proto::ErrorCode::NONE || code == proto::ErrorCode::REBALANCE_IN_PROGRESS) {
    absl::MutexLock lock(&shared_->mu);
    shared_->group.session_renewed_ns = sent;  // the member is still in the group
  }
  switch (code) {
    case proto::ErrorCode::NONE:
      break;
    case proto::ErrorCode::REBALANCE_IN_PROGRESS:
      RequestRejoin();
      break;
    case proto::ErrorCode::ILLEGAL_GENERATION:
      MarkLost(false);
      break;
    case proto::ErrorCode::UNKNOWN_MEMBER_ID:
      MarkLost(true);
      break;
    case proto::ErrorCode::FENCED_INSTANCE_ID:
      MarkLost(true);
      SetFatal(GroupError("Heartbeat", code, "another consumer uses this group_instance_id"));
      break;
    default:
      if (CoordinatorMoved(code)) coordinator_node_.reset();
      break;
  }
}

Task<void> Coordinator::CheckMetadata() {
  StatusOr<TopicPartitionCounts> topics = co_await SubscribedTopics();
  if (!topics.ok() || !joined_) co_return;
  if (*topics != joined_topics_) RequestRejoin();
}

Task<Status> Coordinator::Leave(bool send) {
  ++active_;
  Status result = absl::OkStatus();
  if (send && !member_id_.empty() && config_.group_instance_id.empty()) {
    v1::LeaveGroupRequest request;
    request.set_group_id(config_.group_id);
    v1::LeaveGroupMember* m = request.add_members();
    m->set_member_id(member_id_);
    m->set_reason("the consumer is leaving the group");
    StatusOr<client::Reply> reply = co_await CallCoordinator(
        proto::ApiKey::API_KEY_LEAVE_GROUP, request, milliseconds(config_.request_timeout_ms));
    if (!reply.ok()) {
      result = reply.status();
    } else if (reply->as<v1::LeaveGroupResponse>().error_code() != proto::ErrorCode::NONE) {
      const auto& r = reply->as<v1::LeaveGroupResponse>();
      // UNKNOWN_MEMBER_ID: the coordinator already dropped the member; nothing to leave.
      if (r.error_code() != proto::ErrorCode::UNKNOWN_MEMBER_ID) {
        result = GroupError("LeaveGroup", r.error_code(), r.error_message());
      }
    }
  }
  member_id_.clear();
  generation_ = -1;
  joined_ = false;
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->group.member_id.clear();
    shared_->group.generation = -1;
    shared_->group.pending.reset();
  }
  TaskDone();
  co_return result;
}

Task<Status> Coordinator::Drain() {
  while (commits_in_flight_ > 0) co_await idle_.wait();
  co_return absl::OkStatus();
}

Task<void> Coordinator::Drive() {
  while (!stopping_) {
    wake_.reset();
    int64_t now = NowNs();
    bool subscribed = false, rejoin = false, allowed = false, in_poll = false, fatal = false;
    bool awaiting = false, auto_commit = false, expired = false;
    int64_t last_poll = 0;
    {
      absl::MutexLock lock(&shared_->mu);
      GroupState& g = shared_->group;
      expired = std::exchange(g.session_expired, false);
      subscribed = g.subscribed;
      rejoin = g.rejoin_needed;
      allowed = g.join_allowed;
      in_poll = g.in_poll;
      last_poll = g.last_poll_ns;
      fatal = !g.fatal.ok();
      awaiting = !shared_->subs.AwaitingCommitted().empty();
      auto_commit = config_.enable_auto_commit && !shared_->subs.Assignment().empty();
    }
    if (fatal) subscribed = false;
    if (expired && joined_) {
      MarkLost(false);  // poll() saw the session expire; the next JoinGroup learns the rest
      continue;
    }
    const int64_t max_poll = MsToNs(config_.max_poll_interval_ms);
    if (subscribed && joined_ && !in_poll && now - last_poll > max_poll) {
      // Kafka's poll timeout: leave so the others take the partitions (a static member only
      // stops heartbeating); the next poll() reports them lost and rejoins.
      const bool send = config_.group_instance_id.empty();
      Status st = co_await Leave(send);
      PermitUncheckedError(st);
      MarkLost(true);
      continue;
    }
    if (subscribed && rejoin && allowed && now >= next_join_ns_) {
      Status st = co_await JoinAndSync();
      if (!st.ok()) next_join_ns_ = NowNs() + MsToNs(config_.retry_backoff_ms);
      continue;
    }
    if (subscribed && joined_ && now >= next_heartbeat_ns_) {
      next_heartbeat_ns_ = now + MsToNs(config_.heartbeat_interval_ms);
      co_await Heartbeat();
      if (!coordinator_node_) next_heartbeat_ns_ = NowNs() + MsToNs(config_.retry_backoff_ms);
      continue;
    }
    if (auto_commit && (joined_ || !subscribed) && now >= next_auto_commit_ns_) {
      next_auto_commit_ns_ = now + MsToNs(config_.auto_commit_interval_ms);
      co_await AutoCommit();
      continue;
    }
    if (subscribed && joined_ && now >= next_metadata_ns_) {
      next_metadata_ns_ = now + MsToNs(config_.metadata_max_age_ms);
      co_await CheckMetadata();
      continue;
    }
    if (awaiting && !resolving_ && now >= next_committed_ns_) {
      co_await ResolveCommitted();
      continue;
    }
    int64_t next = 0;
    auto consider = [&](bool on, int64_t at) {
      if (on && (next == 0 || at < next)) next = at;
    };
    consider(subscribed && joined_, next_heartbeat_ns_);
    consider(subscribed && joined_, last_poll + max_poll + 1);
    consider(subscribed && joined_, next_metadata_ns_);
    consider(auto_commit, next_auto_commit_ns_);
    consider(subscribed && rejoin && allowed, next_join_ns_);
    consider(awaiting, next_committed_ns_);
    if (next > 0) ArmTimer(std::max(next, now + 1), now);
    co_await wake_.wait();
  }
  TaskDone();
}

Task<void> Coordinator::CloseConnections() {
  co_await cluster_.close();
  co_await join_cluster_.close();
}

Task<void> Coordinator::Stop() {
  stopping_ = true;
  commit_gate_.close();
  Wake();
  co_await CloseConnections();
  while (active_ > 0) {
    co_await idle_.wait();
    if (active_ > 0) co_await CloseConnections();
  }
  co_await CloseConnections();
}

}  // namespace spool::consumer
