#include "log/offset_index.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/byte_order.h"
#include "log/index_file.h"

namespace spool::log {

std::optional<OffsetIndex::Entry> OffsetIndex::Floor(int64_t relative_offset) const {
  if (relative_offset < 0) return std::nullopt;
  auto it = std::upper_bound(entries_.begin(), entries_.end(), relative_offset,
                             [](int64_t rel, const Entry& e) { return rel < e.relative_offset; });
  if (it == entries_.begin()) return std::nullopt;
  return *std::prev(it);
}

std::optional<OffsetIndex::Entry> OffsetIndex::FloorByPosition(uint64_t position) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), position,
                             [](uint64_t pos, const Entry& e) { return pos < e.position; });
  if (it == entries_.begin()) return std::nullopt;
  return *std::prev(it);
}

void OffsetIndex::TruncateToPosition(uint64_t position) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), position,
                             [](const Entry& e, uint64_t pos) { return e.position < pos; });
  entries_.erase(it, entries_.end());
}

std::vector<std::byte> OffsetIndex::Encode(Offset base) const {
  std::vector<std::byte> body(entries_.size() * kOffsetIndexEntrySize);
  std::byte* p = body.data();
  for (const Entry& e : entries_) {
    StoreBigEndian<uint32_t>(p, e.relative_offset);
    StoreBigEndian<uint32_t>(p + 4, e.position);
    p += kOffsetIndexEntrySize;
  }
  return EncodeIndexFile(kOffsetIndexKind, base, body);
}

StatusOr<OffsetIndex> OffsetIndex::Decode(std::span<const std::byte> file, Offset base,
                                          uint64_t log_size, int64_t relative_end) {
  ASSIGN_OR_RETURN(std::span<const std::byte> body, DecodeIndexFile(kOffsetIndexKind, base, file));
  OffsetIndex index;
  index.entries_.reserve(body.size() / kOffsetIndexEntrySize);
  for (size_t i = 0; i < body.size(); i += kOffsetIndexEntrySize) {
    Entry e{LoadBigEndian<uint32_t>(body.data() + i), LoadBigEndian<uint32_t>(body.data() + i + 4)};
    const size_t n = i / kOffsetIndexEntrySize;
    auto bad = [&](std::string_view why) {
      return absl::DataLossError(absl::StrCat("offset index of segment ", base.value(), ": entry ",
                                              n, " ", AbslView(why)));
    };
    if (e.position >= log_size) return bad("points past the end of the log file");
    if (static_cast<int64_t>(e.relative_offset) >= relative_end) {
      return bad("names an offset past the segment's end");
    }
    if (!index.entries_.empty()) {
      const Entry& prev = index.entries_.back();
      if (e.relative_offset <= prev.relative_offset || e.position <= prev.position) {
        return bad("is not above the entry before it");
      }
    }
    index.entries_.push_back(e);
  }
  return index;
}

}  // namespace spool::log
