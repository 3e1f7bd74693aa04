// The cooperative-sticky assignor (consumer/assignor.h): balance, stickiness, and KIP-429's
// rule that a partition is never given to a member while another member still owns it, checked
// over random membership changes (seeded: spool::testing::TestSeed()) where every member owns
// what the previous rebalance gave it and revokes what it lost before the next one.
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consumer/assignor.h"
#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::consumer {
namespace {

// A simulated group: each member owns its last assignment, at the generation it got it.
struct Group {
  std::map<std::string, std::vector<TopicPartition>> owned;
  std::map<std::string, int32_t> generation;
  TopicPartitionCounts topics;
  int32_t next_generation = 1;

  std::vector<MemberSubscription> Subscriptions() const {
    std::vector<MemberSubscription> out;
    for (const auto& [id, parts] : owned) {
      MemberSubscription m;
      m.member_id = id;
      for (const auto& [t, n] : topics) m.topics.push_back(t);
      m.owned = parts;
      m.generation = generation.at(id);
      out.push_back(std::move(m));
    }
    return out;
  }
  size_t PartitionCount() const {
    size_t n = 0;
    for (const auto& [t, c] : topics) n += static_cast<size_t>(c);
    return n;
  }
};

// One rebalance: checks the cooperative rule and applies the result (members keep what they
// were given; a revoked partition is gone from its owner). Returns the partitions revoked.
std::vector<std::pair<std::string, TopicPartition>> Rebalance(Group& g, const Assignor& assignor) {
  const GroupAssignment a = assignor.Assign(g.topics, g.Subscriptions());
  EXPECT_EQ(a.size(), g.owned.size());
  std::map<TopicPartition, std::string> owner_before;
  for (const auto& [id, parts] : g.owned) {
    for (const TopicPartition& tp : parts) owner_before[tp] = id;
  }
  std::set<TopicPartition> given;
  for (const auto& [id, parts] : a) {
    for (const TopicPartition& tp : parts) {
      EXPECT_TRUE(given.insert(tp).second) << tp << " assigned twice";
      auto it = owner_before.find(tp);
      EXPECT_TRUE(it == owner_before.end() || it->second == id)
          << tp << " given to " << id << " while " << it->second << " still owns it";
    }
  }
  std::vector<std::pair<std::string, TopicPartition>> revoked;
  const int32_t gen = g.next_generation++;
  for (auto& [id, parts] : g.owned) {
    const std::vector<TopicPartition>& next = a.at(id);
    for (const TopicPartition& tp : parts) {
      if (!std::binary_search(next.begin(), next.end(), tp)) revoked.emplace_back(id, tp);
    }
    parts = next;
    g.generation[id] = gen;
  }
  return revoked;
}

void ExpectBalancedAndComplete(const Group& g) {
  size_t total = 0, lo = SIZE_MAX, hi = 0;
  for (const auto& [id, parts] : g.owned) {
    total += parts.size();
    lo = std::min(lo, parts.size());
    hi = std::max(hi, parts.size());
  }
  EXPECT_EQ(total, g.PartitionCount());
  if (!g.owned.empty()) {
    EXPECT_LE(hi - lo, 1u) << "unbalanced: " << lo << ".." << hi;
  }
}

TEST(CooperativeStickyAssignor, FirstAssignmentIsBalanced) {
  auto sticky = MakeCooperativeStickyAssignor();
  Group g;
  g.topics = {{"a", 7}, {"b", 5}};
  for (const char* id : {"m1", "m2", "m3", "m4", "m5"}) {
    g.owned[id];
    g.generation[id] = -1;
  }
  EXPECT_TRUE(Rebalance(g, *sticky).empty());
  ExpectBalancedAndComplete(g);
}

TEST(CooperativeStickyAssignor, AJoinMovesOnlyWhatItMustInTwoRounds) {
  auto sticky = MakeCooperativeStickyAssignor();
  Group g;
  g.topics = {{"t", 12}};
  for (const char* id : {"a", "b"}) {
    g.owned[id];
    g.generation[id] = -1;
  }
  (void)Rebalance(g, *sticky);
  const auto before = g.owned;
  g.owned["c"];
  g.generation["c"] = -1;
  // Round 1: a and b each give up 2 partitions, nothing is given to c yet.
  auto revoked = Rebalance(g, *sticky);
  EXPECT_EQ(revoked.size(), 4u);
  EXPECT_TRUE(g.owned["c"].empty());
  EXPECT_EQ(g.owned["a"].size(), 4u);
  // Round 2 (the revokers rejoined): c gets the 4, nobody revokes.
  EXPECT_TRUE(Rebalance(g, *sticky).empty());
  ExpectBalancedAndComplete(g);
  EXPECT_EQ(g.owned["c"].size(), 4u);
  for (const char* id : {"a", "b"}) {
    for (const TopicPartition& tp : g.owned[id]) {
      const auto& old = before.at(id);
      EXPECT_TRUE(std::binary_search(old.begin(), old.end(), tp)) << id << " gained " << tp;
    }
  }
}

TEST(CooperativeStickyAssignor, ALeaverOnlyMovesItsOwnPartitions) {
  auto sticky = MakeCooperativeStickyAssignor();
  Group g;
  g.topics = {{"t", 12}};
  for (const char* id : {"a", "b", "c"}) {
    g.owned[id];
    g.generation[id] = -1;
  }
  (void)Rebalance(g, *sticky);
  const auto before = g.owned;
  g.owned.erase("b");
  g.generation.erase("b");
  EXPECT_TRUE(Rebalance(g, *sticky).empty()) << "nothing to revoke: b's partitions are free";
  ExpectBalancedAndComplete(g);
  for (const char* id : {"a", "c"}) {
    for (const TopicPartition& tp : before.at(id)) {
      EXPECT_TRUE(std::binary_search(g.owned[id].begin(), g.owned[id].end(), tp));
    }
  }
}

TEST(CooperativeStickyAssignor, ConflictingClaimsAreResolvedByGeneration) {
  auto sticky = MakeCooperativeStickyAssignor();
  // "old" was fenced and still claims t-0 from generation 3; "new" owns it from generation 5.
  MemberSubscription old_member{"old", "", {"t"}, {{"t", 0}}, 3};
  MemberSubscription new_member{"new", "", {"t"}, {{"t", 0}}, 5};
  GroupAssignment a = sticky->Assign({{"t", 2}}, {old_member, new_member});
  EXPECT_EQ(a["new"], (std::vector<TopicPartition>{}))
      << "t-0 is still claimed by old, so it is withheld from everyone this round";
  EXPECT_EQ(a["old"], (std::vector<TopicPartition>{{"t", 1}}));
  // Equal generations: nobody keeps it; it is withheld until both have revoked it.
  MemberSubscription x{"x", "", {"t"}, {{"t", 0}}, 5};
  MemberSubscription y{"y", "", {"t"}, {{"t", 0}}, 5};
  GroupAssignment b = sticky->Assign({{"t", 1}}, {x, y});
  EXPECT_TRUE(b["x"].empty());
  EXPECT_TRUE(b["y"].empty());
}

TEST(CooperativeStickyAssignor, OwnedPartitionsOfVanishedTopicsOrUnsubscribedAreDropped) {
  auto sticky = MakeCooperativeStickyAssignor();
  MemberSubscription m{"m", "", {"t"}, {{"t", 0}, {"gone", 0}, {"t", 9}}, 1};
  GroupAssignment a = sticky->Assign({{"t", 2}}, {m});
  EXPECT_EQ(a["m"], (std::vector<TopicPartition>{{"t", 0}, {"t", 1}}));
}

TEST(CooperativeStickyAssignor, Deterministic) {
  auto sticky = MakeCooperativeStickyAssignor();
  std::vector<MemberSubscription> members = {{"b", "", {"t", "u"}, {{"t", 1}, {"t", 2}}, 4},
                                             {"a", "", {"t", "u"}, {{"u", 0}}, 4},
                                             {"c", "", {"t", "u"}, {}, -1}};
  const TopicPartitionCounts counts{{"t", 5}, {"u", 3}};
  GroupAssignment first = sticky->Assign(counts, members);
  std::reverse(members.begin(), members.end());
  EXPECT_EQ(sticky->Assign(counts, members), first);
}

// Random joins, leaves and partition growth. After each change the group rebalances until no
// member revokes anything (at most two rounds); throughout, no partition is given while another
// member owns it, and a revoked partition never comes back to the member that revoked it. In the
// end state the assignment is complete and balanced within one, and every member that stayed
// kept as many of its old partitions as its new share allows (stickiness).
TEST(CooperativeStickyAssignor, RandomMembershipChangesNeverRevokeWhatStays) {
  const uint64_t seed = testing::TestSeed();
  std::mt19937_64 rng(seed);
  auto sticky = MakeCooperativeStickyAssignor();
  Group g;
  g.topics = {{"a", 6}, {"b", 4}};
  int next_member = 0;
  auto add_member = [&] {
    const std::string id = absl::StrCat("member-", next_member++);
    g.owned[id];
    g.generation[id] = -1;
  };
  add_member();
  for (int step = 0; step < 300; ++step) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " step ", step));
    const auto before = g.owned;
    const int op = static_cast<int>(rng() % 10);
    if (op < 4 && g.owned.size() < 8) {
      add_member();
    } else if (op < 8 && g.owned.size() > 1) {
      auto it = g.owned.begin();
      std::advance(it, static_cast<long>(rng() % g.owned.size()));
      g.generation.erase(it->first);
      g.owned.erase(it);
    } else if (g.PartitionCount() < 40) {
      g.topics[rng() % 2 == 0 ? "a" : "b"] += static_cast<int32_t>(1 + rng() % 3);
    }
    std::set<std::pair<std::string, TopicPartition>> revoked_so_far;
    int rounds = 0;
    while (true) {
      ASSERT_LT(rounds, 3) << "no convergence";
      ++rounds;
      auto revoked = Rebalance(g, *sticky);
      if (revoked.empty()) break;
      revoked_so_far.insert(revoked.begin(), revoked.end());
    }
    EXPECT_LE(rounds, 2);
    ExpectBalancedAndComplete(g);
    for (const auto& [id, tp] : revoked_so_far) {
      const auto& now = g.owned[id];
      EXPECT_FALSE(std::binary_search(now.begin(), now.end(), tp))
          << id << " revoked " << tp << " only to get it back";
    }
    for (const auto& [id, old] : before) {
      auto it = g.owned.find(id);
      if (it == g.owned.end()) continue;
      size_t stayed = 0;
      for (const TopicPartition& tp : old) {
        if (std::binary_search(it->second.begin(), it->second.end(), tp)) ++stayed;
      }
      EXPECT_EQ(stayed, std::min(old.size(), it->second.size())) << id << " lost partitions it "
                                                                 << "could have kept";
    }
  }
}

}  // namespace
}  // namespace spool::consumer
