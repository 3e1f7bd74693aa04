// The fixed 61-byte header of a Kafka v2 RecordBatch (magic 2) and the operations the storage
// engine and the broker need on a batch without decoding its records: parse, check the CRC,
// stamp the base offset and leader epoch. The full layout, byte order and what the CRC covers are
// in log/FORMAT.md; ../shared/REFERENCE.md has the field table.
//
// All functions are pure and thread-safe. Spans must cover the bytes they are called with.
// Decoding the records themselves is BatchReader's job (batch_reader.h); building them,
// BatchBuilder's (batch_builder.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/status.h"

namespace spool::record {

// Byte offsets of the header fields (all integers big-endian).
inline constexpr size_t kBaseOffsetPos = 0;
inline constexpr size_t kBatchLengthPos = 8;
inline constexpr size_t kLeaderEpochPos = 12;
inline constexpr size_t kMagicPos = 16;
inline constexpr size_t kCrcPos = 17;
inline constexpr size_t kAttributesPos = 21;  // the CRC covers [kAttributesPos, end)
inline constexpr size_t kLastOffsetDeltaPos = 23;
inline constexpr size_t kBaseTimestampPos = 27;
inline constexpr size_t kMaxTimestampPos = 35;
inline constexpr size_t kProducerIdPos = 43;
inline constexpr size_t kProducerEpochPos = 51;
inline constexpr size_t kBaseSequencePos = 53;
inline constexpr size_t kRecordsCountPos = 57;
inline constexpr size_t kHeaderSize = 61;
// baseOffset + batchLength: the bytes not counted by batchLength.
inline constexpr size_t kLogOverhead = 12;
inline constexpr int8_t kMagicV2 = 2;

enum class Compression : uint8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };
enum class TimestampType : uint8_t { kCreateTime = 0, kLogAppendTime = 1 };

inline constexpr int16_t kCompressionMask = 0x07;
inline constexpr int16_t kTimestampTypeBit = 0x08;  // 0 create time, 1 log-append time
inline constexpr int16_t kTransactionalBit = 0x10;
inline constexpr int16_t kControlBit = 0x20;
inline constexpr int16_t kDeleteHorizonBit = 0x40;  // carried, not interpreted by Spool

static_assert(kRecordsCountPos + 4 == kHeaderSize, "the records follow recordsCount");
static_assert(kCrcPos + 4 == kAttributesPos, "the CRC covers everything after itself");

struct BatchHeader {
  int64_t base_offset = 0;
  int32_t batch_length = 0;  // bytes after the batchLength field
  int32_t leader_epoch = -1;
  int8_t magic = kMagicV2;
  uint32_t crc = 0;
  int16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 0;
  int64_t max_timestamp = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t records_count = 0;

  int64_t last_offset() const { return base_offset + last_offset_delta; }
  // The whole batch on disk / on the wire: kLogOverhead + batch_length.
  size_t total_size() const { return kLogOverhead + static_cast<size_t>(batch_length); }
  Compression compression() const {
    return static_cast<Compression>(attributes & kCompressionMask);
  }
  TimestampType timestamp_type() const {
    return (attributes & kTimestampTypeBit) != 0 ? TimestampType::kLogAppendTime
                                                 : TimestampType::kCreateTime;
  }
  bool is_transactional() const { return (attributes & kTransactionalBit) != 0; }
  bool is_control() const { return (attributes & kControlBit) != 0; }
};

// Parses the header at the start of `bytes` (which may hold more than one batch). Checks that
// at least kHeaderSize bytes are there, magic is 2, batch_length covers the header
// (>= kHeaderSize - kLogOverhead) and is <= max_batch_size - kLogOverhead, last_offset_delta and
// records_count are not negative. Does not check the CRC or that the whole batch is present.
// Errors: kInvalidArgument for a malformed header, kOutOfRange when `bytes` is too short.
[[nodiscard]] StatusOr<BatchHeader> ParseHeader(std::span<const std::byte> bytes,
                                                size_t max_batch_size = 64 << 20);

// CRC-32C of [kAttributesPos, total_size) of the batch starting at `batch`, which must hold at
// least the whole batch (if it does not, the range is clamped to what `batch` holds).
[[nodiscard]] uint32_t ComputeCrc(std::span<const std::byte> batch);

// ParseHeader, then checks that `batch` holds the whole batch and that the stored CRC matches.
// Errors: kOutOfRange when bytes are missing (a torn tail), kDataLoss for a CRC mismatch,
// kInvalidArgument for a malformed header.
[[nodiscard]] StatusOr<BatchHeader> VerifyBatch(std::span<const std::byte> batch,
                                                size_t max_batch_size = 64 << 20);

// Overwrite the header fields outside the CRC's range. The CRC stays valid. `batch` must hold
// the header (a span too short to hold the field is left untouched).
void StampBaseOffset(std::span<std::byte> batch, int64_t base_offset);
void StampLeaderEpoch(std::span<std::byte> batch, int32_t leader_epoch);

// Writes every field of `header` (crc included, as given) big-endian into the first kHeaderSize
// bytes of `out` (left untouched if shorter). Used by the builder and by tests that assemble
// batches by hand.
void WriteHeader(const BatchHeader& header, std::span<std::byte> out);

// Computes the CRC of the batch starting at `batch` (ComputeCrc) and stores it at kCrcPos.
// `batch` must hold the whole batch (a span shorter than the header is left untouched).
void StoreCrc(std::span<std::byte> batch);

}  // namespace spool::record
