// Replica placement: even spread of replicas and leaders, rack awareness, refusals, determinism.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "replication/controller/controller_errors.h"
#include "replication/controller/placement.h"

namespace spool::controller {
namespace {

std::vector<PlacementBroker> Brokers(int n, int racks = 0) {
  std::vector<PlacementBroker> out;
  for (int i = 0; i < n; ++i) {
    PlacementBroker b{100 + i * 3, std::nullopt};  // ids need not be dense
    if (racks > 0) b.rack = "rack-" + std::to_string(i % racks);
    out.push_back(b);
  }
  return out;
}

void CheckWellFormed(const std::vector<std::vector<int32_t>>& a, int partitions, int rf,
                     const std::vector<PlacementBroker>& brokers) {
  ASSERT_EQ(static_cast<int>(a.size()), partitions);
  std::set<int32_t> ids;
  for (const PlacementBroker& b : brokers) ids.insert(b.id);
  for (const auto& replicas : a) {
    ASSERT_EQ(static_cast<int>(replicas.size()), rf);
    EXPECT_EQ(std::set<int32_t>(replicas.begin(), replicas.end()).size(), replicas.size());
    for (int32_t r : replicas) EXPECT_TRUE(ids.contains(r)) << r;
  }
}

TEST(ControllerPlacement, SpreadsReplicasAndLeadersEvenly) {
  for (int n : {3, 5, 6}) {
    const std::vector<PlacementBroker> brokers = Brokers(n);
    for (int rf = 1; rf <= 3; ++rf) {
      for (int partitions = 1; partitions <= 100; ++partitions) {
        for (uint32_t start : {0u, 1u, 7u}) {
          SCOPED_TRACE(testing::Message()
                       << "n=" << n << " rf=" << rf << " p=" << partitions << " start=" << start);
          auto a = AssignReplicas(brokers, partitions, rf, PlacementOptions{start, start * 3, 0});
          ASSERT_TRUE(a.ok()) << a.status();
          CheckWellFormed(*a, partitions, rf, brokers);
          std::map<int32_t, int> leaders, replicas;
          for (const PlacementBroker& b : brokers) leaders[b.id] = replicas[b.id] = 0;
          for (const auto& r : *a) {
            ++leaders[r.front()];
            for (int32_t x : r) ++replicas[x];
          }
          auto [lmin, lmax] =
              std::minmax_element(leaders.begin(), leaders.end(),
                                  [](const auto& x, const auto& y) { return x.second < y.second; });
          EXPECT_LE(lmax->second - lmin->second, 1);
          // Every full round of n partitions gives each broker exactly rf replicas; the last,
          // partial round gives each at most rf more.
          const int rounds = partitions / n;
          for (const auto& [id, count] : replicas) {
            EXPECT_GE(count, rounds * rf) << id;
            EXPECT_LE(count, (rounds + (partitions % n ? 1 : 0)) * rf) << id;
          }
          if (partitions % n == 0) {
            for (const auto& [id, count] : replicas) EXPECT_EQ(count, partitions / n * rf);
          }
        }
      }
    }
  }
}

TEST(ControllerPlacement, FollowersShiftBetweenRounds) {
  // With 4 brokers and RF 2, the first round pairs each leader with one follower distance, the
  // next round with another: not always the same pairs.
  auto a = AssignReplicas(Brokers(4), 8, 2, PlacementOptions{0, 0, 0});
  ASSERT_TRUE(a.ok());
  std::set<std::pair<int32_t, int32_t>> round1, round2;
  for (int p = 0; p < 4; ++p) round1.insert({(*a)[p][0], (*a)[p][1]});
  for (int p = 4; p < 8; ++p) round2.insert({(*a)[p][0], (*a)[p][1]});
  EXPECT_NE(round1, round2);
}

TEST(ControllerPlacement, RackAwareSpansDistinctRacks) {
  for (auto [n, racks] :
       std::vector<std::pair<int, int>>{{6, 3}, {6, 2}, {9, 3}, {4, 4}, {5, 3}, {7, 3}}) {
    const std::vector<PlacementBroker> brokers = Brokers(n, racks);
    std::map<int32_t, std::string> rack_of;
    for (const PlacementBroker& b : brokers) rack_of[b.id] = *b.rack;
    for (int rf = 1; rf <= 3; ++rf) {
      for (int partitions : {1, 2, 7, 30, 99}) {
        SCOPED_TRACE(testing::Message()
                     << "n=" << n << " racks=" << racks << " rf=" << rf << " p=" << partitions);
        auto a = AssignReplicas(brokers, partitions, rf, PlacementOptions{5, 2, 0});
        ASSERT_TRUE(a.ok()) << a.status();
        CheckWellFormed(*a, partitions, rf, brokers);
        std::map<int32_t, int> leaders;
        for (const PlacementBroker& b : brokers) leaders[b.id] = 0;
        for (const auto& r : *a) {
          std::set<std::string> used;
          for (int32_t x : r) used.insert(rack_of[x]);
          EXPECT_EQ(static_cast<int>(used.size()), std::min(rf, racks));
          ++leaders[r.front()];
        }
        int lmin = partitions, lmax = 0;
        for (const auto& [id, c] : leaders) {
          lmin = std::min(lmin, c);
          lmax = std::max(lmax, c);
        }
        EXPECT_LE(lmax - lmin, 1);
      }
    }
  }
}

TEST(ControllerPlacement, RackUnawareWhenSomeBrokerHasNoRack) {
  std::vector<PlacementBroker> brokers = Brokers(4, 2);
  brokers[3].rack.reset();
  auto a = AssignReplicas(brokers, 10, 2, PlacementOptions{});
  ASSERT_TRUE(a.ok()) << a.status();
  CheckWellFormed(*a, 10, 2, brokers);
  // Unaware order is by id: partition 0 leads on the lowest id, partition 1 on the next.
  EXPECT_EQ((*a)[0][0], 100);
  EXPECT_EQ((*a)[1][0], 103);
}

TEST(ControllerPlacement, RefusesImpossibleRequests) {
  EXPECT_EQ(ControllerErrorOf(AssignReplicas(Brokers(3), 1, 4, {}).status()),
            ControllerError::kInvalidReplicationFactor);
  EXPECT_EQ(ControllerErrorOf(AssignReplicas(Brokers(3), 1, 0, {}).status()),
            ControllerError::kInvalidReplicationFactor);
  EXPECT_EQ(ControllerErrorOf(AssignReplicas({}, 1, 1, {}).status()),
            ControllerError::kInvalidReplicationFactor);
  EXPECT_EQ(ControllerErrorOf(AssignReplicas(Brokers(3), 0, 1, {}).status()),
            ControllerError::kInvalidPartitions);
  std::vector<PlacementBroker> dup = Brokers(2);
  dup.push_back(dup[0]);
  EXPECT_EQ(ControllerErrorOf(AssignReplicas(dup, 1, 1, {}).status()),
            ControllerError::kInvalidRequest);
  EXPECT_TRUE(AssignReplicas(Brokers(1), 5, 1, {}).ok());
}

TEST(ControllerPlacement, IsDeterministicAndIgnoresInputOrder) {
  std::vector<PlacementBroker> brokers = Brokers(5, 2);
  const PlacementOptions options{3, 4, 0};
  auto a = AssignReplicas(brokers, 40, 3, options);
  std::reverse(brokers.begin(), brokers.end());
  auto b = AssignReplicas(brokers, 40, 3, options);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  auto c = AssignReplicas(brokers, 40, 3, PlacementOptions{4, 4, 0});
  ASSERT_TRUE(c.ok());
  EXPECT_NE(*a, *c);  // another start gives another layout
}

TEST(ControllerPlacement, AddedPartitionsContinueTheRound) {
  // Assigning 10 partitions at once equals assigning 6 and then 4 more from partition 6.
  const std::vector<PlacementBroker> brokers = Brokers(3);
  auto all = AssignReplicas(brokers, 10, 2, PlacementOptions{1, 1, 0});
  auto first = AssignReplicas(brokers, 6, 2, PlacementOptions{1, 1, 0});
  auto rest = AssignReplicas(brokers, 4, 2, PlacementOptions{1, 1, 6});
  ASSERT_TRUE(all.ok() && first.ok() && rest.ok());
  std::vector<std::vector<int32_t>> joined = *first;
  joined.insert(joined.end(), rest->begin(), rest->end());
  EXPECT_EQ(joined, *all);
}

}  // namespace
}  // namespace spool::controller
