// Broker: wires the data plane together (PartitionManager + the request handlers behind the
// RequestDispatcher) and implements Open() and Close() as broker/broker.h describes.
#include "broker/broker.h"

#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "broker/partition_manager.h"
#include "broker/request_handlers.h"
#include "broker/request_log.h"

namespace spool::broker {

namespace {

class BrokerImpl final : public Broker {
 public:
  BrokerImpl(ShardSet& shards, const BrokerConfig& config, Clock& clock, StorageOptions storage)
      : core_(shards, config, clock, std::move(storage)), dispatcher_(core_) {}

  Task<Status> Open() {
    CO_RETURN_IF_ERROR(co_await core_.partitions.Open());
    // The group coordinator: creates __consumer_offsets if needed and starts loading it.
    co_return co_await core_.groups.Open();
  }

  RequestHandler& handler() override { return dispatcher_; }
  PartitionManager& partitions() { return core_.partitions; }

  Task<void> PrepareShutdown() override {
    if (prepared_) co_return;
    prepared_ = true;
    // Long polls stop waiting: wake every parked fetch; new ones answer at once.
    core_.closing.store(true);
    absl::AnyInvocable<Task<void>(Shard&)> wake = [this](Shard&) -> Task<void> {
      for (const auto& p : core_.partitions.LocalPartitions()) p->NotifyFetchWaiters();
      co_return;
    };
    co_await core_.shards.on_all(std::move(wake));
    // Parked JoinGroup/SyncGroup requests are answered NOT_COORDINATOR (clients find the
    // coordinator again), so they do not hold up the close.
    co_await core_.groups.Close();
  }

  Task<Status> Close() override {
    if (closed_) co_return Status();
    closed_ = true;
    co_await PrepareShutdown();
    co_await dispatcher_.WaitIdle();
    co_return co_await core_.partitions.Close();
  }

 private:
  BrokerCore core_;
  RequestDispatcher dispatcher_;
  bool prepared_ = false;
  bool closed_ = false;
};

}  // namespace

PartitionManager& PartitionsOf(Broker& broker) {
  return static_cast<BrokerImpl&>(broker).partitions();
}

Task<StatusOr<std::unique_ptr<Broker>>> OpenBroker(ShardSet& shards, const BrokerConfig& config,
                                                   Clock& clock, StorageOptions storage) {
  if (shards.current() != 0) {
    co_return absl::FailedPreconditionError("Broker::Open must run on shard 0");
  }
  if (config.data_dir.empty()) co_return absl::InvalidArgumentError("data_dir is empty");
  const auto start = std::chrono::steady_clock::now();
  auto broker = std::make_unique<BrokerImpl>(shards, config, clock, std::move(storage));
  CO_RETURN_IF_ERROR(co_await broker->Open());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  LogInfo(absl::StrCat("data plane open data_dir=", config.data_dir, " shards=", shards.size(),
                       " open_ms=", ms));
  co_return std::unique_ptr<Broker>(std::move(broker));
}

Task<StatusOr<std::unique_ptr<Broker>>> Broker::Open(ShardSet& shards, const BrokerConfig& config,
                                                     Clock& clock) {
  co_return co_await OpenBroker(shards, config, clock, StorageOptions{});
}

}  // namespace spool::broker
