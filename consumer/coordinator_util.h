// Helpers shared by the Coordinator's two files, coordinator.cc (membership) and
// coordinator_offsets.cc (commits and offset lookups). Internal; pure.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "proto/errors.h"

namespace spool::consumer::coordinator_util {

// Monotonic now (SystemClock), and milliseconds as nanoseconds.
int64_t NowNs();
int64_t MsToNs(int64_t ms);
// Codes after which the coordinator must be looked up again.
bool CoordinatorMoved(proto::ErrorCode code);
// "<what>: <CODE> (<message>)" with the wire code attached (proto::ErrorToStatus).
Status GroupError(std::string_view what, proto::ErrorCode code, std::string_view message);

}  // namespace spool::consumer::coordinator_util
