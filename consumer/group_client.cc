#include "consumer/group_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/clock.h"

namespace spool::consumer {
namespace {

int64_t NowNs() {
  return SystemClock::Get().monotonic_ns();
}

// a - b, both sorted.
std::vector<TopicPartition> Minus(const std::vector<TopicPartition>& a,
                                  const std::vector<TopicPartition>& b) {
  std::vector<TopicPartition> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

Status NoGroup(std::string_view what) {
  return absl::FailedPreconditionError(
      absl::StrCat(std::string(what), ": ConsumerConfig.group_id is not set"));
}

Task<void> AsyncCommit(std::weak_ptr<Coordinator> weak, std::shared_ptr<SharedState> shared,
                       OffsetMap offsets, OffsetCommitCallback callback) {
  Status st = absl::CancelledError("the consumer is closing");
  if (std::shared_ptr<Coordinator> c = weak.lock()) {
    OffsetMap copy = offsets;
    st = co_await c->Commit(std::move(copy));
  }
  absl::MutexLock lock(&shared->mu);
  shared->group.completed_commits.push_back(
      CompletedCommit{std::move(offsets), std::move(st), std::move(callback)});
  shared->changed.SignalAll();
}

}  // namespace

GroupClient::GroupClient(const ConsumerConfig& config, client::ClientRuntime& runtime,
                         std::shared_ptr<SharedState> shared)
    : config_(config), runtime_(runtime), shared_(std::move(shared)) {
  for (const std::string& name : config_.partition_assignment_strategy) {
    if (name != "cooperative-sticky") cooperative_ = false;
  }
}

Task<Status> GroupClient::StartOnIo(std::vector<io::HostPort> bootstrap) {
  if (!enabled()) co_return absl::OkStatus();
  coordinator_ =
      std::make_shared<Coordinator>(runtime_.reactor(), config_, std::move(bootstrap), shared_);
  coordinator_->Start();
  co_return absl::OkStatus();
}

Task<Status> GroupClient::StopOnIo() {
  if (coordinator_) co_await coordinator_->Stop();
  coordinator_.reset();
  co_return absl::OkStatus();
}

void GroupClient::Wake() {
  if (!coordinator_) return;
  std::weak_ptr<Coordinator> weak = coordinator_;
  runtime_.post([weak]() {
    if (std::shared_ptr<Coordinator> c = weak.lock()) c->Wake();
  });
}

bool GroupClient::subscribed() const {
  absl::MutexLock lock(&shared_->mu);
  return shared_->group.subscribed;
}

std::vector<std::string> GroupClient::Subscription() const {
  absl::MutexLock lock(&shared_->mu);
  const GroupState& g = shared_->group;
  if (!g.subscribed) return {};
  return g.pattern ? g.resolved_topics : g.topics;
}

std::pair<std::string, int32_t> GroupClient::Generation() const {
  absl::MutexLock lock(&shared_->mu);
  return {shared_->group.member_id, shared_->group.generation};
}

Status GroupClient::Subscribe(std::vector<std::string> topics, std::optional<std::regex> pattern,
                              ConsumerRebalanceListener* listener) {
  if (!enabled()) return NoGroup("subscribe");
  if (!pattern) {
    if (topics.empty()) {
      return absl::InvalidArgumentError("subscribe: no topic (use unsubscribe() to leave)");
    }
    for (const std::string& t : topics) {
      if (t.empty()) return absl::InvalidArgumentError("subscribe: empty topic name");
    }
    std::sort(topics.begin(), topics.end());
    topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  }
  {
    absl::MutexLock lock(&shared_->mu);
    GroupState& g = shared_->group;
    if (!g.subscribed && !shared_->subs.Assignment().empty()) {
      return absl::FailedPreconditionError(
          "subscribe: partitions are assigned manually (assign({}) first)");
    }
    g.subscribed = true;
    g.topics = std::move(topics);
    g.pattern = std::move(pattern);
    ++g.subscription_version;
    g.rejoin_needed = true;
    g.last_poll_ns = NowNs();
    g.fatal = absl::OkStatus();
    listener_ = listener;
  }
  Wake();
  return absl::OkStatus();
}

OffsetMap GroupClient::PositionsLocked(const std::vector<TopicPartition>& partitions) const {
  OffsetMap out;
  for (const TopicPartition& tp : partitions) {
    const PartitionState* ps = shared_->subs.Find(tp);
    if (ps != nullptr && ps->position) out[tp] = OffsetAndMetadata{*ps->position, ""};
  }
  return out;
}

Status GroupClient::CommitNow(OffsetMap offsets) {
  if (offsets.empty()) return absl::OkStatus();
  Coordinator* c = coordinator_.get();
  return runtime_.call<Status>(
      [c, offsets = std::move(offsets)]() mutable { return c->Commit(std::move(offsets)); });
}

void GroupClient::PollStarted() {
  absl::MutexLock lock(&shared_->mu);
  GroupState& g = shared_->group;
  g.in_poll = true;
  g.last_poll_ns = NowNs();
  g.polled_positions.clear();
  for (const TopicPartition& tp : shared_->subs.Assignment()) {
    const PartitionState* ps = shared_->subs.Find(tp);
    if (ps != nullptr && ps->position) g.polled_positions[tp] = *ps->position;
  }
}

void GroupClient::PollEnded() {
  absl::MutexLock lock(&shared_->mu);
  shared_->group.in_poll = false;
  shared_->group.last_poll_ns = NowNs();
}

Status GroupClient::ProcessEvents() {
  GroupState& g = shared_->group;
  SubscriptionState& subs = shared_->subs;
  bool wake = false;
  Status result;
  // Each step may release the lock (listener calls); loop until nothing is left to do.
  for (int step = 0; step < 16; ++step) {
    if (!g.fatal.ok()) {
      result = g.fatal;
      break;
    }
    if (!g.subscribed) break;
    if (!g.lost && g.generation >= 0 && g.session_renewed_ns > 0 &&
        NowNs() - g.session_renewed_ns > int64_t{config_.session_timeout_ms} * 1'000'000) {
      g.Lose();
      g.session_expired = true;
      wake = true;
      continue;
    }
    if (g.lost) {
      g.lost = false;
      std::vector<TopicPartition> lost = std::move(g.owned);
      g.owned.clear();
      g.owned_generation = -1;
      g.polled_positions.clear();
      subs.Assign({});
      if (!lost.empty() && listener_ != nullptr) {
        shared_->mu.Unlock();
        listener_->on_partitions_lost(lost);
        shared_->mu.Lock();
      }
      continue;
    }
    if (g.pending) {
      PendingAssignment p = std::move(*g.pending);
      g.pending.reset();
      const std::vector<TopicPartition> revoked = Minus(g.owned, p.partitions);
      const std::vector<TopicPartition> added = Minus(p.partitions, g.owned);
      if (!revoked.empty()) {
        // Cooperative: these move to another member. Commit, tell the user, then let go.
        OffsetMap offsets = config_.enable_auto_commit ? PositionsLocked(revoked) : OffsetMap();
        shared_->mu.Unlock();
        PermitUncheckedError(CommitNow(std::move(offsets)));  // a fencing shows up as `lost`
        if (listener_ != nullptr) listener_->on_partitions_revoked(revoked);
        shared_->mu.Lock();
        if (g.lost || g.generation != p.generation) continue;
      }
      subs.Assign(p.partitions);
      // A partition new to this member was not polled past here (it may have come back after
      // another member moved its committed offset on).
      for (const TopicPartition& tp : added) g.polled_positions.erase(tp);
      g.owned = p.partitions;
      g.owned_generation = p.generation;
      // KIP-429: after revoking, rejoin so the next generation can assign what was let go.
      if (!revoked.empty()) g.rejoin_needed = true;
      wake = true;
      if (listener_ != nullptr) {
        shared_->mu.Unlock();
        listener_->on_partitions_assigned(added);
        shared_->mu.Lock();
      }
      continue;
    }
    if (g.rejoin_needed && !g.join_allowed) {
      const std::vector<TopicPartition> owned = g.owned;
      OffsetMap offsets = config_.enable_auto_commit ? PositionsLocked(owned) : OffsetMap();
      shared_->mu.Unlock();
      PermitUncheckedError(CommitNow(std::move(offsets)));
      if (!cooperative_ && !owned.empty() && listener_ != nullptr) {
        listener_->on_partitions_revoked(owned);
      }
      shared_->mu.Lock();
      if (!cooperative_) {
        // Eager: everything is revoked before JoinGroup.
        subs.Assign({});
        g.owned.clear();
        g.owned_generation = -1;
        g.polled_positions.clear();
      }
      if (!g.lost && g.subscribed) {
        g.join_allowed = true;
        wake = true;
      }
      continue;
    }
    break;
  }
  if (wake) Wake();
  return result;
}

Status GroupClient::Unsubscribe() {
  std::vector<TopicPartition> owned;
  bool lost = false;
  OffsetMap offsets;
  {
    absl::MutexLock lock(&shared_->mu);
    GroupState& g = shared_->group;
    if (!g.subscribed) return absl::OkStatus();
    owned = g.owned;
    lost = g.lost;
    if (config_.enable_auto_commit && !lost) offsets = PositionsLocked(owned);
  }
  Status result = CommitNow(std::move(offsets));
  if (!owned.empty() && listener_ != nullptr) {
    if (lost) {
      listener_->on_partitions_lost(owned);
    } else {
      listener_->on_partitions_revoked(owned);
    }
  }
  Coordinator* c = coordinator_.get();
  Status left = runtime_.call<Status>([c]() { return c->Leave(true); });
  if (result.ok()) result = left;
  {
    absl::MutexLock lock(&shared_->mu);
    GroupState& g = shared_->group;
    shared_->subs.Assign({});
    g.subscribed = false;
    g.topics.clear();
    g.pattern.reset();
    g.owned.clear();
    g.owned_generation = -1;
    g.rejoin_needed = false;
    g.join_allowed = false;
    g.lost = false;
    g.pending.reset();
    g.resolved_topics.clear();
    g.polled_positions.clear();
  }
  listener_ = nullptr;
  return result;
}

Status GroupClient::CommitSync(std::optional<OffsetMap> offsets) {
  if (!enabled()) return NoGroup("commit_sync");
  if (!offsets) {
    absl::MutexLock lock(&shared_->mu);
    offsets = PositionsLocked(shared_->subs.Assignment());
  }
  Status st = CommitNow(*std::move(offsets));
  RunCallbacks();
  return st;
}

void GroupClient::CommitAsync(std::optional<OffsetMap> offsets, OffsetCommitCallback callback) {
  if (!enabled()) {
    if (callback) callback(offsets.value_or(OffsetMap()), NoGroup("commit_async"));
    return;
  }
  if (!offsets) {
    absl::MutexLock lock(&shared_->mu);
    offsets = PositionsLocked(shared_->subs.Assignment());
  }
  std::weak_ptr<Coordinator> weak = coordinator_;
  std::shared_ptr<SharedState> shared = shared_;
  runtime_.post(
      [weak, shared, offsets = *std::move(offsets), callback = std::move(callback)]() mutable {
        io::Reactor::current()->spawn(AsyncCommit(std::move(weak), std::move(shared),
                                                  std::move(offsets), std::move(callback)));
      });
}

StatusOr<OffsetMap> GroupClient::Committed(const std::vector<TopicPartition>& partitions) {
  if (!enabled()) return NoGroup("committed");
  if (partitions.empty()) return OffsetMap();
  Coordinator* c = coordinator_.get();
  std::vector<TopicPartition> parts = partitions;
  return runtime_.call<StatusOr<OffsetMap>>(
      [c, parts = std::move(parts)]() mutable { return c->FetchCommitted(std::move(parts)); });
}

void GroupClient::RunCallbacks() {
  std::deque<CompletedCommit> done;
  {
    absl::MutexLock lock(&shared_->mu);
    done.swap(shared_->group.completed_commits);
  }
  for (CompletedCommit& c : done) {
    if (c.callback) c.callback(c.offsets, c.status);
  }
}

Status GroupClient::Close() {
  if (!enabled()) return absl::OkStatus();
  Status result;
  if (subscribed()) {
    result = Unsubscribe();
  } else if (config_.enable_auto_commit) {
    OffsetMap offsets;
    {
      absl::MutexLock lock(&shared_->mu);
      offsets = PositionsLocked(shared_->subs.Assignment());
    }
    result = CommitNow(std::move(offsets));
  }
  Coordinator* c = coordinator_.get();
  PermitUncheckedError(runtime_.call<Status>([c]() { return c->Drain(); }));
  RunCallbacks();
  return result;
}

}  // namespace spool::consumer
