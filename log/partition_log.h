// PartitionLog: one partition's append-only log of record batches, stored as a directory of
// segments (log/FORMAT.md documents every file, the write ordering and recovery).
//
// Ownership and threading: a PartitionLog belongs to one reactor. Every member is called from
// that reactor's thread (ARCHITECTURE.md §3: a partition is touched by exactly one reactor);
// Open() must run on it too. The FileSystem and Clock passed to Open() must outlive the log.
// close() should complete before the log is destroyed. Destroying it without close() is allowed
// only while none of its Tasks is suspended (the interval flusher, parked between flushes, is
// taken care of); the files are then left as a crash would leave them, and the next Open()
// recovers (tests use this to "kill" a log).
//
// Appended, visible, durable:
//   - append() validates the batch, assigns its offsets (stamping baseOffset in the caller's
//     buffer, CRC untouched), and writes the caller's buffer to the active segment; several
//     appends may be writing at once. When its Task completes the batch is *visible*:
//     visible_end_offset() includes it and read() returns it. log_end_offset() also counts
//     appends still being written.
//   - It is *durable* once wait_durable() for an offset at or past its last offset returns OK
//     (or durable_end_offset() passes it). With FlushPolicy::kGroupCommit (the default) a
//     waiter starts an fdatasync if none is running; one fdatasync covers every append that was
//     visible when it started, waiters above that wait for the next one. With
//     FlushPolicy::kInterval the log fdatasyncs once flush_messages records or flush_ms (of the
//     Clock) have accumulated, and wait_durable() waits for that; flush() forces one.
//   - After Open() every recovered batch is durable. After a crash, recovery keeps every durable
//     batch and may keep later ones that happened to reach the disk whole; it never serves a
//     torn or corrupt batch.
//
// Replication: the log keeps the leader-epoch list, takes follower appends of whole batches
// from a leader (append_replica) and keeps the high watermark the broker reports in its
// checkpoint; see "replication support" below. The roles (leader, follower), the fetcher, the
// ISR and the high watermark's value are the broker's.
//
// Errors: a failed write fails that append with the file system's error (kResourceExhausted
// for ENOSPC, kDataLoss for EIO, errno attached); appends that were already writing behind it
// fail with kAborted; the log cuts the file back to the last good batch and hands the offsets
// out again, so later appends work once space returns. A failed fdatasync (or directory sync)
// puts the log in a failed state (Linux may have dropped the dirty pages, so a retry could
// lie): the waiter whose sync failed gets its error, and appends, flush() and wait_durable()
// then return kFailedPrecondition until the log is closed and reopened, where recovery
// re-checks the files. close() in the failed state first cuts every file back to what the last
// successful fdatasync covered (the bytes whose sync failed may live on only in the page cache,
// where the next Open() would find them and call them durable); every acknowledged batch is
// kept. Reads keep working in the failed state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/file_system.h"
#include "common/status.h"
#include "common/strong_int.h"
#include "common/task.h"
#include "log/leader_epoch.h"

