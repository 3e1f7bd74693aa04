// Controller error statuses: the Kafka number survives the round trip, and codes that
// errors.proto knows read back through proto::ErrorFromStatus with the same absl code.
#include "replication/controller/controller_errors.h"
#include <string>

#include "gtest/gtest.h"
#include "proto/errors.h"

namespace spool::controller {
namespace {

TEST(ControllerErrors, KnownCodesMatchTheWireMapping) {
  for (ControllerError code :
       {ControllerError::kUnknownTopicOrPartition, ControllerError::kNotLeaderOrFollower,
        ControllerError::kInvalidTopic, ControllerError::kTopicAlreadyExists,
        ControllerError::kInvalidPartitions, ControllerError::kInvalidReplicationFactor,
        ControllerError::kInvalidConfig, ControllerError::kNotController,
        ControllerError::kInvalidRequest, ControllerError::kFencedLeaderEpoch,
        ControllerError::kUnknownLeaderEpoch}) {
    const Status st = ControllerStatus(code, "why");
    EXPECT_EQ(ControllerErrorOf(st), code);
    const auto wire = static_cast<proto::ErrorCode>(code);
    EXPECT_EQ(proto::ErrorFromStatus(st), wire);
    EXPECT_EQ(st.code(), proto::StatusCodeFor(wire));
    EXPECT_EQ(ControllerErrorName(code), proto::ErrorName(wire));
    EXPECT_EQ(std::string(st.message()), "why");
  }
}

TEST(ControllerErrors, CodesMissingFromErrorsProtoKeepTheirNumber) {
  struct Case {
    ControllerError code;
    int number;
    absl::StatusCode absl_code;
  };
  for (const Case& c :
       {Case{ControllerError::kStaleBrokerEpoch, 77, absl::StatusCode::kFailedPrecondition},
        Case{ControllerError::kUnknownTopicId, 100, absl::StatusCode::kNotFound},
        Case{ControllerError::kDuplicateBrokerRegistration, 101, absl::StatusCode::kAlreadyExists},
        Case{ControllerError::kBrokerIdNotRegistered, 102, absl::StatusCode::kNotFound},
        Case{ControllerError::kIneligibleReplica, 107, absl::StatusCode::kInvalidArgument},
        Case{ControllerError::kInvalidUpdateVersion, 108, absl::StatusCode::kFailedPrecondition}}) {
    const Status st = ControllerStatus(c.code);
    EXPECT_EQ(static_cast<int>(ControllerErrorOf(st)), c.number);
    EXPECT_EQ(st.code(), c.absl_code);
    EXPECT_EQ(std::string(st.message()), std::string(ControllerErrorName(c.code)));
  }
}

TEST(ControllerErrors, OkAndInternalFailures) {
  EXPECT_TRUE(ControllerStatus(ControllerError::kNone).ok());
  EXPECT_EQ(ControllerErrorOf(absl::OkStatus()), ControllerError::kNone);
  EXPECT_EQ(static_cast<int>(ControllerErrorOf(absl::InternalError("bug"))), -1);
}

}  // namespace
}  // namespace spool::controller
