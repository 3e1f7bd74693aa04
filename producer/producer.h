// spool::Producer: the producer client library (producer/README.md is the guide).
//
//   spool::ProducerConfig config;
//   config.bootstrap_servers = "127.0.0.1:9092";
//   auto producer = spool::Producer::Create(config);            // StatusOr<unique_ptr<Producer>>
//   spool::ProducerRecord record{.topic = "events", .value = "hello"};
//   Status accepted = (*producer)->send(record, [](StatusOr<spool::RecordMetadata> m) { ... });
//   (*producer)->flush();
//   (*producer)->close(std::chrono::seconds(30));
//
// Threading: every member is thread-safe; send() is meant to be called from many user threads
// at once. Callbacks run on the producer's I/O thread (one background thread per Producer), in
// order per partition; a callback must be quick and must not call flush() or close() (that
// would wait on the thread it runs on), but it may call send().
//
// Ownership: send() copies the record's bytes into the batch being built before it returns, so
// the caller may reuse or free the record at once (no per-record allocation inside the library
// once a partition's batch buffer exists).
//
// Delivery (producer/README.md, "Guarantees"): a record is acknowledged per `acks`: 0 when it is
// written to the socket (offset -1), 1 when the leader appended it, -1 (all) when every in-sync
// replica has it, which with the broker's default flush policy means after the fdatasync that
// covers it (durable). Each accepted record's callback runs exactly once, with its offset or
// the error that ended its delivery (delivery_timeout_ms, a non-retriable broker error, close()).
// Records of one partition are appended in send() order, except that without idempotence a
// retried batch can land after a later batch that was already in flight when the first failed
// (see the README); after a failure a partition sends one batch at a time until it succeeds.
// With idempotence (the default with acks=-1) retries never duplicate a batch and keep the order.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "common/status.h"

namespace spool {

enum class CompressionType { kNone, kLz4, kZstd };

struct ProducerRecord;

// Chooses a partition in [0, num_partitions) for a record without an explicit partition. Called
// on the sending thread; must be thread-safe. A value outside the range fails the send with
// kInvalidArgument.
using Partitioner = std::function<int32_t(const ProducerRecord& record, int32_t num_partitions)>;

struct ProducerConfig {
  std::string bootstrap_servers;             // bootstrap.servers: "host:port[,host:port...]"
  std::string client_id = "spool-producer";  // client.id
  // acks: -1 (all, default), 0 (no response; offsets are -1), 1 (leader appended).
  int acks = -1;
  int linger_ms = 5;  // linger.ms: how long a batch waits for more records before it is sent
  // batch.size (bytes, uncompressed): a partition's batch is sent when it reaches this. Kafka's
  // default is 16 KiB; Spool defaults to 64 KiB because the broker appends each batch as it
  // comes (one CRC pass, no re-batching) and the producer pays per batch (a seal, a request
  // entry, a wake-up of the I/O thread), so bigger batches mean fewer of each and bigger
  // appends per fdatasync. Measured with 64 KiB: over 2M records/s of 100 B values through the
  // library on this 2-core machine (tests/integration/producer_test.cc ThroughputFigures).
  // Memory: one open batch per partition in use, within buffer_memory.
  int batch_size = 64 * 1024;
  // buffer.memory: bytes of records (key + value + headers + per-record overhead) buffered and
  // in flight at once. When full, send() blocks (block_on_buffer_full) up to max_block_ms, else
  // fails with kResourceExhausted.
  int64_t buffer_memory = 32LL << 20;
  bool block_on_buffer_full = true;
  int max_block_ms = 60000;  // max.block.ms: also bounds waiting for a new topic's metadata
  CompressionType compression = CompressionType::kNone;  // compression.type (none, lz4, zstd)
  int request_timeout_ms = 30000;                        // request.timeout.ms
  int delivery_timeout_ms = 120000;                      // delivery.timeout.ms
  int retries = INT32_MAX;                               // retries
  int retry_backoff_ms = 100;                            // retry.backoff.ms
  int max_in_flight_requests_per_connection = 5;         // max.in.flight.requests.per.connection
  // max.request.size: the largest Produce request (and so the largest record) sent.
  int max_request_size = 4 << 20;
  int metadata_max_age_ms = 300000;  // metadata.max.age.ms
  // partitioner.class: unset means Kafka's default: murmur2 of the key, sticky for null keys.
  Partitioner partitioner;
  // enable.idempotence (producer/README.md "Idempotence"): the producer gets a producer id
  // (InitProducerId) and stamps it with a per-partition sequence into every batch, so a retried
  // batch is never written twice and a partition's records keep their order. It needs acks=-1,
  // max_in_flight_requests_per_connection <= 5 and retries > 0. Unset (the default) means on
  // unless one of those is set otherwise, then off (Kafka 3.x); true with an incompatible
  // setting is a config error at Create(); false turns it off.
  std::optional<bool> enable_idempotence;
};

struct RecordHeader {
  std::string key;
  std::optional<std::string> value;  // nullopt: a null header value
};

struct ProducerRecord {
  std::string topic;
  std::optional<int32_t> partition;  // explicit partition: wins over the partitioner
  std::optional<std::string> key;    // nullopt: null key (sticky partitioning)
  std::optional<std::string> value;  // nullopt: null value (a tombstone)
  std::vector<RecordHeader> headers;
  std::optional<int64_t> timestamp;  // ms since the epoch; unset: the time of send()
};

struct RecordMetadata {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;     // -1 with acks=0
  int64_t timestamp = -1;  // the record's timestamp (or the broker's log-append time)
};

using SendCallback = absl::AnyInvocable<void(StatusOr<RecordMetadata>)>;

class Producer {
 public:
  // Validates the config (kInvalidArgument naming the key) and starts the I/O thread. Connects
  // lazily: the first send() to a topic fetches its metadata.
  [[nodiscard]] static StatusOr<std::unique_ptr<Producer>> Create(ProducerConfig config);
  // close() with no deadline other than delivery_timeout_ms.
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues one record. OK: the callback will run exactly once, on the I/O thread. An error: the
  // record was not queued and the callback will never run; kResourceExhausted (buffer full
  // past max_block_ms or without blocking), kDeadlineExceeded or the metadata error (the topic's
  // metadata could not be had within max_block_ms; UNKNOWN_TOPIC_OR_PARTITION for a topic the
  // broker does not have, see proto::ErrorFromStatus), kInvalidArgument (bad partition, a
  // record over max_request_size or buffer_memory), kFailedPrecondition (after close()).
  // May block: for a new topic's metadata, and when the buffer is full.
  [[nodiscard]] Status send(const ProducerRecord& record, SendCallback callback);
  // The same, delivering the outcome (including a refusal) through a future.
  std::future<StatusOr<RecordMetadata>> send(const ProducerRecord& record);

  // Sends everything queued now without waiting for linger, and blocks until every record sent
  // before the call has completed (its callback has run).
  void flush();
  // Stops accepting records, tries to deliver everything pending until `timeout`, fails what is
  // left (kCancelled) and in flight, runs every remaining callback, then stops the I/O thread.
  // Idempotent; not from a callback.
  void close(std::chrono::milliseconds timeout = std::chrono::milliseconds::max());

  struct Impl;

 private:
  explicit Producer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace spool
