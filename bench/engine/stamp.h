// The stamp at the start of every benchmark record's value, by which consumers check that each
// record arrived once and in order, and measure end-to-end latency:
//
//   offset  size  field
//   0       4     magic "SPB1" (0x53504231), big-endian
//   4       4     run id: random per run, so records of another run in the same topic are
//                 counted as foreign, never as this run's
//   8       4     producer index (0-based)
//   12      8     sequence number within that producer (0-based, dense)
//   20      8     intended send time, CLOCK_MONOTONIC nanoseconds (steady_clock; the same clock
//                 in every process of one machine). At a fixed rate this is the time the record
//                 was due, not when send() ran (coordinated omission: a stall delays the send
//                 but still counts against latency).
//   28      ...   filler
// All fields big-endian. Records shorter than kStampSize cannot be verified; Validate() refuses
// such sizes unless the run produces only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "common/byte_order.h"

namespace spool::bench {

inline constexpr size_t kStampSize = 28;
inline constexpr uint32_t kStampMagic = 0x53504231u;  // "SPB1"

struct Stamp {
  uint32_t run_id = 0;
  uint32_t producer = 0;
  uint64_t sequence = 0;
  int64_t send_ns = 0;
};

inline void WriteStamp(std::span<std::byte> value, const Stamp& s) {
  StoreBigEndian<uint32_t>(value.data(), kStampMagic);
  StoreBigEndian<uint32_t>(value.data() + 4, s.run_id);
  StoreBigEndian<uint32_t>(value.data() + 8, s.producer);
  StoreBigEndian<uint64_t>(value.data() + 12, s.sequence);
  StoreBigEndian<uint64_t>(value.data() + 20, static_cast<uint64_t>(s.send_ns));
}

// The stamp of a value, or nullopt when the value is too short or lacks the magic.
inline std::optional<Stamp> ReadStamp(std::span<const std::byte> value) {
  if (value.size() < kStampSize || LoadBigEndian<uint32_t>(value.data()) != kStampMagic) {
    return std::nullopt;
  }
  return Stamp{.run_id = LoadBigEndian<uint32_t>(value.data() + 4),
               .producer = LoadBigEndian<uint32_t>(value.data() + 8),
               .sequence = LoadBigEndian<uint64_t>(value.data() + 12),
               .send_ns = static_cast<int64_t>(LoadBigEndian<uint64_t>(value.data() + 20))};
}

}  // namespace spool::bench
