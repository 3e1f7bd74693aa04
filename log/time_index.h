// TimeIndex: a segment's sparse map from timestamp to offset, kept whole in memory and
// persisted as %020d.timeindex (log/FORMAT.md). An entry (T, r) says: the largest batch
// maxTimestamp among the segment's batches up to and including the batch whose base offset is
// segment base + r is T. Timestamps strictly increase from entry to entry and relative offsets
// do not decrease, so if T < target then no record at or before that batch has a timestamp
// >= target, and a timestamp lookup may start scanning there.
//
// Entries are added next to offset-index entries (IndexPolicy, segment.h) and once more when
// the segment is sealed, so the last entry of a sealed segment holds its largest timestamp.
//
// Threading: a plain value, owned by its Segment; used on the partition's reactor thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/status.h"
#include "common/strong_int.h"

namespace spool::log {

class TimeIndex {
 public:
  struct Entry {
    int64_t timestamp = 0;
    uint32_t relative_offset = 0;
    friend bool operator==(const Entry&, const Entry&) = default;
  };

  TimeIndex() = default;

  // Appends (timestamp, relative_offset) when timestamp is above the last entry's (or there is
  // none); otherwise does nothing. Returns whether it appended.
  bool MaybeAppend(int64_t timestamp, uint32_t relative_offset);
  // The last entry whose timestamp is < `timestamp`; nullopt if none.
  std::optional<Entry> LastBefore(int64_t timestamp) const;
  // Drops every entry whose relative offset is >= `relative_offset`.
  void TruncateToOffset(int64_t relative_offset);
  std::optional<Entry> last() const {
    if (entries_.empty()) return std::nullopt;
    return entries_.back();
  }

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }

  [[nodiscard]] std::vector<std::byte> Encode(Offset base) const;
  // Parses a file image and checks every entry: strictly increasing timestamps, relative
  // offsets not decreasing and below `relative_end`. Errors: kDataLoss.
  [[nodiscard]] static StatusOr<TimeIndex> Decode(std::span<const std::byte> file, Offset base,
                                                  int64_t relative_end);

 private:
  std::vector<Entry> entries_;
};

}  // namespace spool::log
