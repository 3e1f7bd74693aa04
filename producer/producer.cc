// The user-facing half of the producer: config checks, send(), flush(), close(), and waiting
// for a new topic's metadata (producer_impl.h).
#include "producer/producer.h"

#include <limits>
#include <thread>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "producer/idempotence.h"
#include "producer/partitioner.h"
#include "producer/producer_impl.h"
#include "proto/errors.h"

namespace spool {
namespace {

using producer::TopicState;
using SteadyTime = std::chrono::steady_clock::time_point;

// Upper bound of a record's encoded size inside a batch: the varint fields (length,
// attributes, timestamp and offset deltas, key and value lengths, header count) need at most
// 5 + 1 + 10 + 5 + 5 + 5 + 5 bytes, and each header two more length varints.
constexpr int64_t kRecordOverhead = 36;
constexpr int64_t kHeaderOverhead = 10;

int64_t EstimateSize(const ProducerRecord& r) {
  int64_t n = kRecordOverhead;
  if (r.key) n += static_cast<int64_t>(r.key->size());
  if (r.value) n += static_cast<int64_t>(r.value->size());
  for (const RecordHeader& h : r.headers) {
    n += kHeaderOverhead + static_cast<int64_t>(h.key.size()) +
         (h.value ? static_cast<int64_t>(h.value->size()) : 0);
  }
  return n;
}

std::optional<std::span<const std::byte>> Bytes(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  return std::as_bytes(std::span<const char>(s->data(), s->size()));
}

SteadyTime DeadlineAfter(std::chrono::milliseconds d) {
  // Saturates: "no deadline" is ten years, far below the clock's range.
  constexpr auto kFar = std::chrono::hours(24 * 365 * 10);
  return std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(d, kFar);
}

record::Compression ToCodec(CompressionType c) {
  switch (c) {
    case CompressionType::kNone:
      return record::Compression::kNone;
    case CompressionType::kLz4:
      return record::Compression::kLz4;
    case CompressionType::kZstd:
      return record::Compression::kZstd;
  }
  return record::Compression::kNone;
}

Status Invalid(const char* key, const char* why) {
  return absl::InvalidArgumentError(absl::StrCat("producer config ", key, ": ", why));
}

Status Validate(const ProducerConfig& c) {
  if (c.acks != 0 && c.acks != 1 && c.acks != -1) return Invalid("acks", "must be 0, 1 or -1");
  if (c.linger_ms < 0) return Invalid("linger_ms", "must be >= 0");
  if (c.batch_size <= 0) return Invalid("batch_size", "must be > 0");
  if (c.buffer_memory < c.batch_size) return Invalid("buffer_memory", "must be >= batch_size");
  if (c.max_block_ms < 0) return Invalid("max_block_ms", "must be >= 0");
  if (c.request_timeout_ms <= 0) return Invalid("request_timeout_ms", "must be > 0");
  if (c.delivery_timeout_ms < c.linger_ms + c.request_timeout_ms) {
    // Kafka's rule: a batch must be able to wait for linger and one request.
    return Invalid("delivery_timeout_ms", "must be >= linger_ms + request_timeout_ms");
  }
  if (c.retries < 0) return Invalid("retries", "must be >= 0");
  if (c.retry_backoff_ms < 0) return Invalid("retry_backoff_ms", "must be >= 0");
  if (c.max_in_flight_requests_per_connection <= 0) {
    return Invalid("max_in_flight_requests_per_connection", "must be > 0");
  }
  if (c.max_request_size <= 0) return Invalid("max_request_size", "must be > 0");
  return producer::ResolveIdempotence(c).status();
}

bool Idempotent(const ProducerConfig& c) {
  StatusOr<bool> on = producer::ResolveIdempotence(c);
  return on.ok() && *on;
}

}  // namespace

Producer::Impl::Impl(ProducerConfig c)
    : config(std::move(c)),
      idempotent(Idempotent(config)),
      accumulator{.batch_size = static_cast<size_t>(config.batch_size),
                  .linger_ns = int64_t{config.linger_ms} * 1'000'000,
                  .compression = ToCodec(config.compression),
                  .max_in_flight_batches = idempotent ? producer::kMaxInFlightWithIdempotence
                                                      : std::numeric_limits<int>::max()},
      linger_ns(int64_t{config.linger_ms} * 1'000'000),
      delivery_timeout_ns(int64_t{config.delivery_timeout_ms} * 1'000'000),
      retry_backoff_ns(int64_t{config.retry_backoff_ms} * 1'000'000),
      budget(config.buffer_memory) {}

StatusOr<std::unique_ptr<Producer>> Producer::Create(ProducerConfig config) {
  RETURN_IF_ERROR(Validate(config));
  ASSIGN_OR_RETURN(std::vector<io::HostPort> bootstrap,
                   client::ParseBootstrap(config.bootstrap_servers));
  auto impl = std::make_unique<Impl>(std::move(config));
  ASSIGN_OR_RETURN(impl->runtime, client::ClientRuntime::Start("spool-producer"));
  client::ClusterOptions options;
  options.bootstrap = std::move(bootstrap);
  options.connection.client_id = impl->config.client_id;
  // The broker waits up to request_timeout_ms for acks; the client waits a little longer so the
  // broker's REQUEST_TIMED_OUT answer arrives rather than a client-side timeout.
  options.connection.request_timeout =
      std::chrono::milliseconds(impl->config.request_timeout_ms + 1000);
  options.connection.max_in_flight = impl->config.max_in_flight_requests_per_connection;
  options.retry_backoff = std::chrono::milliseconds(impl->config.retry_backoff_ms);
  options.metadata_max_age = std::chrono::milliseconds(impl->config.metadata_max_age_ms);
  Impl* self = impl.get();
  Status started = self->runtime->call<Status>([self, options]() -> Task<Status> {
    self->cluster = std::make_unique<client::Cluster>(self->runtime->reactor(), options);
    self->wake = std::make_unique<io::Notifier>(self->runtime->reactor());
    self->runtime->reactor().spawn(self->SenderLoop());
    co_return absl::OkStatus();
  });
  RETURN_IF_ERROR(started);
  return std::unique_ptr<Producer>(new Producer(std::move(impl)));
}

Producer::Producer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Producer::~Producer() {
  close();
}

Status Producer::send(const ProducerRecord& record, SendCallback callback) {
  return impl_->Send(record, std::move(callback));
}

std::future<StatusOr<RecordMetadata>> Producer::send(const ProducerRecord& record) {
  auto promise = std::make_shared<std::promise<StatusOr<RecordMetadata>>>();
  std::future<StatusOr<RecordMetadata>> future = promise->get_future();
  Status st = impl_->Send(
      record, [promise](StatusOr<RecordMetadata> m) { promise->set_value(std::move(m)); });
  if (!st.ok()) promise->set_value(st);
  return future;
}

void Producer::flush() {
  impl_->Flush();
}
void Producer::close(std::chrono::milliseconds timeout) {
  impl_->Close(timeout);
}

void Producer::Impl::WakeSender() {
  if (wake_posted.exchange(true)) return;
  if (!runtime->post([this] { MarkDirty(); })) wake_posted.store(false);
}

StatusOr<TopicState*> Producer::Impl::FindTopic(const std::string& topic, SteadyTime deadline) {
  auto lookup = [&]() -> TopicState* {
    std::shared_lock lock(topics_mu);
    auto it = topics.find(topic);
    return it == topics.end() ? nullptr : it->second.get();
  };
  if (TopicState* t = lookup()) return t;
  {
    std::lock_guard lock(meta_mu);
    ++wanted[topic];
    topic_errors.erase(topic);
  }
  runtime->post([this] { RequestMetadata(); });
  TopicState* found = nullptr;
  Status last;
  {
    std::unique_lock lock(meta_mu);
    meta_cv.wait_until(lock, deadline, [&] {
      found = lookup();
      return found != nullptr || closing.load();
    });
    if (--wanted[topic] == 0) wanted.erase(topic);
    if (auto it = topic_errors.find(topic); it != topic_errors.end()) last = it->second;
  }
  if (found != nullptr) return found;
  if (closing.load()) return absl::FailedPreconditionError("producer is closed");
  std::string why = absl::StrCat("topic ", topic, " not present in metadata after ",
                                 config.max_block_ms, " ms (max_block_ms)");
  if (last.ok()) return absl::DeadlineExceededError(why);
  return proto::ErrorToStatus(proto::ErrorFromStatus(last),
                              absl::StrCat(why, ": ", last.message()));
}

Status Producer::Impl::Send(const ProducerRecord& record, SendCallback callback) {
  // Counted so close() can wait for sends that are past the closing check.
  active_sends.fetch_add(1);
  struct Leave {
    std::atomic<int>& n;
    ~Leave() { n.fetch_sub(1); }
  } leave{active_sends};
  if (closing.load()) return absl::FailedPreconditionError("producer is closed");
  const SteadyTime deadline = DeadlineAfter(std::chrono::milliseconds(config.max_block_ms));

  const int64_t size = EstimateSize(record);
  if (size > config.max_request_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "record of ", size, " bytes is over max_request_size (", config.max_request_size, ")"));
  }
  if (size > config.buffer_memory) {
    return absl::InvalidArgumentError(absl::StrCat(
        "record of ", size, " bytes is over buffer_memory (", config.buffer_memory, ")"));
  }
  ASSIGN_OR_RETURN(TopicState * topic, FindTopic(record.topic, deadline));
  const int32_t n = topic->num_partitions();
  int32_t partition;
  if (record.partition) {
    partition = *record.partition;
  } else if (config.partitioner) {
    partition = config.partitioner(record, n);
  } else if (record.key) {
    partition = producer::KeyPartition(*record.key, n);
  } else {
    partition = topic->sticky().current(n);
  }
  if (partition < 0 || partition >= n) {
    return absl::InvalidArgumentError(absl::StrCat("partition ", partition, " of topic ",
                                                   record.topic, " does not exist (", n,
                                                   " partitions)"));
  }
  RETURN_IF_ERROR(budget.Reserve(size, config.block_on_buffer_full, deadline));

  absl::InlinedVector<record::Header, 4> headers;
  for (const RecordHeader& h : record.headers) {
    headers.push_back(record::Header{h.key, Bytes(h.value)});
  }
  const int64_t timestamp = record.timestamp.value_or(SystemClock::Get().wall_ms());
  producer::PartitionQueue::AppendResult appended = topic->partition(partition).Append(
      SystemClock::Get().monotonic_ns(), timestamp, Bytes(record.key), Bytes(record.value), headers,
      std::move(callback), size, tracker);
  if (appended.closed) topic->sticky().on_batch_closed(partition, n);
  if (appended.closed || appended.new_batch) WakeSender();
  return absl::OkStatus();
}

