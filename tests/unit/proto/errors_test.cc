#include "proto/errors.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace spool::proto {
namespace {

const google::protobuf::EnumDescriptor* Codes() {
  return v1::ErrorCode_descriptor();
}

TEST(ErrorCodes, EveryValueHasItsProtoNameAndAStatusCode) {
  ASSERT_GT(Codes()->value_count(), 25);
  for (int i = 0; i < Codes()->value_count(); ++i) {
    const auto* value = Codes()->value(i);
    const auto code = static_cast<ErrorCode>(value->number());
    EXPECT_EQ(ErrorName(code), value->name());
    EXPECT_EQ(StatusCodeFor(code) == absl::StatusCode::kOk, code == v1::NONE) << value->name();
  }
}

TEST(ErrorCodes, RetriableFlagsMatchTheSpec) {
  const std::set<std::string> retriable = {"CORRUPT_MESSAGE",
                                           "UNKNOWN_TOPIC_OR_PARTITION",
                                           "LEADER_NOT_AVAILABLE",
                                           "NOT_LEADER_OR_FOLLOWER",
                                           "REQUEST_TIMED_OUT",
                                           "BROKER_NOT_AVAILABLE",
                                           "NETWORK_EXCEPTION",
                                           "NOT_ENOUGH_REPLICAS",
                                           "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
                                           "NOT_CONTROLLER",
                                           "KAFKA_STORAGE_ERROR",
                                           "FENCED_LEADER_EPOCH",
                                           "UNKNOWN_LEADER_EPOCH",
                                           "THROTTLING_QUOTA_EXCEEDED",
                                           "COORDINATOR_LOAD_IN_PROGRESS",
                                           "COORDINATOR_NOT_AVAILABLE",
                                           "NOT_COORDINATOR",
                                           "UNKNOWN_TOPIC_ID"};
  for (int i = 0; i < Codes()->value_count(); ++i) {
    const auto* value = Codes()->value(i);
    EXPECT_EQ(IsRetriable(static_cast<ErrorCode>(value->number())),
              retriable.contains(value->name()))
        << value->name();
  }
}

TEST(ErrorCodes, KafkaNumbersCarryOver) {
  EXPECT_EQ(v1::UNKNOWN, -1);
  EXPECT_EQ(v1::CORRUPT_MESSAGE, 2);
  EXPECT_EQ(v1::NOT_LEADER_OR_FOLLOWER, 6);
  EXPECT_EQ(v1::MESSAGE_TOO_LARGE, 10);
  EXPECT_EQ(v1::NOT_ENOUGH_REPLICAS_AFTER_APPEND, 20);
  EXPECT_EQ(v1::UNSUPPORTED_VERSION, 35);
  EXPECT_EQ(v1::INVALID_REQUEST, 42);
  EXPECT_EQ(v1::KAFKA_STORAGE_ERROR, 56);
  EXPECT_EQ(v1::FENCED_LEADER_EPOCH, 74);
  EXPECT_EQ(v1::NOT_COORDINATOR, 16);
  EXPECT_EQ(v1::ILLEGAL_GENERATION, 22);
  EXPECT_EQ(v1::UNKNOWN_MEMBER_ID, 25);
  EXPECT_EQ(v1::REBALANCE_IN_PROGRESS, 27);
  EXPECT_EQ(v1::FENCED_INSTANCE_ID, 82);
}

TEST(ErrorCodes, StatusRoundTripForEveryCode) {
  for (int i = 0; i < Codes()->value_count(); ++i) {
    const auto code = static_cast<ErrorCode>(Codes()->value(i)->number());
    const Status status = ErrorToStatus(code, "context");
    EXPECT_EQ(status.ok(), code == v1::NONE);
    EXPECT_EQ(status.code(), StatusCodeFor(code));
    EXPECT_EQ(ErrorFromStatus(status), code) << ErrorName(code);
  }
  EXPECT_EQ(ErrorToStatus(v1::OFFSET_OUT_OF_RANGE).message(), "OFFSET_OUT_OF_RANGE");
}

TEST(ErrorCodes, InternalFailuresMapToTheNearestCode) {
  EXPECT_EQ(ErrorFromStatus(absl::OkStatus()), v1::NONE);
  EXPECT_EQ(ErrorFromStatus(absl::DataLossError("crc")), v1::CORRUPT_MESSAGE);
  EXPECT_EQ(ErrorFromStatus(absl::OutOfRangeError("past end")), v1::OFFSET_OUT_OF_RANGE);
  EXPECT_EQ(ErrorFromStatus(absl::NotFoundError("topic")), v1::UNKNOWN_TOPIC_OR_PARTITION);
  EXPECT_EQ(ErrorFromStatus(absl::ResourceExhaustedError("ENOSPC")), v1::KAFKA_STORAGE_ERROR);
  EXPECT_EQ(ErrorFromStatus(absl::InvalidArgumentError("x")), v1::INVALID_REQUEST);
  EXPECT_EQ(ErrorFromStatus(absl::DeadlineExceededError("x")), v1::REQUEST_TIMED_OUT);
  EXPECT_EQ(ErrorFromStatus(absl::InternalError("bug")), v1::UNKNOWN);
  // A broken payload falls back to the absl code.
  Status odd = absl::UnavailableError("x");
  odd.SetPayload(kErrorCodePayloadUrl, absl::Cord("not a number"));
  EXPECT_EQ(ErrorFromStatus(odd), v1::BROKER_NOT_AVAILABLE);
}

TEST(ErrorCodes, ValuesFromANewerPeerAreHandled) {
  const auto future = static_cast<ErrorCode>(9999);
  EXPECT_EQ(ErrorName(future), "UNKNOWN_CODE");
  EXPECT_FALSE(IsRetriable(future));
  EXPECT_EQ(StatusCodeFor(future), absl::StatusCode::kUnknown);
}

}  // namespace
}  // namespace spool::proto
