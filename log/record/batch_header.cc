#include "log/record/batch_header.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/byte_order.h"
#include "common/crc32c.h"

namespace spool::record {
namespace {

template <typename T>
T Load(std::span<const std::byte> b, size_t pos) {
  return LoadBigEndian<T>(b.data() + pos);
}

template <typename T>
void Store(std::span<std::byte> b, size_t pos, T v) {
  StoreBigEndian<T>(b.data() + pos, v);
}

}  // namespace

StatusOr<BatchHeader> ParseHeader(std::span<const std::byte> bytes, size_t max_batch_size) {
  if (bytes.size() < kHeaderSize) {
    return absl::OutOfRangeError(absl::StrFormat("record batch header needs %d bytes, %d available",
                                                 kHeaderSize, bytes.size()));
  }
  BatchHeader h;
  h.base_offset = Load<int64_t>(bytes, kBaseOffsetPos);
  h.batch_length = Load<int32_t>(bytes, kBatchLengthPos);
  h.leader_epoch = Load<int32_t>(bytes, kLeaderEpochPos);
  h.magic = Load<int8_t>(bytes, kMagicPos);
  h.crc = Load<uint32_t>(bytes, kCrcPos);
  h.attributes = Load<int16_t>(bytes, kAttributesPos);
  h.last_offset_delta = Load<int32_t>(bytes, kLastOffsetDeltaPos);
  h.base_timestamp = Load<int64_t>(bytes, kBaseTimestampPos);
  h.max_timestamp = Load<int64_t>(bytes, kMaxTimestampPos);
  h.producer_id = Load<int64_t>(bytes, kProducerIdPos);
  h.producer_epoch = Load<int16_t>(bytes, kProducerEpochPos);
  h.base_sequence = Load<int32_t>(bytes, kBaseSequencePos);
  h.records_count = Load<int32_t>(bytes, kRecordsCountPos);

  if (h.magic != kMagicV2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("record batch magic is %d, only %d is supported", h.magic, kMagicV2));
  }
  constexpr int64_t kMinLength = static_cast<int64_t>(kHeaderSize - kLogOverhead);
  const int64_t max_length = static_cast<int64_t>(std::max(max_batch_size, kLogOverhead)) -
                             static_cast<int64_t>(kLogOverhead);
  if (h.batch_length < kMinLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "record batch length %d is shorter than the header (%d)", h.batch_length, kMinLength));
  }
  if (h.batch_length > max_length) {
    return absl::InvalidArgumentError(
        absl::StrFormat("record batch length %d exceeds the limit of %d (max batch size %d)",
                        h.batch_length, max_length, max_batch_size));
  }
  if (h.last_offset_delta < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("record batch lastOffsetDelta %d is negative", h.last_offset_delta));
  }
  if (h.records_count < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("record batch recordsCount %d is negative", h.records_count));
  }
  return h;
}

uint32_t ComputeCrc(std::span<const std::byte> batch) {
  if (batch.size() <= kAttributesPos) return crc32c::Value(nullptr, 0);
  size_t end = batch.size();
  if (batch.size() >= kBatchLengthPos + 4) {
    const int32_t length = Load<int32_t>(batch, kBatchLengthPos);
    // A caller must pass the whole batch; clamp so a wrong length cannot read out of bounds.
    if (length >= 0) end = std::min(end, kLogOverhead + static_cast<size_t>(length));
  }
  if (end <= kAttributesPos) return crc32c::Value(nullptr, 0);
  return crc32c::Value(batch.subspan(kAttributesPos, end - kAttributesPos));
}

StatusOr<BatchHeader> VerifyBatch(std::span<const std::byte> batch, size_t max_batch_size) {
  ASSIGN_OR_RETURN(BatchHeader h, ParseHeader(batch, max_batch_size));
  if (batch.size() < h.total_size()) {
    return absl::OutOfRangeError(absl::StrFormat(
        "record batch at offset %d needs %d bytes, %d available (torn or truncated)", h.base_offset,
        h.total_size(), batch.size()));
  }
  const uint32_t actual = ComputeCrc(batch.first(h.total_size()));
  if (actual != h.crc) {
    return absl::DataLossError(
        absl::StrFormat("record batch at offset %d: CRC-32C mismatch (stored %08x, computed %08x)",
                        h.base_offset, h.crc, actual));
  }
  return h;
}

void StampBaseOffset(std::span<std::byte> batch, int64_t base_offset) {
  if (batch.size() < kBaseOffsetPos + 8) return;  // precondition: a whole header
  Store<int64_t>(batch, kBaseOffsetPos, base_offset);
}

void StampLeaderEpoch(std::span<std::byte> batch, int32_t leader_epoch) {
  if (batch.size() < kLeaderEpochPos + 4) return;  // precondition: a whole header
  Store<int32_t>(batch, kLeaderEpochPos, leader_epoch);
}

void WriteHeader(const BatchHeader& h, std::span<std::byte> out) {
  if (out.size() < kHeaderSize) return;  // precondition: room for a header
  Store<int64_t>(out, kBaseOffsetPos, h.base_offset);
  Store<int32_t>(out, kBatchLengthPos, h.batch_length);
  Store<int32_t>(out, kLeaderEpochPos, h.leader_epoch);
  Store<int8_t>(out, kMagicPos, h.magic);
  Store<uint32_t>(out, kCrcPos, h.crc);
  Store<int16_t>(out, kAttributesPos, h.attributes);
  Store<int32_t>(out, kLastOffsetDeltaPos, h.last_offset_delta);
  Store<int64_t>(out, kBaseTimestampPos, h.base_timestamp);
  Store<int64_t>(out, kMaxTimestampPos, h.max_timestamp);
  Store<int64_t>(out, kProducerIdPos, h.producer_id);
  Store<int16_t>(out, kProducerEpochPos, h.producer_epoch);
  Store<int32_t>(out, kBaseSequencePos, h.base_sequence);
  Store<int32_t>(out, kRecordsCountPos, h.records_count);
}

void StoreCrc(std::span<std::byte> batch) {
  if (batch.size() < kHeaderSize) return;  // precondition: a whole header
  Store<uint32_t>(batch, kCrcPos, ComputeCrc(batch));
}

}  // namespace spool::record