namespace spool::log {

enum class FlushPolicy {
  kGroupCommit,  // durable by default: fdatasync as soon as someone waits, covering all before
  kInterval,     // Kafka-like: fdatasync every flush_ms or flush_messages
};

// Per-partition settings. Names follow Kafka's topic configs.
struct LogConfig {
  uint64_t segment_bytes = 1ull << 30;            // segment.bytes, at most 2^32 - 1
  int64_t segment_ms = 7ll * 24 * 3600 * 1000;    // segment.ms
  int64_t retention_ms = 7ll * 24 * 3600 * 1000;  // retention.ms, -1 = keep forever
  int64_t retention_bytes = -1;                   // retention.bytes, -1 = no size limit
  uint32_t index_interval_bytes = 4096;           // index.interval.bytes
  uint32_t max_message_bytes = 1 << 20;           // max.message.bytes (whole batch)
  FlushPolicy flush_policy = FlushPolicy::kGroupCommit;
  // kInterval only: flush once this many ms of the Clock have passed since the last flush (the
  // flusher checks every flush_ms of real time, and at each append), or this many records.
  int64_t flush_ms = 1000;         // flush.ms
  int64_t flush_messages = 10000;  // flush.messages
  uint64_t preallocate_bytes = 0;  // reserve this much disk for a new segment (0 = off;
                                   // advisory: ignored where fallocate is not supported)
};

struct AppendResult {
  Offset base_offset;
  Offset last_offset;
};

// One contiguous byte range of whole batches inside one segment file. `segment` keeps the file
// open (even if retention deletes it meanwhile) for as long as the slice is held.
struct ReadSlice {
  std::shared_ptr<const void> segment;
  io::File* file = nullptr;
  uint64_t position = 0;
  uint64_t length = 0;
};

struct ReadResult {
  std::vector<ReadSlice> slices;  // in offset order, possibly across segments
  uint64_t total_bytes = 0;
  Offset next_offset;  // the offset after the last batch returned
};

struct LogStats {
  uint64_t appends = 0;               // batches appended (either path) that became visible
  uint64_t append_errors = 0;         // appends that failed after they were assigned offsets
  uint64_t fdatasyncs = 0;            // fdatasyncs of segment data files
  uint64_t batches_per_sync_max = 0;  // most batches one fdatasync made durable
  uint64_t rolls = 0;                 // segments rolled
  uint64_t checkpoints = 0;           // checkpoint files written
  size_t segments = 0;
  uint64_t size_bytes = 0;  // visible bytes in all segments
};

// What Open() found and did (see "Recovery" in log/FORMAT.md). Read after Open() to tell a
// clean start from a recovery, or to check what a crash cost.
struct RecoveryStats {
  bool clean_shutdown = false;      // a valid marker matched the files: no recovery scan
  bool checkpoint_valid = false;    // log.checkpoint was there and intact
  size_t segments_scanned = 0;      // segments read batch by batch (CRC checked)
  uint64_t batches_scanned = 0;     // whole, valid batches found by those scans
  uint64_t bytes_scanned = 0;       // bytes of those batches
  uint64_t bytes_truncated = 0;     // bytes cut: the damaged tail plus every deleted segment
  size_t segments_deleted = 0;      // segments dropped after a hole, or below the log start
  size_t indexes_rebuilt = 0;       // segments whose index files were missing or bad, rebuilt
  size_t tmp_files_removed = 0;     // leftover *.tmp files deleted
  size_t orphan_files_removed = 0;  // index files without a segment deleted
  std::string truncation_reason;    // why the scan stopped early (empty when it did not)
};

class PartitionLog {
 public:
  // Opens (or creates, with missing parents) the partition directory `dir` and recovers it:
  // with a valid clean-shutdown marker the index files are loaded and nothing is scanned;
  // otherwise every segment from the one holding the checkpoint's recovery point is scanned
  // batch by batch and the log is cut at the first bad byte. Missing or inconsistent index
  // files are rebuilt. See recovery_stats() for what was found. Errors: kInvalidArgument for a
  // bad LogConfig, kFailedPrecondition off a reactor thread, I/O errors (a file that cannot be
  // read fails the open and no segment is cut or deleted for it), kDataLoss for damage in data
  // below the checkpoint's recovery point (durable data is never cut; the segments are left as
  // they are).
  static Task<StatusOr<std::unique_ptr<PartitionLog>>> Open(io::FileSystem& fs, Clock& clock,
                                                            std::string dir, LogConfig config);
  virtual ~PartitionLog() = default;

  // Appends one sealed batch (`batch` holds exactly one batch, with recordsCount >= 1).
  // Checks length, magic and CRC with one pass (kInvalidArgument / kDataLoss; nothing is
  // written), enforces max_message_bytes (kOutOfRange), stamps the base offset into `batch`,
  // and writes it (rolling first when the active segment is full, too old, or its relative
  // offsets would overflow). `batch` must stay alive and unchanged until the Task completes.
  // Concurrent appends get offsets in call order. kFailedPrecondition when closed or failed.
  virtual Task<StatusOr<AppendResult>> append(std::span<std::byte> batch) = 0;

  // Completes when every offset <= `offset` is durable (see the class comment). An offset not
  // assigned yet is kOutOfRange; one removed meanwhile (failed append, truncate_to) kAborted.
  virtual Task<Status> wait_durable(Offset offset) = 0;
  // fdatasyncs everything visible so far, whatever the flush policy.
  virtual Task<Status> flush() = 0;

