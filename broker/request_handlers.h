// The API handlers behind Broker::handler() (request_dispatch.cc): one function per API, each in
// its own file (produce_handler.cc, fetch_handler.cc, list_offsets_handler.cc,
// metadata_handler.cc for Metadata and ApiVersions, admin_handler.cc for CreateTopics and
// DeleteTopics).
//
// Each handler runs on the shard of the connection (RequestHandler's rules), hops to the shards
// that own the partitions it touches, and returns the Response (or nullopt for acks=0). Problems
// with the request's contents are error codes in the response; a handler never fails as a whole
// except when its response cannot be encoded (the dispatcher then sends an error response).
//
// Threading: `core` is shared by every shard; its members are safe to use as their own headers
// say (the manager's Local*() about the calling shard, the config read-only).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/broker_config.h"
#include "broker/group_manager.h"
#include "broker/handler.h"
#include "broker/partition_manager.h"
#include "broker/producer_ids.h"
#include "broker/shard.h"
#include "common/clock.h"
#include "common/io/event.h"
#include "common/task.h"
#include "proto/body.h"
#include "proto/controller.pb.h"
#include "proto/errors.h"
#include "proto/frame_decoder.h"

namespace spool::broker {

// Defaults for requests that leave a field at 0 (Kafka's client defaults).
inline constexpr int32_t kDefaultProduceTimeoutMs = 30000;     // request.timeout.ms
inline constexpr int32_t kDefaultFetchMaxBytes = 50 << 20;     // fetch.max.bytes
inline constexpr int32_t kDefaultPartitionMaxBytes = 1 << 20;  // max.partition.fetch.bytes
inline constexpr int32_t kFetchResponseMaxBytes = 64 << 20;    // cap, under the frame limit

class MetadataFollower;

struct BrokerCore {
  BrokerCore(ShardSet& s, const BrokerConfig& c, Clock& k, StorageOptions storage)
      : shards(s),
        config(c),
        clock(k),
        partitions(s, c, k, std::move(storage)),
        groups(s, partitions, c, k) {}
  ShardSet& shards;
  const BrokerConfig& config;
  Clock& clock;
  PartitionManager partitions;
  GroupManager groups;  // after `partitions`: destroyed first
  // The broker's membership in the cluster (set by the Broker before it serves; shard 0 only).
  MetadataFollower* metadata = nullptr;
  // Set by Close(): long polls stop waiting.
  std::atomic<bool> closing{false};
  // The idempotent producer's ids (init_producer_id_handler.cc): made by the first
  // InitProducerId, on shard 0 only.
  std::unique_ptr<ProducerIdAllocator> producer_ids;
};

// A response frame for `request` carrying `body` and `payload` (kept alive by `keep_alive`).
// The checks every request addressed to one partition shares: the topic and the partition exist
// (else UNKNOWN_TOPIC_OR_PARTITION), this broker leads it (else NOT_LEADER_OR_FOLLOWER, or
// LEADER_NOT_AVAILABLE when it has no leader), and a current_leader_epoch the client gave
// (>= 0) is the partition's (older: FENCED_LEADER_EPOCH, the client is behind; newer:
// UNKNOWN_LEADER_EPOCH, this broker is). On NONE, `shard` is the shard that owns the partition
// and `leader_epoch` its leader epoch. `info` is the topic as FindTopic returned it (may be
// null). The one place for the leadership and leader-epoch rules.
struct PartitionRoute {
  proto::ErrorCode error = proto::ErrorCode::NONE;
  int shard = -1;
  int32_t leader_epoch = -1;
};
PartitionRoute RoutePartition(const BrokerCore& core, const TopicInfo* info,
                              const std::string& topic, int32_t partition,
                              int32_t current_leader_epoch = -1);

[[nodiscard]] StatusOr<Response> MakeResponse(
    const proto::FrameHeader& request, const google::protobuf::MessageLite& body,
    std::span<const std::span<const std::byte>> payload = {},
    std::vector<std::shared_ptr<const void>> keep_alive = {});

Task<std::optional<Response>> HandleProduce(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::ProduceRequest> request);
Task<StatusOr<Response>> HandleFetch(BrokerCore& core, proto::Frame frame,
                                     std::unique_ptr<v1::FetchRequest> request);
Task<StatusOr<Response>> HandleListOffsets(BrokerCore& core, proto::Frame frame,
                                           std::unique_ptr<v1::ListOffsetsRequest> request);
Task<StatusOr<Response>> HandleMetadata(BrokerCore& core, proto::Frame frame,
                                        std::unique_ptr<v1::MetadataRequest> request);
StatusOr<Response> HandleApiVersions(BrokerCore& core, const proto::FrameHeader& header);
Task<StatusOr<Response>> HandleCreateTopics(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::CreateTopicsRequest> request);
Task<StatusOr<Response>> HandleDeleteTopics(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::DeleteTopicsRequest> request);
// The idempotent producer's id, from blocks of the controller quorum (proto/producer_id.proto).
Task<StatusOr<Response>> HandleInitProducerId(BrokerCore& core, proto::Frame frame,
                                              std::unique_ptr<v1::InitProducerIdRequest> request);
// Forwarded to the controller quorum (`spool cluster`).
Task<StatusOr<Response>> HandleDescribeQuorum(BrokerCore& core, proto::Frame frame,
                                              std::unique_ptr<v1::DescribeQuorumRequest> request);

// Consumer groups (group_handlers.cc, group_offset_handlers.cc; broker/GROUPS.md). `peer` is
// the client's address (DescribeGroups' client_host).
Task<StatusOr<Response>> HandleFindCoordinator(BrokerCore& core, proto::Frame frame,
                                               std::unique_ptr<v1::FindCoordinatorRequest> request);
Task<StatusOr<Response>> HandleJoinGroup(BrokerCore& core, proto::Frame frame,
                                         std::unique_ptr<v1::JoinGroupRequest> request,
                                         std::string peer);
Task<StatusOr<Response>> HandleSyncGroup(BrokerCore& core, proto::Frame frame,
                                         std::unique_ptr<v1::SyncGroupRequest> request);
Task<StatusOr<Response>> HandleHeartbeat(BrokerCore& core, proto::Frame frame,
                                         std::unique_ptr<v1::HeartbeatRequest> request);
Task<StatusOr<Response>> HandleLeaveGroup(BrokerCore& core, proto::Frame frame,
                                          std::unique_ptr<v1::LeaveGroupRequest> request);
Task<StatusOr<Response>> HandleOffsetCommit(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::OffsetCommitRequest> request);
Task<StatusOr<Response>> HandleOffsetFetch(BrokerCore& core, proto::Frame frame,
                                           std::unique_ptr<v1::OffsetFetchRequest> request);
Task<StatusOr<Response>> HandleDescribeGroups(BrokerCore& core, proto::Frame frame,
                                              std::unique_ptr<v1::DescribeGroupsRequest> request);
Task<StatusOr<Response>> HandleListGroups(BrokerCore& core, proto::Frame frame,
                                          std::unique_ptr<v1::ListGroupsRequest> request);
Task<StatusOr<Response>> HandleDeleteGroups(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::DeleteGroupsRequest> request);

// The dispatcher (request_dispatch.cc): version check, body parse, payload check, then the API
// handler; counts the requests in flight for Close().
class RequestDispatcher final : public RequestHandler {
 public:
  explicit RequestDispatcher(BrokerCore& core)
      : core_(core), idle_(std::make_shared<io::Event>(*core.shards.shard(0).reactor)) {}
  Task<std::optional<Response>> Handle(const RequestContext& context,
                                       proto::Frame request) override;
  // Completes once no request is in flight. Shard 0, after core.closing is set.
  Task<void> WaitIdle();
  int64_t in_flight() const { return in_flight_.load(); }

 private:
  Task<std::optional<Response>> Dispatch(proto::Frame request, std::string peer);
  void Finished();

  BrokerCore& core_;
  std::atomic<int64_t> in_flight_{0};
  // Shard 0 (made with the dispatcher, so `closing` may be set before WaitIdle() runs). Shared
  // with the posts that set it.
  std::shared_ptr<io::Event> idle_;
};

}  // namespace spool::broker
