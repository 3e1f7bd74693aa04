#include "broker/request_log.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>

namespace spool::broker {

namespace {

constexpr int64_t kLogIntervalMs = 1000;

struct Limiter {
  std::atomic<int64_t> next_ms{0};
  std::atomic<uint64_t> suppressed{0};
};

Limiter limiters[static_cast<int>(LogKind::kCount)];

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void LogRateLimited(LogKind kind, std::string_view message) {
  Limiter& l = limiters[static_cast<int>(kind)];
  const int64_t now = NowMs();
  int64_t next = l.next_ms.load(std::memory_order_relaxed);
  if (now < next || !l.next_ms.compare_exchange_strong(next, now + kLogIntervalMs)) {
    l.suppressed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const uint64_t dropped = l.suppressed.exchange(0);
  if (dropped > 0) {
    std::fprintf(stderr, "warn broker %.*s suppressed=%llu\n", static_cast<int>(message.size()),
                 message.data(), static_cast<unsigned long long>(dropped));
  } else {
    std::fprintf(stderr, "warn broker %.*s\n", static_cast<int>(message.size()), message.data());
  }
}

void LogInfo(std::string_view message) {
  std::fprintf(stderr, "info broker %.*s\n", static_cast<int>(message.size()), message.data());
}

}  // namespace spool::broker
