// The I/O-thread half of the producer: the sender loop, Produce requests and their responses,
// retries with backoff, expiry, and metadata refresh (producer_impl.h).
#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "producer/producer_impl.h"
#include "proto/errors.h"

namespace spool {
namespace {

using producer::PartitionQueue;
using producer::ProducerBatch;
using producer::TopicState;

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int64_t NowNs() {
  return SystemClock::Get().monotonic_ns();
}

// Errors after which the leader or the topic may have changed: refresh before retrying.
bool MetadataStale(proto::ErrorCode code) {
  switch (code) {
    case proto::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION:
    case proto::ErrorCode::LEADER_NOT_AVAILABLE:
    case proto::ErrorCode::NOT_LEADER_OR_FOLLOWER:
    case proto::ErrorCode::NETWORK_EXCEPTION:
    case proto::ErrorCode::BROKER_NOT_AVAILABLE:
    case proto::ErrorCode::FENCED_LEADER_EPOCH:
    case proto::ErrorCode::UNKNOWN_LEADER_EPOCH:
    case proto::ErrorCode::REQUEST_TIMED_OUT:
      return true;
    default:
      return false;
  }
}

}  // namespace

void Producer::Impl::MarkDirty() {
  dirty = true;
  wake->notify_all();
}

void Producer::Impl::ArmTimer(int64_t at_ns) {
  if (at_ns == kNever) return;
  if (timer_at_ns != 0 && timer_at_ns <= at_ns) return;  // an earlier timer will do
  timer_at_ns = at_ns;
  runtime->reactor().spawn([](Impl* self, int64_t at) -> Task<void> {
    co_await self->runtime->reactor().sleep_for(std::chrono::nanoseconds(at - NowNs()));
    if (self->timer_at_ns == at) self->timer_at_ns = 0;
    self->MarkDirty();
  }(this, at_ns));
}

Task<void> Producer::Impl::SenderLoop() {
  for (;;) {
    while (!dirty) co_await wake->wait();
    dirty = false;
    wake_posted.store(false);  // appends from here on post a new wake-up
    int64_t next = Drain();
    ArmTimer(next);
  }
}

int64_t Producer::Impl::Drain() {
  if (stopping) return kNever;
  const int64_t now = NowNs();
  int64_t next = kNever;
  const bool force = flushing.load() > 0 || closing.load();
  const size_t max_bytes = static_cast<size_t>(config.max_request_size);
  std::vector<std::unique_ptr<ProducerBatch>> expired;
  std::map<int32_t, std::vector<std::unique_ptr<ProducerBatch>>> per_node;
  std::map<int32_t, size_t> node_bytes;
  bool need_metadata = false;

  for (TopicState* t : io_topics) {
    const client::TopicInfo* info = cluster->topic(t->name());
    const int32_t n = t->num_partitions();
    for (int32_t p = 0; p < n; ++p) {
      PartitionQueue& q = t->partition(p);
      if (q.SealIfDue(now, force, &next)) t->sticky().on_batch_closed(p, n);
      q.TakeExpired(now - delivery_timeout_ns, delivery_timeout_ns, &expired, &next);
      int32_t leader = -1;
      if (info != nullptr && static_cast<size_t>(p) < info->partitions.size()) {
        leader = info->partitions[static_cast<size_t>(p)].leader_id;
      }
      if (leader < 0 || !cluster->broker(leader).has_value()) {
        if (!q.idle()) need_metadata = true;
        continue;
      }
      if (auto suspect = node_suspect.find(leader); suspect != node_suspect.end()) {
        if (suspect->second > metadata_answered) continue;  // the refresh will MarkDirty()
        node_suspect.erase(suspect);  // still the leader after a refresh: try it again
      }
      if (aborting || node_in_flight[leader] >= config.max_in_flight_requests_per_connection) {
        continue;
      }
      if (idempotent && producer_id < 0) {
        // Nothing goes out before the producer has its id (sender_idempotence.cc).
        if (!q.idle()) RequestProducerId();
        continue;
      }
      // After a producer id change, new batches wait for the partition's batches stamped with
      // the old id, so a retried old batch cannot land after a new one.
      const bool hold_new =
          idempotent && q.sequences.producer_id != producer_id && !q.sequences.unacked.empty();
      std::vector<std::unique_ptr<ProducerBatch>>& batches = per_node[leader];
      size_t& bytes = node_bytes[leader];
      size_t before = batches.size();
      q.TakeSendable(now, bytes >= max_bytes ? 0 : max_bytes - bytes, &batches, &next, hold_new);
      for (size_t i = before; i < batches.size(); ++i) {
        if (idempotent) Stamp(*batches[i]);
        bytes += batches[i]->bytes.size();
      }
    }
  }
  for (auto& b : expired) {
    int64_t age_ms = (now - b->created_ns) / 1'000'000;
    if (b->last_error.ok() && !producer_id_error.ok()) b->last_error = producer_id_error;
    Status st = absl::DeadlineExceededError(
        absl::StrCat("expiring ", b->records(), " record(s) for ", *b->topic, "-", b->partition,
                     ": ", age_ms, " ms since the batch was created (delivery_timeout_ms)",
                     b->last_error.ok() ? "" : "; last error: ", b->last_error.ToString()));
    Failed(std::move(b), st, /*was_sent=*/false);
  }
  for (auto& [node, batches] : per_node) {
    if (batches.empty()) continue;
    ++node_in_flight[node];
    ++requests_in_flight;
    runtime->reactor().spawn(SendRequest(node, std::move(batches)));
  }
  // metadata.max.age.ms: refresh now and then even without errors (new leaders, brokers).
  if (need_metadata || (!io_topics.empty() && cluster->metadata_stale())) RequestMetadata();
  return next;
}

Task<void> Producer::Impl::SendRequest(int32_t node,
                                       std::vector<std::unique_ptr<ProducerBatch>> batches) {
  // One request entry per (topic, partition); batches of one partition are adjacent and in
  // order, and their bytes go back to back in that entry's payload.
  struct Entry {
    size_t first = 0;
    size_t count = 0;
  };
  // A batch that could not be sealed (a record the codec refused) fails here, never retried.
  std::erase_if(batches, [this](std::unique_ptr<ProducerBatch>& b) {
    if (b->seal_status.ok()) return false;
    Status why = b->seal_status;
    Failed(std::move(b), why, /*was_sent=*/true);
    return true;
  });
  if (batches.empty()) {
    --node_in_flight[node];
    --requests_in_flight;
    MarkDirty();
    co_return;
  }
  v1::ProduceRequest request;
  request.set_acks(config.acks);
  request.set_timeout_ms(config.request_timeout_ms);
  std::vector<std::span<const std::byte>> payload;
  std::vector<Entry> entries;
  v1::TopicProduceData* topic = nullptr;
  v1::PartitionProduceData* part = nullptr;
  for (size_t i = 0; i < batches.size(); ++i) {
    ProducerBatch& b = *batches[i];
    if (topic == nullptr || topic->name() != *b.topic) {
      topic = request.add_topics();
      topic->set_name(*b.topic);
      part = nullptr;
    }
    if (part == nullptr || part->partition() != b.partition) {
      part = topic->add_partitions();
      part->set_partition(b.partition);
      entries.push_back(Entry{i, 0});
    }
    part->set_payload_bytes(part->payload_bytes() + static_cast<uint32_t>(b.bytes.size()));
    payload.push_back(b.bytes);
    ++entries.back().count;
  }

  Status failure;
  StatusOr<client::Reply> reply = absl::UnknownError("not sent");
  StatusOr<std::shared_ptr<client::BrokerConnection>> conn =
      absl::CancelledError("producer is closing");
  if (!stopping) conn = co_await cluster->connection(node);
  if (!conn.ok()) {
    failure = conn.status();
  } else if (config.acks == 0) {
    Status st = co_await (*conn)->send(proto::ApiKey::API_KEY_PRODUCE, request, payload);
    if (!st.ok()) failure = st;
  } else {
    reply = co_await (*conn)->call(proto::ApiKey::API_KEY_PRODUCE, request, payload);
    if (!reply.ok()) failure = reply.status();
  }

  if (!failure.ok()) {
    // The broker may be gone or cut off: ask where the partitions are before sending it more.
    RequestMetadata();
    node_suspect[node] = metadata_asked;
    for (auto& b : batches) Retry(std::move(b), failure);
  } else if (config.acks == 0) {
    for (auto& b : batches) Delivered(std::move(b), -1, -1);
  } else {
    const auto& response = reply->as<v1::ProduceResponse>();
    for (const Entry& e : entries) {
      const ProducerBatch& first = *batches[e.first];
      const v1::PartitionProduceResponse* found = nullptr;
      for (const v1::TopicProduceResponse& t : response.topics()) {
        if (t.name() != *first.topic) continue;
        for (const v1::PartitionProduceResponse& pr : t.partitions()) {
          if (pr.partition() == first.partition) found = &pr;
        }
      }
      if (found == nullptr) {
        Status st = proto::ErrorToStatus(
            proto::ErrorCode::UNKNOWN,
            absl::StrCat("no produce response for ", *first.topic, "-", first.partition));
        for (size_t i = 0; i < e.count; ++i) Failed(std::move(batches[e.first + i]), st, true);
        continue;
      }
      if (found->error_code() == proto::ErrorCode::DUPLICATE_SEQUENCE_NUMBER) {
        // Already appended by an earlier attempt; the broker did not say where (offsets -1).
        for (size_t i = 0; i < e.count; ++i) Delivered(std::move(batches[e.first + i]), -1, -1);
        continue;
      }
      if (found->error_code() != proto::ErrorCode::NONE) {
        Status st = proto::ErrorToStatus(
            found->error_code(),
            absl::StrCat(*first.topic, "-", first.partition, ": ", found->error_message()));
        for (size_t i = 0; i < e.count; ++i) Retry(std::move(batches[e.first + i]), st);
        continue;
      }
      // The broker appends the entry's batches back to back from base_offset.
      int64_t offset = found->base_offset();
      for (size_t i = 0; i < e.count; ++i) {
        std::unique_ptr<ProducerBatch>& b = batches[e.first + i];
        int64_t records = static_cast<int64_t>(b->records());
        Delivered(std::move(b), offset, found->log_append_time_ms());
        offset += records;
      }
    }
  }
  --node_in_flight[node];
  --requests_in_flight;
  MarkDirty();
}

void Producer::Impl::Delivered(std::unique_ptr<ProducerBatch> batch, int64_t base_offset,
                               int64_t log_append_time_ms) {
  batch->queue->OnSendDone(/*delivered=*/true);
  SequenceDone(*batch, /*delivered=*/true);
  batch->Complete(base_offset, log_append_time_ms);
  budget.Release(batch->reserved_bytes);
  tracker.Done(batch->id);
}

void Producer::Impl::Failed(std::unique_ptr<ProducerBatch> batch, const Status& status,
                            bool was_sent) {
  if (was_sent) batch->queue->OnSendDone(/*delivered=*/false);
  SequenceDone(*batch, /*delivered=*/false);
  batch->Fail(status);
  budget.Release(batch->reserved_bytes);
  tracker.Done(batch->id);
}

void Producer::Impl::Retry(std::unique_ptr<ProducerBatch> batch, const Status& status) {
  const proto::ErrorCode code = proto::ErrorFromStatus(status);
  const int64_t now = NowNs();
  const bool expired = now >= batch->created_ns + delivery_timeout_ns;
  const bool retriable = proto::IsRetriable(code) || RetryInOrder(*batch, code);
  if (aborting || stopping || !retriable || batch->attempts >= config.retries || expired) {
    Failed(std::move(batch), status, /*was_sent=*/true);
    return;
  }
  if (MetadataStale(code)) RequestMetadata();
  batch->last_error = status;
  ++batch->attempts;
  batch->retry_at_ns = now + retry_backoff_ns;
  PartitionQueue* q = batch->queue;
  q->Requeue(std::move(batch));
  ArmTimer(now + retry_backoff_ns);
}

void Producer::Impl::AbortQueued(const Status& why) {
  aborting = true;
  std::vector<std::unique_ptr<ProducerBatch>> all;
  for (TopicState* t : io_topics) {
    for (int32_t p = 0; p < t->num_partitions(); ++p) t->partition(p).TakeAll(&all);
  }
  for (auto& b : all) Failed(std::move(b), why, /*was_sent=*/false);
}

void Producer::Impl::RequestMetadata() {
  if (stopping) return;
  metadata_asked++;
  metadata_wanted = true;
  if (metadata_running) return;
  metadata_running = true;
  runtime->reactor().spawn(MetadataLoop());
}

Task<void> Producer::Impl::MetadataLoop() {
  while (metadata_wanted && !stopping) {
    metadata_wanted = false;
    const uint64_t covers = metadata_asked;  // every request so far is answered by this refresh
    std::vector<std::string> names;
    for (TopicState* t : io_topics) names.push_back(t->name());
    {
      std::lock_guard lock(meta_mu);
      for (const auto& [name, count] : wanted) {
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      }
    }
    if (names.empty()) {
      metadata_answered = std::max(metadata_answered, covers);  // nothing to ask: nothing held
      break;
    }
    Status st = co_await cluster->refresh(names);
    metadata_answered = std::max(metadata_answered, covers);
    ApplyMetadata(st);
    MarkDirty();
    // Refreshes are at least retry_backoff apart; topics still awaited are asked for again.
    co_await runtime->reactor().sleep_for(std::chrono::nanoseconds(retry_backoff_ns));
    std::lock_guard lock(meta_mu);
    for (const auto& [name, count] : wanted) {
      bool known = false;
      for (TopicState* t : io_topics) known = known || t->name() == name;
      if (!known) metadata_wanted = true;
    }
  }
  metadata_running = false;
}

void Producer::Impl::ApplyMetadata(const Status& refreshed) {
  std::vector<std::string> asked;
  {
    std::lock_guard lock(meta_mu);
    for (const auto& [name, count] : wanted) asked.push_back(name);
  }
  std::map<std::string, Status> errors;
  for (const std::string& name : asked) {
    bool known = false;
    for (TopicState* t : io_topics) known = known || t->name() == name;
    if (known) continue;
    const client::TopicInfo* info = cluster->topic(name);
    if (!refreshed.ok()) {
      errors[name] = refreshed;
    } else if (info == nullptr) {
      errors[name] = proto::ErrorToStatus(proto::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                                          absl::StrCat("topic ", name, " not in the metadata"));
    } else if (info->error != proto::ErrorCode::NONE || info->partitions.empty()) {
      errors[name] = proto::ErrorToStatus(info->error == proto::ErrorCode::NONE
                                              ? proto::ErrorCode::LEADER_NOT_AVAILABLE
                                              : info->error,
                                          absl::StrCat("topic ", name));
    } else {
      auto state = std::make_unique<TopicState>(name, static_cast<int32_t>(info->partitions.size()),
                                                accumulator, sticky_seed.fetch_add(0x9e37));
      io_topics.push_back(state.get());
      std::lock_guard lock(topics_mu);
      topics.emplace(name, std::move(state));
    }
  }
  {
    std::lock_guard lock(meta_mu);
    for (auto& [name, st] : errors) topic_errors[name] = st;
  }
  meta_cv.notify_all();
}

}  // namespace spool
