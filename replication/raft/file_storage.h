// FileStorage: the durable storage of one Raft voter on io::FileSystem, with the recovery
// guarantees of log/ (replication/raft/README.md, "File storage" has the formats):
//
//   dir/raft.state     term and vote; replaced atomically (temp file, fdatasync, rename,
//                      directory fsync), CRC-checked
//   dir/raft.snapshot  the latest snapshot (meta and state-machine image); replaced atomically
//   dir/raft.log       a header naming the entry before the first record, then one record per
//                      entry, each with its length and CRC-32C
//
// Persist() performs step 1 of the Ready contract (ready.h): when it returns OK, everything it
// was given is durable and the driver may report it (OnPersisted / OnSnapshotPersisted) and
// send the Ready's messages. Overwriting a suffix first cuts the file and fdatasyncs the cut, so
// that a torn tail can never leave a new entry behind old ones. A snapshot rewrites the log file
// to start after it (atomically).
//
// Recovery (Open): leftover temp files are removed, the state and snapshot files must decode
// (a damaged one is kDataLoss, never ignored: forgetting a vote is unsafe), and the log is
// scanned: the first record that is torn, fails its CRC, is of an unknown type, or does not
// continue the index sequence ends it, and the file is cut there. A log that does not hold the
// snapshot's last entry (a snapshot received from the leader was made durable but the log was
// not rewritten yet) is reset to start after the snapshot.
//
// Not modelled: corruption of synced bytes in the middle of the log loses the entries after it
// (like log/); Raft's safety assumes durable data stays durable.
//
// Ownership and threading: borrows `fs`, which must outlive it; call it on fs's reactor thread,
// one call at a time. After a failed Persist() the on-disk state is unknown: every later call
// fails with kFailedPrecondition; reopen (restart the node) to recover.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/io/file_system.h"
#include "common/status.h"
#include "common/task.h"
#include "replication/raft/file_format.h"
#include "replication/raft/ready.h"
#include "replication/raft/types.h"

namespace spool::raft {

struct FileStorageRecovery {
  uint64_t entries = 0;       // entries recovered after the snapshot
  uint64_t bytes_cut = 0;     // torn or corrupt bytes cut from the end of the log
  bool log_reset = false;     // the log did not match the snapshot and was reset
  uint64_t temp_removed = 0;  // leftover temp files removed
};

class FileStorage {
 public:
  // Opens (creating `dir` and the files if missing) and recovers.
  [[nodiscard]] static Task<StatusOr<std::unique_ptr<FileStorage>>> Open(io::FileSystem& fs,
                                                                         std::string dir);
  ~FileStorage();
  FileStorage(const FileStorage&) = delete;
  FileStorage& operator=(const FileStorage&) = delete;

  // The state recovered by Open(), to build the RaftNode from. Moves it out: call once.
  RecoveredState TakeRecovered() { return std::move(recovered_); }
  const FileStorageRecovery& recovery() const { return recovery_; }

  // Makes a Ready's writes durable (ready.h step 1). Entries overlapping the snapshot are
  // skipped. kInternal when `entries` would leave a gap after the stored log;
  // kInvalidArgument for a snapshot older than the one the log starts after.
  [[nodiscard]] Task<Status> Persist(std::optional<HardState> hard_state,
                                     std::shared_ptr<const Snapshot> snapshot,
                                     std::vector<Entry> entries);
  [[nodiscard]] Task<Status> Close();

  // The stored log's last index (the snapshot's when the log is empty).
  Index last_index() const;

 private:
  struct RecordPos {
    Index index;
    Term term;
    uint64_t offset;
  };

  FileStorage(io::FileSystem& fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}
  Task<Status> Recover();
  Task<Status> RewriteLog(file_format::LogHeader header, std::vector<std::byte> records,
                          uint64_t records_from);
  Task<Status> PersistSnapshot(std::shared_ptr<const Snapshot> snapshot);
  Task<Status> PersistEntries(std::vector<Entry> entries);
  std::string Path(const char* name) const { return dir_ + "/" + name; }

  io::FileSystem& fs_;
  std::string dir_;
  std::unique_ptr<io::File> log_;
  file_format::LogHeader header_;
  std::vector<RecordPos> records_;  // every record in raft.log, in order
  uint64_t end_ = 0;                // raft.log's size
  bool failed_ = false;
  RecoveredState recovered_;
  FileStorageRecovery recovery_;
};

}  // namespace spool::raft
