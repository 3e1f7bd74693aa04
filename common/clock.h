// Clock: the seam for time, so retention, segment age and timeouts can be tested with a manual
// clock instead of waiting (no sleeps as synchronisation).
//
// Threading: SystemClock is safe from any thread. ManualClock is safe from any thread too (its
// value is atomic); tests advance it explicitly.
#pragma once

#include <atomic>
#include <cstdint>

namespace spool {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in milliseconds since the Unix epoch (record timestamps, retention.ms).
  virtual int64_t wall_ms() const = 0;
  // Monotonic time in nanoseconds from an arbitrary origin (durations, deadlines).
  virtual int64_t monotonic_ns() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t wall_ms() const override;
  int64_t monotonic_ns() const override;
  // A process-wide instance.
  static SystemClock& Get();
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t wall_ms = 1'700'000'000'000, int64_t monotonic_ns = 0)
      : wall_ms_(wall_ms), mono_ns_(monotonic_ns) {}
  int64_t wall_ms() const override { return wall_ms_.load(); }
  int64_t monotonic_ns() const override { return mono_ns_.load(); }
  // Moves both clocks forward by `ms` milliseconds.
  void advance_ms(int64_t ms) {
    wall_ms_ += ms;
    mono_ns_ += ms * 1'000'000;
  }
  void set_wall_ms(int64_t ms) { wall_ms_ = ms; }

 private:
  std::atomic<int64_t> wall_ms_;
  std::atomic<int64_t> mono_ns_;
};

}  // namespace spool
