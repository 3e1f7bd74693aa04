// The in-memory shapes of GroupCoordinator (broker/group_coordinator.h): one Group per group id,
// one Member per member. Private to the coordinator's .cc files (group_coordinator.cc for
// membership, group_offsets.cc for offsets, admin and loading).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "broker/group_coordinator.h"

namespace spool::broker {

struct GroupCoordinator::Member {
  std::string id;
  std::string instance_id;  // empty: dynamic
  std::string client_id;
  std::string client_host;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = 0;
  // (name, metadata) in the member's order of preference.
  std::vector<std::pair<std::string, std::string>> protocols;
  std::string assignment;
  JoinCallback join;  // set while its JoinGroup is parked
  SyncCallback sync;  // set while its SyncGroup is parked
  int64_t heartbeat_deadline_ns = 0;
  uint64_t join_seq = 0;  // order of the latest join, to pick a leader

  const std::string* MetadataFor(const std::string& protocol) const {
    for (const auto& [name, metadata] : protocols) {
      if (name == protocol) return &metadata;
    }
    return nullptr;
  }
};

struct GroupCoordinator::Group {
  std::string id;
  GroupState state = GroupState::kEmpty;
  std::string protocol_type;
  std::string protocol;
  std::string leader;
  int32_t generation = 0;
  int64_t state_timestamp_ms = 0;
  std::map<std::string, std::unique_ptr<Member>> members;
  std::map<std::string, std::string> static_members;  // instance id -> member id
  std::map<std::string, int64_t> pending;             // MEMBER_ID_REQUIRED ids -> deadline
  // PreparingRebalance: when the join phase ends (or the initial delay's next check).
  int64_t join_deadline_ns = 0;
  bool initial_delay = false;     // the join phase of an empty group, held for new members
  bool new_member_added = false;  // a member joined during the current initial delay
  int64_t rebalance_end_ns = 0;   // the initial delay never runs past this
  std::map<std::pair<std::string, int32_t>, OffsetValue> offsets;
};

}  // namespace spool::broker
