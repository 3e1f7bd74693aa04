// Consumer: the user-thread side. State shared with the I/O thread lives in SharedState (under
// its mutex); the Fetcher (fetcher.h) does the network work on the ClientRuntime's thread.
#include "consumer/consumer.h"

#include <algorithm>
#include <optional>
#include <regex>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/runtime.h"
#include "common/clock.h"
#include "consumer/fetcher.h"
#include "consumer/group_client.h"
#include "consumer/subscription_state.h"

namespace spool {

using consumer::Fetcher;
using consumer::ResetKind;
using consumer::SharedState;
using consumer::SubscriptionOptions;

class Consumer::Impl {
 public:
  Impl(ConsumerConfig config, std::unique_ptr<client::ClientRuntime> runtime,
       std::shared_ptr<SharedState> shared)
      : config_(std::move(config)),
        runtime_(std::move(runtime)),
        shared_(std::move(shared)),
        group_(config_, *runtime_, shared_) {}

  Status Init(std::vector<io::HostPort> bootstrap) {
    return runtime_->call<Status>([this, bootstrap = std::move(bootstrap)]() mutable {
      return StartFetcher(this, std::move(bootstrap));
    });
  }

  static Task<Status> StartFetcher(Impl* self, std::vector<io::HostPort> bootstrap) {
    self->fetcher_ = std::make_shared<Fetcher>(self->runtime_->reactor(), self->config_, bootstrap,
                                               self->shared_);
    self->fetcher_->Start();
    Status group = co_await self->group_.StartOnIo(std::move(bootstrap));
    co_return group;
  }

  static Task<Status> StopFetcher(Impl* self) {
    Status group = co_await self->group_.StopOnIo();
    PermitUncheckedError(group);
    if (self->fetcher_) {
      co_await self->fetcher_->Stop();
    }
    self->fetcher_.reset();  // on the I/O thread, which owns its connections
    co_return absl::OkStatus();
  }

  ~Impl() { PermitUncheckedError(Close()); }

  // Tells the fetcher to look at the shared state again. User thread.
  void WakeFetcher() {
    std::weak_ptr<Fetcher> weak = fetcher_;
    runtime_->post([weak]() {
      if (std::shared_ptr<Fetcher> f = weak.lock()) f->Wake();
    });
  }

  Status CheckOpen() const {
    if (closed_) return absl::FailedPreconditionError("the consumer is closed");
    return absl::OkStatus();
  }

  Status Assign(std::vector<TopicPartition> partitions) {
    RETURN_IF_ERROR(CheckOpen());
    if (group_.subscribed()) {
      return absl::FailedPreconditionError(
          "assign: the consumer is subscribed to a group (unsubscribe() first)");
    }
    for (const TopicPartition& tp : partitions) {
      if (tp.topic.empty() || tp.partition < 0) {
        return absl::InvalidArgumentError(
            absl::StrFormat("assign: invalid topic partition %s", tp.ToString()));
      }
    }
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->subs.Assign(partitions);
    }
    WakeFetcher();
    group_.Wake();  // committed offsets of the new partitions
    return absl::OkStatus();
  }

  std::vector<TopicPartition> Assignment() const {
    absl::MutexLock lock(&shared_->mu);
    return shared_->subs.Assignment();
  }

  Status Seek(const TopicPartition& tp, int64_t offset) {
    RETURN_IF_ERROR(CheckOpen());
    {
      absl::MutexLock lock(&shared_->mu);
      RETURN_IF_ERROR(shared_->subs.Seek(tp, offset));
    }
    WakeFetcher();
    return absl::OkStatus();
  }

  Status Reset(const std::vector<TopicPartition>& tps, ResetKind kind) {
    RETURN_IF_ERROR(CheckOpen());
    {
      absl::MutexLock lock(&shared_->mu);
      const std::vector<TopicPartition> all =
          tps.empty() ? shared_->subs.Assignment() : std::vector<TopicPartition>();
      for (const TopicPartition& tp : tps.empty() ? all : tps) {
        if (!shared_->subs.IsAssigned(tp)) {
          return absl::FailedPreconditionError(
              absl::StrFormat("partition %s is not assigned to this consumer", tp.ToString()));
        }
      }
      for (const TopicPartition& tp : tps.empty() ? all : tps) {
        RETURN_IF_ERROR(shared_->subs.RequestReset(tp, kind));
      }
    }
    WakeFetcher();
    return absl::OkStatus();
  }

