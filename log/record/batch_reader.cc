#include "log/record/batch_reader.h"

#include <string_view>
#include <utility>

#include "absl/strings/str_format.h"
#include "log/record/compression.h"
#include "log/record/varint.h"

namespace spool::record {
namespace {

// The smallest record after its length: attributes plus five one-byte varints
// (timestampDelta, offsetDelta, keyLength, valueLength, headerCount).
constexpr int32_t kMinRecordBody = 6;

// Decodes the fields of one record body (the bytes its length covers). Each method returns
// false on the first problem and keeps the reason in error().
class RecordParser {
 public:
  RecordParser(std::span<const std::byte> body, int32_t index, size_t at)
      : body_(body), index_(index), at_(at) {}

  bool Fail(std::string_view what) {
    error_ = absl::InvalidArgumentError(
        absl::StrFormat("record %d (at byte %d of the records): %s", index_, at_, what));
    return false;
  }
  bool FailVarint(std::string_view field, int bits) {
    return Fail(
        absl::StrFormat("%s: %s", field, internal::VarintError(body_, pos_, bits).message()));
  }
  const Status& error() const { return error_; }

  int8_t Attributes() { return static_cast<int8_t>(body_[pos_++]); }  // body_ is never empty

  bool Varint(std::string_view field, int32_t* v) {
    return TryReadVarint(body_, &pos_, v) || FailVarint(field, 32);
  }
  bool Varlong(std::string_view field, int64_t* v) {
    return TryReadVarlong(body_, &pos_, v) || FailVarint(field, 64);
  }

  // A length-prefixed byte string; -1 is null when `nullable`.
  bool Bytes(std::string_view field, bool nullable,
             std::optional<std::span<const std::byte>>* out) {
    int32_t length;
    if (!Varint(field, &length)) return false;
    if (length == -1 && nullable) {
      *out = std::nullopt;
      return true;
    }
    if (length < 0) return Fail(absl::StrFormat("%s length %d is invalid", field, length));
    if (static_cast<size_t>(length) > left()) {
      return Fail(absl::StrFormat("%s length %d runs past the record (%d bytes left)", field,
                                  length, left()));
    }
    *out = body_.subspan(pos_, static_cast<size_t>(length));
    pos_ += static_cast<size_t>(length);
    return true;
  }

  size_t pos() const { return pos_; }
  size_t left() const { return body_.size() - pos_; }
  std::span<const std::byte> from(size_t start) const { return body_.subspan(start, pos_ - start); }

