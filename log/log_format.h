// Constants of the partition directory's files. log/FORMAT.md is the document: every layout
// table, the byte order (big-endian throughout), what each CRC covers and what recovery does
// with each kind of damage. This header only names the numbers the code shares, and checks the
// sizes the document states.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "common/strong_int.h"

namespace spool::log {

// ---- file names inside a partition directory ----
inline constexpr std::string_view kLogSuffix = ".log";              // %020d.log: batches
inline constexpr std::string_view kIndexSuffix = ".index";          // %020d.index
inline constexpr std::string_view kTimeIndexSuffix = ".timeindex";  // %020d.timeindex
inline constexpr std::string_view kTmpSuffix = ".tmp";              // a file being written
inline constexpr std::string_view kCheckpointName = "log.checkpoint";
inline constexpr std::string_view kCleanShutdownName = "clean_shutdown";
inline constexpr size_t kOffsetDigits = 20;

// "00000000000000000042" for 42.
std::string SegmentStem(Offset base);
// The base offset a file name encodes when it is exactly 20 digits followed by `suffix`.
std::optional<Offset> ParseSegmentName(std::string_view name, std::string_view suffix);
std::string JoinPath(std::string_view dir, std::string_view name);

// Debian's abseil keeps its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0), which
// absl::StrCat takes and std::string_view does not convert to: this bridges one without a copy.
inline absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// ---- index files (%020d.index, %020d.timeindex) ----
inline constexpr uint32_t kOffsetIndexMagic = 0x53504F49;  // "SPOI"
inline constexpr uint32_t kTimeIndexMagic = 0x53505449;    // "SPTI"
inline constexpr uint16_t kIndexVersion = 1;
inline constexpr size_t kIndexHeaderSize = 32;
inline constexpr size_t kIndexMagicPos = 0;
inline constexpr size_t kIndexVersionPos = 4;
inline constexpr size_t kIndexEntrySizePos = 6;
inline constexpr size_t kIndexBaseOffsetPos = 8;
inline constexpr size_t kIndexEntryCountPos = 16;
inline constexpr size_t kIndexFlagsPos = 20;
inline constexpr size_t kIndexReservedPos = 24;
inline constexpr size_t kIndexCrcPos = 28;          // CRC-32C of [0, kIndexCrcPos) then the entries
inline constexpr size_t kOffsetIndexEntrySize = 8;  // relative offset u32, position u32
inline constexpr size_t kTimeIndexEntrySize = 12;   // timestamp i64, relative offset u32
static_assert(kIndexCrcPos + 4 == kIndexHeaderSize);
static_assert(kIndexReservedPos + 4 == kIndexCrcPos);

// Flags words (index files, checkpoint): the low 16 bits are features a reader may ignore, the
// high 16 bits are features a reader must understand; a set bit it does not know there makes
// the file unreadable (treated as damaged). Version 1 defines no bits.
inline constexpr uint32_t kMustUnderstandFlagsMask = 0xFFFF0000u;

// ---- checkpoint file (log.checkpoint) ----
inline constexpr uint32_t kCheckpointMagic = 0x5350434B;  // "SPCK"
inline constexpr uint16_t kCheckpointVersion = 1;
inline constexpr size_t kCheckpointPreambleSize = 12;    // magic, version, flags, body length
inline constexpr size_t kCheckpointFixedBodySize = 28;   // rp, log start, hw, epoch count
inline constexpr size_t kCheckpointEpochEntrySize = 12;  // epoch i32, start offset i64
inline constexpr size_t kCheckpointMaxEpochs = 1 << 16;
// The checkpoint's flags word is 16 bits: its high byte holds the must-understand bits.
inline constexpr uint16_t kCheckpointMustUnderstandFlags = 0xFF00;

// ---- clean-shutdown marker (clean_shutdown) ----
inline constexpr uint32_t kCleanShutdownMagic = 0x53504353;  // "SPCS"
inline constexpr uint16_t kCleanShutdownVersion = 1;
inline constexpr size_t kCleanShutdownSize = 36;

// A timestamp no batch has: the "max timestamp" of an empty segment.
inline constexpr int64_t kNoTimestamp = INT64_MIN;

}  // namespace spool::log
