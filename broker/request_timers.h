// RequestTimers: deadlines of one shard (acks=all timeouts, fetch max_wait_ms, retention ticks)
// without a sleeping coroutine per request. Deadlines are kept in order; one sleeper per
// "earliest deadline" sleeps on the reactor and fires what is due, so a request that completes
// early just cancels its entry (O(log n)) and leaves no timer behind.
//
// Time is the real monotonic clock (std::chrono::steady_clock): deadlines come from request
// timeouts, which are real time even when the broker's Clock is a manual one in tests.
//
// Ownership and threading: one instance per shard, used only on its reactor's thread. Callbacks
// run on that thread from the reactor's loop (never inside Arm or Cancel). After Shutdown()
// nothing fires any more; a sleeper still parked in the reactor keeps only the shared internal
// state alive and ends when it wakes (or when the reactor is destroyed).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>

#include "absl/functional/any_invocable.h"
#include "common/io/reactor.h"
#include "common/task.h"

namespace spool::broker {

class RequestTimers {
 public:
  using Id = uint64_t;
  static constexpr Id kNoTimer = 0;

  explicit RequestTimers(io::Reactor& reactor);
  RequestTimers(const RequestTimers&) = delete;
  RequestTimers& operator=(const RequestTimers&) = delete;

  // Now on the clock deadlines are measured with, in nanoseconds.
  static int64_t NowNs();

  // Calls `fn` once, on this reactor, at or after `deadline_ns` (NowNs() time).
  Id Arm(int64_t deadline_ns, absl::AnyInvocable<void()> fn);
  // Forgets the timer if it has not fired yet. kNoTimer and ids that fired are ignored.
  void Cancel(Id id);
  // Drops every pending timer; later Arm() calls are ignored (they return kNoTimer).
  void Shutdown();

  size_t pending() const;

 private:
  struct State;
  static Task<void> Sleep(std::shared_ptr<State> state, int64_t target_ns);
  static void FireDue(State& state);

  std::shared_ptr<State> state_;
};

}  // namespace spool::broker
