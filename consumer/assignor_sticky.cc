// The cooperative-sticky assignor (assignor.h). Steps:
//   1. Ownership: each partition's owner is the member claiming it (owned_partitions) with the
//      highest generation, if that member still subscribes to its topic and it still exists; two
//      claims at the same highest generation cancel out (nobody keeps it).
//   2. Quotas: with n partitions over k subscribed members, each gets n/k, and n%k of them one
//      more. Members keep their owned partitions up to their quota (the members owning the most
//      get the larger quotas, so as few partitions move as possible); the excess is freed, the
//      highest-numbered partitions first.
//   3. Every unowned partition, in (topic, partition) order, goes to the least loaded member
//      subscribed to its topic (ties: member order).
//   4. Cooperation (KIP-429): a partition whose new member differs from a member still claiming
//      it is withheld from this generation; the claimer, not finding it in its assignment,
//      revokes it and rejoins, and the next rebalance assigns it (then unowned).
#include <algorithm>
#include <set>

#include "consumer/assignor.h"

namespace spool::consumer {
namespace {

bool Subscribes(const MemberSubscription& m, const std::string& topic) {
  return std::find(m.topics.begin(), m.topics.end(), topic) != m.topics.end();
}

class CooperativeStickyAssignor final : public Assignor {
 public:
  std::string_view name() const override { return "cooperative-sticky"; }
  bool cooperative() const override { return true; }

  GroupAssignment Assign(const TopicPartitionCounts& partitions,
                         const std::vector<MemberSubscription>& members) const override {
    GroupAssignment out;
    for (const MemberSubscription& m : members) out[m.member_id];
    const std::vector<const MemberSubscription*> sorted = SortedMembers(members);

    // The partitions to assign: every partition of a topic some member subscribes to.
    std::set<std::string> subscribed;
    for (const MemberSubscription* m : sorted)
      subscribed.insert(m->topics.begin(), m->topics.end());
    std::set<TopicPartition> universe;
    for (const auto& [topic, count] : partitions) {
      if (subscribed.count(topic) == 0) continue;
      for (int32_t p = 0; p < count; ++p) universe.insert(TopicPartition{topic, p});
    }

    // 1. Ownership, and every claim (for step 4).
    struct Claim {
      int32_t generation = -1;
      const MemberSubscription* member = nullptr;
      bool conflicted = false;
    };
    std::map<TopicPartition, Claim> owner;
    std::map<TopicPartition, std::set<std::string>> claimers;
    for (const MemberSubscription* m : sorted) {
      for (const TopicPartition& tp : m->owned) {
        claimers[tp].insert(m->member_id);
        if (universe.count(tp) == 0 || !Subscribes(*m, tp.topic)) continue;
        auto [it, inserted] = owner.try_emplace(tp, Claim{m->generation, m, false});
        if (inserted) continue;
        if (m->generation > it->second.generation) {
          it->second = Claim{m->generation, m, false};
        } else if (m->generation == it->second.generation && it->second.member != m) {
          it->second.conflicted = true;
        }
      }
    }
    std::map<const MemberSubscription*, std::vector<TopicPartition>> kept;
    for (const auto& [tp, claim] : owner) {
      if (!claim.conflicted) kept[claim.member].push_back(tp);
    }

    // 2. Quotas.
    std::vector<const MemberSubscription*> eligible;
    for (const MemberSubscription* m : sorted) {
      if (std::any_of(m->topics.begin(), m->topics.end(),
                      [&](const std::string& t) { return partitions.count(t) != 0; })) {
        eligible.push_back(m);
      }
    }
    std::map<const MemberSubscription*, std::vector<TopicPartition>> target;
    std::set<TopicPartition> taken;
    if (!eligible.empty()) {
      const size_t n = universe.size();
      const size_t k = eligible.size();
      const size_t min_quota = n / k;
      size_t larger_left = n % k;
      std::vector<const MemberSubscription*> by_owned = eligible;
      std::stable_sort(by_owned.begin(), by_owned.end(),
                       [&](const MemberSubscription* a, const MemberSubscription* b) {
                         return kept[a].size() > kept[b].size();
                       });
      for (const MemberSubscription* m : by_owned) {
        std::vector<TopicPartition>& own = kept[m];
        size_t quota = min_quota;
        if (own.size() > min_quota && larger_left > 0) {
          quota = min_quota + 1;
          --larger_left;
        }
        if (own.size() > quota) own.resize(quota);  // sorted: frees the highest partitions
        target[m] = own;
        taken.insert(own.begin(), own.end());
      }

      // 3. The rest to the least loaded subscribed member.
      for (const TopicPartition& tp : universe) {
        if (taken.count(tp) != 0) continue;
        const MemberSubscription* best = nullptr;
        for (const MemberSubscription* m : eligible) {
          if (!Subscribes(*m, tp.topic)) continue;
          if (best == nullptr || target[m].size() < target[best].size()) best = m;
        }
        if (best != nullptr) target[best].push_back(tp);
      }
    }

    // 4. Withhold partitions another member still claims.
    for (auto& [m, parts] : target) {
      std::vector<TopicPartition>& dst = out[m->member_id];
      for (const TopicPartition& tp : parts) {
        auto it = claimers.find(tp);
        const bool claimed_by_other =
            it != claimers.end() &&
            std::any_of(it->second.begin(), it->second.end(),
                        [&](const std::string& id) { return id != m->member_id; });
        if (!claimed_by_other) dst.push_back(tp);
      }
      std::sort(dst.begin(), dst.end());
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<Assignor> MakeCooperativeStickyAssignor() {
  return std::make_unique<CooperativeStickyAssignor>();
}

}  // namespace spool::consumer
