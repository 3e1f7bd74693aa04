// The wire error codes the controller answers with, as absl::Status.
//
// A refusal is a Status built by ControllerStatus(): its absl code says what the caller should do
// (kUnavailable: retry, kInvalidArgument: fix the request, kFailedPrecondition: fix state first)
// and it carries the Kafka error number under proto::kErrorCodePayloadUrl, exactly as
// proto::ErrorToStatus() does, so proto::ErrorFromStatus() reads it back for every code that
// proto/errors.proto knows. ControllerErrorOf() reads the number back for every code, including
// the few that errors.proto does not list yet (marked "not in errors.proto" below; once they are
// added there with the same numbers, nothing here has to change).
//
// Pure functions; thread-safe.
#pragma once

#include <string_view>

#include "common/status.h"

namespace spool::controller {

// Kafka's numbers.
enum class ControllerError : int {
  kNone = 0,
  kUnknownTopicOrPartition = 3,
  kNotLeaderOrFollower = 6,
  kInvalidTopic = 17,
  kTopicAlreadyExists = 36,
  kInvalidPartitions = 37,
  kInvalidReplicationFactor = 38,
  kInvalidConfig = 40,
  kNotController = 41,
  kInvalidRequest = 42,
  kFencedLeaderEpoch = 74,
  kUnknownLeaderEpoch = 75,
  kStaleBrokerEpoch = 77,              // not in errors.proto
  kUnknownTopicId = 100,               // not in errors.proto
  kDuplicateBrokerRegistration = 101,  // not in errors.proto
  kBrokerIdNotRegistered = 102,        // not in errors.proto
  kIneligibleReplica = 107,            // not in errors.proto
  kInvalidUpdateVersion = 108,         // not in errors.proto
};

// Kafka's name of the code ("STALE_BROKER_EPOCH").
[[nodiscard]] std::string_view ControllerErrorName(ControllerError code);

// OK for kNone; otherwise an error with `message` (the code's name when empty) and the code
// attached as a payload.
[[nodiscard]] Status ControllerStatus(ControllerError code, std::string_view message = {});

// The code attached to `status` (kNone for OK). A status without a controller code (an internal
// failure) gives the raw number -1 (Kafka's UNKNOWN_SERVER_ERROR).
[[nodiscard]] ControllerError ControllerErrorOf(const Status& status);

}  // namespace spool::controller
