#include "log/time_index.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/byte_order.h"
#include "log/index_file.h"

namespace spool::log {

bool TimeIndex::MaybeAppend(int64_t timestamp, uint32_t relative_offset) {
  if (!entries_.empty() && timestamp <= entries_.back().timestamp) return false;
  entries_.push_back(Entry{timestamp, relative_offset});
  return true;
}

std::optional<TimeIndex::Entry> TimeIndex::LastBefore(int64_t timestamp) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), timestamp,
                             [](const Entry& e, int64_t ts) { return e.timestamp < ts; });
  if (it == entries_.begin()) return std::nullopt;
  return *std::prev(it);
}

void TimeIndex::TruncateToOffset(int64_t relative_offset) {
  auto it = std::lower_bound(
      entries_.begin(), entries_.end(), relative_offset,
      [](const Entry& e, int64_t rel) { return static_cast<int64_t>(e.relative_offset) < rel; });
  entries_.erase(it, entries_.end());
}

std::vector<std::byte> TimeIndex::Encode(Offset base) const {
  std::vector<std::byte> body(entries_.size() * kTimeIndexEntrySize);
  std::byte* p = body.data();
  for (const Entry& e : entries_) {
    StoreBigEndian<int64_t>(p, e.timestamp);
    StoreBigEndian<uint32_t>(p + 8, e.relative_offset);
    p += kTimeIndexEntrySize;
  }
  return EncodeIndexFile(kTimeIndexKind, base, body);
}

StatusOr<TimeIndex> TimeIndex::Decode(std::span<const std::byte> file, Offset base,
                                      int64_t relative_end) {
  ASSIGN_OR_RETURN(std::span<const std::byte> body, DecodeIndexFile(kTimeIndexKind, base, file));
  TimeIndex index;
  index.entries_.reserve(body.size() / kTimeIndexEntrySize);
  for (size_t i = 0; i < body.size(); i += kTimeIndexEntrySize) {
    Entry e{LoadBigEndian<int64_t>(body.data() + i), LoadBigEndian<uint32_t>(body.data() + i + 8)};
    const size_t n = i / kTimeIndexEntrySize;
    auto bad = [&](std::string_view why) {
      return absl::DataLossError(
          absl::StrCat("time index of segment ", base.value(), ": entry ", n, " ", AbslView(why)));
    };
    if (static_cast<int64_t>(e.relative_offset) >= relative_end) {
      return bad("names an offset past the segment's end");
    }
    if (!index.entries_.empty()) {
      const Entry& prev = index.entries_.back();
      if (e.timestamp <= prev.timestamp) return bad("timestamp is not above the entry before it");
      if (e.relative_offset < prev.relative_offset) return bad("offset goes backwards");
    }
    index.entries_.push_back(e);
  }
  return index;
}

}  // namespace spool::log
