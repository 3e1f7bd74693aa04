#include "log/segment_scan.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "log/record/batch_header.h"

namespace spool::log {

using record::kHeaderSize;

Task<StatusOr<ScanReport>> ScanSegment(Segment& seg, uint64_t file_size,
                                       const ScanOptions& options) {
  seg.ClearContents();
  ScanReport report;
  std::vector<std::byte> buf(std::max(options.read_chunk, kHeaderSize));
  uint64_t buf_pos = 0;
  size_t buf_len = 0;
  uint64_t pos = 0;
  Offset expected = seg.base;

  // Makes [pos, pos + want) available in buf (want <= file_size - pos). A short read means the
  // file shrank under the scan: that is an error, not damage, so nothing gets cut for it.
  auto fill = [&](uint64_t want) -> Task<Status> {
    if (pos >= buf_pos && pos + want <= buf_pos + buf_len) co_return Status();
    const uint64_t len =
        std::min<uint64_t>(std::max<uint64_t>(want, options.read_chunk), file_size - pos);
    if (buf.size() < len) buf.resize(len);
    CO_ASSIGN_OR_RETURN(size_t n, co_await seg.file->read_at(pos, std::span(buf).first(len)));
    buf_pos = pos;
    buf_len = n;
    if (n >= want) co_return Status();
    co_return absl::AbortedError(absl::StrCat(seg.log_path, ": read ", n, " bytes at position ",
                                              pos, " of a file of ", file_size,
                                              " bytes (it changed during the scan)"));
  };

  while (pos < file_size) {
    const uint64_t left = file_size - pos;
    auto stop = [&](std::string why) {
      report.stop_reason = absl::StrCat(seg.log_path, " at position ", pos, ": ", why);
    };
    if (left < kHeaderSize) {
      stop(absl::StrCat("a torn batch header (", left, " bytes left)"));
      break;
    }
    CO_RETURN_IF_ERROR(co_await fill(kHeaderSize));
    std::span<const std::byte> at =
        std::span(buf).subspan(pos - buf_pos, buf_len - (pos - buf_pos));
    StatusOr<record::BatchHeader> header = record::ParseHeader(at, options.max_batch_size);
    if (!header.ok()) {
      stop(absl::StrCat("bad batch header: ", header.status().message()));
      break;
    }
    if (header->total_size() > left) {
      stop(absl::StrCat("a torn batch (", header->total_size(), " bytes, ", left, " left)"));
      break;
    }
    CO_RETURN_IF_ERROR(co_await fill(header->total_size()));
    at = std::span(buf).subspan(pos - buf_pos, header->total_size());
    if (StatusOr<record::BatchHeader> verified = record::VerifyBatch(at, options.max_batch_size);
        !verified.ok()) {
      stop(absl::StrCat("batch fails verification: ", verified.status().message()));
      break;
    }
    if (header->base_offset != expected.value()) {
      stop(absl::StrCat("batch has base offset ", header->base_offset, ", expected ",
                        expected.value()));
      break;
    }
    if (header->last_offset() - seg.base.value() > std::numeric_limits<int32_t>::max() ||
        pos > std::numeric_limits<uint32_t>::max()) {
      stop("batch lies beyond what a segment's index can address");
      break;
    }
    IndexBatch(seg, pos, *header, options.index_interval_bytes);
    if (header->leader_epoch >= 0 &&
        (report.epoch_starts.empty() || header->leader_epoch > report.epoch_starts.back().epoch)) {
      report.epoch_starts.push_back(
          LeaderEpochEntry{header->leader_epoch, Offset(header->base_offset)});
    }
    expected = seg.end_offset;
    pos += header->total_size();
    ++report.batches;
  }
  report.valid_size = pos;
  seg.reserved = seg.size;
  co_return report;
}

}  // namespace spool::log
