// OffsetIndex: a segment's sparse map from offset to file position, kept whole in memory and
// persisted as %020d.index (log/FORMAT.md). One entry names the start of one batch: its base
// offset relative to the segment's base, and its byte position in the .log file. Entries are
// strictly increasing in both. Which batches get an entry is decided by IndexPolicy (segment.h).
//
// A lookup returns the last entry at or below a target; the reader then scans batch headers
// forward from that position, so the index never needs to be exact, only correct.
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

class OffsetIndex {
 public:
  struct Entry {
    uint32_t relative_offset = 0;
    uint32_t position = 0;
    friend bool operator==(const Entry&, const Entry&) = default;
  };

  OffsetIndex() = default;

  // The caller keeps both fields strictly increasing.
  void Append(uint32_t relative_offset, uint32_t position) {
    entries_.push_back(Entry{relative_offset, position});
  }
  // The last entry whose relative offset is <= `relative_offset`; nullopt if none.
  std::optional<Entry> Floor(int64_t relative_offset) const;
  // The last entry whose position is <= `position`; nullopt if none.
  std::optional<Entry> FloorByPosition(uint64_t position) const;
  // Drops every entry at or after `position`.
  void TruncateToPosition(uint64_t position);
  // The last entry's position, or 0 when there is none (the segment start counts as indexed).
  uint64_t last_position() const { return entries_.empty() ? 0 : entries_.back().position; }

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }

  // The file image: header and big-endian entries.
  [[nodiscard]] std::vector<std::byte> Encode(Offset base) const;
  // Parses a file image and checks every entry against the segment: strictly increasing
  // offsets and positions, positions below `log_size`, relative offsets below
  // `relative_end` (the segment's end offset minus its base). Errors: kDataLoss.
  [[nodiscard]] static StatusOr<OffsetIndex> Decode(std::span<const std::byte> file, Offset base,
                                                    uint64_t log_size, int64_t relative_end);

 private:
  std::vector<Entry> entries_;
};

}  // namespace spool::log
