// FaultFileSystem: an io::FileSystem for crash and error tests. It wraps any other FileSystem
// (normally NewReactorFileSystem over a temporary directory), forwards every call to it, and
// keeps just enough bookkeeping to do what a real disk cannot be made to do on demand:
//
//   * SimulatePowerCut(): put the base file system back into the state a power cut would leave
//     (only what datasync() and sync_dir() made durable survives), then invalidate every File
//     opened through the wrapper, so the test "reboots" by reopening through it (or the base).
//   * FailNextWrites / FailNextSyncs / FailNextDirSyncs / SetWriteBudget: inject EIO, ENOSPC or
//     any errno into the next calls, as ErrnoStatus() so ErrnoOf() reports the errno.
//   * HoldSyncs / ReleaseSyncs: a gate that parks datasync() calls on the reactor until the test
//     opens it, so appends can pile up behind an fsync with no sleep. sync_count() and
//     syncs_waiting() let a test assert group-commit coalescing and wait for the pile-up.
//
// It lives in spool_test_support only; production code never links it.
//
// What a power cut models (the POSIX rules a careful program must follow, and no more):
//   * File data: per file (inode), the durable image is its size and bytes as of the last
//     datasync() that returned OK on any File of it. Bytes written later are dropped; writes
//     that overwrote bytes below the durable size are undone byte for byte; truncate() after the
//     sync (shrink or grow) is undone too. The wrapper keeps an undo record: before a write or a
//     shrinking truncate changes bytes below a durable size, it reads the old bytes once.
//     A datasync() covers the writes and truncates that *completed* before it was called; one
//     still in flight then, or issued while the sync is held or running, is not covered by it.
//   * Names: a directory's entries are durable as of its last sync_dir(). A file or directory
//     created (open with kCreate/kCreateExclusive, mkdir) and not yet synced in its parent
//     disappears with everything in it, even data that was datasync'd. A rename not yet synced
//     is reverted, and a target it replaced comes back with its old content. An unlink or rmdir
//     not yet synced is reverted (the wrapper renames the victim into the scratch directory and
//     really deletes it only once the change is durable). A rename is one atomic change, as on
//     a journaling file system: syncing either the source or the destination directory makes it
//     durable, and a chain of renames of the same file commits as a whole.
//   * Optional torn tail (PowerCutOptions::torn_tail): instead of dropping every byte a file
//     gained past its durable size, keep a random prefix of them (length uniform in
//     [0, gained], from a seed). Overwrites below the durable size are still undone in full.
//   * Not modelled: torn writes below the durable size, reordering between the bytes of one
//     write, sector zeroing, metadata other than size (mtime, mode), allocate() reservations
//     (forwarded; not undone, not counted in the write budget), the Linux behaviour of dropping
//     dirty pages after a failed fsync, hard links and symlinks (paths are normalised
//     lexically). Only changes made through the wrapper are tracked: a file or directory counts
//     as durable as it is when the wrapper first sees it (so a test may plant or corrupt files
//     through the base before opening them through the wrapper), but a change made behind its
//     back to a file it already tracks (through the base or File::native_handle()) may be
//     undone or kept by the next power cut.
//
// Scratch directory: the constructor takes a directory (created if missing, emptied on first
// use) that holds unlinked, replaced and staged entries. It must be on the same file system as
// the files under test (rename(2) cannot cross file systems) and should not be inside a tree the
// test inspects through the base; list_dir() through the wrapper hides it.
//
// Ownership and threading: the wrapper borrows `reactor` and `base`, which must outlive it, and
// it must outlive every File it opens. Like the base, it and its Files belong to one reactor:
// call them only from that reactor's thread. SimulatePowerCut() must not run while another call
// on the wrapper or its Files is in flight (except datasync() calls parked at the gate, which
// then fail with kFailedPrecondition); it returns kFailedPrecondition if one is.
#pragma once

#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/io/event.h"
#include "common/io/file_system.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"

namespace spool::testing {

namespace fault_detail {
struct Node;      // a file or directory the wrapper has seen (fault_file_system.cc)
struct FileData;  // the durable image and undo record of one file
class FaultFile;  // the File the wrapper hands out
}  // namespace fault_detail

struct PowerCutOptions {
  // Keep a random prefix of each file's bytes past its durable size instead of none.
  bool torn_tail = false;
  // Seeds the torn-tail lengths (use spool::testing::TestSeed()).
  uint64_t seed = 0;
};

// Counters since construction; read on the reactor thread.
struct FaultStats {
  uint64_t syncs = 0;            // datasync() calls that reached the base and returned OK
  uint64_t dir_syncs = 0;        // sync_dir() calls that returned OK
  uint64_t writes = 0;           // write_at() calls that returned OK
  uint64_t bytes_written = 0;    // bytes of those writes
  uint64_t injected_errors = 0;  // calls failed on purpose (FailNext*, write budget)
  uint64_t power_cuts = 0;       // completed SimulatePowerCut() calls
};

class FaultFileSystem final : public io::FileSystem {
 public:
  FaultFileSystem(io::Reactor& reactor, io::FileSystem& base, std::string scratch_dir);
  ~FaultFileSystem() override;
  FaultFileSystem(const FaultFileSystem&) = delete;
  FaultFileSystem& operator=(const FaultFileSystem&) = delete;

