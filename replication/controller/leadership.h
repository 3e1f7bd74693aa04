// Leadership moves when a broker stops or starts being able to lead (replication/controller/
// README.md, "Fencing and elections"). Each function adds PartitionChangeRecords to a
// RecordBuilder, visiting topics in id order and partitions in number order (deterministic).
//
// Rules:
//  - A broker that leaves (fenced, shutting down, re-registered, unregistered) leaves every ISR
//    except where it is the last member: Kafka keeps the last member so that the partition can
//    come back when that broker does, and so do we. Where it led, the new leader is the first
//    replica (assignment order) that is in the remaining ISR and live; if there is none the
//    partition goes offline (leader -1) unless the topic sets
//    unclean.leader.election.enable=true, in which case the first live replica leads and the ISR
//    becomes just that replica (data the old ISR had may be lost: that is what "unclean" means).
//  - A broker that becomes live leads every offline partition whose ISR holds it, and, with
//    unclean election enabled, every offline partition it is a replica of (ISR := itself).
//  - Enabling unclean election on a topic elects a live replica for its offline partitions.
//
// Pure functions over the builder; one thread.
#pragma once

#include <cstdint>

#include "replication/controller/record_builder.h"

namespace spool::controller {

inline constexpr char kUncleanLeaderElectionKey[] = "unclean.leader.election.enable";

// True when the topic sets unclean.leader.election.enable=true.
[[nodiscard]] bool UncleanElectionEnabled(const ClusterImage& image, const TopicId& topic);

// Takes `broker_id` out of every leadership and ISR (see above). Call before fencing it.
[[nodiscard]] Status MoveLeadershipsOff(RecordBuilder& builder, int32_t broker_id);

// MoveLeadershipsOff, then the BrokerFencedRecord. Nothing when the broker is already fenced.
[[nodiscard]] Status FenceBroker(RecordBuilder& builder, int32_t broker_id);

// Elects `broker_id` (now live in the builder's image) where a partition is offline.
[[nodiscard]] Status ElectOfflineLeaders(RecordBuilder& builder, int32_t broker_id);

// Preferred-leader election (Kafka's auto.leader.rebalance): for each broker whose imbalance
// ratio (of the partitions it is the preferred leader of, the share it does not lead) is above
// `imbalance_percentage` (leader.imbalance.per.broker.percentage; 0: any imbalance), each of
// those partitions whose preferred leader (first replica) is live and in the ISR is led by it
// again. Nothing else changes (the ISR stays), so no acknowledged write is at risk: the new leader
// has every committed record. Adds nothing when every partition is led by its preferred replica,
// no broker is over the threshold, or the replicas cannot lead now.
[[nodiscard]] Status ElectPreferredLeaders(RecordBuilder& builder,
                                           int32_t imbalance_percentage = 0);

// For a topic that now allows unclean election: each offline partition with a live replica is
// led by the first live replica (assignment order), ISR := itself.
[[nodiscard]] Status ElectUncleanLeaders(RecordBuilder& builder, const TopicId& topic);

}  // namespace spool::controller
