// Producer-state snapshots: a partition's dedup table (producer_state.h) as of an offset, in a
// file `<20-digit offset>.producers` in the partition directory (broker/STATE.md, "Producer-state
// snapshots", has the layout and the rules). Loading a snapshot and applying the log's batch
// headers from its offset on (producer_state_loader.h) rebuilds the table without reading the
// whole log, and keeps producers whose last batch is far back in the log.
//
// The rule that makes a snapshot safe to use: a snapshot at offset X describes the log's history
// below X, so it may be used only while the log below X is that history. The writer
// (broker/partition.h) takes one only of a durable prefix and deletes, durably, every snapshot
// above the log end after a truncation before the log grows again; the loader deletes those
// outside [log start, log end] at open.
//
// Durability: WriteProducerSnapshot() replaces the file atomically (temp file, fdatasync,
// rename, directory sync): when it returns OK the snapshot survives a crash, and before that a
// crash leaves no file of that name (a leftover `.tmp` is deleted by the log's recovery, or by
// DeleteProducerSnapshotsOutside). DeleteProducerSnapshotsOutside() syncs the directory when it
// deleted anything, so the deletions are durable when it returns OK.
//
// Threading: call the Tasks on the FileSystem's reactor thread. Encode/Decode and the name
// helpers are pure. Ownership: `fs` must outlive the Tasks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/producer_state.h"
#include "common/io/file_system.h"
#include "common/status.h"
#include "common/strong_int.h"
#include "common/task.h"

namespace spool::broker {

inline constexpr std::string_view kProducerSnapshotSuffix = ".producers";
inline constexpr uint32_t kProducerSnapshotMagic = 0x53505053;  // "SPPS"
inline constexpr uint16_t kProducerSnapshotVersion = 1;
// The high byte of the 16-bit flags is must-understand (log/FORMAT.md, "Conventions").
inline constexpr uint16_t kProducerSnapshotMustUnderstandFlags = 0xFF00;
inline constexpr size_t kProducerSnapshotPreambleSize = 12;   // magic, version, flags, body length
inline constexpr size_t kProducerSnapshotFixedBodySize = 12;  // offset, producer count
inline constexpr size_t kProducerSnapshotProducerSize = 12;   // id, epoch, flags, batch count
inline constexpr size_t kProducerSnapshotBatchSize = 24;      // 2 sequences, 2 offsets
// A file larger than this is damage (about 4 million producers of 5 batches).
inline constexpr uint64_t kProducerSnapshotMaxSize = uint64_t{512} << 20;

// "00000000000000000042.producers" for 42.
[[nodiscard]] std::string ProducerSnapshotName(Offset offset);
// The offset a file name encodes when it is exactly 20 digits and ".producers"; else nullopt.
[[nodiscard]] std::optional<Offset> ParseProducerSnapshotName(std::string_view name);

struct ProducerSnapshot {
  Offset offset;  // the table is the one the log's batches below this offset give
  ProducerStateTable table;
};

// The file's bytes. Every cached batch of `table` must end below `offset` (the caller's
// invariant; the decoder refuses a file that breaks it).
[[nodiscard]] std::vector<std::byte> EncodeProducerSnapshot(Offset offset,
                                                            const ProducerStateTable& table);
// Errors (all kDataLoss, never trusted): a short file, bad magic, another version, unknown
// must-understand flags, a body length that does not match the file, a CRC mismatch, a
// negative offset, producer ids not strictly increasing or negative, a producer with no batch
// or more than kMaxCachedBatches, a batch whose offsets are out of order or not below the
// snapshot's offset.
[[nodiscard]] StatusOr<ProducerSnapshot> DecodeProducerSnapshot(std::span<const std::byte> file);

// Atomically and durably writes dir/ProducerSnapshotName(offset) with the table as of `offset`.
// kResourceExhausted (nothing written) when the file would exceed kProducerSnapshotMaxSize.
[[nodiscard]] Task<Status> WriteProducerSnapshot(io::FileSystem& fs, std::string dir, Offset offset,
                                                 const ProducerStateTable& table);
// The offsets of the snapshot files in `dir`, ascending (other names are ignored).
[[nodiscard]] Task<StatusOr<std::vector<Offset>>> ListProducerSnapshots(io::FileSystem& fs,
                                                                        std::string dir);
// Reads and decodes one. kNotFound when it is missing; kDataLoss when it is damaged or its
// stored offset is not the one its name says; other errors are I/O errors (not damage).
[[nodiscard]] Task<StatusOr<ProducerSnapshot>> ReadProducerSnapshot(io::FileSystem& fs,
                                                                    std::string dir, Offset offset);
// Deletes every snapshot whose offset is below `low` or above `high`, and leftover snapshot
// temp files, then syncs `dir` if anything was deleted. Returns how many snapshots went.
[[nodiscard]] Task<StatusOr<size_t>> DeleteProducerSnapshotsOutside(io::FileSystem& fs,
                                                                    std::string dir, Offset low,
                                                                    Offset high);
// Deletes one snapshot (missing is OK) without syncing the directory: for a damaged file, or an
// old one past the number kept, whose deletion needs no ordering.
[[nodiscard]] Task<Status> DeleteProducerSnapshot(io::FileSystem& fs, std::string dir,
                                                  Offset offset);
// Deletes all but the newest `keep` snapshots (no directory sync: see above).
[[nodiscard]] Task<Status> KeepNewestProducerSnapshots(io::FileSystem& fs, std::string dir,
                                                       size_t keep);

}  // namespace spool::broker
