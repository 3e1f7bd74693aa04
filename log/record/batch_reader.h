// BatchReader: a zero-copy reader over one sealed Kafka v2 RecordBatch.
//
// Open() checks the header and the CRC (VerifyBatch) and, for a compressed batch, decompresses
// the records section into a buffer the reader owns, never producing more than
// max_decompressed_bytes. Next() then decodes one record at a time and validates it fully
// before returning it, so a caller sees either good records or an error, never garbage.
//
// Validation (all errors kInvalidArgument unless said otherwise; each message says what and
// where):
//   - header: as ParseHeader / VerifyBatch (kOutOfRange for a torn batch, kDataLoss for a CRC
//     mismatch); codec: CheckSupported() (kUnimplemented for gzip / snappy);
//   - decompression: corrupt or truncated frame, bytes after it, output over the maximum;
//   - each record: varints truncated or overflowing, a length below the smallest record or past
//     the end of the records, fields that do not fill the record's length exactly, key / value
//     lengths below -1, negative header counts or header key lengths, offset deltas that do not
//     strictly increase or exceed lastOffsetDelta;
//   - the batch: fewer records than recordsCount, or bytes left after recordsCount records.
// After an error Next() keeps returning it.
//
// Ownership and lifetime: the reader does not own `batch`. RecordViews of an uncompressed batch
// point into `batch`, which must outlive them; those of a compressed batch point into the
// reader's buffer and are valid while the reader lives (moving the reader keeps them valid).
// Threading: not thread-safe; one thread uses a reader at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "log/record/batch_header.h"
#include "log/record/record.h"

namespace spool::record {

struct ReaderOptions {
  size_t max_batch_size = 64 << 20;          // as ParseHeader(); whole batch incl. overhead
  size_t max_decompressed_bytes = 64 << 20;  // cap on a compressed batch's records section
};

class BatchReader {
 public:
  // Reads the batch at the start of `batch`; bytes after its total_size() are ignored.
  [[nodiscard]] static StatusOr<BatchReader> Open(std::span<const std::byte> batch,
                                                  ReaderOptions opts = {});

  BatchReader(BatchReader&&) = default;
  BatchReader& operator=(BatchReader&&) = default;
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  const BatchHeader& header() const { return header_; }

  // Decodes the next record into *out and returns true, or returns false once recordsCount
  // records were read and nothing is left. See the file comment for the errors.
  [[nodiscard]] StatusOr<bool> Next(RecordView* out);

  // Records returned so far.
  int32_t records_read() const { return read_; }
  // The records section: the batch's bytes after the header, or the decompressed buffer.
  std::span<const std::byte> records_bytes() const { return records_; }

 private:
  BatchReader() = default;
  Status Fail(Status status);

  BatchHeader header_;
  std::vector<std::byte> decompressed_;
  std::span<const std::byte> records_;
  size_t pos_ = 0;
  int32_t read_ = 0;
  int64_t last_offset_delta_ = -1;
  Status error_;
};

// Opens `batch` and decodes every record, returning the first error (or OK).
[[nodiscard]] Status ValidateRecords(std::span<const std::byte> batch, ReaderOptions opts = {});

}  // namespace spool::record