  Status SeekToTimestamp(const std::vector<TopicPartition>& tps, int64_t timestamp_ms) {
    RETURN_IF_ERROR(CheckOpen());
    std::vector<TopicPartition> targets = tps.empty() ? Assignment() : tps;
    for (const TopicPartition& tp : targets) {
      absl::MutexLock lock(&shared_->mu);
      if (!shared_->subs.IsAssigned(tp)) {
        return absl::FailedPreconditionError(
            absl::StrFormat("partition %s is not assigned to this consumer", tp.ToString()));
      }
    }
    for (const TopicPartition& tp : targets) {
      Fetcher* fetcher = fetcher_.get();
      const int64_t timeout = config_.request_timeout_ms;
      StatusOr<int64_t> offset =
          runtime_->call<StatusOr<int64_t>>([fetcher, tp, timestamp_ms, timeout]() {
            return fetcher->LookupOffset(tp, v1::OFFSET_SPEC_BY_TIMESTAMP, timestamp_ms, timeout);
          });
      RETURN_IF_ERROR(offset.status());
      absl::MutexLock lock(&shared_->mu);
      if (*offset < 0) {
        RETURN_IF_ERROR(shared_->subs.RequestReset(tp, ResetKind::kLatest));
      } else {
        RETURN_IF_ERROR(shared_->subs.Seek(tp, *offset));
      }
    }
    WakeFetcher();
    return absl::OkStatus();
  }

  StatusOr<int64_t> Position(const TopicPartition& tp) {
    RETURN_IF_ERROR(CheckOpen());
    const absl::Time deadline = absl::Now() + absl::Milliseconds(config_.request_timeout_ms);
    bool woke = false;
    absl::MutexLock lock(&shared_->mu);
    while (true) {
      RETURN_IF_ERROR(shared_->subs.EnsurePositionPending(tp));
      const consumer::PartitionState* ps = shared_->subs.Find(tp);
      if (ps->position) return *ps->position;
      if (!woke) {
        WakeFetcher();
        group_.Wake();
        woke = true;
      }
      if (shared_->changed.WaitWithDeadline(&shared_->mu, deadline)) {
        return absl::DeadlineExceededError(absl::StrFormat(
            "position of %s: no answer from the broker within request_timeout_ms (%d ms)",
            tp.ToString(), config_.request_timeout_ms));
      }
    }
  }

