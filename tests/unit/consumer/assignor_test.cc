// The eager assignors (range, round-robin), the registry and the consumer protocol's bytes.
// The cooperative-sticky assignor has its own suite (assignor_sticky_test.cc).
#include "consumer/assignor.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "consumer/group_protocol.h"
#include "gtest/gtest.h"

namespace spool::consumer {
namespace {

MemberSubscription Member(std::string id, std::vector<std::string> topics,
                          std::string instance = "") {
  MemberSubscription m;
  m.member_id = std::move(id);
  m.group_instance_id = std::move(instance);
  m.topics = std::move(topics);
  return m;
}

std::vector<TopicPartition> Parts(const std::string& topic, std::vector<int32_t> ps) {
  std::vector<TopicPartition> out;
  for (int32_t p : ps) out.push_back(TopicPartition{topic, p});
  return out;
}

// Every partition of every subscribed topic assigned exactly once.
void ExpectComplete(const GroupAssignment& a, const TopicPartitionCounts& counts) {
  std::map<TopicPartition, int> seen;
  for (const auto& [member, parts] : a) {
    for (const TopicPartition& tp : parts) seen[tp]++;
  }
  size_t total = 0;
  for (const auto& [topic, n] : counts) {
    for (int32_t p = 0; p < n; ++p) {
      const TopicPartition tp{topic, p};
      EXPECT_EQ(seen[tp], 1) << tp;
      ++total;
    }
  }
  EXPECT_EQ(seen.size(), total);
}

TEST(AssignorRegistry, KnowsTheThreeNames) {
  for (const char* name : {"range", "roundrobin", "cooperative-sticky"}) {
    StatusOr<std::unique_ptr<Assignor>> a = MakeAssignor(name);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ((*a)->name(), name);
    EXPECT_EQ((*a)->cooperative(), std::string(name) == "cooperative-sticky");
  }
  StatusOr<std::unique_ptr<Assignor>> bad = MakeAssignor("sticky-ish");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RangeAssignor, ContiguousRangesPerTopicFirstMembersGetTheExtra) {
  auto range = MakeRangeAssignor();
  const TopicPartitionCounts counts{{"a", 7}, {"b", 3}};
  GroupAssignment a = range->Assign(
      counts, {Member("m2", {"a", "b"}), Member("m1", {"a", "b"}), Member("m3", {"a", "b"})});
  ExpectComplete(a, counts);
  // Member order m1 < m2 < m3; 7 = 3 + 2 + 2; 3 = 1 + 1 + 1.
  std::vector<TopicPartition> m1 = Parts("a", {0, 1, 2});
  m1.push_back({"b", 0});
  std::vector<TopicPartition> m2 = Parts("a", {3, 4});
  m2.push_back({"b", 1});
  std::vector<TopicPartition> m3 = Parts("a", {5, 6});
  m3.push_back({"b", 2});
  EXPECT_EQ(a["m1"], m1);
  EXPECT_EQ(a["m2"], m2);
  EXPECT_EQ(a["m3"], m3);
}

TEST(RangeAssignor, OnlySubscribersOfATopicShareIt) {
  auto range = MakeRangeAssignor();
  const TopicPartitionCounts counts{{"a", 4}, {"b", 2}, {"unsubscribed", 5}};
  GroupAssignment a = range->Assign(counts, {Member("m1", {"a"}), Member("m2", {"a", "b"})});
  EXPECT_EQ(a["m1"], Parts("a", {0, 1}));
  std::vector<TopicPartition> m2 = Parts("a", {2, 3});
  m2.push_back({"b", 0});
  m2.push_back({"b", 1});
  EXPECT_EQ(a["m2"], m2);
}

TEST(RangeAssignor, StaticMembersAreOrderedByInstanceId) {
  auto range = MakeRangeAssignor();
  // Member ids are random per join; the instance id keeps "first" stable across restarts.
  GroupAssignment a = range->Assign(
      {{"t", 2}}, {Member("zzz", {"t"}, "consumer-1"), Member("aaa", {"t"}, "consumer-2")});
  EXPECT_EQ(a["zzz"], Parts("t", {0}));
  EXPECT_EQ(a["aaa"], Parts("t", {1}));
}

TEST(RangeAssignor, MoreMembersThanPartitionsLeavesSomeEmpty) {
  auto range = MakeRangeAssignor();
  GroupAssignment a =
      range->Assign({{"t", 2}}, {Member("a", {"t"}), Member("b", {"t"}), Member("c", {"t"})});
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(a["a"].size(), 1u);
  EXPECT_EQ(a["b"].size(), 1u);
  EXPECT_TRUE(a["c"].empty());
}

TEST(RoundRobinAssignor, DealsPartitionsInTurnAcrossTopics) {
  auto rr = MakeRoundRobinAssignor();
  const TopicPartitionCounts counts{{"a", 3}, {"b", 3}};
  GroupAssignment a = rr->Assign(counts, {Member("m1", {"a", "b"}), Member("m2", {"a", "b"})});
  ExpectComplete(a, counts);
  // a-0 m1, a-1 m2, a-2 m1, b-0 m2, b-1 m1, b-2 m2: 3 and 3, unlike range's 4 and 2.
  EXPECT_EQ(a["m1"], (std::vector<TopicPartition>{{"a", 0}, {"a", 2}, {"b", 1}}));
  EXPECT_EQ(a["m2"], (std::vector<TopicPartition>{{"a", 1}, {"b", 0}, {"b", 2}}));
}

TEST(RoundRobinAssignor, SkipsMembersNotSubscribed) {
  auto rr = MakeRoundRobinAssignor();
  const TopicPartitionCounts counts{{"a", 2}, {"b", 4}};
  GroupAssignment a = rr->Assign(counts, {Member("m1", {"a"}), Member("m2", {"a", "b"})});
  ExpectComplete(a, counts);
  for (const TopicPartition& tp : a["m1"]) EXPECT_EQ(tp.topic, "a");
}

TEST(EagerAssignors, BalancedAndDeterministicWhatEverTheInputOrder) {
  for (auto make : {MakeRangeAssignor, MakeRoundRobinAssignor}) {
    auto assignor = make();
    const TopicPartitionCounts counts{{"t", 12}};
    std::vector<MemberSubscription> members = {Member("c", {"t"}), Member("a", {"t"}),
                                               Member("b", {"t"}), Member("d", {"t"}),
                                               Member("e", {"t"})};
    GroupAssignment first = assignor->Assign(counts, members);
    ExpectComplete(first, counts);
    for (const auto& [m, parts] : first) {
      EXPECT_GE(parts.size(), 2u) << assignor->name() << " " << m;
      EXPECT_LE(parts.size(), 3u) << assignor->name() << " " << m;
    }
    std::reverse(members.begin(), members.end());
    EXPECT_EQ(assignor->Assign(counts, members), first) << assignor->name();
  }
}

TEST(ConsumerProtocol, SubscriptionRoundTrips) {
  std::string bytes = EncodeSubscription({"b", "a"}, {{"a", 3}, {"a", 1}, {"b", 0}}, 7);
  StatusOr<MemberSubscription> m = DecodeSubscription("member-1", "inst", bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->member_id, "member-1");
  EXPECT_EQ(m->group_instance_id, "inst");
  EXPECT_EQ(m->topics, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m->owned, (std::vector<TopicPartition>{{"a", 1}, {"a", 3}, {"b", 0}}));
  EXPECT_EQ(m->generation, 7);
  EXPECT_EQ(DecodeSubscription("x", "", "\xff\xff\xff").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ConsumerProtocol, AssignmentRoundTrips) {
  std::vector<TopicPartition> parts = {{"z", 2}, {"a", 0}, {"z", 1}};
  StatusOr<std::vector<TopicPartition>> back = DecodeAssignment(EncodeAssignment(parts));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, (std::vector<TopicPartition>{{"a", 0}, {"z", 1}, {"z", 2}}));
  StatusOr<std::vector<TopicPartition>> empty = DecodeAssignment("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace spool::consumer
