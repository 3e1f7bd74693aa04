// QuorumController: the request API. Each request waits until this voter is the active
// controller, decides on the latest image and proposes the records with no suspension in
// between (quorum_controller.h), then answers once they commit.
#include <utility>

#include "replication/controller/quorum_controller.h"

namespace spool::controller {

Task<StatusOr<RegisterBrokerReply>> QuorumController::RegisterBroker(
    RegisterBrokerRequest request) {
  Running running(*this);
  CO_RETURN_IF_ERROR(co_await AwaitActive());
  // The broker epoch is the index of the entry that carries the registration.
  const int64_t entry_index = static_cast<int64_t>(driver_->next_index().value());
  ControllerResult<RegisterBrokerReply> r = controller::RegisterBroker(
      state_.latest(), liveness_, request, entry_index, NowMs(), options_.config);
  CO_RETURN_IF_ERROR(co_await ProposeAndCommit(std::move(r.records), entry_index));
  co_return std::move(r.reply);
}

Task<StatusOr<HeartbeatReply>> QuorumController::BrokerHeartbeat(HeartbeatRequest request) {
  Running running(*this);
  CO_RETURN_IF_ERROR(co_await AwaitActive());
  ControllerResult<HeartbeatReply> r = Heartbeat(state_.latest(), liveness_, request, NowMs());
  CO_RETURN_IF_ERROR(co_await ProposeAndCommit(std::move(r.records), 0));
  co_return std::move(r.reply);
}

Task<Status> QuorumController::ControlledShutdown(BrokerRef broker) {
  Running running(*this);
  CO_RETURN_IF_ERROR(co_await AwaitActive());
  ControllerResult<Status> r = controller::ControlledShutdown(state_.latest(), broker);
  CO_RETURN_IF_ERROR(co_await ProposeAndCommit(std::move(r.records), 0));
  co_return std::move(r.reply);
}

Task<Status> QuorumController::UnregisterBroker(int32_t broker_id) {
  Running running(*this);
  CO_RETURN_IF_ERROR(co_await AwaitActive());
  ControllerResult<Status> r = controller::UnregisterBroker(state_.latest(), liveness_, broker_id);
  CO_RETURN_IF_ERROR(co_await ProposeAndCommit(std::move(r.records), 0));
  co_return std::move(r.reply);
}

Task<StatusOr<ProducerIdBlock>> QuorumController::AllocateProducerIds(BrokerRef broker) {
  Running running(*this);
  CO_RETURN_IF_ERROR(co_await AwaitActive());
  ControllerResult<ProducerIdBlock> r =
      controller::AllocateProducerIds(state_.latest(), broker, options_.config);
  CO_RETURN_IF_ERROR(co_await ProposeAndCommit(std::move(r.records), 0));
  co_return std::move(r.reply);
}

Task<StatusOr<std::vector<CreatedTopic>>> QuorumController::CreateTopics(
    CreateTopicsRequest request) {
  Running running(*this);
  CO_RETURN_IF_ERROR(co_await AwaitActive());
  ControllerResult<std::vector<CreatedTopic>> r =
      controller::CreateTopics(state_.latest(), request, options_.config, rng_);
  CO_RETURN_IF_ERROR(co_await ProposeAndCommit(std::move(r.records), 0));
  co_return std::move(r.reply);
}

Task<StatusOr<std::vector<DeletedTopic>>> QuorumController::DeleteTopics(
    std::vector<std::string> names) {
  Running running(*this);
  CO_RETURN_IF_ERROR(co_await AwaitActive());
  ControllerResult<std::vector<DeletedTopic>> r = controller::DeleteTopics(state_.latest(), names);
  CO_RETURN_IF_ERROR(co_await ProposeAndCommit(std::move(r.records), 0));
  co_return std::move(r.reply);
}

Task<StatusOr<AlterPartitionReply>> QuorumController::AlterPartition(
    AlterPartitionRequest request) {
  Running running(*this);
  CO_RETURN_IF_ERROR(co_await AwaitActive());
  ControllerResult<AlterPartitionReply> r = controller::AlterPartition(state_.latest(), request);
  CO_RETURN_IF_ERROR(co_await ProposeAndCommit(std::move(r.records), 0));
  co_return std::move(r.reply);
}

Task<StatusOr<std::vector<Status>>> QuorumController::AlterConfigs(
    std::vector<ConfigChange> changes) {
  Running running(*this);
  CO_RETURN_IF_ERROR(co_await AwaitActive());
  ControllerResult<std::vector<Status>> r = controller::AlterConfigs(state_.latest(), changes);
  CO_RETURN_IF_ERROR(co_await ProposeAndCommit(std::move(r.records), 0));
  co_return std::move(r.reply);
}

}  // namespace spool::controller
