// ReplicaFetcher (replica_fetcher.h).
#include "broker/replica_fetcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/replica_fetch_partition.h"
#include "broker/request_log.h"
#include "common/io/when_all.h"
#include "proto/body.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;

// How soon a partition is fetched again after an answer that means the two brokers' metadata
// differ for a moment (see HandlePartition).
constexpr int64_t kMetadataLagRetryMs = 20;
constexpr std::chrono::milliseconds kConnectTimeout{3000};

ReplicaFetcher::ReplicaFetcher(PartitionManager& partitions, const BrokerConfig& config,
                               RequestTimers& timers, const std::atomic<int64_t>& broker_epoch,
                               int32_t leader)
    : partitions_(partitions),
      config_(config),
      timers_(timers),
      broker_epoch_(broker_epoch),
      leader_(leader),
      reactor_(*io::Reactor::current()),
      wake_(std::make_shared<io::Notifier>(reactor_)),
      done_(reactor_) {}

ReplicaFetcher::~ReplicaFetcher() = default;

void ReplicaFetcher::Add(std::shared_ptr<Partition> p, int32_t leader_epoch) {
  Remove(p.get());
  Entry e;
  e.partition = std::move(p);
  e.leader_epoch = leader_epoch;
  e.generation = next_generation_++;
  entries_.push_back(std::move(e));
  wake_->notify_all();
}

void ReplicaFetcher::Remove(const Partition* p) {
  std::erase_if(entries_, [p](const Entry& e) { return e.partition.get() == p; });
}

ReplicaFetcher::Entry* ReplicaFetcher::Find(const Partition* p, uint64_t generation) {
  for (Entry& e : entries_) {
    if (e.partition.get() == p && e.generation == generation) return &e;
  }
  return nullptr;
}

void ReplicaFetcher::Start() {
  if (running_ || stopping_) return;
  running_ = true;
  reactor_.spawn(Loop());
}

Task<void> ReplicaFetcher::Stop() {
  stopping_ = true;
  wake_->notify_all();
  if (conn_ != nullptr) {
    std::shared_ptr<client::BrokerConnection> conn = conn_;
    co_await conn->close();
  }
  while (running_) co_await done_.wait();
}

Task<void> ReplicaFetcher::Pause(int64_t until_ns) {
  if (stopping_) co_return;
  std::shared_ptr<io::Notifier> wake = wake_;
  const RequestTimers::Id timer = timers_.Arm(until_ns, [wake] { wake->notify_all(); });
  co_await wake->wait();
  timers_.Cancel(timer);
}

Task<void> ReplicaFetcher::Loop() {
  const int64_t backoff_ns = config_.replica_fetch_backoff_ms * 1'000'000;
  while (!stopping_) {
    std::erase_if(entries_, [](const Entry& e) { return e.partition->closed(); });
    if (entries_.empty()) {
      co_await wake_->wait();
      continue;
    }
    Status st = co_await FetchOnce();
    if (!st.ok() && !stopping_) {
      LogRateLimited(LogKind::kStorage, absl::StrCat("replica fetch from broker=", leader_,
                                                     " failed error=\"", st.ToString(), "\""));
      if (conn_ != nullptr && conn_->broken()) conn_ = nullptr;
      const int64_t until = RequestTimers::NowNs() + backoff_ns;
      co_await Pause(until);
    }
  }
  if (conn_ != nullptr) {
    std::shared_ptr<client::BrokerConnection> conn = std::move(conn_);
    co_await conn->close();
  }
  running_ = false;
  done_.notify_all();
}

Task<Status> ReplicaFetcher::Connect() {
  std::shared_ptr<const BrokerList> brokers = partitions_.Brokers();
  const BrokerInfo* where = nullptr;
  if (brokers != nullptr) {
    for (const BrokerInfo& b : *brokers) {
      if (b.id == leader_) where = &b;
    }
  }
  if (where == nullptr) {
    co_return absl::UnavailableError(absl::StrCat("leader broker ", leader_, " is not live"));
  }
  client::ConnectionOptions options;
  // A leader that does not answer is retried after the backoff; a short connect timeout also
  // bounds how long Stop() waits for a connect in progress (it cannot interrupt one).
  options.connect_timeout = kConnectTimeout;
  options.client_id = absl::StrCat("spool-replica-", config_.node_id);
  options.max_in_flight = 1;
  io::HostPort target{where->host, static_cast<uint16_t>(where->port)};
  StatusOr<std::unique_ptr<client::BrokerConnection>> conn =
      co_await client::BrokerConnection::Connect(reactor_, target, options);
  CO_RETURN_IF_ERROR(conn.status());
  conn_ = std::shared_ptr<client::BrokerConnection>(*std::move(conn));
  co_return Status();
}

