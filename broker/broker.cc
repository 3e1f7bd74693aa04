// Broker: wires the data plane together (PartitionManager + the request handlers behind the
// RequestDispatcher + the MetadataFollower that keeps it in the cluster) and implements Open()
// and Close() as broker/broker.h describes.
//
// The controller the broker talks to: with no controller.quorum.voters (the single-node default,
// and the in-process tests) the broker embeds a one-voter controller quorum on shard 0, its Raft
// files under metadata.log.dir, and reaches it through a loopback channel (loopback_channel.h:
// the controller listener's own service, minus the socket). Otherwise it talks to the voters
// over TCP (controller_channel.h).
#include "broker/broker.h"

#include <chrono>
#include <future>
#include <memory>

#include "absl/strings/str_cat.h"
#include "broker/controller_service.h"
#include "broker/loopback_channel.h"
#include "broker/metadata_follower.h"
#include "broker/partition_manager.h"
#include "broker/replica_manager.h"
#include "broker/request_handlers.h"
#include "broker/request_log.h"
#include "replication/controller/quorum_controller.h"

namespace spool::broker {

namespace {

using namespace std::chrono_literals;

// The embedded quorum has one voter: Raft never sends a message.
class NoPeers final : public raft::Transport {
 public:
  void Send(raft::Message) override {}
};

class BrokerImpl final : public Broker {
 public:
  BrokerImpl(ShardSet& shards, const BrokerConfig& config, Clock& clock, StorageOptions storage)
      : core_(shards, config, clock, std::move(storage)),
        dispatcher_(core_),
        replicas_(shards, core_.partitions, config) {
    core_.partitions.set_role_listener(
        [this](std::vector<std::shared_ptr<const TopicInfo>> topics) -> Task<void> {
          if (follower_ != nullptr) replicas_.set_broker_epoch(follower_->broker_epoch());
          co_await replicas_.ApplyRoles(topics);
          // Coordinators follow the offsets partitions' leaders (after the roles are applied).
          co_await core_.groups.OnRoles(topics);
        });
  }

  ~BrokerImpl() override {
    if (follower_ == nullptr && controller_ == nullptr && !replicas_started_) return;
    // Destroyed without Close() (a failed Open, or a test's crash): stop the follower and the
    // embedded controller on shard 0, from the calling thread. Nothing is flushed.
    if (core_.shards.current() == 0) std::abort();  // cannot block shard 0 on itself
    std::promise<void> done;
    core_.shards.post(0, [this, &done] {
      core_.shards.shard(0).reactor->spawn(
          [](BrokerImpl* self, std::promise<void>* d) -> Task<void> {
            co_await self->StopMembership();
            d->set_value();
          }(this, &done));
    });
    done.get_future().wait();
  }

  Task<Status> Open() {
    CO_RETURN_IF_ERROR(co_await core_.partitions.Open());
    co_await replicas_.Start();
    replicas_started_ = true;
    CO_RETURN_IF_ERROR(co_await StartMembership());
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
      for (const auto& p : core_.partitions.LocalPartitions()) {
        p->NotifyFetchWaiters();
        p->NotifyReplicaWaiters();
      }
      co_return;
    };
    co_await core_.shards.on_all(std::move(wake));
    // Parked JoinGroup/SyncGroup requests are answered NOT_COORDINATOR (clients find the
    // coordinator again), so they do not hold up the close.
    co_await core_.groups.Close();
    // The controller moves this broker's leaderships away (clients go elsewhere) and fences it.
    const std::chrono::milliseconds shutdown_timeout = 5s;
    if (follower_ != nullptr) co_await follower_->ControlledShutdown(shutdown_timeout);
  }

  Task<Status> Close() override {
    if (closed_) co_return Status();
    closed_ = true;
    co_await PrepareShutdown();
    co_await dispatcher_.WaitIdle();
    co_await StopMembership();
    co_return co_await core_.partitions.Close();
  }

