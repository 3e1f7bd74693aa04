// The clean-shutdown marker, clean_shutdown (log/FORMAT.md, "Clean-shutdown marker"): written
// by PartitionLog::close() after every segment, index and the checkpoint are durable; removed
// (and the removal made durable) by Open() before the first append. While it is there, Open()
// may skip the recovery scan. It names the log end offset and the active segment's base and
// size, so a marker that does not match the files on disk is not trusted either; a CRC-32C
// covers it, so a torn marker is rejected.
//
// Threading: call on the FileSystem's reactor thread. Encode/Decode are pure.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/io/file_system.h"
#include "common/status.h"
#include "common/strong_int.h"
#include "common/task.h"

namespace spool::log {

struct CleanShutdownMarker {
  Offset log_end_offset;
  Offset active_segment_base;
  uint64_t active_segment_size = 0;
  friend bool operator==(const CleanShutdownMarker&, const CleanShutdownMarker&) = default;
};

[[nodiscard]] std::vector<std::byte> EncodeCleanShutdown(const CleanShutdownMarker& marker);
// Errors: kDataLoss for a wrong size, bad magic, unknown version or flags, or a CRC mismatch.
[[nodiscard]] StatusOr<CleanShutdownMarker> DecodeCleanShutdown(std::span<const std::byte> file);

// Writes dir/clean_shutdown and datasyncs it; the caller syncs the directory afterwards.
[[nodiscard]] Task<Status> WriteCleanShutdown(io::FileSystem& fs, std::string dir,
                                              CleanShutdownMarker marker);
// kNotFound when there is no marker; kDataLoss when it is damaged.
[[nodiscard]] Task<StatusOr<CleanShutdownMarker>> ReadCleanShutdown(io::FileSystem& fs,
                                                                    std::string dir);

}  // namespace spool::log
