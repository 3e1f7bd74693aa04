#include "producer/partitioner.h"

namespace spool::producer {

int32_t Murmur2(std::span<const std::byte> data) {
  // Unsigned arithmetic mirrors Java's wrapping int multiply; >> on uint32_t is Java's >>>.
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  const size_t length = data.size();
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  auto byte = [&](size_t i) { return static_cast<uint32_t>(data[i]); };
  const size_t blocks = length / 4;
  for (size_t i = 0; i < blocks; ++i) {
    const size_t b = i * 4;
    uint32_t k = byte(b) | (byte(b + 1) << 8) | (byte(b + 2) << 16) | (byte(b + 3) << 24);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const size_t tail = length & ~size_t{3};
  switch (length % 4) {
    case 3:
      h ^= byte(tail + 2) << 16;
      [[fallthrough]];
    case 2:
      h ^= byte(tail + 1) << 8;
      [[fallthrough]];
    case 1:
      h ^= byte(tail);
      h *= kM;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t StickyPartition::Pick(int32_t avoid, int32_t num_partitions) {
  // xorshift64: cheap and good enough to spread batches.
  uint64_t x = state_.load(std::memory_order_relaxed);
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  state_.store(x, std::memory_order_relaxed);
  if (num_partitions <= 1) return 0;
  if (avoid < 0 || avoid >= num_partitions) return static_cast<int32_t>(x % num_partitions);
  // Any partition but `avoid`.
  int32_t p = static_cast<int32_t>(x % static_cast<uint64_t>(num_partitions - 1));
  return p >= avoid ? p + 1 : p;
}

int32_t StickyPartition::current(int32_t num_partitions) {
  int32_t p = current_.load(std::memory_order_relaxed);
  if (p >= 0 && p < num_partitions) return p;
  int32_t picked = Pick(-1, num_partitions);
  if (current_.compare_exchange_strong(p, picked)) return picked;
  return p >= 0 && p < num_partitions ? p : picked;
}

void StickyPartition::on_batch_closed(int32_t closed, int32_t num_partitions) {
  int32_t expected = closed;
  current_.compare_exchange_strong(expected, Pick(closed, num_partitions));
}

}  // namespace spool::producer
