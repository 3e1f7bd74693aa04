// RunState: what the runner's threads share during one benchmark run (bench/engine/runner.cc),
// and the producer and consumer loops that run on them (workers.cc). Internal to the engine.
//
// Threading: counters are atomics; `mu` guards errors_by_code/first_error and is the mutex of
// `cv`, on which the runner's main thread waits for phase changes (a producer finished, the
// consumers may start, a record arrived).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "bench/engine/latency_recorder.h"
#include "bench/engine/tracker.h"
#include "bench/engine/workload.h"
#include "common/status.h"
#include "consumer/consumer.h"
#include "producer/producer.h"

namespace spool::bench {

struct RunState {
  RunState(const Workload& w, uint32_t run_id) : workload(w), tracker(run_id, w.producers) {}

  const Workload& workload;
  Tracker tracker;
  std::vector<std::string> topics;
  absl::flat_hash_map<std::string, uint32_t> topic_index;
  int64_t start_ns = 0;
  // start + warm-up: latencies of records due before are not kept (set before producers start)
  std::atomic<int64_t> measure_from_ns{INT64_MAX};
  int64_t produce_until_ns = INT64_MAX;  // with a duration: no record is due at or after this
  uint64_t seed = 0;
  std::optional<uint64_t> inject_lost_sequence;

  std::atomic<bool> stop_producing{false};
  std::atomic<bool> consumers_go{false};
  std::atomic<bool> stop_consuming{false};
  std::atomic<int> producers_finished{0};
  bool group = false;                       // consumers subscribe (workload.group)
  std::atomic<int> assigned_partitions{0};  // over all consumers, as of their last poll

  std::atomic<uint64_t> sent_bytes{0};  // handed to send() (the backlog counts these)
  std::atomic<uint64_t> acked_records{0};
  std::atomic<uint64_t> acked_bytes{0};
  std::atomic<uint64_t> failed_records{0};
  std::atomic<uint64_t> consumed_records{0};
  std::atomic<uint64_t> consumed_bytes{0};
  std::atomic<int64_t> last_consumed_ns{0};

  std::vector<uint64_t> sent;  // per producer: sequences used; written by its thread before exit
  std::vector<std::unique_ptr<LatencyRecorder>> publish;  // per producer
  std::vector<std::unique_ptr<LatencyRecorder>> e2e;      // per consumer
  std::vector<uint64_t> out_of_order;                     // per consumer, written before exit

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, uint64_t> errors_by_code;
  Status first_error;

  void CountError(const Status& status);
  void Notify() {
    { std::lock_guard lock(mu); }
    cv.notify_all();
  }
};

// Producer p's loop: sends its share until stop_producing (or its record budget), then flushes.
void RunProducer(RunState& s, int p, Producer& producer, uint64_t budget);
// Consumer c's loop: waits for consumers_go, then polls and verifies until stop_consuming.
void RunConsumer(RunState& s, int c, Consumer& consumer);

}  // namespace spool::bench
