// Kafka-compatible partitioning: murmur2 of the key for keyed records (Kafka's default
// partitioner, so a key lands on the same partition number as with a Java producer), and
// sticky partitioning for records without a key (KIP-480).
//
// Pure functions and a small thread-safe class.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace spool::producer {

// Kafka's Utils.murmur2: 32-bit MurmurHash2, seed 0x9747b28c, as a signed Java int.
[[nodiscard]] int32_t Murmur2(std::span<const std::byte> data);
[[nodiscard]] inline int32_t Murmur2(std::string_view s) {
  return Murmur2(std::as_bytes(std::span<const char>(s.data(), s.size())));
}
// Kafka's Utils.toPositive: clears the sign bit (not abs(): INT_MIN stays defined).
[[nodiscard]] inline int32_t ToPositive(int32_t n) {
  return n & 0x7fffffff;
}
// toPositive(murmur2(key)) % num_partitions. num_partitions > 0.
[[nodiscard]] inline int32_t KeyPartition(std::string_view key, int32_t num_partitions) {
  return ToPositive(Murmur2(key)) % num_partitions;
}

// The sticky partition of one topic for records without a key: every such record goes to the
// current partition until that partition's batch is closed (full, or sent after linger), then
// next() picks another one (a different one when there are several), spreading batches rather
// than records over partitions. Thread-safe (an atomic; a race only picks twice).
class StickyPartition {
 public:
  explicit StickyPartition(uint64_t seed) : state_(seed | 1) {}
  // The partition to use now, in [0, num_partitions).
  int32_t current(int32_t num_partitions);
  // Called when `closed` (a partition's batch) was closed; moves on if it was the sticky one.
  void on_batch_closed(int32_t closed, int32_t num_partitions);

 private:
  int32_t Pick(int32_t avoid, int32_t num_partitions);
  std::atomic<int32_t> current_{-1};
  std::atomic<uint64_t> state_;
};

}  // namespace spool::producer