  // Whole batches starting with the one that contains `from`, up to `max_bytes` (but always at
  // least one batch if any is there, so a reader makes progress), stopping before the batch
  // that holds `upper` (exclusive; pass visible_end_offset() or a high watermark; it is capped
  // at the visible end). Slices may come from several segments, in offset order. An empty
  // result means nothing visible at `from` yet. kOutOfRange if `from` is below
  // log_start_offset() or above log_end_offset(); kAborted if a truncate_to cut the segment
  // while it was being read.
  virtual Task<StatusOr<ReadResult>> read(Offset from, size_t max_bytes, Offset upper) = 0;
  // Copies the bytes of `result`'s slices into one buffer. kAborted if a slice's file was cut
  // meanwhile. Runs on the log's reactor; the slices keep their files open.
  static Task<StatusOr<std::vector<std::byte>>> ReadAll(const ReadResult& result);

  // The first offset at or above log_start_offset() whose record timestamp is >=
  // `timestamp_ms`, or nullopt if none. Decodes the one candidate batch (kDataLoss if it does
  // not decode).
  virtual Task<StatusOr<std::optional<Offset>>> offset_for_timestamp(int64_t timestamp_ms) = 0;

  // Removes every batch with offsets >= `offset` (rounded down to the start of the batch that
  // contains it), so the next append gets that offset. Below log_start_offset() it empties the
  // log and restarts it at `offset`; at or past log_end_offset() it removes only the leader-epoch
  // entries that start at or past `offset` (an epoch assigned with no batch yet). Waits for
  // in-flight appends, retention deletions and syncs first; durable when it returns. A failure
  // leaves the log failed (see the class comment).
  virtual Task<Status> truncate_to(Offset offset) = 0;
  // Empties the log and restarts it at `offset`, which must be above log_end_offset()
  // (kInvalidArgument otherwise): a follower whose log ends below its leader's log start starts
  // over there. Durable when it returns; waits like truncate_to; a failure leaves the log
  // failed.
  virtual Task<Status> restart_at(Offset offset) = 0;
  // Deletes the oldest whole segments (never the active one) while the segment's newest
  // timestamp is older than retention_ms, or the log stays at or above retention_bytes
  // without it; advances the log start offset (durably, before any file goes), but never past
  // `max_log_start` (a partition passes its high watermark, so the log start never overtakes
  // what consumers may read). Returns how many segments were deleted.
  virtual Task<StatusOr<size_t>> apply_retention(Offset max_log_start = Offset(INT64_MAX)) = 0;
  // Rolls a new active segment if the current one is at segment_bytes or older than
  // segment_ms (counted from the first append of this process to it).
  virtual Task<Status> maybe_roll() = 0;

  // Waits for appends and retention deletions in flight, stops the flusher, syncs everything,
  // writes the index files, the checkpoint and the clean-shutdown marker, and closes the files.
  // In the failed state it cuts the files back to their last successful fdatasync (see the
  // class comment), closes them and returns kFailedPrecondition (no marker: the next open
  // recovers). Calling it again is a no-op.
  virtual Task<Status> close() = 0;

