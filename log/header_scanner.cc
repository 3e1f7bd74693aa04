#include "log/header_scanner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace spool::log {

using record::kHeaderSize;

HeaderScanner::HeaderScanner(io::File& file, uint64_t position, uint64_t end, size_t max_batch_size,
                             size_t chunk_size)
    : file_(file),
      pos_(position),
      end_(end),
      max_batch_size_(max_batch_size),
      buf_size_(std::max(chunk_size, kHeaderSize)) {}

Task<StatusOr<std::optional<ScannedBatch>>> HeaderScanner::Next() {
  if (pos_ >= end_) co_return std::nullopt;
  if (end_ - pos_ < kHeaderSize) {
    co_return absl::DataLossError(
        absl::StrCat("batch header at position ", pos_, " crosses the end at ", end_));
  }
  if (pos_ < buf_pos_ || pos_ + kHeaderSize > buf_pos_ + buf_len_) {
    if (buf_ == nullptr) buf_ = std::make_unique_for_overwrite<std::byte[]>(buf_size_);
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf_size_, end_ - pos_));
    CO_ASSIGN_OR_RETURN(size_t n, co_await file_.read_at(pos_, std::span(buf_.get(), want)));
    buf_pos_ = pos_;
    buf_len_ = n;
    if (n < kHeaderSize) {
      buf_len_ = 0;
      co_return absl::AbortedError(absl::StrCat("segment file ends before position ",
                                                pos_ + kHeaderSize,
                                                " (truncated during the read)"));
    }
  }
  std::span<const std::byte> at(buf_.get() + (pos_ - buf_pos_), kHeaderSize);
  StatusOr<record::BatchHeader> header = record::ParseHeader(at, max_batch_size_);
  if (!header.ok()) {
    co_return absl::DataLossError(
        absl::StrCat("bad batch header at position ", pos_, ": ", header.status().message()));
  }
  if (header->total_size() > end_ - pos_) {
    co_return absl::DataLossError(absl::StrCat("batch at position ", pos_, " of ",
                                               header->total_size(), " bytes crosses the end at ",
                                               end_));
  }
  ScannedBatch out{pos_, *header};
  pos_ += header->total_size();
  co_return out;
}

}  // namespace spool::log