  StatusOr<std::pair<int64_t, int64_t>> Watermarks(const TopicPartition& tp) const {
    absl::MutexLock lock(&shared_->mu);
    const consumer::PartitionState* ps = shared_->subs.Find(tp);
    if (ps == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrFormat("partition %s is not assigned to this consumer", tp.ToString()));
    }
    return std::make_pair(ps->high_watermark, ps->log_start_offset);
  }

  StatusOr<ConsumerRecords> Poll(std::chrono::milliseconds timeout) {
    RETURN_IF_ERROR(CheckOpen());
    if (!group_.enabled()) return Collect(timeout);
    group_.RunCallbacks();
    group_.PollStarted();
    StatusOr<ConsumerRecords> out = Collect(timeout);
    group_.PollEnded();
    return out;
  }

  StatusOr<ConsumerRecords> Collect(std::chrono::milliseconds timeout) {
    const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
    const size_t max = static_cast<size_t>(config_.max_poll_records);
    const size_t limit = static_cast<size_t>(config_.prefetch_max_bytes);
    ConsumerRecords out;
    bool wake = false;
    Status result;
    {
      absl::MutexLock lock(&shared_->mu);
      consumer::SubscriptionState& subs = shared_->subs;
      while (true) {
        if (group_.enabled()) {
          result = group_.ProcessEvents();
          if (!result.ok()) break;
        }
        if (subs.Assignment().empty()) {
          if (!shared_->group.subscribed) {
            result = absl::FailedPreconditionError(
                "poll: no partition is assigned (assign() or subscribe() first)");
            break;
          }
          // Subscribed, waiting for the group's assignment.
          if (shared_->changed.WaitWithDeadline(&shared_->mu, deadline)) break;
          continue;
        }
        if (Status st = subs.EnsureAllPositionsPending(); !st.ok()) {
          result = st;
          break;
        }
        const size_t queued_before = subs.queued_bytes();
        result = subs.Collect(max, &out, SystemClock::Get().monotonic_ns());
        // The fetcher has work when positions were reset or set (here, or by the group's
        // committed-offset lookup on the I/O thread since the last look), errors re-armed a fetch,
        // a group assignment was applied, or the queue left the full state it stopped at.
        if (subs.work_epoch() != seen_epoch_ ||
            (queued_before >= limit && subs.queued_bytes() < limit)) {
          seen_epoch_ = subs.work_epoch();
          wake = true;
        }
        if (!result.ok() || !out.empty()) break;
        if (wake) {
          WakeFetcher();
          wake = false;
        }
        if (shared_->changed.WaitWithDeadline(&shared_->mu, deadline)) {
          // One last look: data may have come with the deadline (after the group's events: the
          // session may have expired while this thread waited).
          if (group_.enabled()) {
            result = group_.ProcessEvents();
            if (!result.ok()) break;
          }
          result = subs.Collect(max, &out, SystemClock::Get().monotonic_ns());
          break;
        }
      }
    }
    if (wake) WakeFetcher();
    if (!result.ok()) return result;
    return out;
  }

  Status Subscribe(std::vector<std::string> topics, std::optional<std::regex> pattern,
                   ConsumerRebalanceListener* listener) {
    RETURN_IF_ERROR(CheckOpen());
    return group_.Subscribe(std::move(topics), std::move(pattern), listener);
  }
  Status Unsubscribe() {
    RETURN_IF_ERROR(CheckOpen());
    Status st = group_.Unsubscribe();
    WakeFetcher();
    return st;
  }
  std::vector<std::string> Subscription() const { return group_.Subscription(); }
  Status CommitSync(std::optional<OffsetMap> offsets) {
    RETURN_IF_ERROR(CheckOpen());
    return group_.CommitSync(std::move(offsets));
  }
  void CommitAsync(std::optional<OffsetMap> offsets, OffsetCommitCallback callback) {
    if (Status st = CheckOpen(); !st.ok()) {
      if (callback) callback(offsets.value_or(OffsetMap()), st);
      return;
    }
    group_.CommitAsync(std::move(offsets), std::move(callback));
  }
  StatusOr<OffsetMap> Committed(const std::vector<TopicPartition>& partitions) {
    RETURN_IF_ERROR(CheckOpen());
    return group_.Committed(partitions);
  }
  std::pair<std::string, int32_t> GroupGeneration() const { return group_.Generation(); }

  Status Close() {
    if (closed_) return absl::OkStatus();
    Status left = group_.Close();  // listener, commits and LeaveGroup while still open
    closed_ = true;
    Status st = runtime_->call<Status>([this]() { return StopFetcher(this); });
    runtime_->shutdown();
    return left.ok() ? st : left;
  }

 private:
  ConsumerConfig config_;
  std::unique_ptr<client::ClientRuntime> runtime_;
  std::shared_ptr<SharedState> shared_;
  consumer::GroupClient group_;       // consumer groups (user-thread side)
  std::shared_ptr<Fetcher> fetcher_;  // created, used and destroyed on the I/O thread
  bool closed_ = false;
  uint64_t seen_epoch_ = 0;  // SubscriptionState::work_epoch() when the fetcher was last woken
};

