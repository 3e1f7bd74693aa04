// FileSystem / File: the seam every storage component does its file I/O through (LevelDB's Env,
// RocksDB's FileSystem). The real implementation issues each call through a Reactor
// (NewReactorFileSystem); the fault-injecting wrapper (fault_file_system.h) sits on top of any
// FileSystem for crash and error tests.
//
// Threading: a FileSystem and the Files it opens belong to one reactor; call them only from that
// reactor's thread. Durability: bytes written by write_at() are visible to read_at() at once and
// durable only after datasync() on that File returns OK. A file's *name* (create, rename, unlink)
// is durable only after sync_dir() on its parent directory returns OK.
//
// Paths are passed by value because the calls are coroutines (see task.h lifetime rule).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/task.h"

namespace spool::io {

class Reactor;

enum class OpenMode {
  kRead,             // existing file, read only
  kReadWrite,        // existing file, read and write
  kCreate,           // read and write, created if missing
  kCreateExclusive,  // read and write, must not exist yet (kAlreadyExists otherwise)
};

class File {
 public:
  virtual ~File() = default;

  // Reads up to buf.size() bytes at `offset`. Returns fewer only at end of file.
  virtual Task<StatusOr<size_t>> read_at(uint64_t offset, std::span<std::byte> buf) = 0;
  // Writes all of `buf` at `offset`, extending the file if needed.
  virtual Task<Status> write_at(uint64_t offset, std::span<const std::byte> buf) = 0;
  // Makes every byte written so far (and the file's size) durable.
  virtual Task<Status> datasync() = 0;
  // Reserves disk blocks for [offset, offset+len) without changing the file's size
  // (FALLOC_FL_KEEP_SIZE), so later appends do not allocate. Optional: may return kUnimplemented.
  virtual Task<Status> allocate(uint64_t offset, uint64_t len) = 0;
  // Sets the file's size; durable after the next datasync().
  virtual Task<Status> truncate(uint64_t size) = 0;
  virtual Task<StatusOr<uint64_t>> size() = 0;
  // Closes the file. Destroying an open File closes it without waiting (errors are lost).
  virtual Task<Status> close() = 0;
  // The kernel fd for zero-copy paths (sendfile/splice), or -1 when there is none.
  virtual int native_handle() const = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Task<StatusOr<std::unique_ptr<File>>> open(std::string path, OpenMode mode) = 0;
  // Atomically replaces `to` with `from` (rename(2)).
  virtual Task<Status> rename(std::string from, std::string to) = 0;
  virtual Task<Status> unlink(std::string path) = 0;
  // Creates one directory; kAlreadyExists if it is there.
  virtual Task<Status> mkdir(std::string path) = 0;
  virtual Task<Status> rmdir(std::string path) = 0;
  // Makes the directory's entries (creates, renames, unlinks inside it) durable.
  virtual Task<Status> sync_dir(std::string path) = 0;
  // Entry names of a directory, sorted, without "." and "..".
  virtual Task<StatusOr<std::vector<std::string>>> list_dir(std::string path) = 0;
  // kNotFound when there is nothing at `path`.
  virtual Task<StatusOr<uint64_t>> file_size(std::string path) = 0;
};

// A FileSystem that does every call through `reactor` (which must outlive it).
std::unique_ptr<FileSystem> NewReactorFileSystem(Reactor& reactor);

// Creates `path` and any missing parents (like mkdir -p) and syncs each new entry's parent.
Task<Status> CreateDirs(FileSystem& fs, std::string path);

}  // namespace spool::io
