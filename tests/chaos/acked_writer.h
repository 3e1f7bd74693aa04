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

}  // namespace spool::testing
