// LatencyRecorder: one thread's latencies (publish latency on a producer's I/O thread, end-to-end
// latency on a consumer thread), readable from the progress thread while they are recorded: an
// interval histogram the progress thread takes every tick, and the total of the measured run.
//
// Threading: Record/RecordAll from one writer thread, TakeInterval/Total from another; a mutex
// guards both histograms (RecordAll takes it once per batch of values).
#pragma once

#include <mutex>
#include <span>

#include "bench/engine/histogram.h"

namespace spool::bench {

class LatencyRecorder {
 public:
  void Record(int64_t ns) {
    std::lock_guard lock(mu_);
    interval_.Record(ns);
    total_.Record(ns);
  }
  void RecordAll(std::span<const int64_t> ns) {
    std::lock_guard lock(mu_);
    for (int64_t v : ns) {
      interval_.Record(v);
      total_.Record(v);
    }
  }
  // Adds the interval's values to `into` and starts a new interval.
  void TakeInterval(Histogram& into) {
    std::lock_guard lock(mu_);
    into.Merge(interval_);
    interval_.Reset();
  }
  void AddTotal(Histogram& into) {
    std::lock_guard lock(mu_);
    into.Merge(total_);
  }

 private:
  std::mutex mu_;
  Histogram interval_;
  Histogram total_;
};

}  // namespace spool::bench