  // ---- replication support (KIP-101 leader epochs, follower appends, high watermark) ----
  //
  // Leader epochs: the log keeps an ordered list of (epoch, start offset) entries, the first
  // offset written under each leader epoch, with strictly increasing epochs and non-decreasing
  // start offsets. It changes only as follows:
  //   - append() and append_replica(): a published batch whose partitionLeaderEpoch (stamped by
  //     the caller or the leader; -1 counts as none) is above the latest entry's epoch adds
  //     (epoch, its base offset). Entries are added when the batch becomes visible, so a failed
  //     append never leaves one. A batch with a lower or equal epoch adds nothing.
  //   - assign_epoch(): see below.
  //   - Adding an entry first drops trailing entries whose start offset is >= the new one's (an
  //     epoch that a later one replaced before any batch of its own; Kafka does the same).
  //   - truncate_to(offset) drops the entries starting at or after the cut (the start of the
  //     batch holding `offset`); below the log start it clears the list.
  //   - apply_retention(): when the log start moves, the entries starting at or below it are
  //     dropped except the last one, which now starts at the new log start.
  //   - The list holds at most 65,536 entries (what log.checkpoint stores); past that the oldest
  //     entry goes.
  // Durability (log/FORMAT.md section 6 states the invariant): after a crash, the recovered
  // list has an entry for every epoch of a batch that survived, the entries assign_epoch()
  // returned OK for (unless truncate_to removed them, or a batch of a higher epoch appended
  // without its own assign_epoch replaced one at the same offset and was then lost), and no
  // entry above the recovered log end. A clean close/open gives the identical list.
  virtual std::optional<LeaderEpochEntry> latest_epoch() const = 0;
  // The whole list, oldest first (for diagnostics, tests and a leader's epoch lookups).
  virtual std::vector<LeaderEpochEntry> leader_epochs() const = 0;
  // KIP-101's OffsetsForLeaderEpoch answer: the largest epoch <= `epoch` the log has, with its
  // end offset: the start offset of the next larger epoch, or log_end_offset() when it is the
  // latest. {-1, -1} when `epoch` is below the first entry or the list is empty. While appends
  // are in flight the latest epoch's end counts them, and an epoch whose first batch is still
  // being written is not in the list yet (the broker assigns an epoch before appending under it).
  virtual EpochEndOffset end_offset_for_epoch(int32_t epoch) const = 0;
  // A new leader records its epoch at its log end before its first append (Kafka's assign on
  // become-leader). No-op (OK) when `epoch` <= the latest epoch. kInvalidArgument for a negative
  // epoch or when `start` is not log_end_offset() once in-flight appends have finished. Waits
  // for in-flight appends, makes every batch durable (a sync round) and writes log.checkpoint:
  // the entry is durable when it returns OK. On an error the in-memory list is as it was (the
  // file may hold either), and a failed sync round leaves the log failed as flush() does.
  virtual Task<Status> assign_epoch(int32_t epoch, Offset start) = 0;

  // Follower path: `batches` holds one or more whole batches exactly as the leader's log has
  // them (base offsets and leader epochs stamped; nothing is re-stamped). Each batch is checked
  // with one pass (length, magic, CRC: kInvalidArgument / kDataLoss; max_message_bytes per
  // batch: kOutOfRange; recordsCount as in append()), and the run must continue the log: the
  // first base offset == log_end_offset() (taken after the appends called before it) and each
  // next one == the previous batch's last offset + 1, else kFailedPrecondition "not
  // contiguous". On any of these errors nothing is written. The run is written with one write
  // to the active segment (rolling first when needed); a run that does not fit the segment is
  // split into one write per segment. Returns the first base offset and the last offset.
  // Visibility, durability and write failures are as for append() (a failed write cuts the
  // active segment back and fails the call; when the run was split, the parts written to
  // earlier segments before the failure stay, and log_end_offset() says where the log ends).
  // It holds the append mutex until its writes are done, so calls are ordered with append()
  // by call order. kFailedPrecondition when closed or failed. `batches` must stay alive and
  // unchanged until the Task completes.
  virtual Task<StatusOr<AppendResult>> append_replica(std::span<std::byte> batches) = 0;

  // High watermark: the broker tells the log its HW (a negative value is ignored). The log
  // stores the latest one in log.checkpoint whenever it writes that file anyway (a roll's sync
  // round, retention, truncate_to, assign_epoch, close()); it never writes the file, and so never
  // costs an fdatasync, just for it. The stored value may therefore lag after a crash.
  virtual void set_high_watermark(Offset hw) = 0;
  // After Open(): the checkpoint's high watermark capped at the recovered log end, or nullopt
  // when it had none (or no valid checkpoint was found). Does not change afterwards.
  virtual std::optional<Offset> recovered_high_watermark() const = 0;

  virtual Offset log_start_offset() const = 0;
  virtual Offset log_end_offset() const = 0;  // the next offset append() will assign
  // Every offset below it is visible (readable); equals log_end_offset() when no append is in
  // flight.
  virtual Offset visible_end_offset() const = 0;
  virtual Offset durable_end_offset() const = 0;  // every offset below it is durable
  virtual LogStats stats() const = 0;
  virtual const RecoveryStats& recovery_stats() const = 0;
};

}  // namespace spool::log
