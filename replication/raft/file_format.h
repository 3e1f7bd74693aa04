// The on-disk formats of FileStorage (replication/raft/README.md, "File storage formats", has
// the byte tables). Encoders and decoders only: pure functions, no I/O. Integers are
// little-endian; every checksum is CRC-32C (common/crc32c.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/status.h"
#include "replication/raft/types.h"

namespace spool::raft::file_format {

inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kStateSize = 28;      // raft.state
inline constexpr size_t kLogHeaderSize = 32;  // raft.log header
inline constexpr size_t kRecordHeaderSize = 8;
inline constexpr size_t kEntryFixedSize = 20;  // record payload before the entry's data
inline constexpr uint32_t kMaxRecordPayload = 64u << 20;
inline constexpr uint64_t kMaxSnapshotFile = 1ull << 32;
inline constexpr uint8_t kRecordEntry = 1;  // record type 0 is reserved (zeroed space)

std::vector<std::byte> EncodeState(const HardState& hs);
// kDataLoss for a wrong size, magic, version, flags or CRC.
[[nodiscard]] StatusOr<HardState> DecodeState(std::span<const std::byte> bytes);

std::vector<std::byte> EncodeSnapshot(const Snapshot& snap);
[[nodiscard]] StatusOr<Snapshot> DecodeSnapshot(std::span<const std::byte> bytes);

// The log file starts with a header naming the entry just before its first record (the base:
// (0, 0) for a log that starts at index 1, the snapshot's last entry after a compaction).
struct LogHeader {
  Index base_index;
  Term base_term;
};
std::vector<std::byte> EncodeLogHeader(const LogHeader& h);
[[nodiscard]] StatusOr<LogHeader> DecodeLogHeader(std::span<const std::byte> bytes);

// Appends one entry record to `out`.
void AppendEntryRecord(const Entry& e, std::vector<std::byte>& out);

// Reads the record at the start of `bytes`. nullopt when there is no whole valid record there
// (end of data, zeroed space, a torn or corrupt record, or an unknown record type): the reader
// stops and the log is cut at that point. Sets *size to the record's length in bytes.
[[nodiscard]] std::optional<Entry> DecodeEntryRecord(std::span<const std::byte> bytes,
                                                     size_t* size);

}  // namespace spool::raft::file_format
