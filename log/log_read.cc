// Reads by offset and lookups by timestamp.
//
// read(): the floor segment of `from` (by base offset), then the offset index's floor entry,
// then batch headers scanned forward (in chunks) to the batch that holds `from`. The range is
// extended by whole batches up to max_bytes and `upper`: the offset index first jumps to the
// last indexed batch inside the budget, then headers are scanned from there, so a large read
// does not read every header. Only published bytes (Segment::size) are ever returned, and
// never a batch that ends past them.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "log/header_scanner.h"
#include "log/partition_log_impl.h"
#include "log/record/batch_reader.h"

namespace spool::log {

size_t PartitionLogImpl::FloorSegment(Offset offset) const {
  auto it =
      std::upper_bound(segments_.begin(), segments_.end(), offset,
                       [](Offset o, const std::shared_ptr<Segment>& s) { return o < s->base; });
  if (it == segments_.begin()) return 0;
  return static_cast<size_t>(std::prev(it) - segments_.begin());
}

Task<StatusOr<ReadResult>> PartitionLogImpl::read(Offset from, size_t max_bytes, Offset upper) {
  CO_RETURN_IF_ERROR(CheckOpen());
  if (from < log_start_ || from > next_offset_) {
    co_return absl::OutOfRangeError(absl::StrCat("offset ", from.value(), " is outside the log [",
                                                 log_start_.value(), ", ", next_offset_.value(),
                                                 "]"));
  }
  ReadResult out;
  out.next_offset = from;
  upper = std::min(upper, visible_end_);
  if (from >= upper) co_return out;
  // Segments may be added or removed while this read is suspended: work on a snapshot.
  const std::vector<std::shared_ptr<Segment>> segs(
      segments_.begin() + static_cast<ptrdiff_t>(FloorSegment(from)), segments_.end());
  uint64_t budget = max_bytes;
  Offset cursor = from;
  for (const std::shared_ptr<Segment>& seg : segs) {
    if (cursor >= upper) break;
    if (cursor >= seg->end_offset) continue;
    const bool first = out.slices.empty();
    CO_ASSIGN_OR_RETURN(SegmentRange range,
                        co_await ReadSegment(seg, cursor, upper, budget, first));
    if (range.length > 0) {
      out.slices.push_back(ReadSlice{seg, seg->file.get(), range.position, range.length});
      out.total_bytes += range.length;
      budget -= std::min(budget, range.length);
      cursor = out.next_offset = range.next;
    }
    if (range.stopped || budget == 0) break;
  }
  co_return out;
}

Task<StatusOr<PartitionLogImpl::SegmentRange>> PartitionLogImpl::ReadSegment(
    std::shared_ptr<Segment> seg, Offset from, Offset upper, uint64_t budget, bool first) {
  const uint64_t end = seg->size;
  const uint64_t truncations = seg->truncations;
  SegmentRange out;
  out.next = from;
  auto changed = [&]() -> Status {
    if (seg->truncations == truncations && seg->file != nullptr) return Status();
    return absl::AbortedError("segment truncated during the read");
  };

  // 1. The batch that holds `from`.
  const std::optional<OffsetIndex::Entry> floor = seg->index.Floor(seg->relative(from));
  HeaderScanner scanner(*seg->file, floor ? floor->position : 0, end, max_batch_on_disk_);
  std::optional<ScannedBatch> batch;
  while (true) {
    CO_ASSIGN_OR_RETURN(batch, co_await scanner.Next());
    CO_RETURN_IF_ERROR(changed());
    if (!batch) co_return out;  // `from` is past this segment's published end
    if (batch->header.last_offset() >= from.value()) break;
  }
  const record::BatchHeader& h = batch->header;
  if (h.last_offset() >= upper.value() || (!first && h.total_size() > budget)) {
    out.stopped = true;
    co_return out;
  }
  out.position = batch->position;
  uint64_t range_end = batch->position + h.total_size();
  out.next = Offset(h.last_offset() + 1);
  // The first batch of a read is returned even when it alone is over the budget.
  const uint64_t limit = out.position + std::max<uint64_t>(budget, h.total_size());

  // 2. Jump to the last indexed batch that starts inside the budget and not past `upper`.
  if (auto jump = seg->index.FloorByPosition(limit);
      jump && jump->position > range_end && seg->base + jump->relative_offset <= upper) {
    range_end = jump->position;
    out.next = seg->base + jump->relative_offset;
  }
  // 3. Whole batches from there while they fit.
  scanner.Seek(range_end);
  while (true) {
    CO_ASSIGN_OR_RETURN(std::optional<ScannedBatch> next, co_await scanner.Next());
    CO_RETURN_IF_ERROR(changed());
    if (!next) break;
    if (next->header.last_offset() >= upper.value() ||
        next->position + next->header.total_size() > limit) {
      out.stopped = true;
      break;
    }
    range_end = next->position + next->header.total_size();
    out.next = Offset(next->header.last_offset() + 1);
  }
  out.length = range_end - out.position;
  co_return out;
}

Task<StatusOr<std::optional<Offset>>> PartitionLogImpl::offset_for_timestamp(int64_t timestamp_ms) {
  CO_RETURN_IF_ERROR(CheckOpen());
  const std::vector<std::shared_ptr<Segment>> segs = segments_;
  for (const std::shared_ptr<Segment>& seg : segs) {
    // The first segment with a record at or after the target holds the answer (records before
    // it, in offset order, are all older).
    if (seg->empty() || seg->max_timestamp < timestamp_ms || seg->end_offset <= log_start_) {
      continue;
    }
    const uint64_t end = seg->size;
    const uint64_t truncations = seg->truncations;
    uint64_t start = 0;
    if (auto t = seg->time_index.LastBefore(timestamp_ms)) {
      if (auto e = seg->index.Floor(t->relative_offset)) start = e->position;
    }
    HeaderScanner scanner(*seg->file, start, end, max_batch_on_disk_);
    while (true) {
      CO_ASSIGN_OR_RETURN(std::optional<ScannedBatch> batch, co_await scanner.Next());
      if (seg->truncations != truncations || seg->file == nullptr) {
        co_return absl::AbortedError("segment truncated during the lookup");
      }
      if (!batch) break;
      const record::BatchHeader& h = batch->header;
      if (h.last_offset() < log_start_.value() || h.max_timestamp < timestamp_ms) continue;
      // Decode this batch for the exact record.
      std::vector<std::byte> bytes(h.total_size());
      CO_ASSIGN_OR_RETURN(size_t n, co_await seg->file->read_at(batch->position, bytes));
      if (n != bytes.size()) co_return absl::AbortedError("segment truncated during the lookup");
      CO_ASSIGN_OR_RETURN(
          record::BatchReader reader,
          record::BatchReader::Open(bytes,
                                    record::ReaderOptions{max_batch_on_disk_, max_batch_on_disk_}));
      record::RecordView r;
      while (true) {
        CO_ASSIGN_OR_RETURN(bool more, reader.Next(&r));
        if (!more) break;
        if (r.offset >= log_start_.value() && r.timestamp >= timestamp_ms) {
          co_return std::optional<Offset>(Offset(r.offset));
        }
      }
    }
  }
  co_return std::optional<Offset>();
}

}  // namespace spool::log