Task<Status> ReplicaFetcher::FetchOnce() {
  if (conn_ == nullptr || conn_->broken()) {
    conn_ = nullptr;
    CO_RETURN_IF_ERROR(co_await Connect());
  }
  const int64_t now = RequestTimers::NowNs();
  v1::FetchRequest request;
  request.set_replica_id(config_.node_id);
  request.set_replica_epoch(std::max<int64_t>(1, broker_epoch_.load()));
  request.set_max_wait_ms(config_.replica_fetch_wait_max_ms);
  request.set_min_bytes(1);
  request.set_max_bytes(config_.replica_fetch_response_max_bytes);
  struct Sent {
    const Partition* partition;
    uint64_t generation;
  };
  std::vector<Sent> sent;
  std::map<std::string, v1::FetchTopic*> by_topic;
  int64_t next_retry = INT64_MAX;
  // Under flush.policy=durable the fetch offset tells the leader what this replica has made
  // durable: sync what is not yet (the tail a former leader wrote, or an earlier failed wait).
  for (Entry& e : entries_) {
    Partition& p = *e.partition;
    if (e.retry_at_ns > now || p.closed() ||
        p.config().log.flush_policy != log::FlushPolicy::kGroupCommit ||
        p.log().durable_end_offset() >= p.log_end_offset()) {
      continue;
    }
    std::shared_ptr<Partition> keep = e.partition;
    const uint64_t generation = e.generation;  // `e` may be gone once the wait returns
    const Offset last = p.log_end_offset() - 1;
    Status st = co_await keep->log().wait_durable(last);
    if (!st.ok()) {
      Entry* again = Find(keep.get(), generation);
      if (again != nullptr) again->retry_at_ns = now + config_.replica_fetch_backoff_ms * 1'000'000;
    }
    break;  // entries_ may have changed while waiting: build the request on the next round
  }
  for (const Entry& e : entries_) {
    Partition& p = *e.partition;
    if (e.retry_at_ns > now || (p.config().log.flush_policy == log::FlushPolicy::kGroupCommit &&
                                p.log().durable_end_offset() < p.log_end_offset())) {
      next_retry = std::min(next_retry, std::max(e.retry_at_ns, now));
      continue;
    }
    v1::FetchTopic*& t = by_topic[p.topic()];
    if (t == nullptr) {
      t = request.add_topics();
      t->set_name(p.topic());
    }
    v1::FetchPartition* fp = t->add_partitions();
    fp->set_partition(p.index());
    fp->set_fetch_offset(p.log_end_offset().value());
    fp->set_partition_max_bytes(config_.replica_fetch_max_bytes);
    fp->set_current_leader_epoch(e.leader_epoch);
    std::optional<log::LeaderEpochEntry> latest = p.log().latest_epoch();
    fp->set_last_fetched_epoch(latest.has_value() ? latest->epoch : -1);
    fp->set_log_start_offset(p.log_start_offset().value());
  }
  if (request.topics_size() == 0) {
    co_await Pause(next_retry);
    co_return Status();
  }
  // The order in which the answer lists the partitions: the request's.
  for (const v1::FetchTopic& t : request.topics()) {
    for (const v1::FetchPartition& fp : t.partitions()) {
      for (const Entry& e : entries_) {
        if (e.partition->topic() == t.name() && e.partition->index() == fp.partition()) {
          sent.push_back(Sent{e.partition.get(), e.generation});
        }
      }
    }
  }
  std::shared_ptr<client::BrokerConnection> conn = conn_;
  const std::chrono::milliseconds timeout(config_.replica_fetch_wait_max_ms + 30000);
  const std::span<const std::span<const std::byte>> no_payload;
  const std::optional<std::chrono::milliseconds> call_timeout = timeout;
  StatusOr<client::Reply> reply =
      co_await conn->call(proto::ApiKey::API_KEY_FETCH, request, no_payload, call_timeout);
  CO_RETURN_IF_ERROR(reply.status());
  const auto& response = reply->as<v1::FetchResponse>();
  if (response.error_code() != ErrorCode::NONE) {
    co_return proto::ErrorToStatus(response.error_code(), "replica fetch refused");
  }
  StatusOr<std::vector<proto::PartitionPayload>> payloads =
      proto::SplitPayload(response, reply->frame.payload());
  CO_RETURN_IF_ERROR(payloads.status());
  // The partitions' answers are applied concurrently: each appends and waits for its own
  // fdatasync, so one round costs one (overlapping) sync, not one per partition in turn. (Each
  // partition's steps stay in order: one fetch of this fetcher is in flight at a time.)
  std::vector<Task<void>> work;
  size_t k = 0;
  size_t n = 0;
  for (const v1::FetchTopicResponse& t : response.topics()) {
    for (const v1::FetchPartitionResponse& pr : t.partitions()) {
      const std::span<const std::byte> data =
          n < payloads->size() ? (*payloads)[n].bytes : std::span<const std::byte>();
      n++;
      if (k >= sent.size()) break;
      const Sent s = sent[k++];
      Entry* e = Find(s.partition, s.generation);
      if (e == nullptr || e->partition->closed()) continue;  // removed or moved meanwhile
      Entry copy = *e;
      work.push_back(HandlePartition(std::move(copy), pr, data));
    }
  }
  co_await io::WhenAll(reactor_, std::move(work));
  co_return Status();
}