 private:
  Task<Status> StartMembership() {
    const BrokerConfig& config = core_.config;
    io::Reactor& reactor = *core_.shards.shard(0).reactor;
    std::unique_ptr<ControllerChannel> rpc;
    std::unique_ptr<ControllerChannel> fetch;
    if (config.voters.empty()) {
      if (config.node_id < 1) {
        co_return absl::InvalidArgumentError(
            absl::StrCat("node.id ", config.node_id, ": a controller voter's id must be >= 1"));
      }
      controller::QuorumControllerOptions options;
      options.driver.raft.id = raft::NodeId{static_cast<uint32_t>(config.node_id)};
      options.driver.raft.voters = {options.driver.raft.id};
      options.driver.raft.election_timeout_ns =
          std::max<int64_t>(1, config.controller_election_timeout_ms) * 1'000'000;
      options.driver.raft.heartbeat_interval_ns = options.driver.raft.election_timeout_ns / 10;
      options.driver.dir = config.metadata_log_dir.empty()
                               ? absl::StrCat(config.data_dir, "/__cluster_metadata")
                               : config.metadata_log_dir;
      options.driver.cluster_id = config.cluster_id;
      options.config.session_timeout_ms = config.broker_session_timeout_ms;
      options.config.auto_leader_rebalance = config.auto_leader_rebalance;
      options.config.leader_imbalance_check_interval_ms = config.leader_imbalance_check_interval_ms;
      options.config.leader_imbalance_per_broker_percentage =
          config.leader_imbalance_per_broker_percentage;
      options.config.default_num_partitions = config.default_partitions;
      options.config.default_replication_factor = config.default_replication_factor;
      CO_ASSIGN_OR_RETURN(controller_,
                          co_await controller::QuorumController::Start(
                              reactor, *core_.shards.shard(0).fs, std::move(options), no_peers_));
      service_ = MakeControllerService(core_.shards, 0, *controller_, config.cluster_id);
      rpc = MakeLoopbackChannel(reactor, *service_);
      fetch = MakeLoopbackChannel(reactor, *service_);
    } else {
      ControllerChannelOptions options;
      options.cluster_id = config.cluster_id;
      options.voters = config.voters;
      options.client_id = absl::StrCat("spool-broker-", config.node_id);
      rpc = ControllerChannel::Create(reactor, options);
      fetch = ControllerChannel::Create(reactor, std::move(options));
    }
    CO_ASSIGN_OR_RETURN(std::string incarnation,
                        co_await BrokerIncarnation(*core_.shards.shard(0).fs, config.data_dir));
    follower_ =
        std::make_unique<MetadataFollower>(core_.shards, core_.partitions, config, std::move(rpc),
                                           std::move(fetch), std::move(incarnation));
    core_.metadata = follower_.get();
    MetadataFollower* follower = follower_.get();
    replicas_.set_alter_partition([follower](v1::AlterPartitionRequest request)
                                      -> Task<StatusOr<v1::AlterPartitionResponse>> {
      co_return co_await follower->AlterPartition(std::move(request));
    });
    core_.partitions.set_topic_creator([follower](CreateTopicSpec spec) -> Task<Status> {
      co_return co_await follower->CreateTopic(std::move(spec));
    });
    co_return co_await follower_->Start();
  }

  // Stops the follower, then the embedded controller (which ends the follower's calls into it),
  // then waits for the follower's loops. Shard 0; idempotent.
 public:
  Task<void> StopMembership() {
    // Followers stop fetching first (their fetchers hold partitions; no more AlterPartition).
    co_await replicas_.Stop();
    // The follower's long poll into the embedded controller answers at once.
    if (controller_ != nullptr) controller_->EndLongPolls();
    if (follower_ != nullptr) co_await follower_->Stop();
    if (controller_ != nullptr) {
      Status st = co_await controller_->Stop();
      if (!st.ok()) LogInfo(absl::StrCat("embedded controller stopped with ", st.ToString()));
    }
    if (follower_ != nullptr) co_await follower_->WaitStopped();
    // The follower goes before the service and the controller it calls.
    core_.metadata = nullptr;
    replicas_.set_alter_partition(nullptr);
    replicas_started_ = false;
    follower_.reset();
    service_.reset();
    controller_.reset();
  }

 private:
  BrokerCore core_;
  RequestDispatcher dispatcher_;
  ReplicaManager replicas_;  // after core_: destroyed before the partitions
  bool replicas_started_ = false;
  NoPeers no_peers_;
  std::unique_ptr<controller::QuorumController> controller_;  // embedded mode only
  std::unique_ptr<RequestHandler> service_;                   // embedded mode only
  std::unique_ptr<MetadataFollower> follower_;
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
  Status opened = co_await broker->Open();
  if (!opened.ok()) {
    // Stopped here, on shard 0, before the destructor would have to block on it.
    co_await broker->StopMembership();
    co_return opened;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  LogInfo(absl::StrCat("data plane open data_dir=", config.data_dir, " shards=", shards.size(),
                       " open_ms=", ms));
  co_return std::unique_ptr<Broker>(std::move(broker));
}

Task<StatusOr<std::unique_ptr<Broker>>> Broker::Open(ShardSet& shards, const BrokerConfig& config,
                                                     Clock& clock) {
  StorageOptions storage;
  co_return co_await OpenBroker(shards, config, clock, std::move(storage));
}

}  // namespace spool::broker
