#include "consumer/fetcher.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "proto/body.h"
#include "proto/errors.h"
#include "proto/fetch.pb.h"

namespace spool::consumer {
namespace {

int64_t NowNs() {
  return SystemClock::Get().monotonic_ns();
}
int64_t MsToNs(int64_t ms) {
  return ms * 1'000'000;
}

client::ClusterOptions MakeClusterOptions(const ConsumerConfig& config,
                                          std::vector<io::HostPort> bootstrap) {
  client::ClusterOptions o;
  o.bootstrap = std::move(bootstrap);
  o.connection.client_id = config.client_id;
  o.connection.request_timeout = std::chrono::milliseconds(config.request_timeout_ms);
  o.connection.connect_timeout = std::chrono::milliseconds(config.request_timeout_ms);
  // A fetch response carries up to fetch_max_bytes of records (more when a first batch is
  // larger): leave room for it and the body.
  o.connection.limits.max_frame_bytes =
      std::max<uint32_t>(o.connection.limits.max_frame_bytes,
                         static_cast<uint32_t>(config.fetch_max_bytes) + (16u << 20));
  o.retry_backoff = std::chrono::milliseconds(config.retry_backoff_ms);
  o.metadata_max_age = std::chrono::milliseconds(config.metadata_max_age_ms);
  return o;
}

// Codes after which the cached leader may be wrong.
bool StaleMetadata(proto::ErrorCode code) {
  switch (code) {
    case proto::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION:
    case proto::ErrorCode::LEADER_NOT_AVAILABLE:
    case proto::ErrorCode::NOT_LEADER_OR_FOLLOWER:
    case proto::ErrorCode::FENCED_LEADER_EPOCH:
    case proto::ErrorCode::UNKNOWN_LEADER_EPOCH:
    case proto::ErrorCode::BROKER_NOT_AVAILABLE:
    case proto::ErrorCode::NETWORK_EXCEPTION:
      return true;
    default:
      return false;
  }
}

// Messages are built outside the coroutines (keeps their frames small and clear of GCC 12's
// coroutine bugs around temporaries).
Status NoLeader(const TopicPartition& tp) {
  return absl::UnavailableError(absl::StrFormat("no leader known for %s", tp.ToString()));
}
Status LookupTimedOut(const TopicPartition& tp, const Status& last) {
  return absl::DeadlineExceededError(
      absl::StrFormat("looking up an offset of %s: %s", tp.ToString(), last.message()));
}
Status ListOffsetsError(const TopicPartition& tp, proto::ErrorCode code) {
  return proto::ErrorToStatus(
      code, absl::StrFormat("ListOffsets of %s: %s", tp.ToString(), proto::ErrorName(code)));
}

}  // namespace

Fetcher::Fetcher(io::Reactor& reactor, ConsumerConfig config, std::vector<io::HostPort> bootstrap,
                 std::shared_ptr<SharedState> shared)
    : reactor_(reactor),
      config_(std::move(config)),
      shared_(std::move(shared)),
      cluster_(reactor, MakeClusterOptions(config_, std::move(bootstrap))),
      wake_(reactor),
      idle_(reactor) {}

Fetcher::~Fetcher() = default;

void Fetcher::Start() {
  ++active_;
  reactor_.spawn(Drive());
}

void Fetcher::Wake() {
  wake_.set();
}

void Fetcher::TaskDone() {
  --active_;
  idle_.notify_all();
}

void Fetcher::ArmTimer(int64_t at_ns, int64_t now_ns) {
  if (at_ns <= 0 || (timer_at_ns_ != 0 && timer_at_ns_ <= at_ns && timer_at_ns_ > now_ns)) return;
  timer_at_ns_ = at_ns;
  std::weak_ptr<Fetcher> weak = weak_from_this();
  reactor_.spawn([](io::Reactor& reactor, std::weak_ptr<Fetcher> weak, int64_t at,
                    int64_t delay) -> Task<void> {
    co_await reactor.sleep_for(std::chrono::nanoseconds(delay));
    std::shared_ptr<Fetcher> self = weak.lock();
    if (!self) co_return;
    if (self->timer_at_ns_ == at) self->timer_at_ns_ = 0;
    self->Wake();
  }(reactor_, std::move(weak), at_ns, at_ns - now_ns));
}

std::optional<int32_t> Fetcher::LeaderOf(const TopicPartition& tp) const {
  const client::TopicInfo* info = cluster_.topic(tp.topic);
  if (info == nullptr || info->error != proto::ErrorCode::NONE || tp.partition < 0) {
    return std::nullopt;
  }
  const size_t index = static_cast<size_t>(tp.partition);
  if (index >= info->partitions.size()) return std::nullopt;
  const client::PartitionInfo& p = info->partitions[index];
  if (p.leader_id < 0) return std::nullopt;
  return p.leader_id;
}

Task<void> Fetcher::MaybeRefreshMetadata(const std::set<std::string>& topics, int64_t now_ns) {
  if (topics.empty() || now_ns < metadata_next_ns_) co_return;
  if (!metadata_needed_ && !cluster_.metadata_stale()) co_return;
  metadata_next_ns_ = now_ns + MsToNs(config_.retry_backoff_ms);
  Status st = co_await cluster_.refresh(std::vector<std::string>(topics.begin(), topics.end()));
  metadata_needed_ = !st.ok();
}

Task<void> Fetcher::Drive() {
  while (!stopping_) {
    wake_.reset();
    int64_t now = NowNs();
    std::set<std::string> topics;
    {
      absl::MutexLock lock(&shared_->mu);
      for (const TopicPartition& tp : shared_->subs.Assignment()) topics.insert(tp.topic);
    }
    co_await MaybeRefreshMetadata(topics, now);
    if (stopping_) break;
    now = NowNs();

    std::map<int32_t, std::vector<ResetTarget>> resets;
    std::map<int32_t, std::vector<FetchTarget>> fetches;
    bool leaderless = false;
    int64_t next_retry = 0;
    {
      absl::MutexLock lock(&shared_->mu);
      SubscriptionState& subs = shared_->subs;
      for (ResetTarget& r : subs.TakeResetTargets(now)) {
        std::optional<int32_t> leader = LeaderOf(r.tp);
        if (!leader) {
          leaderless = true;
          subs.OnResetResolved(r, absl::UnavailableError("no known leader"), now);
          continue;
        }
        resets[*leader].push_back(std::move(r));
      }
      if (subs.queued_bytes() < static_cast<size_t>(config_.prefetch_max_bytes)) {
        std::vector<FetchTarget> targets =
            subs.TakeFetchTargets(now, [&](const TopicPartition& tp) {
              std::optional<int32_t> leader = LeaderOf(tp);
              if (!leader) {
                leaderless = true;
                return false;
              }
              return fetching_.count(*leader) == 0;
            });
        for (FetchTarget& t : targets) fetches[*LeaderOf(t.tp)].push_back(std::move(t));
      }
      next_retry = subs.NextRetryNs(now);
    }
    if (leaderless) metadata_needed_ = true;
    for (auto& [node, targets] : resets) {
      ++active_;
      reactor_.spawn(ResolveResets(node, std::move(targets)));
    }
    for (auto& [node, targets] : fetches) {
      fetching_.insert(node);
      ++active_;
      reactor_.spawn(FetchFrom(node, std::move(targets)));
    }
    if (next_retry > 0) ArmTimer(next_retry, now);
    if (metadata_needed_ && !topics.empty()) ArmTimer(std::max(metadata_next_ns_, now + 1), now);
    co_await wake_.wait();
  }
  TaskDone();
}

Task<void> Fetcher::FetchFrom(int32_t node, std::vector<FetchTarget> targets) {
  v1::FetchRequest request;
  request.set_replica_id(-1);
  request.set_max_wait_ms(config_.fetch_max_wait_ms);
  request.set_min_bytes(config_.fetch_min_bytes);
  request.set_max_bytes(config_.fetch_max_bytes);
  std::map<std::pair<std::string, int32_t>, size_t> index;
  {
    v1::FetchTopic* topic = nullptr;
    for (size_t i = 0; i < targets.size(); ++i) {
      const FetchTarget& t = targets[i];
      if (topic == nullptr || topic->name() != t.tp.topic) {
        topic = request.add_topics();
        topic->set_name(t.tp.topic);
      }
      v1::FetchPartition* p = topic->add_partitions();
      p->set_partition(t.tp.partition);
      p->set_fetch_offset(t.offset);
      p->set_partition_max_bytes(t.max_bytes);
      p->set_current_leader_epoch(-1);
      p->set_last_fetched_epoch(-1);
      p->set_log_start_offset(-1);
      index[{t.tp.topic, t.tp.partition}] = i;
    }
  }
  std::vector<bool> answered(targets.size(), false);
  bool refresh = false;

  StatusOr<std::shared_ptr<client::BrokerConnection>> conn = co_await cluster_.connection(node);
  if (conn.ok() && !stopping_) {
    StatusOr<client::Reply> reply = co_await (*conn)->call(
        proto::ApiKey::API_KEY_FETCH, request, {},
        std::chrono::milliseconds(config_.request_timeout_ms + config_.fetch_max_wait_ms));
    if (reply.ok()) {
      auto owner = std::make_shared<client::Reply>(*std::move(reply));
      const auto& response = owner->as<v1::FetchResponse>();
      StatusOr<std::vector<proto::PartitionPayload>> payloads =
          proto::SplitPayload(response, owner->frame.payload());
      if (payloads.ok()) {
        const int64_t now = NowNs();
        absl::MutexLock lock(&shared_->mu);
        size_t next_payload = 0;
        for (const v1::FetchTopicResponse& topic : response.topics()) {
          for (const v1::FetchPartitionResponse& p : topic.partitions()) {
            const std::span<const std::byte> bytes = (*payloads)[next_payload++].bytes;
            auto it = index.find({topic.name(), p.partition()});
            if (it == index.end() || answered[it->second]) continue;
            answered[it->second] = true;
            const proto::ErrorCode code = response.error_code() != proto::ErrorCode::NONE
                                              ? response.error_code()
                                              : p.error_code();
            const FetchOutcome outcome =
                shared_->subs.OnFetchResponse(targets[it->second], code, p.high_watermark(),
                                              p.log_start_offset(), bytes, owner, now);
            if (outcome == FetchOutcome::kRetry && StaleMetadata(code)) refresh = true;
          }
        }
      }
    } else {
      refresh = true;
    }
  } else {
    refresh = true;
  }
  {
    const int64_t now = NowNs();
    absl::MutexLock lock(&shared_->mu);
    for (size_t i = 0; i < targets.size(); ++i) {
      if (!answered[i]) shared_->subs.OnFetchFailed(targets[i], now);
    }
    shared_->changed.SignalAll();
  }
  if (refresh) metadata_needed_ = true;
  fetching_.erase(node);
  Wake();
  TaskDone();
}

Task<std::vector<StatusOr<int64_t>>> Fetcher::QueryOffsets(int32_t node,
                                                           std::vector<OffsetQuery> parts) {
  std::vector<StatusOr<int64_t>> out(parts.size(),
                                     StatusOr<int64_t>(absl::UnavailableError("no answer")));
  v1::ListOffsetsRequest request;
  request.set_replica_id(-1);
  std::map<std::pair<std::string, int32_t>, size_t> index;
  v1::ListOffsetsTopic* topic = nullptr;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (topic == nullptr || topic->name() != parts[i].tp.topic) {
      topic = request.add_topics();
      topic->set_name(parts[i].tp.topic);
    }
    v1::ListOffsetsPartition* p = topic->add_partitions();
    p->set_partition(parts[i].tp.partition);
    p->set_current_leader_epoch(-1);
    p->set_spec(parts[i].spec);
    p->set_timestamp_ms(parts[i].timestamp_ms);
    index[{parts[i].tp.topic, parts[i].tp.partition}] = i;
  }
  StatusOr<std::shared_ptr<client::BrokerConnection>> conn = co_await cluster_.connection(node);
  if (!conn.ok()) {
    metadata_needed_ = true;
    for (auto& o : out) o = conn.status();
    co_return out;
  }
  StatusOr<client::Reply> reply =
      co_await (*conn)->call(proto::ApiKey::API_KEY_LIST_OFFSETS, request);
  if (!reply.ok()) {
    metadata_needed_ = true;
    for (auto& o : out) o = reply.status();
    co_return out;
  }
  for (const v1::ListOffsetsTopicResponse& t : reply->as<v1::ListOffsetsResponse>().topics()) {
    for (const v1::ListOffsetsPartitionResponse& p : t.partitions()) {
      auto it = index.find({t.name(), p.partition()});
      if (it == index.end()) continue;
      if (p.error_code() != proto::ErrorCode::NONE) {
        if (StaleMetadata(p.error_code())) metadata_needed_ = true;
        out[it->second] = ListOffsetsError(parts[it->second].tp, p.error_code());
      } else {
        out[it->second] = p.offset();
      }
    }
  }
  co_return out;
}

