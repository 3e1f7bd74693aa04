#include "log/record/batch_builder.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_format.h"
#include "log/record/compression.h"
#include "log/record/varint.h"

namespace spool::record {
namespace {

constexpr size_t kMaxLength = static_cast<size_t>(std::numeric_limits<int32_t>::max());

// The varint length of an optional byte string (-1 = null) and the bytes that follow it.
struct Field {
  int32_t length = -1;
  std::span<const std::byte> bytes;

  size_t encoded_size() const { return VarintSize(length) + bytes.size(); }
  std::byte* Encode(std::byte* out) const {
    out = EncodeVarint(length, out);
    if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
    return out + bytes.size();
  }
};

// A field for `bytes`, or nullopt when its length does not fit the int32 length field.
std::optional<Field> MakeField(std::optional<std::span<const std::byte>> bytes) {
  if (!bytes.has_value()) return Field{};
  if (bytes->size() > kMaxLength) return std::nullopt;
  return Field{static_cast<int32_t>(bytes->size()), *bytes};
}

}  // namespace

BatchBuilder::BatchBuilder(BuilderOptions opts) : opts_(std::move(opts)) {
  Reset();
}

void BatchBuilder::Reset() {
  buffer_.clear();
  // Batches from one builder tend to have similar sizes: start the next at the last one's.
  buffer_.reserve(std::max(kHeaderSize, size_hint_));
  buffer_.resize(kHeaderSize);
  count_ = 0;
  base_timestamp_ = opts_.base_timestamp_ms.value_or(0);
  max_timestamp_ = 0;
  error_ = absl::OkStatus();
}

void BatchBuilder::Fail(Status status) {
  if (error_.ok()) error_ = std::move(status);
}

void BatchBuilder::Append(int64_t timestamp_ms, std::string_view key, std::string_view value,
                          std::span<const Header> headers) {
  Append(timestamp_ms, AsBytes(key), AsBytes(value), headers);
}

void BatchBuilder::Append(int64_t timestamp_ms, std::optional<std::span<const std::byte>> key,
                          std::optional<std::span<const std::byte>> value,
                          std::span<const Header> headers) {
  if (!error_.ok()) return;
  if (count_ >= kMaxLength) {
    return Fail(absl::InvalidArgumentError("a record batch holds at most 2^31-1 records"));
  }
  if (count_ == 0 && !opts_.base_timestamp_ms.has_value()) base_timestamp_ = timestamp_ms;
  // Wrapping arithmetic: the reader adds the delta back the same way, so any pair round-trips.
  const auto timestamp_delta = static_cast<int64_t>(static_cast<uint64_t>(timestamp_ms) -
                                                    static_cast<uint64_t>(base_timestamp_));
  const auto offset_delta = static_cast<int32_t>(count_);

  const std::optional<Field> key_field = MakeField(key);
  const std::optional<Field> value_field = MakeField(value);
  if (!key_field || !value_field) {
    return Fail(absl::InvalidArgumentError(
        absl::StrFormat("record %d: key or value longer than 2^31-1 bytes", count_)));
  }
  if (headers.size() > kMaxLength) {
    return Fail(
        absl::InvalidArgumentError(absl::StrFormat("record %d: more than 2^31-1 headers", count_)));
  }
  size_t body = 1 + VarlongSize(timestamp_delta) + VarintSize(offset_delta) +
                key_field->encoded_size() + value_field->encoded_size() +
                VarintSize(static_cast<int32_t>(headers.size()));
  for (const Header& h : headers) {
    const std::optional<Field> hv = MakeField(h.value);
    if (h.key.size() > kMaxLength || !hv) {
      return Fail(absl::InvalidArgumentError(
          absl::StrFormat("record %d: header key or value longer than 2^31-1 bytes", count_)));
    }
    body += VarintSize(static_cast<int32_t>(h.key.size())) + h.key.size() + hv->encoded_size();
  }
  if (body > kMaxLength) {
    return Fail(absl::InvalidArgumentError(
        absl::StrFormat("record %d: %d bytes, more than 2^31-1", count_, body)));
  }

  const size_t start = buffer_.size();
  const auto length = static_cast<int32_t>(body);
  buffer_.resize(start + VarintSize(length) + body);
  std::byte* out = buffer_.data() + start;
  out = EncodeVarint(length, out);
  *out++ = std::byte{0};  // record attributes: unused
  out = EncodeVarlong(timestamp_delta, out);
  out = EncodeVarint(offset_delta, out);
  out = key_field->Encode(out);
  out = value_field->Encode(out);
  out = EncodeVarint(static_cast<int32_t>(headers.size()), out);
  for (const Header& h : headers) {
    out = Field{static_cast<int32_t>(h.key.size()), AsBytes(h.key)}.Encode(out);
    out = MakeField(h.value)->Encode(out);
  }

  max_timestamp_ = count_ == 0 ? timestamp_ms : std::max(max_timestamp_, timestamp_ms);
  ++count_;
}

StatusOr<std::vector<std::byte>> BatchBuilder::Seal() {
  std::vector<std::byte> batch = std::exchange(buffer_, {});
  size_hint_ = batch.size();
  const Status error = error_;
  const size_t count = count_;
  BatchHeader h;
  h.attributes = static_cast<int16_t>(static_cast<int16_t>(opts_.compression) & kCompressionMask);
  if (opts_.timestamp_type == TimestampType::kLogAppendTime) h.attributes |= kTimestampTypeBit;
  if (opts_.transactional) h.attributes |= kTransactionalBit;
  h.last_offset_delta = static_cast<int32_t>(count) - 1;
  h.base_timestamp = base_timestamp_;
  h.max_timestamp = max_timestamp_;
  h.producer_id = opts_.producer_id;
  h.producer_epoch = opts_.producer_epoch;
  h.base_sequence = opts_.base_sequence;
  h.records_count = static_cast<int32_t>(count);
  Reset();

  RETURN_IF_ERROR(error);
  if (count == 0) return absl::FailedPreconditionError("cannot seal a batch with no records");
  RETURN_IF_ERROR(CheckSupported(opts_.compression));
  if (opts_.compression != Compression::kNone) {
    std::vector<std::byte> compressed;
    compressed.reserve(kHeaderSize + (batch.size() - kHeaderSize) / 2);
    compressed.resize(kHeaderSize);
    RETURN_IF_ERROR(Compress(opts_.compression, std::span(batch).subspan(kHeaderSize), &compressed,
                             opts_.compression_level));
    batch = std::move(compressed);
  }
  if (batch.size() - kLogOverhead > kMaxLength) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "record batch of %d bytes is over the 2^31-1 byte limit of batchLength", batch.size()));
  }
  h.batch_length = static_cast<int32_t>(batch.size() - kLogOverhead);
  WriteHeader(h, batch);
  StoreCrc(batch);
  return batch;
}

}  // namespace spool::record
