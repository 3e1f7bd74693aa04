// Pacer: the schedule of one producer thread. At a fixed rate the k-th send is due at
// start + k / rate; Next() waits until the next send is due and returns that intended time, which
// the record's stamp carries and latency is measured from (coordinated omission: when sending
// stalls, the records behind it stay on the schedule, so the stall shows in their latency instead
// of silently lowering the offered load). Unpaced (rate 0) returns the current time.
//
// Waiting here is pacing, not synchronisation: it sleeps only when the next send is more than
// kSpinWindow away, so a thread behind schedule never sleeps. Times are steady_clock nanoseconds
// (CLOCK_MONOTONIC). One Pacer per thread; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

namespace spool::bench {

inline int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class Pacer {
 public:
  // `rate` in sends per second; <= 0 means as fast as possible.
  Pacer(double rate, int64_t start_ns)
      : interval_ns_(rate > 0 ? 1e9 / rate : 0), start_ns_(start_ns) {}

  int64_t Next() {
    if (interval_ns_ == 0) return SteadyNowNs();
    const int64_t due =
        start_ns_ + static_cast<int64_t>(static_cast<double>(sent_++) * interval_ns_);
    const int64_t ahead = due - SteadyNowNs();
    if (ahead > kSpinWindowNs) {
      std::this_thread::sleep_until(
          std::chrono::steady_clock::time_point(std::chrono::nanoseconds(due - kSpinWindowNs / 2)));
    }
    return due;
  }
  bool paced() const { return interval_ns_ != 0; }

 private:
  static constexpr int64_t kSpinWindowNs = 50'000;  // below this, send now (timer slack ~50 us)
  double interval_ns_;
  int64_t start_ns_;
  uint64_t sent_ = 0;
};

}  // namespace spool::bench