Task<void> ReplicaFetcher::HandlePartition(Entry entry, const v1::FetchPartitionResponse& answer,
                                           std::span<const std::byte> data) {
  Partition& p = *entry.partition;
  const std::string name = absl::StrCat(p.topic(), "-", p.index());
  ReplicaFetchAnswer a;
  a.error = answer.error_code();
  a.high_watermark = answer.high_watermark();
  a.log_start_offset = answer.log_start_offset();
  if (answer.has_diverging_epoch()) {
    a.diverging = log::EpochEndOffset{answer.diverging_epoch().epoch(),
                                      Offset(answer.diverging_epoch().end_offset())};
  }
  const FollowerOutcome out = co_await ApplyReplicaFetchAnswer(p, entry.leader_epoch, a, data);
  switch (out.action) {
    case FollowerAction::kRestarted:
      LogInfo(absl::StrCat("partition=", name, " log end ", out.end_before.value(),
                           " is below the leader's log start ", out.offset.value(),
                           ": starting over there"));
      break;
    case FollowerAction::kCutToHighWatermark:
      LogInfo(absl::StrCat("partition=", name, " log end ", out.end_before.value(),
                           " is past the leader's: truncating to its HW ", out.offset.value()));
      break;
    case FollowerAction::kTruncated:
      LogInfo(absl::StrCat("partition=", name, " diverges from leader broker=", leader_,
                           " at epoch ", a.diverging->epoch, ": truncating from ",
                           out.end_before.value(), " to ", out.offset.value()));
      break;
    case FollowerAction::kFailed:
      if (a.error != ErrorCode::NONE) {
        LogRateLimited(LogKind::kStorage, absl::StrCat("replica fetch partition=", name,
                                                       " error=", static_cast<int>(a.error)));
      } else if (!out.appended.has_value()) {
        LogRateLimited(LogKind::kStorage, absl::StrCat("replica append partition=", name,
                                                       " error=\"", out.status.ToString(), "\""));
      }  // else the wait for durability failed: just back off
      break;
    default:
      break;
  }
  Entry* e = Find(entry.partition.get(), entry.generation);
  if (e == nullptr) co_return;
  if (out.action == FollowerAction::kMetadataLag) {
    // The leader (or this broker) has not applied the same metadata yet: that takes
    // milliseconds, so ask again soon rather than after the whole backoff (a new partition's
    // first acks=all would otherwise wait for it).
    e->retry_at_ns =
        RequestTimers::NowNs() +
        std::min<int64_t>(config_.replica_fetch_backoff_ms, kMetadataLagRetryMs) * 1'000'000;
  } else if (out.backoff) {
    e->retry_at_ns = RequestTimers::NowNs() + config_.replica_fetch_backoff_ms * 1'000'000;
  }
}

}  // namespace spool::broker
