#include "proto/errors.h"

#include <charconv>
#include <optional>
#include <string>

#include "absl/strings/cord.h"

namespace spool::proto {

std::string_view ErrorName(ErrorCode code) {
  switch (code) {
    case v1::NONE:
      return "NONE";
    case v1::UNKNOWN:
      return "UNKNOWN";
    case v1::OFFSET_OUT_OF_RANGE:
      return "OFFSET_OUT_OF_RANGE";
    case v1::CORRUPT_MESSAGE:
      return "CORRUPT_MESSAGE";
    case v1::UNKNOWN_TOPIC_OR_PARTITION:
      return "UNKNOWN_TOPIC_OR_PARTITION";
    case v1::LEADER_NOT_AVAILABLE:
      return "LEADER_NOT_AVAILABLE";
    case v1::NOT_LEADER_OR_FOLLOWER:
      return "NOT_LEADER_OR_FOLLOWER";
    case v1::REQUEST_TIMED_OUT:
      return "REQUEST_TIMED_OUT";
    case v1::BROKER_NOT_AVAILABLE:
      return "BROKER_NOT_AVAILABLE";
    case v1::MESSAGE_TOO_LARGE:
      return "MESSAGE_TOO_LARGE";
    case v1::NETWORK_EXCEPTION:
      return "NETWORK_EXCEPTION";
    case v1::INVALID_TOPIC:
      return "INVALID_TOPIC";
    case v1::RECORD_LIST_TOO_LARGE:
      return "RECORD_LIST_TOO_LARGE";
    case v1::NOT_ENOUGH_REPLICAS:
      return "NOT_ENOUGH_REPLICAS";
    case v1::NOT_ENOUGH_REPLICAS_AFTER_APPEND:
      return "NOT_ENOUGH_REPLICAS_AFTER_APPEND";
    case v1::INVALID_REQUIRED_ACKS:
      return "INVALID_REQUIRED_ACKS";
    case v1::INVALID_TIMESTAMP:
      return "INVALID_TIMESTAMP";
    case v1::UNSUPPORTED_VERSION:
      return "UNSUPPORTED_VERSION";
    case v1::TOPIC_ALREADY_EXISTS:
      return "TOPIC_ALREADY_EXISTS";
    case v1::INVALID_PARTITIONS:
      return "INVALID_PARTITIONS";
    case v1::INVALID_REPLICATION_FACTOR:
      return "INVALID_REPLICATION_FACTOR";
    case v1::INVALID_CONFIG:
      return "INVALID_CONFIG";
    case v1::NOT_CONTROLLER:
      return "NOT_CONTROLLER";
    case v1::INVALID_REQUEST:
      return "INVALID_REQUEST";
    case v1::POLICY_VIOLATION:
      return "POLICY_VIOLATION";
    case v1::KAFKA_STORAGE_ERROR:
      return "KAFKA_STORAGE_ERROR";
    case v1::FENCED_LEADER_EPOCH:
      return "FENCED_LEADER_EPOCH";
    case v1::UNKNOWN_LEADER_EPOCH:
      return "UNKNOWN_LEADER_EPOCH";
    case v1::INVALID_RECORD:
      return "INVALID_RECORD";
    case v1::THROTTLING_QUOTA_EXCEEDED:
      return "THROTTLING_QUOTA_EXCEEDED";
    case v1::COORDINATOR_LOAD_IN_PROGRESS:
      return "COORDINATOR_LOAD_IN_PROGRESS";
    case v1::COORDINATOR_NOT_AVAILABLE:
      return "COORDINATOR_NOT_AVAILABLE";
    case v1::NOT_COORDINATOR:
      return "NOT_COORDINATOR";
    case v1::ILLEGAL_GENERATION:
      return "ILLEGAL_GENERATION";
    case v1::INCONSISTENT_GROUP_PROTOCOL:
      return "INCONSISTENT_GROUP_PROTOCOL";
    case v1::INVALID_GROUP_ID:
      return "INVALID_GROUP_ID";
    case v1::UNKNOWN_MEMBER_ID:
      return "UNKNOWN_MEMBER_ID";
    case v1::INVALID_SESSION_TIMEOUT:
      return "INVALID_SESSION_TIMEOUT";
    case v1::REBALANCE_IN_PROGRESS:
      return "REBALANCE_IN_PROGRESS";
    case v1::INVALID_COMMIT_OFFSET_SIZE:
      return "INVALID_COMMIT_OFFSET_SIZE";
    case v1::NON_EMPTY_GROUP:
      return "NON_EMPTY_GROUP";
    case v1::GROUP_ID_NOT_FOUND:
      return "GROUP_ID_NOT_FOUND";
    case v1::MEMBER_ID_REQUIRED:
      return "MEMBER_ID_REQUIRED";
    case v1::GROUP_MAX_SIZE_REACHED:
      return "GROUP_MAX_SIZE_REACHED";
    case v1::FENCED_INSTANCE_ID:
      return "FENCED_INSTANCE_ID";
    case v1::STALE_BROKER_EPOCH:
      return "STALE_BROKER_EPOCH";
    case v1::UNKNOWN_TOPIC_ID:
      return "UNKNOWN_TOPIC_ID";
    case v1::DUPLICATE_BROKER_REGISTRATION:
      return "DUPLICATE_BROKER_REGISTRATION";
    case v1::BROKER_ID_NOT_REGISTERED:
      return "BROKER_ID_NOT_REGISTERED";
    case v1::INELIGIBLE_REPLICA:
      return "INELIGIBLE_REPLICA";
    case v1::INVALID_UPDATE_VERSION:
      return "INVALID_UPDATE_VERSION";
    case v1::INCONSISTENT_CLUSTER_ID:
      return "INCONSISTENT_CLUSTER_ID";
    case v1::OUT_OF_ORDER_SEQUENCE_NUMBER:
      return "OUT_OF_ORDER_SEQUENCE_NUMBER";
    case v1::DUPLICATE_SEQUENCE_NUMBER:
      return "DUPLICATE_SEQUENCE_NUMBER";
    case v1::INVALID_PRODUCER_EPOCH:
      return "INVALID_PRODUCER_EPOCH";
    case v1::UNKNOWN_PRODUCER_ID:
      return "UNKNOWN_PRODUCER_ID";
    case v1::TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return "TRANSACTIONAL_ID_AUTHORIZATION_FAILED";
    case v1::ErrorCode_INT_MIN_SENTINEL_DO_NOT_USE_:
    case v1::ErrorCode_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;  // not values; handled below with codes from newer peers
  }
  return "UNKNOWN_CODE";
}

bool IsRetriable(ErrorCode code) {
  switch (code) {
    case v1::NONE:
      return false;
    case v1::UNKNOWN:
      return false;
    case v1::OFFSET_OUT_OF_RANGE:
      return false;
    case v1::CORRUPT_MESSAGE:
      return true;
    case v1::UNKNOWN_TOPIC_OR_PARTITION:
      return true;
    case v1::LEADER_NOT_AVAILABLE:
      return true;
    case v1::NOT_LEADER_OR_FOLLOWER:
      return true;
    case v1::REQUEST_TIMED_OUT:
      return true;
    case v1::BROKER_NOT_AVAILABLE:
      return true;
    case v1::MESSAGE_TOO_LARGE:
      return false;
    case v1::NETWORK_EXCEPTION:
      return true;
    case v1::INVALID_TOPIC:
      return false;
    case v1::RECORD_LIST_TOO_LARGE:
      return false;
    case v1::NOT_ENOUGH_REPLICAS:
      return true;
    case v1::NOT_ENOUGH_REPLICAS_AFTER_APPEND:
      return true;
    case v1::INVALID_REQUIRED_ACKS:
      return false;
    case v1::INVALID_TIMESTAMP:
      return false;
    case v1::UNSUPPORTED_VERSION:
      return false;
    case v1::TOPIC_ALREADY_EXISTS:
      return false;
    case v1::INVALID_PARTITIONS:
      return false;
    case v1::INVALID_REPLICATION_FACTOR:
      return false;
    case v1::INVALID_CONFIG:
      return false;
    case v1::NOT_CONTROLLER:
      return true;
    case v1::INVALID_REQUEST:
      return false;
    case v1::POLICY_VIOLATION:
      return false;
    case v1::KAFKA_STORAGE_ERROR:
      return true;
    case v1::FENCED_LEADER_EPOCH:
      return true;
    case v1::UNKNOWN_LEADER_EPOCH:
      return true;
    case v1::INVALID_RECORD:
      return false;
    case v1::THROTTLING_QUOTA_EXCEEDED:
      return true;
    case v1::COORDINATOR_LOAD_IN_PROGRESS:
      return true;
    case v1::COORDINATOR_NOT_AVAILABLE:
      return true;
    case v1::NOT_COORDINATOR:
      return true;
    case v1::ILLEGAL_GENERATION:
      return false;
    case v1::INCONSISTENT_GROUP_PROTOCOL:
      return false;
    case v1::INVALID_GROUP_ID:
      return false;
    case v1::UNKNOWN_MEMBER_ID:
      return false;
    case v1::INVALID_SESSION_TIMEOUT:
      return false;
    case v1::REBALANCE_IN_PROGRESS:
      return false;
    case v1::INVALID_COMMIT_OFFSET_SIZE:
      return false;
    case v1::NON_EMPTY_GROUP:
      return false;
    case v1::GROUP_ID_NOT_FOUND:
      return false;
    case v1::MEMBER_ID_REQUIRED:
      return false;
    case v1::GROUP_MAX_SIZE_REACHED:
      return false;
    case v1::FENCED_INSTANCE_ID:
      return false;
    case v1::STALE_BROKER_EPOCH:
      return false;
    case v1::UNKNOWN_TOPIC_ID:
      return true;
    case v1::DUPLICATE_BROKER_REGISTRATION:
      return false;
    case v1::BROKER_ID_NOT_REGISTERED:
      return false;
    case v1::INELIGIBLE_REPLICA:
      return false;
    case v1::INVALID_UPDATE_VERSION:
      return false;
    case v1::INCONSISTENT_CLUSTER_ID:
      return false;
    case v1::OUT_OF_ORDER_SEQUENCE_NUMBER:
      return false;
    case v1::DUPLICATE_SEQUENCE_NUMBER:
      return false;
    case v1::INVALID_PRODUCER_EPOCH:
      return false;
    case v1::UNKNOWN_PRODUCER_ID:
      return false;
    case v1::TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return false;
    case v1::ErrorCode_INT_MIN_SENTINEL_DO_NOT_USE_:
    case v1::ErrorCode_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;  // not values; handled below with codes from newer peers
  }
  return false;
}

absl::StatusCode StatusCodeFor(ErrorCode code) {
  switch (code) {
    case v1::NONE:
      return absl::StatusCode::kOk;
    case v1::UNKNOWN:
      return absl::StatusCode::kUnknown;
    case v1::OFFSET_OUT_OF_RANGE:
      return absl::StatusCode::kOutOfRange;
    case v1::CORRUPT_MESSAGE:
      return absl::StatusCode::kDataLoss;
    case v1::UNKNOWN_TOPIC_OR_PARTITION:
      return absl::StatusCode::kNotFound;
    case v1::LEADER_NOT_AVAILABLE:
      return absl::StatusCode::kUnavailable;
    case v1::NOT_LEADER_OR_FOLLOWER:
      return absl::StatusCode::kUnavailable;
    case v1::REQUEST_TIMED_OUT:
      return absl::StatusCode::kDeadlineExceeded;
    case v1::BROKER_NOT_AVAILABLE:
      return absl::StatusCode::kUnavailable;
    case v1::MESSAGE_TOO_LARGE:
      return absl::StatusCode::kInvalidArgument;
    case v1::NETWORK_EXCEPTION:
      return absl::StatusCode::kUnavailable;
    case v1::INVALID_TOPIC:
      return absl::StatusCode::kInvalidArgument;
    case v1::RECORD_LIST_TOO_LARGE:
      return absl::StatusCode::kInvalidArgument;
    case v1::NOT_ENOUGH_REPLICAS:
      return absl::StatusCode::kUnavailable;
    case v1::NOT_ENOUGH_REPLICAS_AFTER_APPEND:
      return absl::StatusCode::kUnavailable;
    case v1::INVALID_REQUIRED_ACKS:
      return absl::StatusCode::kInvalidArgument;
    case v1::INVALID_TIMESTAMP:
      return absl::StatusCode::kInvalidArgument;
    case v1::UNSUPPORTED_VERSION:
      return absl::StatusCode::kUnimplemented;
    case v1::TOPIC_ALREADY_EXISTS:
      return absl::StatusCode::kAlreadyExists;
    case v1::INVALID_PARTITIONS:
      return absl::StatusCode::kInvalidArgument;
    case v1::INVALID_REPLICATION_FACTOR:
      return absl::StatusCode::kInvalidArgument;
    case v1::INVALID_CONFIG:
      return absl::StatusCode::kInvalidArgument;
    case v1::NOT_CONTROLLER:
      return absl::StatusCode::kUnavailable;
    case v1::INVALID_REQUEST:
      return absl::StatusCode::kInvalidArgument;
    case v1::POLICY_VIOLATION:
      return absl::StatusCode::kFailedPrecondition;
    case v1::KAFKA_STORAGE_ERROR:
      return absl::StatusCode::kUnavailable;
    case v1::FENCED_LEADER_EPOCH:
      return absl::StatusCode::kAborted;
    case v1::UNKNOWN_LEADER_EPOCH:
      return absl::StatusCode::kUnavailable;
    case v1::INVALID_RECORD:
      return absl::StatusCode::kInvalidArgument;
    case v1::THROTTLING_QUOTA_EXCEEDED:
      return absl::StatusCode::kResourceExhausted;
    case v1::COORDINATOR_LOAD_IN_PROGRESS:
      return absl::StatusCode::kUnavailable;
    case v1::COORDINATOR_NOT_AVAILABLE:
      return absl::StatusCode::kUnavailable;
    case v1::NOT_COORDINATOR:
      return absl::StatusCode::kUnavailable;
    case v1::ILLEGAL_GENERATION:
      return absl::StatusCode::kFailedPrecondition;
    case v1::INCONSISTENT_GROUP_PROTOCOL:
      return absl::StatusCode::kFailedPrecondition;
    case v1::INVALID_GROUP_ID:
      return absl::StatusCode::kInvalidArgument;
    case v1::UNKNOWN_MEMBER_ID:
      return absl::StatusCode::kFailedPrecondition;
    case v1::INVALID_SESSION_TIMEOUT:
      return absl::StatusCode::kInvalidArgument;
    case v1::REBALANCE_IN_PROGRESS:
      return absl::StatusCode::kAborted;
    case v1::INVALID_COMMIT_OFFSET_SIZE:
      return absl::StatusCode::kInvalidArgument;
    case v1::NON_EMPTY_GROUP:
      return absl::StatusCode::kFailedPrecondition;
    case v1::GROUP_ID_NOT_FOUND:
      return absl::StatusCode::kNotFound;
    case v1::MEMBER_ID_REQUIRED:
      return absl::StatusCode::kFailedPrecondition;
    case v1::GROUP_MAX_SIZE_REACHED:
      return absl::StatusCode::kResourceExhausted;
    case v1::FENCED_INSTANCE_ID:
      return absl::StatusCode::kFailedPrecondition;
    case v1::STALE_BROKER_EPOCH:
      return absl::StatusCode::kFailedPrecondition;
    case v1::UNKNOWN_TOPIC_ID:
      return absl::StatusCode::kNotFound;
    case v1::DUPLICATE_BROKER_REGISTRATION:
      return absl::StatusCode::kAlreadyExists;
    case v1::BROKER_ID_NOT_REGISTERED:
      return absl::StatusCode::kNotFound;
    case v1::INELIGIBLE_REPLICA:
      return absl::StatusCode::kFailedPrecondition;
    case v1::INVALID_UPDATE_VERSION:
      return absl::StatusCode::kFailedPrecondition;
    case v1::INCONSISTENT_CLUSTER_ID:
      return absl::StatusCode::kFailedPrecondition;
    case v1::OUT_OF_ORDER_SEQUENCE_NUMBER:
      return absl::StatusCode::kFailedPrecondition;
    case v1::DUPLICATE_SEQUENCE_NUMBER:
      return absl::StatusCode::kAlreadyExists;
    case v1::INVALID_PRODUCER_EPOCH:
      return absl::StatusCode::kFailedPrecondition;
    case v1::UNKNOWN_PRODUCER_ID:
      return absl::StatusCode::kFailedPrecondition;
    case v1::TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return absl::StatusCode::kPermissionDenied;
    case v1::ErrorCode_INT_MIN_SENTINEL_DO_NOT_USE_:
    case v1::ErrorCode_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;  // not values; handled below with codes from newer peers
  }
  return absl::StatusCode::kUnknown;
}

Status ErrorToStatus(ErrorCode code, std::string_view message) {
  if (code == v1::NONE) return absl::OkStatus();
  const std::string_view text = message.empty() ? ErrorName(code) : message;
  Status status(StatusCodeFor(code), absl::string_view(text.data(), text.size()));
  status.SetPayload(kErrorCodePayloadUrl, absl::Cord(std::to_string(static_cast<int>(code))));
  return status;
}

namespace {

// The nearest wire code for a failure that carries none (see errors.h).
ErrorCode FromAbslCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return v1::NONE;
    case absl::StatusCode::kInvalidArgument:
      return v1::INVALID_REQUEST;
    case absl::StatusCode::kDeadlineExceeded:
      return v1::REQUEST_TIMED_OUT;
    case absl::StatusCode::kNotFound:
      return v1::UNKNOWN_TOPIC_OR_PARTITION;
    case absl::StatusCode::kAlreadyExists:
      return v1::TOPIC_ALREADY_EXISTS;
    case absl::StatusCode::kResourceExhausted:  // ENOSPC, EDQUOT below the log
    case absl::StatusCode::kAborted:            // the log refuses writes after a failed one
      return v1::KAFKA_STORAGE_ERROR;
    case absl::StatusCode::kOutOfRange:
      return v1::OFFSET_OUT_OF_RANGE;
    case absl::StatusCode::kUnimplemented:
      return v1::UNSUPPORTED_VERSION;
    case absl::StatusCode::kUnavailable:
      return v1::BROKER_NOT_AVAILABLE;
    case absl::StatusCode::kDataLoss:  // bad CRC / length in the record codec
      return v1::CORRUPT_MESSAGE;
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kDoNotUseReservedForFutureExpansionUseDefaultInSwitchInstead_:
      return v1::UNKNOWN;
  }
  return v1::UNKNOWN;
}

}  // namespace

ErrorCode ErrorFromStatus(const Status& status) {
  if (status.ok()) return v1::NONE;
  if (absl::optional<absl::Cord> payload = status.GetPayload(kErrorCodePayloadUrl)) {
    const std::string text(*payload);
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && end == text.data() + text.size() && v1::ErrorCode_IsValid(value)) {
      return static_cast<ErrorCode>(value);
    }
  }
  return FromAbslCode(status.code());
}

}  // namespace spool::proto