  // ---- io::FileSystem (forwarded to the base, with bookkeeping and injected faults) ----
  Task<StatusOr<std::unique_ptr<io::File>>> open(std::string path, io::OpenMode mode) override;
  Task<Status> rename(std::string from, std::string to) override;
  Task<Status> unlink(std::string path) override;
  Task<Status> mkdir(std::string path) override;
  Task<Status> rmdir(std::string path) override;
  Task<Status> sync_dir(std::string path) override;
  Task<StatusOr<std::vector<std::string>>> list_dir(std::string path) override;
  Task<StatusOr<uint64_t>> file_size(std::string path) override;

  // ---- power cut ----
  // Rewrites the base file system into the durable state described above, empties the scratch
  // directory, forgets all bookkeeping and makes every File opened so far return
  // kFailedPrecondition (close() still releases its descriptor). Held syncs stay held for
  // datasync() calls made afterwards.
  [[nodiscard]] Task<Status> SimulatePowerCut(PowerCutOptions options = {});

  // ---- error injection (each takes effect for calls that start afterwards) ----
  // The next `n` write_at() calls fail with `err` and write nothing.
  void FailNextWrites(int n, int err = EIO);
  // The next `n` datasync() calls fail with `err` (checked after the gate) and sync nothing.
  void FailNextSyncs(int n, int err = EIO);
  // The next `n` sync_dir() calls fail with `err` and make nothing durable.
  void FailNextDirSyncs(int n, int err = EIO);
  // From now on write_at() may write `bytes` more bytes in total; a write that does not fit in
  // what is left writes nothing and fails with ENOSPC (later smaller writes may still fit).
  void SetWriteBudget(uint64_t bytes);
  void ClearWriteBudget();
  // Clears every injected fault above (not the sync gate).
  void ClearFaults();

  // ---- delayed fdatasync ----
  // While held, datasync() suspends (after taking its durability snapshot) until ReleaseSyncs().
  void HoldSyncs();
  // Lets every parked datasync() continue on the reactor's next turn, in call order.
  void ReleaseSyncs();
  bool syncs_held() const { return gate_ != nullptr; }
  // datasync() calls parked at the gate right now.
  int syncs_waiting() const { return syncs_waiting_; }
  // Successful datasync() calls so far (== stats().syncs).
  uint64_t sync_count() const { return stats_.syncs; }
  const FaultStats& stats() const { return stats_; }

 private:
  friend class fault_detail::FaultFile;
  using Node = fault_detail::Node;
  struct OpGuard;

  // Faults: consumes one of `remaining` and returns the errno to fail with now, or 0.
  int TakeFault(int& remaining, int err);
  // kFailedPrecondition while a power cut is being simulated.
  Status Admit() const;
  // Absolute, lexically normal form of `path`.
  std::string Normalize(const std::string& path) const;
  std::string PathOf(const Node* node) const;
  // The node at `parent`/`name`, discovering an entry that exists on disk; nullptr if none.
  Task<StatusOr<Node*>> Lookup(Node* parent, std::string name);
  // The node at an absolute normal path; kNotFound if some component is missing.
  Task<StatusOr<Node*>> Resolve(std::string path);
  // Resolves the parent directory of `path` and sets `*name` to the last component.
  Task<StatusOr<Node*>> ResolveParent(std::string path, std::string* name);
  Node* NewNode(Node* parent, const std::string& name, bool is_dir, bool durable);
  void MoveInModel(Node* node, Node* parent, const std::string& name);
  // Forgets every node: what is on disk now counts as durable.
  void ResetModel();
  // Creates (or empties) the scratch directory once; concurrent callers wait for the first.
  Task<Status> EnsureScratch();
  Task<Status> PrepareScratch();
  // Renames `node` into the scratch directory on disk and in the model.
  Task<Status> MoveToScratch(Node* node);
  // Deletes scratch entries whose removal became durable.
  Task<Status> CollectGarbage();
  Task<Status> RemoveAll(std::string path);
  bool Survives(const Node* node) const;
  Task<Status> RestoreData(Node* node, PowerCutOptions options, uint64_t& rng_state);
  Task<Status> RewriteDurableState(PowerCutOptions options);

  io::Reactor& reactor_;
  io::FileSystem& base_;
  std::string scratch_path_;
  bool scratch_ready_ = false;
  std::shared_ptr<io::Event> scratch_preparing_;  // set while EnsureScratch() runs

  std::map<uint64_t, std::shared_ptr<Node>> nodes_;  // by id; ids grow, so order is creation
  uint64_t next_id_ = 0;
  Node* root_ = nullptr;
  Node* scratch_ = nullptr;
  uint64_t generation_ = 0;  // bumped by each power cut; Files of older generations are dead
  int busy_ = 0;             // calls in flight, not counting syncs parked at the gate
  bool cutting_ = false;     // SimulatePowerCut() is running

  int fail_writes_ = 0;
  int fail_writes_err_ = EIO;
  int fail_syncs_ = 0;
  int fail_syncs_err_ = EIO;
  int fail_dir_syncs_ = 0;
  int fail_dir_syncs_err_ = EIO;
  bool budget_set_ = false;
  uint64_t budget_left_ = 0;

  std::shared_ptr<io::Event> gate_;  // non-null while syncs are held
  int syncs_waiting_ = 0;
  FaultStats stats_;
};

}  // namespace spool::testing