void Producer::Impl::Flush() {
  const uint64_t snapshot = tracker.Snapshot();
  flushing.fetch_add(1);
  WakeSender();
  tracker.WaitBelow(snapshot, DeadlineAfter(std::chrono::milliseconds::max()));
  flushing.fetch_sub(1);
}

void Producer::Impl::Close(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(close_mu);
    if (closed) return;
    closed = true;
  }
  const SteadyTime deadline = DeadlineAfter(timeout);
  closing.store(true);
  budget.Close();  // sends blocked on a full buffer give up
  {
    std::lock_guard lock(meta_mu);
    meta_cv.notify_all();  // so do sends waiting for metadata
  }
  while (active_sends.load() > 0) std::this_thread::yield();
  // Everything queued is sent now (closing forces every open batch out).
  WakeSender();
  const uint64_t all = tracker.Snapshot();
  if (!tracker.WaitBelow(all, deadline)) {
    Status aborted = runtime->call<Status>([this]() -> Task<Status> {
      AbortQueued(absl::CancelledError("producer closed before the record was delivered"));
      co_await cluster->close();  // fails the requests in flight; no retries while aborting
      co_return absl::OkStatus();
    });
    PermitUncheckedError(aborted);
    tracker.WaitBelow(all, DeadlineAfter(std::chrono::milliseconds::max()));
  }
  Status stopped = runtime->call<Status>([this]() -> Task<Status> {
    stopping = true;
    // The cluster stays (closed) until the producer is destroyed: tasks still suspended on it
    // are destroyed with the reactor, never resumed.
    co_await cluster->close();
    co_return absl::OkStatus();
  });
  PermitUncheckedError(stopped);
  runtime->shutdown();
}

}  // namespace spool
