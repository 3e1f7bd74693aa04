// The records of the internal topic `__consumer_offsets` (broker/GROUPS.md, "Record formats", is
// the byte-by-byte document): offset commits and group metadata, each a record key plus a value
// (a null value is a tombstone that deletes the key), and the stable hash that places a group
// on one of the topic's partitions.
//
// Pure functions over values: no I/O, no state, callable from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace spool::broker {

// The internal topic that holds every group's committed offsets and metadata.
inline constexpr std::string_view kOffsetsTopic = "__consumer_offsets";

// True for topics the broker keeps for itself (refused for user produce and delete).
inline bool IsInternalTopic(std::string_view topic) {
  return topic == kOffsetsTopic;
}

// The partition of `__consumer_offsets` that holds `group_id`: Kafka's rule,
// abs(String.hashCode(group_id)) % num_partitions, with the Java hash (s[0]*31^(n-1) + ... over
// the characters, int32 wrap-around) taken over the id's bytes (the same as Java's for ASCII)
// and abs(INT32_MIN) taken as 0, as Kafka's Utils.abs does. `num_partitions` >= 1.
int32_t GroupPartition(std::string_view group_id, int32_t num_partitions);

// Record key versions (the first two bytes of every key), Kafka's numbers.
inline constexpr int16_t kOffsetKeyVersion = 1;  // key: group, topic, partition
inline constexpr int16_t kGroupKeyVersion = 2;   // key: group
// Value versions of Spool's encodings (the first two bytes of every non-null value).
inline constexpr int16_t kOffsetValueVersion = 0;
inline constexpr int16_t kGroupValueVersion = 0;

struct OffsetValue {
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  std::string metadata;
  int64_t commit_timestamp_ms = 0;
  friend bool operator==(const OffsetValue&, const OffsetValue&) = default;
};

struct MemberRecord {
  std::string member_id;
  std::string instance_id;  // empty: a dynamic member
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = 0;
  int32_t session_timeout_ms = 0;
  std::string subscription;  // the member's metadata for the chosen protocol
  std::string assignment;
  friend bool operator==(const MemberRecord&, const MemberRecord&) = default;
};

struct GroupMetadataValue {
  std::string protocol_type;
  int32_t generation = 0;
  std::string protocol;            // empty: none chosen (an empty group)
  std::string leader;              // empty: no leader
  int64_t state_timestamp_ms = 0;  // when the group entered its current state (wall clock)
  std::vector<MemberRecord> members;
  friend bool operator==(const GroupMetadataValue&, const GroupMetadataValue&) = default;
};

// One record of `__consumer_offsets`, decoded.
struct GroupRecord {
  enum class Kind { kOffset, kGroup };
  Kind kind = Kind::kOffset;
  std::string group;
  std::string topic;                           // kOffset
  int32_t partition = 0;                       // kOffset
  std::optional<OffsetValue> offset;           // kOffset; nullopt: tombstone
  std::optional<GroupMetadataValue> metadata;  // kGroup; nullopt: tombstone

  static GroupRecord Offset(std::string group, std::string topic, int32_t partition,
                            std::optional<OffsetValue> value);
  static GroupRecord Group(std::string group, std::optional<GroupMetadataValue> value);
  bool tombstone() const { return kind == Kind::kOffset ? !offset : !metadata; }
};

std::string EncodeRecordKey(const GroupRecord& record);
// nullopt for a tombstone.
std::optional<std::string> EncodeRecordValue(const GroupRecord& record);

// Decodes one record. kInvalidArgument for bytes that do not follow the format (a short field,
// bytes left over, an unknown value version); kUnimplemented for an unknown key version (a
// record type from a newer broker: replay skips it).
[[nodiscard]] StatusOr<GroupRecord> DecodeRecord(std::span<const std::byte> key,
                                                 std::optional<std::span<const std::byte>> value);

}  // namespace spool::broker
