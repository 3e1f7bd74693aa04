// BatchBuilder: encodes records into one Kafka v2 RecordBatch (layout in batch_header.h and
// record.h; log/FORMAT.md is the document).
//
// Use: construct with the batch's options, Append() records, then Seal() for the batch's bytes.
// The sealed batch has base offset 0 and partition leader epoch -1 (the leader stamps both
// later, see StampBaseOffset / StampLeaderEpoch, without touching the CRC), offset deltas
// 0..n-1, baseTimestamp = the option or the first record's timestamp, maxTimestamp = the
// largest timestamp appended, and its CRC-32C filled in. Seal() empties the builder, which can
// then build the next batch with the same options.
//
// Ownership: Append() copies the key, value and headers into the builder; the caller's buffers
// may be reused as soon as it returns. Seal() hands the batch's memory to the caller.
// Threading: not thread-safe; one thread uses a builder at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "log/record/batch_header.h"
#include "log/record/record.h"

namespace spool::record {

struct BuilderOptions {
  Compression compression = Compression::kNone;
  int compression_level = 0;  // 0 = the codec's default
  int64_t producer_id = -1;   // -1, -1, -1: no idempotent producer
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  bool transactional = false;
  std::optional<int64_t> base_timestamp_ms;  // unset: the first record's timestamp
  TimestampType timestamp_type = TimestampType::kCreateTime;
};

class BatchBuilder {
 public:
  explicit BatchBuilder(BuilderOptions opts = {});

  // Adds one record; nullopt key or value is a null key or value (length -1). Never fails
  // here: a record that cannot be encoded (a key, value or header over 2 GiB, more than
  // INT32_MAX records) makes the next Seal() fail with kInvalidArgument instead.
  void Append(int64_t timestamp_ms, std::optional<std::span<const std::byte>> key,
              std::optional<std::span<const std::byte>> value,
              std::span<const Header> headers = {});
  // Convenience for text keys and values (never null).
  void Append(int64_t timestamp_ms, std::string_view key, std::string_view value,
              std::span<const Header> headers = {});

  // Records appended since construction or the last Seal().
  size_t records() const { return count_; }
  // The size the batch would have uncompressed: header plus encoded records. With compression
  // the sealed batch is usually smaller.
  size_t estimated_size() const { return buffer_.size(); }

  // Returns the whole batch and empties the builder (also on error). Errors: kFailedPrecondition
  // when no record was appended; kInvalidArgument for a record that could not be encoded or a
  // batch over 2 GiB; CheckSupported() of the compression codec.
  [[nodiscard]] StatusOr<std::vector<std::byte>> Seal();

 private:
  void Reset();
  void Fail(Status status);

  BuilderOptions opts_;
  // The header's room (kHeaderSize bytes, written by Seal) followed by the encoded records, so
  // an uncompressed batch is sealed in place without a copy.
  std::vector<std::byte> buffer_;
  size_t count_ = 0;
  size_t size_hint_ = 0;  // the previous batch's uncompressed size, to reserve the next
  int64_t base_timestamp_ = 0;
  int64_t max_timestamp_ = 0;
  Status error_;  // the first Append() that could not be encoded
};

}  // namespace spool::record