 private:
  std::span<const std::byte> body_;
  int32_t index_;
  size_t at_;
  size_t pos_ = 0;
  Status error_;
};

Status WithContext(const Status& status, const BatchHeader& h) {
  return Status(status.code(),
                absl::StrFormat("record batch at offset %d: %s", h.base_offset, status.message()));
}

}  // namespace

StatusOr<BatchReader> BatchReader::Open(std::span<const std::byte> batch, ReaderOptions opts) {
  ASSIGN_OR_RETURN(const BatchHeader h, VerifyBatch(batch, opts.max_batch_size));
  if (Status st = CheckSupported(h.compression()); !st.ok()) return WithContext(st, h);
  BatchReader reader;
  reader.header_ = h;
  const std::span<const std::byte> section =
      batch.subspan(kHeaderSize, h.total_size() - kHeaderSize);
  if (h.compression() == Compression::kNone) {
    reader.records_ = section;
  } else {
    if (Status st = Decompress(h.compression(), section, opts.max_decompressed_bytes,
                               &reader.decompressed_);
        !st.ok()) {
      return WithContext(st, h);
    }
    reader.records_ = reader.decompressed_;
  }
  return reader;
}

Status BatchReader::Fail(Status status) {
  error_ = WithContext(status, header_);
  pos_ = records_.size();
  return error_;
}

StatusOr<bool> BatchReader::Next(RecordView* out) {
  if (!error_.ok()) return error_;
  const size_t left = records_.size() - pos_;
  if (read_ == header_.records_count) {
    if (left == 0) return false;
    return Fail(absl::InvalidArgumentError(
        absl::StrFormat("%d bytes after the last of %d records (recordsCount)", left, read_)));
  }
  if (left == 0) {
    return Fail(absl::InvalidArgumentError(absl::StrFormat(
        "the records end after %d of %d records (recordsCount)", read_, header_.records_count)));
  }

  const size_t start = pos_;
  size_t p = pos_;
  int32_t length = 0;
  if (!TryReadVarint(records_, &p, &length)) {
    RecordParser at_length(records_.subspan(start), read_, start);
    at_length.FailVarint("length", 32);
    return Fail(at_length.error());
  }
  if (length < kMinRecordBody || static_cast<size_t>(length) > records_.size() - p) {
    RecordParser at_length({}, read_, start);
    at_length.Fail(
        length < kMinRecordBody
            ? absl::StrFormat("length %d is below the minimum of %d", length, kMinRecordBody)
            : absl::StrFormat("length %d runs past the end of the records "
                              "(%d bytes left)",
                              length, records_.size() - p));
    return Fail(at_length.error());
  }

  RecordParser r(records_.subspan(p, static_cast<size_t>(length)), read_, start);
  const int8_t attributes = r.Attributes();
  int64_t timestamp_delta = 0;
  int32_t offset_delta = 0;
  std::optional<std::span<const std::byte>> key;
  std::optional<std::span<const std::byte>> value;
  int32_t header_count = 0;
  if (!r.Varlong("timestampDelta", &timestamp_delta) || !r.Varint("offsetDelta", &offset_delta)) {
    return Fail(r.error());
  }
  if (offset_delta <= last_offset_delta_) {
    r.Fail(absl::StrFormat("offsetDelta %d does not follow the previous %d", offset_delta,
                           last_offset_delta_));
    return Fail(r.error());
  }
  if (offset_delta > header_.last_offset_delta) {
    r.Fail(absl::StrFormat("offsetDelta %d is past lastOffsetDelta %d", offset_delta,
                           header_.last_offset_delta));
    return Fail(r.error());
  }
  if (!r.Bytes("key", /*nullable=*/true, &key) || !r.Bytes("value", /*nullable=*/true, &value) ||
      !r.Varint("headerCount", &header_count)) {
    return Fail(r.error());
  }
  // Each header takes at least two bytes (two one-byte lengths).
  if (header_count < 0 || static_cast<size_t>(header_count) > r.left() / 2) {
    r.Fail(
        absl::StrFormat("headerCount %d is invalid for the %d bytes left", header_count, r.left()));
    return Fail(r.error());
  }
  const size_t headers_start = r.pos();
  std::optional<std::span<const std::byte>> ignored;
  for (int32_t i = 0; i < header_count; ++i) {
    if (!r.Bytes("header key", /*nullable=*/false, &ignored) ||
        !r.Bytes("header value", /*nullable=*/true, &ignored)) {
      return Fail(r.error());
    }
  }
  if (r.left() != 0) {
    r.Fail(absl::StrFormat("%d bytes left over after the record's fields", r.left()));
    return Fail(r.error());
  }

  out->offset_delta = offset_delta;
  // Wrapping arithmetic, as the builder computed the delta.
  out->offset = static_cast<int64_t>(static_cast<uint64_t>(header_.base_offset) +
                                     static_cast<uint64_t>(offset_delta));
  out->timestamp = header_.timestamp_type() == TimestampType::kLogAppendTime
                       ? header_.max_timestamp
                       : static_cast<int64_t>(static_cast<uint64_t>(header_.base_timestamp) +
                                              static_cast<uint64_t>(timestamp_delta));
  out->attributes = attributes;
  out->key = key;
  out->value = value;
  out->headers = HeaderList(r.from(headers_start), static_cast<uint32_t>(header_count));
  pos_ = p + static_cast<size_t>(length);
  last_offset_delta_ = offset_delta;
  ++read_;
  return true;
}

Status ValidateRecords(std::span<const std::byte> batch, ReaderOptions opts) {
  ASSIGN_OR_RETURN(BatchReader reader, BatchReader::Open(batch, opts));
  RecordView record;
  while (true) {
    ASSIGN_OR_RETURN(const bool more, reader.Next(&record));
    if (!more) return absl::OkStatus();
  }
}

}  // namespace spool::record
