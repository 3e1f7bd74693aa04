#include "log/segment.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "log/file_util.h"

namespace spool::log {

Segment::Segment(std::string_view dir, Offset base_offset, std::unique_ptr<io::File> log_file)
    : base(base_offset),
      log_path(JoinPath(dir, absl::StrCat(SegmentStem(base_offset), AbslView(kLogSuffix)))),
      index_path(JoinPath(dir, absl::StrCat(SegmentStem(base_offset), AbslView(kIndexSuffix)))),
      time_index_path(
          JoinPath(dir, absl::StrCat(SegmentStem(base_offset), AbslView(kTimeIndexSuffix)))),
      file(std::move(log_file)),
      end_offset(base_offset) {}

void Segment::ClearContents() {
  size = reserved = synced_size = 0;
  end_offset = base;
  last_batch_base.reset();
  max_timestamp = kNoTimestamp;
  index.clear();
  time_index.clear();
}

void IndexBatch(Segment& seg, uint64_t position, const record::BatchHeader& header,
                uint32_t interval_bytes) {
  seg.max_timestamp = std::max(seg.max_timestamp, header.max_timestamp);
  const auto rel = static_cast<uint32_t>(header.base_offset - seg.base.value());
  // Positions only grow, so an entry is never above `position`; the second test keeps a
  // zero interval from indexing one position twice.
  if (position - seg.index.last_position() >= interval_bytes &&
      (seg.index.empty() || position > seg.index.last_position())) {
    seg.index.Append(rel, static_cast<uint32_t>(position));
    seg.time_index.MaybeAppend(seg.max_timestamp, rel);
  }
  seg.last_batch_base = Offset(header.base_offset);
  seg.size = position + header.total_size();
  seg.end_offset = Offset(header.last_offset() + 1);
}

void AddFinalTimeEntry(Segment& seg) {
  if (seg.empty() || !seg.last_batch_base.has_value()) return;
  seg.time_index.MaybeAppend(seg.max_timestamp,
                             static_cast<uint32_t>(seg.relative(*seg.last_batch_base)));
}

Task<Status> WriteIndexFiles(io::FileSystem& fs, Segment& seg) {
  // A file left from an earlier attempt is replaced.
  CO_RETURN_IF_ERROR(co_await CloseFile(std::exchange(seg.unsynced_index, nullptr)));
  CO_RETURN_IF_ERROR(co_await CloseFile(std::exchange(seg.unsynced_time_index, nullptr)));
  CO_ASSIGN_OR_RETURN(seg.unsynced_index,
                      co_await WriteWholeFile(fs, seg.index_path, seg.index.Encode(seg.base)));
  CO_ASSIGN_OR_RETURN(
      seg.unsynced_time_index,
      co_await WriteWholeFile(fs, seg.time_index_path, seg.time_index.Encode(seg.base)));
  co_return Status();
}

Task<Status> SyncIndexFiles(Segment& seg) {
  for (std::unique_ptr<io::File>* f : {&seg.unsynced_index, &seg.unsynced_time_index}) {
    if (*f == nullptr) continue;
    CO_RETURN_IF_ERROR(co_await (*f)->datasync());
    CO_RETURN_IF_ERROR(co_await CloseFile(std::exchange(*f, nullptr)));
  }
  co_return Status();
}

Task<Status> UnlinkSegmentFiles(io::FileSystem& fs, const Segment& seg) {
  Status first;
  for (const std::string* path : {&seg.index_path, &seg.time_index_path, &seg.log_path}) {
    Status st = co_await fs.unlink(*path);
    if (!st.ok() && !absl::IsNotFound(st) && first.ok()) first = st;
  }
  co_return first;
}

}  // namespace spool::log