StatusOr<std::unique_ptr<Consumer>> Consumer::Create(ConsumerConfig config) {
  RETURN_IF_ERROR(ValidateConsumerConfig(config));
  std::vector<io::HostPort> bootstrap;
  for (const std::string& s : config.bootstrap_servers) {
    ASSIGN_OR_RETURN(io::HostPort hp, io::ParseHostPort(s));
    bootstrap.push_back(std::move(hp));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<client::ClientRuntime> runtime,
                   client::ClientRuntime::Start("spool-consumer"));
  SubscriptionOptions options{.reset_policy = config.auto_offset_reset,
                              .max_partition_fetch_bytes = config.max_partition_fetch_bytes,
                              .retry_backoff_ns = int64_t{config.retry_backoff_ms} * 1'000'000,
                              .decode = consumer::DecodeOptions{.check_crcs = config.check_crcs},
                              .use_committed = !config.group_id.empty()};
  auto shared = std::make_shared<SharedState>(options);
  auto impl = std::make_unique<Impl>(std::move(config), std::move(runtime), std::move(shared));
  RETURN_IF_ERROR(impl->Init(std::move(bootstrap)));
  return std::unique_ptr<Consumer>(new Consumer(std::move(impl)));
}

Consumer::Consumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Consumer::~Consumer() {
  if (impl_) PermitUncheckedError(impl_->Close());
}

Status Consumer::assign(std::vector<TopicPartition> partitions) {
  return impl_->Assign(std::move(partitions));
}
std::vector<TopicPartition> Consumer::assignment() const {
  return impl_->Assignment();
}
Status Consumer::seek(const TopicPartition& tp, int64_t offset) {
  return impl_->Seek(tp, offset);
}
Status Consumer::seek_to_beginning(const std::vector<TopicPartition>& tps) {
  return impl_->Reset(tps, ResetKind::kEarliest);
}
Status Consumer::seek_to_end(const std::vector<TopicPartition>& tps) {
  return impl_->Reset(tps, ResetKind::kLatest);
}
Status Consumer::seek_to_timestamp(const std::vector<TopicPartition>& tps, int64_t timestamp_ms) {
  return impl_->SeekToTimestamp(tps, timestamp_ms);
}
StatusOr<int64_t> Consumer::position(const TopicPartition& tp) {
  return impl_->Position(tp);
}
StatusOr<std::pair<int64_t, int64_t>> Consumer::watermarks(const TopicPartition& tp) const {
  return impl_->Watermarks(tp);
}
StatusOr<ConsumerRecords> Consumer::poll(std::chrono::milliseconds timeout) {
  return impl_->Poll(timeout);
}
Status Consumer::close() {
  return impl_->Close();
}
Status Consumer::subscribe(std::vector<std::string> topics, ConsumerRebalanceListener* listener) {
  return impl_->Subscribe(std::move(topics), std::nullopt, listener);
}
Status Consumer::subscribe_pattern(std::string pattern, ConsumerRebalanceListener* listener) {
  // std::regex reports a bad pattern only by throwing; this is the one place that can happen.
  std::optional<std::regex> re;
  try {
    re.emplace(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(
        absl::StrFormat("subscribe_pattern: bad regular expression \"%s\": %s", pattern, e.what()));
  }
  return impl_->Subscribe({}, std::move(re), listener);
}
Status Consumer::unsubscribe() {
  return impl_->Unsubscribe();
}
std::vector<std::string> Consumer::subscription() const {
  return impl_->Subscription();
}
Status Consumer::commit_sync() {
  return impl_->CommitSync(std::nullopt);
}
Status Consumer::commit_sync(const OffsetMap& offsets) {
  return impl_->CommitSync(offsets);
}
void Consumer::commit_async(OffsetCommitCallback callback) {
  impl_->CommitAsync(std::nullopt, std::move(callback));
}
void Consumer::commit_async(const OffsetMap& offsets, OffsetCommitCallback callback) {
  impl_->CommitAsync(offsets, std::move(callback));
}
StatusOr<OffsetMap> Consumer::committed(const std::vector<TopicPartition>& partitions) {
  return impl_->Committed(partitions);
}
std::pair<std::string, int32_t> Consumer::group_generation() const {
  return impl_->GroupGeneration();
}

}  // namespace spool
