// The 32-byte header shared by the two index files of a segment (%020d.index and
// %020d.timeindex): magic, version, entry size, the segment's base offset, the entry count,
// flags and a CRC-32C over the header and every entry (log/FORMAT.md, "Index files").
//
// An index file is always written whole (when its segment is sealed, at close, or after a
// rebuild), so the CRC and the count let a reader reject a torn or stale file and rebuild the
// index from the segment instead of trusting it.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/strong_int.h"
#include "log/log_format.h"

namespace spool::log {

struct IndexFileKind {
  uint32_t magic;
  uint16_t entry_size;
  std::string_view what;  // for error messages
};
inline constexpr IndexFileKind kOffsetIndexKind{kOffsetIndexMagic, kOffsetIndexEntrySize,
                                                "offset index"};
inline constexpr IndexFileKind kTimeIndexKind{kTimeIndexMagic, kTimeIndexEntrySize, "time index"};

// The whole file: header (CRC filled) followed by `entries` (count * entry_size bytes).
[[nodiscard]] std::vector<std::byte> EncodeIndexFile(const IndexFileKind& kind, Offset base,
                                                     std::span<const std::byte> entries);

// Checks magic, version, entry size, base offset, flags, that the file holds exactly the
// counted entries, and the CRC. Returns the entry bytes (a view into `file`). Errors: kDataLoss
// with a message saying what is wrong.
[[nodiscard]] StatusOr<std::span<const std::byte>> DecodeIndexFile(const IndexFileKind& kind,
                                                                   Offset base,
                                                                   std::span<const std::byte> file);

}  // namespace spool::log
