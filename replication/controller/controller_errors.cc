#include "replication/controller/controller_errors.h"

#include <charconv>
#include <string>

#include "absl/strings/cord.h"
#include "proto/errors.h"

namespace spool::controller {

std::string_view ControllerErrorName(ControllerError code) {
  switch (code) {
    case ControllerError::kNone:
      return "NONE";
    case ControllerError::kUnknownTopicOrPartition:
      return "UNKNOWN_TOPIC_OR_PARTITION";
    case ControllerError::kNotLeaderOrFollower:
      return "NOT_LEADER_OR_FOLLOWER";
    case ControllerError::kInvalidTopic:
      return "INVALID_TOPIC";
    case ControllerError::kTopicAlreadyExists:
      return "TOPIC_ALREADY_EXISTS";
    case ControllerError::kInvalidPartitions:
      return "INVALID_PARTITIONS";
    case ControllerError::kInvalidReplicationFactor:
      return "INVALID_REPLICATION_FACTOR";
    case ControllerError::kInvalidConfig:
      return "INVALID_CONFIG";
    case ControllerError::kNotController:
      return "NOT_CONTROLLER";
    case ControllerError::kInvalidRequest:
      return "INVALID_REQUEST";
    case ControllerError::kFencedLeaderEpoch:
      return "FENCED_LEADER_EPOCH";
    case ControllerError::kUnknownLeaderEpoch:
      return "UNKNOWN_LEADER_EPOCH";
    case ControllerError::kStaleBrokerEpoch:
      return "STALE_BROKER_EPOCH";
    case ControllerError::kUnknownTopicId:
      return "UNKNOWN_TOPIC_ID";
    case ControllerError::kDuplicateBrokerRegistration:
      return "DUPLICATE_BROKER_REGISTRATION";
    case ControllerError::kBrokerIdNotRegistered:
      return "BROKER_ID_NOT_REGISTERED";
    case ControllerError::kIneligibleReplica:
      return "INELIGIBLE_REPLICA";
    case ControllerError::kInvalidUpdateVersion:
      return "INVALID_UPDATE_VERSION";
  }
  return "UNKNOWN_CODE";
}

namespace {

// What the caller should do about each code (see the header): proto/errors.h's mapping for the
// codes errors.proto knows, ours for the others.
absl::StatusCode AbslCodeFor(ControllerError code) {
  switch (code) {
    case ControllerError::kNone:
    case ControllerError::kUnknownTopicOrPartition:
    case ControllerError::kNotLeaderOrFollower:
    case ControllerError::kInvalidTopic:
    case ControllerError::kTopicAlreadyExists:
    case ControllerError::kInvalidPartitions:
    case ControllerError::kInvalidReplicationFactor:
    case ControllerError::kInvalidConfig:
    case ControllerError::kNotController:
    case ControllerError::kInvalidRequest:
    case ControllerError::kFencedLeaderEpoch:
    case ControllerError::kUnknownLeaderEpoch:
      return proto::StatusCodeFor(static_cast<proto::ErrorCode>(code));
    case ControllerError::kUnknownTopicId:
    case ControllerError::kBrokerIdNotRegistered:
      return absl::StatusCode::kNotFound;
    case ControllerError::kDuplicateBrokerRegistration:
      return absl::StatusCode::kAlreadyExists;
    case ControllerError::kIneligibleReplica:
      return absl::StatusCode::kInvalidArgument;
    case ControllerError::kStaleBrokerEpoch:
    case ControllerError::kInvalidUpdateVersion:
      return absl::StatusCode::kFailedPrecondition;
  }
  return absl::StatusCode::kUnknown;
}

}  // namespace

Status ControllerStatus(ControllerError code, std::string_view message) {
  if (code == ControllerError::kNone) return absl::OkStatus();
  const std::string_view text = message.empty() ? ControllerErrorName(code) : message;
  Status status(AbslCodeFor(code), absl::string_view(text.data(), text.size()));
  status.SetPayload(proto::kErrorCodePayloadUrl,
                    absl::Cord(std::to_string(static_cast<int>(code))));
  return status;
}

ControllerError ControllerErrorOf(const Status& status) {
  if (status.ok()) return ControllerError::kNone;
  if (absl::optional<absl::Cord> payload = status.GetPayload(proto::kErrorCodePayloadUrl)) {
    const std::string text(*payload);
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && end == text.data() + text.size()) {
      return static_cast<ControllerError>(value);
    }
  }
  return static_cast<ControllerError>(-1);
}

}  // namespace spool::controller

// The codes errors.proto knows must keep its numbers.
static_assert(static_cast<int>(spool::controller::ControllerError::kUnknownTopicOrPartition) ==
              spool::v1::UNKNOWN_TOPIC_OR_PARTITION);
static_assert(static_cast<int>(spool::controller::ControllerError::kNotLeaderOrFollower) ==
              spool::v1::NOT_LEADER_OR_FOLLOWER);
static_assert(static_cast<int>(spool::controller::ControllerError::kInvalidTopic) ==
              spool::v1::INVALID_TOPIC);
static_assert(static_cast<int>(spool::controller::ControllerError::kTopicAlreadyExists) ==
              spool::v1::TOPIC_ALREADY_EXISTS);
static_assert(static_cast<int>(spool::controller::ControllerError::kInvalidPartitions) ==
              spool::v1::INVALID_PARTITIONS);
static_assert(static_cast<int>(spool::controller::ControllerError::kInvalidReplicationFactor) ==
              spool::v1::INVALID_REPLICATION_FACTOR);
static_assert(static_cast<int>(spool::controller::ControllerError::kInvalidConfig) ==
              spool::v1::INVALID_CONFIG);
static_assert(static_cast<int>(spool::controller::ControllerError::kNotController) ==
              spool::v1::NOT_CONTROLLER);
static_assert(static_cast<int>(spool::controller::ControllerError::kInvalidRequest) ==
              spool::v1::INVALID_REQUEST);
static_assert(static_cast<int>(spool::controller::ControllerError::kFencedLeaderEpoch) ==
              spool::v1::FENCED_LEADER_EPOCH);
static_assert(static_cast<int>(spool::controller::ControllerError::kUnknownLeaderEpoch) ==
              spool::v1::UNKNOWN_LEADER_EPOCH);
