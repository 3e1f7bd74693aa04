// HandleRaftMessages: one RaftMessagesRequest into the driver, envelope by envelope.
#include "replication/raft/raft_service.h"

#include <string>

#include "proto/errors.h"

namespace spool::raft {

Task<StatusOr<v1::RaftMessagesResponse>> HandleRaftMessages(
    RaftDriver& driver, const v1::RaftMessagesRequest& request) {
  for (const std::string& envelope : request.envelopes()) driver.DeliverWire(envelope);
  v1::RaftMessagesResponse response;
  response.set_error_code(proto::ErrorCode::NONE);
  co_return response;
}

}  // namespace spool::raft
