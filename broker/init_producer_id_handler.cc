// InitProducerId (proto/producer_id.proto): runs on the connection's shard, hops to shard 0,
// where the broker's ProducerIdAllocator (producer_ids.h) hands out an id from a block the
// controller quorum allocated to this broker (MetadataFollower::AllocateProducerIds).
//
// Answers: a new id at epoch 0 (also for a request naming an existing id and epoch: KIP-360's
// recovery gets a fresh id, which restarts every partition's sequences without broker state);
// COORDINATOR_NOT_AVAILABLE (retriable) while the broker is not serving yet, or when no block
// could be had from the controller; TRANSACTIONAL_ID_AUTHORIZATION_FAILED for a transactional
// id (transactions are not supported).
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "broker/metadata_follower.h"
#include "broker/producer_ids.h"
#include "broker/request_handlers.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;

namespace {

// One block from the controller; shard 0. Refusals and an unreachable controller are both
// kUnavailable: the client retries InitProducerId.
Task<StatusOr<ProducerIdRange>> FetchFromController(BrokerCore* core) {
  if (core->metadata == nullptr) {
    co_return absl::UnavailableError("the broker is not part of the cluster yet");
  }
  StatusOr<v1::AllocateProducerIdsResponse> reply = co_await core->metadata->AllocateProducerIds();
  if (!reply.ok()) {
    co_return absl::UnavailableError(
        absl::StrCat("the controller cannot be reached: ", reply.status().message()));
  }
  if (reply->error_code() != 0) {
    const auto code = static_cast<ErrorCode>(reply->error_code());
    co_return absl::UnavailableError(
        absl::StrCat("the controller refused: ", std::string(proto::ErrorName(code)), " ",
                     reply->error_message()));
  }
  co_return ProducerIdRange{reply->producer_id_start(), reply->producer_id_len()};
}

// Shard 0: the allocator, made on first use.
ProducerIdAllocator& Allocator(BrokerCore& core) {
  if (!core.producer_ids) {
    BrokerCore* c = &core;
    core.producer_ids = std::make_unique<ProducerIdAllocator>(
        *core.shards.shard(0).reactor, [c]() { return FetchFromController(c); });
  }
  return *core.producer_ids;
}

}  // namespace

Task<StatusOr<Response>> HandleInitProducerId(BrokerCore& core, proto::Frame frame,
                                              std::unique_ptr<v1::InitProducerIdRequest> request) {
  v1::InitProducerIdResponse response;
  response.set_producer_id(-1);
  response.set_producer_epoch(-1);
  if (!request->transactional_id().empty()) {
    response.set_error_code(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    response.set_error_message("transactions are not supported: leave transactional_id empty");
    co_return MakeResponse(frame.header(), response);
  }
  auto answer = std::make_shared<StatusOr<int64_t>>(absl::UnknownError("not run"));
  absl::AnyInvocable<Task<void>()> work = [&core, answer]() -> Task<void> {
    if (core.metadata == nullptr) {
      *answer = absl::UnavailableError("the broker is not serving yet");
      co_return;
    }
    *answer = co_await Allocator(core).Next();
  };
  co_await core.shards.submit_to<void>(0, std::move(work));
  if (answer->ok()) {
    response.set_producer_id(**answer);
    response.set_producer_epoch(0);
  } else {
    response.set_error_code(ErrorCode::COORDINATOR_NOT_AVAILABLE);
    response.set_error_message(std::string(answer->status().message()));
  }
  co_return MakeResponse(frame.header(), response);
}

}  // namespace spool::broker
