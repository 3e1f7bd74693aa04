// The controller's decisions: pure functions of (image, request, now) that return the records to
// propose and the reply to give once they commit (replication/controller/README.md).
//
// How the active controller uses them: it calls one with its LATEST image (committed plus its
// own pending proposals, controller_state.h), proposes `records` as one Raft entry (when not
// empty) and applies them to the latest image at once; it sends `reply` only when that entry
// commits. If it loses leadership first, the entry may or may not commit; it answers
// NOT_CONTROLLER and the client retries. A request refused as a whole comes with no records
// and its reply may be sent at once; requests of several items (topics, config changes) answer
// each item, and their records hold the items that succeeded. The records always apply, in
// order, to the image passed in.
//
// Errors are Status values built by ControllerStatus() (controller_errors.h): read the Kafka
// code with ControllerErrorOf(). A kInternal status means a bug in this logic.
//
// Threading: none of these functions keep state; BrokerLiveness, where passed, is updated (it
// is the active controller's volatile state). One thread at a time per liveness table.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "replication/controller/broker_liveness.h"
#include "replication/controller/metadata_image.h"

namespace spool::controller {

struct ControllerConfig {
  int64_t session_timeout_ms = 9000;       // broker.session.timeout.ms (Kafka's default)
  int32_t default_num_partitions = 1;      // num.partitions
  int32_t default_replication_factor = 1;  // default.replication.factor
  int64_t producer_id_block_size = 1000;   // ids per AllocateProducerIds block
  // CreateTopics refuses more (INVALID_PARTITIONS): the controller listener takes requests from
  // anyone who reaches it, and every broker opens what is committed.
  int32_t max_partitions_per_topic = 10000;
  // Preferred-leader election on the active controller (leadership.h ElectPreferredLeaders):
  // auto.leader.rebalance.enable and leader.imbalance.check.interval.seconds (in ms here).
  bool auto_leader_rebalance = true;
  int64_t leader_imbalance_check_interval_ms = 300000;
  int32_t leader_imbalance_per_broker_percentage = 10;  // leader.imbalance.per.broker.percentage
};

template <typename Reply>
struct ControllerResult {
  std::vector<v1::MetadataRecord> records;  // one Raft entry (none: nothing to propose)
  Reply reply;                              // to send once `records` commit
};

// --- Brokers (controller_brokers.cc) ---

struct RegisterBrokerRequest {
  int32_t broker_id = -1;
  std::string incarnation_id;  // one per broker process run
  std::vector<Endpoint> endpoints;
  std::optional<std::string> rack;
};
struct RegisterBrokerReply {
  Status status;
  int64_t broker_epoch = -1;  // the new epoch when OK
};
// A new registration of the broker, fenced until its heartbeat shows it caught up. The broker
// epoch is `entry_index`: the Raft index that the entry carrying these records will get (the
// driver proposes it next: RaftNode::log().last_index() + 1), so epochs increase and a broker is
// caught up once it has applied the metadata log up to its own epoch. Refused:
// DUPLICATE_BROKER_REGISTRATION when the id is registered with another incarnation whose session
// is alive; INVALID_REQUEST for a negative id, a bad port or a listener named twice. If the
// previous registration was unfenced, its leaderships move away first (leadership.h). The
// broker's session starts now.
[[nodiscard]] ControllerResult<RegisterBrokerReply> RegisterBroker(
    const ClusterImage& image, BrokerLiveness& liveness, const RegisterBrokerRequest& request,
    int64_t entry_index, int64_t now_ms, const ControllerConfig& config);

struct HeartbeatRequest {
  int32_t broker_id = -1;
  int64_t broker_epoch = -1;
  int64_t metadata_offset = -1;  // the last metadata log index the broker has applied
  bool want_shutdown = false;    // controlled shutdown (see ControlledShutdown)
};
struct HeartbeatReply {
  Status status;
  bool fenced = true;           // the broker's state once the records commit
  bool shutdown_ready = false;  // want_shutdown was honoured: the broker may stop
};
// Renews the broker's session. A fenced broker that has applied the log up to its own epoch
// is unfenced (and elected where partitions are offline and it can lead). Refused:
// BROKER_ID_NOT_REGISTERED, STALE_BROKER_EPOCH (another epoch than the registered one).
[[nodiscard]] ControllerResult<HeartbeatReply> Heartbeat(const ClusterImage& image,
                                                         BrokerLiveness& liveness,
                                                         const HeartbeatRequest& request,
                                                         int64_t now_ms);

struct SessionExpiry {
  Status status;
  std::vector<int32_t> fenced;  // the brokers fenced, by id
};
// Fences every unfenced broker not heard from within config.session_timeout_ms (its
// leaderships move first, leadership.h); each fence sees the previous ones. Run it periodically
// on the active controller (after BrokerLiveness::Reset on becoming active).
[[nodiscard]] ControllerResult<SessionExpiry> CheckSessions(const ClusterImage& image,
                                                            const BrokerLiveness& liveness,
                                                            int64_t now_ms,
                                                            const ControllerConfig& config);

struct BrokerRef {
  int32_t broker_id = -1;
  int64_t broker_epoch = -1;
};
// A broker asks to leave: its leaderships (and ISR memberships) move to other brokers first,
// then it is fenced; all in one entry. OK with no records when it is already fenced. Refused:
// BROKER_ID_NOT_REGISTERED, STALE_BROKER_EPOCH.
[[nodiscard]] ControllerResult<Status> ControlledShutdown(const ClusterImage& image,
                                                          const BrokerRef& broker);

// Removes a broker's registration (an operator's decision), moving its leaderships first.
// Refused: BROKER_ID_NOT_REGISTERED. Its liveness entry is forgotten.
[[nodiscard]] ControllerResult<Status> UnregisterBroker(const ClusterImage& image,
                                                        BrokerLiveness& liveness,
                                                        int32_t broker_id);

struct ProducerIdBlock {
  Status status;
  int64_t first_id = -1;  // the block is [first_id, first_id + count)
  int64_t count = 0;
};
// Hands the broker the next block of config.producer_id_block_size ids; blocks never overlap
// and are never handed out twice. Refused: BROKER_ID_NOT_REGISTERED, STALE_BROKER_EPOCH.
[[nodiscard]] ControllerResult<ProducerIdBlock> AllocateProducerIds(const ClusterImage& image,
                                                                    const BrokerRef& broker,
                                                                    const ControllerConfig& config);

// --- Topics (controller_topics.cc) ---

struct CreatableTopic {
  std::string name;
  int32_t num_partitions = -1;      // -1: config.default_num_partitions
  int32_t replication_factor = -1;  // -1: config.default_replication_factor
  std::map<std::string, std::string> configs;
};
struct CreateTopicsRequest {
  std::vector<CreatableTopic> topics;
  bool validate_only = false;  // check and answer, propose nothing
};
struct CreatedTopic {
  std::string name;
  Status status;
  TopicId topic_id;  // when OK
  int32_t num_partitions = -1;
  int32_t replication_factor = -1;
};
// Creates each topic with an id drawn from `rng` and replicas placed over the unfenced brokers
// (placement.h, start index and shift drawn from `rng`); each topic succeeds or fails alone.
// Refused per topic: INVALID_TOPIC (name rules), TOPIC_ALREADY_EXISTS,
// INVALID_REQUEST (the name twice in one request), INVALID_PARTITIONS (< 1 or more than
// config.max_partitions_per_topic),
// INVALID_REPLICATION_FACTOR (< 1 or more than the unfenced brokers), INVALID_CONFIG (an empty
// key, or unclean.leader.election.enable not "true"/"false"). Deterministic given the rng state.
[[nodiscard]] ControllerResult<std::vector<CreatedTopic>> CreateTopics(
    const ClusterImage& image, const CreateTopicsRequest& request, const ControllerConfig& config,
    std::mt19937_64& rng);

struct DeletedTopic {
  std::string name;
  Status status;
};
// Removes each named topic. Refused per name: UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST (the
// name twice in one request).
[[nodiscard]] ControllerResult<std::vector<DeletedTopic>> DeleteTopics(
    const ClusterImage& image, const std::vector<std::string>& names);

// --- Configs (controller_configs.cc) ---

struct ConfigChange {
  v1::ConfigResourceType resource_type = v1::CONFIG_RESOURCE_UNKNOWN;
  std::string resource_name;  // a topic name, or a broker id in decimal ("" = cluster default)
  std::string key;
  std::optional<std::string> value;  // nullopt: delete the key
};
// Applies each change (each succeeds or fails alone; the reply has one status per change).
// Refused: INVALID_REQUEST (an unknown resource type, a broker name that is not a decimal id),
// UNKNOWN_TOPIC_OR_PARTITION, INVALID_CONFIG (an empty key, unclean.leader.election.enable not
// "true"/"false"). Setting unclean.leader.election.enable=true on a topic also elects a live
// replica for each of its offline partitions (leadership.h), in the same entry.
[[nodiscard]] ControllerResult<std::vector<Status>> AlterConfigs(
    const ClusterImage& image, const std::vector<ConfigChange>& changes);

// --- Partitions (controller_partitions.cc) ---

struct AlterPartitionRequest {
  int32_t broker_id = -1;  // the sender, which believes it leads the partition
  int64_t broker_epoch = -1;
  TopicId topic_id;
  int32_t partition = -1;
  int32_t leader_epoch = -1;     // the sender's view
  int32_t partition_epoch = -1;  // the sender's view
  std::vector<int32_t> new_isr;
};
struct AlterPartitionReply {
  Status status;
  PartitionState partition;  // the state once the records commit (when OK)
};
// An ISR change asked by the partition's leader. Refused, in this order: BROKER_ID_NOT_REGISTERED
// / STALE_BROKER_EPOCH (the sender), UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION,
// FENCED_LEADER_EPOCH (leader_epoch older than the partition's) / UNKNOWN_LEADER_EPOCH (newer),
// NOT_LEADER_OR_FOLLOWER (the sender does not lead it), INVALID_UPDATE_VERSION (partition_epoch
// is not the current one), INVALID_REQUEST (the ISR has duplicates, a non-replica, or not the
// leader), INELIGIBLE_REPLICA (an ISR member that is fenced or not registered). An ISR equal to
// the current one gives no record and the current state.
[[nodiscard]] ControllerResult<AlterPartitionReply> AlterPartition(
    const ClusterImage& image, const AlterPartitionRequest& request);

}  // namespace spool::controller
