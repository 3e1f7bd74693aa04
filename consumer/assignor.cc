// The eager assignors (range, round-robin) and the assignor registry. The cooperative-sticky
// assignor is in assignor_sticky.cc.
#include "consumer/assignor.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace spool::consumer {
namespace {

const std::string& SortKey(const MemberSubscription& m) {
  return m.group_instance_id.empty() ? m.member_id : m.group_instance_id;
}

bool Subscribes(const MemberSubscription& m, const std::string& topic) {
  return std::find(m.topics.begin(), m.topics.end(), topic) != m.topics.end();
}

GroupAssignment EmptyAssignment(const std::vector<MemberSubscription>& members) {
  GroupAssignment out;
  for (const MemberSubscription& m : members) out[m.member_id];
  return out;
}

void SortAll(GroupAssignment& a) {
  for (auto& [member, parts] : a) std::sort(parts.begin(), parts.end());
}

class RangeAssignor final : public Assignor {
 public:
  std::string_view name() const override { return "range"; }
  bool cooperative() const override { return false; }

  GroupAssignment Assign(const TopicPartitionCounts& partitions,
                         const std::vector<MemberSubscription>& members) const override {
    GroupAssignment out = EmptyAssignment(members);
    const std::vector<const MemberSubscription*> sorted = SortedMembers(members);
    for (const auto& [topic, count] : partitions) {
      std::vector<const MemberSubscription*> subscribers;
      for (const MemberSubscription* m : sorted) {
        if (Subscribes(*m, topic)) subscribers.push_back(m);
      }
      if (subscribers.empty() || count <= 0) continue;
      const int32_t n = static_cast<int32_t>(subscribers.size());
      const int32_t per = count / n;
      const int32_t extra = count % n;
      int32_t next = 0;
      for (int32_t i = 0; i < n; ++i) {
        const int32_t take = per + (i < extra ? 1 : 0);
        std::vector<TopicPartition>& dst = out[subscribers[static_cast<size_t>(i)]->member_id];
        for (int32_t p = next; p < next + take; ++p) dst.push_back(TopicPartition{topic, p});
        next += take;
      }
    }
    SortAll(out);
    return out;
  }
};

class RoundRobinAssignor final : public Assignor {
 public:
  std::string_view name() const override { return "roundrobin"; }
  bool cooperative() const override { return false; }

  GroupAssignment Assign(const TopicPartitionCounts& partitions,
                         const std::vector<MemberSubscription>& members) const override {
    GroupAssignment out = EmptyAssignment(members);
    const std::vector<const MemberSubscription*> sorted = SortedMembers(members);
    if (sorted.empty()) return out;
    std::set<std::string> subscribed;
    for (const MemberSubscription* m : sorted)
      subscribed.insert(m->topics.begin(), m->topics.end());
    size_t cursor = 0;
    for (const auto& [topic, count] : partitions) {
      if (subscribed.count(topic) == 0) continue;
      for (int32_t p = 0; p < count; ++p) {
        // The next member in turn that subscribes to the topic (one exists: it is subscribed).
        while (!Subscribes(*sorted[cursor % sorted.size()], topic)) ++cursor;
        out[sorted[cursor % sorted.size()]->member_id].push_back(TopicPartition{topic, p});
        ++cursor;
      }
    }
    SortAll(out);
    return out;
  }
};

}  // namespace

std::vector<const MemberSubscription*> SortedMembers(
    const std::vector<MemberSubscription>& members) {
  std::vector<const MemberSubscription*> out;
  out.reserve(members.size());
  for (const MemberSubscription& m : members) out.push_back(&m);
  std::sort(out.begin(), out.end(), [](const MemberSubscription* a, const MemberSubscription* b) {
    if (SortKey(*a) != SortKey(*b)) return SortKey(*a) < SortKey(*b);
    return a->member_id < b->member_id;
  });
  return out;
}

std::unique_ptr<Assignor> MakeRangeAssignor() {
  return std::make_unique<RangeAssignor>();
}
std::unique_ptr<Assignor> MakeRoundRobinAssignor() {
  return std::make_unique<RoundRobinAssignor>();
}

StatusOr<std::unique_ptr<Assignor>> MakeAssignor(std::string_view name) {
  if (name == "range") return MakeRangeAssignor();
  if (name == "roundrobin") return MakeRoundRobinAssignor();
  if (name == "cooperative-sticky") return MakeCooperativeStickyAssignor();
  return absl::InvalidArgumentError(
      absl::StrCat("unknown partition assignor \"", std::string(name),
                   "\" (known: range, roundrobin, cooperative-sticky)"));
}

}  // namespace spool::consumer