Task<void> Fetcher::ResolveResets(int32_t node, std::vector<ResetTarget> targets) {
  std::vector<OffsetQuery> parts;
  for (const ResetTarget& t : targets) {
    parts.push_back(OffsetQuery{
        t.tp, t.kind == ResetKind::kEarliest ? v1::OFFSET_SPEC_EARLIEST : v1::OFFSET_SPEC_LATEST,
        0});
  }
  std::vector<StatusOr<int64_t>> offsets = co_await QueryOffsets(node, std::move(parts));
  {
    const int64_t now = NowNs();
    absl::MutexLock lock(&shared_->mu);
    for (size_t i = 0; i < targets.size(); ++i) {
      shared_->subs.OnResetResolved(targets[i], offsets[i], now);
    }
    shared_->changed.SignalAll();
  }
  Wake();
  TaskDone();
}

Task<StatusOr<int64_t>> Fetcher::LookupOffset(TopicPartition tp, v1::OffsetSpec spec,
                                              int64_t timestamp_ms, int64_t timeout_ms) {
  const int64_t deadline = NowNs() + MsToNs(timeout_ms);
  ++active_;
  Status last = absl::DeadlineExceededError("no attempt");
  while (!stopping_) {
    std::optional<int32_t> leader = LeaderOf(tp);
    if (!leader) {
      std::vector<std::string> topics(1, tp.topic);
      Status st = co_await cluster_.refresh(std::move(topics));
      leader = LeaderOf(tp);
      if (!leader) {
        last = st.ok() ? NoLeader(tp) : st;
      }
    }
    if (leader) {
      std::vector<OffsetQuery> query(1, OffsetQuery{tp, spec, timestamp_ms});
      std::vector<StatusOr<int64_t>> r = co_await QueryOffsets(*leader, std::move(query));
      if (r[0].ok()) {
        TaskDone();
        co_return r[0];
      }
      last = r[0].status();
      const proto::ErrorCode code = proto::ErrorFromStatus(last);
      if (!proto::IsRetriable(code) && code != proto::ErrorCode::UNKNOWN) break;
    }
    if (NowNs() + MsToNs(config_.retry_backoff_ms) >= deadline) {
      last = LookupTimedOut(tp, last);
      break;
    }
    co_await reactor_.sleep_for(std::chrono::milliseconds(config_.retry_backoff_ms));
  }
  if (stopping_) last = absl::FailedPreconditionError("the consumer is closing");
  TaskDone();
  co_return last;
}

Task<void> Fetcher::Stop() {
  stopping_ = true;
  Wake();
  co_await cluster_.close();
  while (active_ > 0) {
    co_await idle_.wait();
    if (active_ > 0) co_await cluster_.close();  // anything that reconnected meanwhile
  }
  co_await cluster_.close();
}

}  // namespace spool::consumer
