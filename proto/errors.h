// The wire error codes (enum spool::v1::ErrorCode in proto/errors.proto, one enum shared by
// broker and clients) and the one place they meet absl::Status.
//
// Each function is one exhaustive switch with no `default:`: add a code to errors.proto and the
// compiler (-Wswitch, -Werror) names every switch here that must learn it. A value that is not
// in the enum (sent by a newer peer) is handled after the switch: its name is "UNKNOWN_CODE", it
// is not retriable, and it maps to kUnknown.
//
// Status mapping, both ways:
//  - ErrorToStatus(code, message) gives a status whose absl code says what the caller should do
//    (kUnavailable: retry; kInvalidArgument: fix the request; ...) and which carries the exact
//    wire code as a payload, so ErrorFromStatus(ErrorToStatus(c, m)) == c for every code.
//  - ErrorFromStatus(status) reads that payload when present; otherwise it maps the absl code of
//    an internal failure (from the log, the file system, ...) to the nearest wire code. Handlers
//    that know better (a CRC failure on produce is CORRUPT_MESSAGE) build the status with
//    ErrorToStatus() instead of relying on the fallback.
//
// Pure functions; thread-safe.
#pragma once

#include <string_view>

#include "common/status.h"
#include "proto/errors.pb.h"

namespace spool::proto {

using ErrorCode = ::spool::v1::ErrorCode;

// The payload type URL under which ErrorToStatus() stores the wire code (decimal).
inline constexpr char kErrorCodePayloadUrl[] = "type.spool.dev/spool.v1.ErrorCode";

// Kafka's name for the code ("NOT_LEADER_OR_FOLLOWER"), or "UNKNOWN_CODE" for a value outside
// the enum.
[[nodiscard]] std::string_view ErrorName(ErrorCode code);

// True when the same request may succeed if sent again (possibly after a metadata refresh or a
// backoff). NONE is not retriable.
[[nodiscard]] bool IsRetriable(ErrorCode code);

// The wire code for a status (NONE for OK). See the header comment.
[[nodiscard]] ErrorCode ErrorFromStatus(const Status& status);

// A status for a wire code: OK for NONE, else an error with `message` (or the code's name when
// empty) and the code attached. A client turns a response's error_code into a Status with it.
[[nodiscard]] Status ErrorToStatus(ErrorCode code, std::string_view message = {});

// The absl code ErrorToStatus() uses for `code` (kOk for NONE).
[[nodiscard]] absl::StatusCode StatusCodeFor(ErrorCode code);

}  // namespace spool::proto
