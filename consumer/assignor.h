// Partition assignors of the "consumer" group protocol (internal; pure, no I/O).
//
// The group leader runs one of these over every member's subscription and the partition counts
// from its metadata, and sends each member its share in SyncGroup. Which one runs is negotiated:
// each member lists the assignors of partition.assignment.strategy, in its order of preference,
// as JoinGroupProtocols; the coordinator picks one every member supports.
//
//   - "range" (RangeAssignor): per topic, the members subscribed to it in member order, each
//     getting a contiguous range; the first (partitions % members) get one more. Co-partitioned
//     topics land together; with many topics the first members carry more.
//   - "roundrobin" (RoundRobinAssignor): every subscribed partition in (topic, partition)
//     order dealt to the members in turn, skipping members not subscribed to its topic.
//   - "cooperative-sticky" (CooperativeStickyAssignor, KIP-429): keeps every partition a member
//     owns (ConsumerSubscription.owned_partitions) as long as balance allows, balances to within
//     one partition when the members' subscriptions are equal (best effort otherwise), and never
//     gives a member a partition another member still owns: such a partition stays unassigned in
//     this generation, its owner revokes it (it is missing from its assignment), rejoins, and the
//     next rebalance assigns it.
//
// Member order: the group instance id (static members) else the member id, so a static member
// keeps its place across restarts. Every assignor is deterministic: the same input gives the
// same output. The eager assignors ignore owned_partitions; members using them revoke every
// partition before rejoining.
//
// Threading: the assignors hold no state; any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "consumer/consumer.h"

namespace spool::consumer {

// One member as JoinGroup reported it, with its ConsumerSubscription decoded.
struct MemberSubscription {
  std::string member_id;
  std::string group_instance_id;  // empty: a dynamic member
  std::vector<std::string> topics;
  std::vector<TopicPartition> owned;  // what the member owns now (cooperative members)
  int32_t generation = -1;            // the generation `owned` is from
};

// member id -> the partitions assigned to it, sorted. Every member of the input has an entry.
using GroupAssignment = std::map<std::string, std::vector<TopicPartition>>;

// topic -> partition count, for the topics the metadata knows.
using TopicPartitionCounts = std::map<std::string, int32_t>;

class Assignor {
 public:
  virtual ~Assignor() = default;
  // The protocol name sent in JoinGroup ("range", "roundrobin", "cooperative-sticky").
  virtual std::string_view name() const = 0;
  // Whether members may keep their partitions while they rejoin (KIP-429's COOPERATIVE).
  virtual bool cooperative() const = 0;
  // Assigns every existing partition of a subscribed topic to exactly one subscribed member
  // (except, for the cooperative assignor, partitions withheld while their owner revokes them).
  // Topics missing from `partitions` are skipped.
  virtual GroupAssignment Assign(const TopicPartitionCounts& partitions,
                                 const std::vector<MemberSubscription>& members) const = 0;
};

// The assignor named `name`; kInvalidArgument for an unknown name.
[[nodiscard]] StatusOr<std::unique_ptr<Assignor>> MakeAssignor(std::string_view name);

std::unique_ptr<Assignor> MakeRangeAssignor();
std::unique_ptr<Assignor> MakeRoundRobinAssignor();
std::unique_ptr<Assignor> MakeCooperativeStickyAssignor();

// Members in assignor order (instance id, else member id). For the assignors and their tests.
std::vector<const MemberSubscription*> SortedMembers(
    const std::vector<MemberSubscription>& members);

}  // namespace spool::consumer
