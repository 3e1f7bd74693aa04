// Whole-file helpers over io::FileSystem for the storage engine's small files (checkpoints,
// the clean-shutdown marker, index files).
//
// Threading: like the FileSystem, call on its reactor's thread. `fs` must outlive the Tasks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/io/file_system.h"
#include "common/status.h"
#include "common/task.h"

namespace spool::log {

// Reads the whole file at `path`. Errors: kNotFound when it is missing, kDataLoss when it is
// larger than `max_size` (never trusted enough to allocate for), kAborted when it shrinks during
// the read, I/O errors as they come.
[[nodiscard]] Task<StatusOr<std::vector<std::byte>>> ReadWholeFile(io::FileSystem& fs,
                                                                   std::string path,
                                                                   uint64_t max_size);

// Replaces dir/name atomically and durably: writes dir/name.tmp, datasyncs and closes it,
// renames it over dir/name, then syncs the directory. A crash at any point leaves either the
// old file or the new one (plus, at worst, a leftover .tmp that recovery removes).
[[nodiscard]] Task<Status> WriteFileAtomically(io::FileSystem& fs, std::string dir,
                                               std::string name, std::vector<std::byte> bytes);

// Writes `bytes` as the whole content of `path` (created if missing, cut to size if longer) and
// returns the open file so the caller can datasync it when its ordering rules say so. Not
// atomic: use it only for files whose readers detect a torn write (index files carry a CRC).
[[nodiscard]] Task<StatusOr<std::unique_ptr<io::File>>> WriteWholeFile(
    io::FileSystem& fs, std::string path, std::vector<std::byte> bytes);

// Closes `file` (if any) and returns the first error of `first` and the close.
[[nodiscard]] Task<Status> CloseFile(std::unique_ptr<io::File> file, Status first = Status());

}  // namespace spool::log
