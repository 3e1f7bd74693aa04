// Checks shared by the group API handlers (group_handlers.cc, group_offset_handlers.cc).
#pragma once

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace spool::broker {

// The longest group id accepted: what the record format's int16-length strings can hold, with
// room (broker/GROUPS.md).
inline constexpr size_t kMaxGroupIdBytes = 16384;

// OK, or kInvalidArgument saying why (the handlers answer INVALID_GROUP_ID).
inline Status ValidateGroupId(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("the group id is empty");
  if (id.size() > kMaxGroupIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the group id is ", id.size(), " bytes, over ", kMaxGroupIdBytes));
  }
  return Status();
}

// The other strings of a JoinGroup that end up in group metadata records (client id, instance
// id, protocol type and names): at most kMaxGroupIdBytes each. OK, or kInvalidArgument naming the
// field (the handler answers INVALID_REQUEST).
template <typename JoinRequest>
Status ValidateJoinStrings(const JoinRequest& req) {
  auto check = [](std::string_view what, const std::string& s) -> Status {
    if (s.size() <= kMaxGroupIdBytes) return Status();
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " is ", s.size(), " bytes, over ", kMaxGroupIdBytes));
  };
  if (Status st = check("client_id", req.client_id()); !st.ok()) return st;
  if (Status st = check("group_instance_id", req.group_instance_id()); !st.ok()) return st;
  if (Status st = check("member_id", req.member_id()); !st.ok()) return st;
  if (Status st = check("protocol_type", req.protocol_type()); !st.ok()) return st;
  for (const auto& p : req.protocols()) {
    if (Status st = check("a protocol name", p.name()); !st.ok()) return st;
  }
  return Status();
}

}  // namespace spool::broker
