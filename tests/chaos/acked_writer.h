// AckedWriter: the producer side of the chaos scenarios. An idempotent acks=all producer (the
// library) writes numbered records ("0", "1", ...) to one partition from its own thread, about
// 2,000 a second, and records every acknowledgement (offset -> value, and when it came) and every
// failed send. After Stop(), CheckReplicaLogs (tests/support/replica_logs.h) compares what was
// acknowledged with what the replicas stored.
//
// Threading: Start/Stop and the queries from the test thread; the producer's callbacks record
// under a mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "producer/producer.h"
#include "tests/support/replica_logs.h"
#include "tests/support/replicated_cluster.h"

namespace spool::testing {

class AckedWriter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  AckedWriter(std::string bootstrap, std::string topic, int32_t partition,
              int32_t request_timeout_ms = 3000);
  ~AckedWriter();  // Stop()s

  [[nodiscard]] Status Start();
  // Stops sending, waits for every record sent to be acknowledged or failed, closes.
  void Stop();

  int64_t AcksAfter(TimePoint t) const;
  // Polls (short pauses) until `n` acknowledgements came after `t`, or the deadline.
  bool WaitAcksAfter(TimePoint t, int64_t n, std::chrono::milliseconds deadline) const;
  // Milliseconds from `t` to the first acknowledgement after it (nullopt: none yet).
  std::optional<double> FirstAckAfterMs(TimePoint t) const;
  std::map<int64_t, std::string> acked() const;  // offset -> value
  int64_t failed() const;

 private:
  const std::string bootstrap_, topic_;
  const int32_t partition_, request_timeout_ms_;
  std::unique_ptr<Producer> producer_;
  mutable std::mutex mu_;
  std::map<int64_t, std::string> acked_;
  std::vector<TimePoint> acked_at_;
  int64_t failed_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The end of a scenario: waits until `topic`-0 has its whole ISR (3) again, stops every node
// cleanly, and checks their logs against `writer`'s acknowledgements (CheckReplicaLogs):
// gtest failures for every problem, a lost, duplicated or reordered record, or a failed send.
// Returns the check, for the scenario's printed figures. Call after writer.Stop().
ReplicaCheck CheckScenarioEnd(ReplicatedCluster& cluster, const std::string& topic,
                              const AckedWriter& writer);

}  // namespace spool::testing
