// Producer::Impl: the producer's shared state (private to producer/). The user-facing half
// (send, flush, close, waiting for a topic's metadata) is in producer.cc; the I/O-thread half
// (the sender loop, Produce requests, retries, metadata refresh) is in sender.cc.
//
// Threading: members marked "I/O thread" are touched only on the ClientRuntime's thread;
// the rest are atomics or guarded by the mutex named beside them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "client/cluster.h"
#include "client/runtime.h"
#include "common/io/notifier.h"
#include "producer/accumulator.h"
#include "producer/idempotence.h"
#include "producer/memory_budget.h"
#include "producer/producer.h"
#include "producer/producer_batch.h"
#include "proto/errors.h"

namespace spool {

struct Producer::Impl {
  explicit Impl(ProducerConfig c);

  // ---- user threads (producer.cc) ----
  Status Send(const ProducerRecord& record, SendCallback callback);
  // The topic's state once its metadata is known; waits for it until `deadline`.
  StatusOr<producer::TopicState*> FindTopic(const std::string& topic,
                                            std::chrono::steady_clock::time_point deadline);
  void Flush();
  void Close(std::chrono::milliseconds timeout);
  // Makes the sender run a pass soon (coalesced: at most one post in the queue).
  void WakeSender();

  // ---- I/O thread (sender.cc) ----
  Task<void> SenderLoop();
  // One pass: seals due batches, fails expired ones, starts Produce requests. Returns when the
  // next pass is due for linger, backoff or expiry (INT64_MAX: only on a wake-up).
  int64_t Drain();
  Task<void> SendRequest(int32_t node, std::vector<std::unique_ptr<producer::ProducerBatch>> b);
  void Delivered(std::unique_ptr<producer::ProducerBatch> batch, int64_t base_offset,
                 int64_t log_append_time_ms);
  void Failed(std::unique_ptr<producer::ProducerBatch> batch, const Status& status, bool was_sent);
  void Retry(std::unique_ptr<producer::ProducerBatch> batch, const Status& status);
  void RequestMetadata();
  Task<void> MetadataLoop();
  void ApplyMetadata(const Status& refreshed);
  void MarkDirty();
  void ArmTimer(int64_t at_ns);
  // Fails every queued batch (close() past its deadline).
  void AbortQueued(const Status& why);

  // ---- idempotence, I/O thread (sender_idempotence.cc; producer/README.md "Idempotence") ----
  // Stamps a batch on its first send with the producer id and its partition's next sequence.
  void Stamp(producer::ProducerBatch& batch);
  // Gets a (new) producer id unless a request for one is running.
  void RequestProducerId();
  Task<void> ProducerIdLoop();
  // A stamped batch finished; a failed one with the current id leaves a gap in its partition's
  // sequences, so the producer gets a new id (KIP-360) and its partitions restart at 0.
  void SequenceDone(const producer::ProducerBatch& batch, bool delivered);
  // OUT_OF_ORDER_SEQUENCE_NUMBER for a batch with an earlier one of its partition still
  // unacknowledged: retried in order after it. Anything else with that code is final.
  bool RetryInOrder(const producer::ProducerBatch& batch, proto::ErrorCode code) const;

  const ProducerConfig config;
  const bool idempotent;  // enable_idempotence, resolved (producer/idempotence.h)
  const producer::AccumulatorConfig accumulator;
  const int64_t linger_ns, delivery_timeout_ns, retry_backoff_ns;
  std::unique_ptr<client::ClientRuntime> runtime;

  // I/O thread.
  std::unique_ptr<client::Cluster> cluster;
  std::unique_ptr<io::Notifier> wake;
  bool dirty = false;
  std::map<int32_t, int> node_in_flight;  // Produce requests in flight per broker
  int requests_in_flight = 0;
  bool metadata_running = false;
  bool metadata_wanted = false;
  // A broker whose Produce failed in transport (connect failure, broken connection, timeout) gets
  // no more batches until a metadata refresh asked for after the failure has completed: its
  // partitions may have moved, and a connect to a broker that does not answer takes a whole
  // connect timeout (sender.cc).
  uint64_t metadata_asked = 0;               // refreshes asked for (RequestMetadata calls)
  uint64_t metadata_answered = 0;            // of those, how many a completed refresh covers
  std::map<int32_t, uint64_t> node_suspect;  // broker -> metadata_asked at its failure
  int64_t timer_at_ns = 0;
  bool stopping = false;  // close(): no new connections or metadata requests
  bool aborting = false;  // close() past its deadline: fail instead of retrying
  std::vector<producer::TopicState*> io_topics;  // what the sender scans
  // Idempotence: the id and epoch batches are stamped with (-1: none yet, or being replaced),
  // and the one being replaced (sent in InitProducerId, KIP-360).
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int64_t previous_producer_id = -1;
  int16_t previous_producer_epoch = -1;
  bool producer_id_running = false;
  Status producer_id_error;  // why the last InitProducerId failed (OK: none did)

  // Any thread.
  producer::FlushTracker tracker;
  producer::MemoryBudget budget;
  std::atomic<bool> wake_posted{false};
  std::atomic<int> flushing{0};
  std::atomic<bool> closing{false};
  std::atomic<int> active_sends{0};
  std::atomic<uint64_t> sticky_seed{0x9e3779b97f4a7c15ull};
  std::mutex close_mu;
  bool closed = false;  // guarded by close_mu

  // Topics with metadata; entries are added (by the I/O thread), never removed. A
  // std::shared_mutex: TSan does not see the system abseil's mutex.
  std::shared_mutex topics_mu;
  absl::flat_hash_map<std::string, std::unique_ptr<producer::TopicState>> topics;  // topics_mu

  // Topics user threads wait for, and the last metadata error of each.
  std::mutex meta_mu;
  std::condition_variable meta_cv;
  std::map<std::string, int> wanted;           // guarded by meta_mu
  std::map<std::string, Status> topic_errors;  // guarded by meta_mu
};

}  // namespace spool
