// HeaderScanner: walks the batch headers of a segment file from a position, reading the file in
// chunks so a run of small batches costs one read, not one per 61-byte header. Used by the read
// path (find the batch holding an offset, the last whole batch under a byte budget) and by
// timestamp lookups. It checks each header (ParseHeader) and that the batch ends inside the
// range, but not the CRC: batches below the visible end were verified when they were appended
// or recovered.
//
// Ownership: borrows `file`, which must outlive the scanner and its Tasks. Reactor thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "common/io/file_system.h"
#include "common/status.h"
#include "common/task.h"
#include "log/record/batch_header.h"

namespace spool::log {

struct ScannedBatch {
  uint64_t position = 0;
  record::BatchHeader header;
};

class HeaderScanner {
 public:
  // Scans [position, end) of `file`.
  HeaderScanner(io::File& file, uint64_t position, uint64_t end, size_t max_batch_size,
                size_t chunk_size = 16 << 10);

  // The batch at position(), then moves past it; nullopt at `end`. Errors: kDataLoss for a
  // malformed header or a batch that crosses `end`; kAborted when the file is shorter than
  // `end` (it was truncated under the scan); I/O errors as they come.
  [[nodiscard]] Task<StatusOr<std::optional<ScannedBatch>>> Next();
  uint64_t position() const { return pos_; }
  void Seek(uint64_t position) { pos_ = position; }

 private:
  io::File& file_;
  uint64_t pos_;
  uint64_t end_;
  size_t max_batch_size_;
  size_t buf_size_;
  std::unique_ptr<std::byte[]> buf_;  // allocated at the first read, never zero-filled
  uint64_t buf_pos_ = 0;              // file position of buf_[0]
  size_t buf_len_ = 0;                // valid bytes in buf_
};

}  // namespace spool::log
