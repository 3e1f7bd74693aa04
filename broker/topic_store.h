// TopicStore: the broker's durable copy of the topics it knows from the cluster metadata (name,
// topic id, partition count, replication factor, config overrides, each partition's replicas
// and leadership), one small file under the data dir (broker/STATE.md has the format). The
// controller quorum's metadata log is the truth; PartitionManager::ApplyMetadata keeps this copy
// in step with it, so a restarted broker reopens its partitions before it has caught up.
//
// Durability: every mutating call rewrites the file atomically (temp file, fdatasync, rename,
// directory fsync: log/file_util.h WriteFileAtomically) and returns only when the new state is
// durable; on error the in-memory state is left as it was (the old file is still the truth).
// The file carries a CRC-32C; a damaged or unknown-version file fails Open() with kDataLoss
// (the broker refuses to start rather than forget topics).
//
// Ownership and threading: a TopicStore belongs to one reactor (the broker uses shard 0) and
// uses the FileSystem it was opened with, which must outlive it. Calls must not overlap: the
// broker serialises every topic change on shard 0.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/io/file_system.h"
#include "common/status.h"
#include "common/task.h"
#include "proto/state.pb.h"

namespace spool::broker {

// The file's name inside the data dir. Partition directories are "<topic>-<partition>", so no
// topic can collide with it.
inline constexpr char kTopicStateFile[] = "topics.state";

// Encodes/decodes the whole file (magic, version, length, protobuf body, CRC). Pure.
[[nodiscard]] std::vector<std::byte> EncodeTopicState(const v1::TopicState& state);
// kDataLoss for a short file, bad magic, unknown version or flags, a length that does not match,
// a CRC mismatch, or a body that does not parse.
[[nodiscard]] StatusOr<v1::TopicState> DecodeTopicState(std::span<const std::byte> file);

class TopicStore {
 public:
  // Reads data_dir/topics.state (a missing file is an empty store; the data dir is created if
  // missing). Leftover temp files of an interrupted write are ignored (the next write replaces
  // them).
  static Task<StatusOr<std::unique_ptr<TopicStore>>> Open(io::FileSystem& fs, std::string data_dir);

  // Every topic, deleted ones included (callers finish their deletion), sorted by name.
  std::vector<v1::TopicRecord> List() const;
  // The topic named `name`, or nullopt.
  std::optional<v1::TopicRecord> Find(const std::string& name) const;

  // Adds or replaces the record of `topic.name()`. Durable when it returns OK.
  [[nodiscard]] Task<Status> Put(v1::TopicRecord topic);
  // Sets the deleted flag of `name` (kNotFound if absent). Durable when it returns OK.
  [[nodiscard]] Task<Status> MarkDeleted(std::string name);
  // Drops the record of `name` (no-op if absent). Durable when it returns OK.
  [[nodiscard]] Task<Status> Remove(std::string name);

  uint64_t generation() const { return state_.generation(); }

 private:
  TopicStore(io::FileSystem& fs, std::string data_dir, v1::TopicState state)
      : fs_(fs), dir_(std::move(data_dir)), state_(std::move(state)) {}
  // Writes `next` durably and makes it the current state.
  Task<Status> Commit(v1::TopicState next);

  io::FileSystem& fs_;
  std::string dir_;
  v1::TopicState state_;
};

}  // namespace spool::broker
