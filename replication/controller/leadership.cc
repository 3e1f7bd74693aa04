#include "replication/controller/leadership.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace spool::controller {
namespace {

bool Contains(const std::vector<int32_t>& v, int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The topic ids of the image, in order (a snapshot: the builder's image changes as we add).
std::vector<TopicId> TopicIds(const ClusterImage& image) {
  std::vector<TopicId> ids;
  for (const auto& [id, topic] : image.topics()) ids.push_back(id);
  return ids;
}

}  // namespace

bool UncleanElectionEnabled(const ClusterImage& image, const TopicId& topic) {
  return image.TopicConfig(topic, kUncleanLeaderElectionKey) == "true";
}

Status MoveLeadershipsOff(RecordBuilder& builder, int32_t broker_id) {
  for (const TopicId& id : TopicIds(builder.image())) {
    const int32_t count = static_cast<int32_t>(builder.image().FindTopic(id)->partitions.size());
    for (int32_t p = 0; p < count; ++p) {
      const PartitionState& state = *builder.image().FindPartition(id, p);
      const bool leads = state.leader == broker_id;
      const bool in_isr = Contains(state.isr, broker_id);
      if (!leads && !in_isr) continue;

      std::vector<int32_t> isr = state.isr;
      if (in_isr && isr.size() > 1) std::erase(isr, broker_id);  // keep the last member
      int32_t leader = state.leader;
      if (leads) {
        leader = kNoLeader;
        for (int32_t r : state.replicas) {
          if (r != broker_id && Contains(isr, r) && builder.image().IsLive(r)) {
            leader = r;
            break;
          }
        }
        if (leader == kNoLeader && UncleanElectionEnabled(builder.image(), id)) {
          for (int32_t r : state.replicas) {
            if (r != broker_id && builder.image().IsLive(r)) {
              leader = r;
              isr = {r};
              break;
            }
          }
        }
      }
      if (leader == state.leader && isr == state.isr) continue;  // the last member, offline
      std::optional<int32_t> new_leader;
      if (leader != state.leader) new_leader = leader;
      std::optional<std::vector<int32_t>> new_isr;
      if (isr != state.isr) new_isr = std::move(isr);
      RETURN_IF_ERROR(builder.Add(PartitionChange(id, p, new_leader, std::move(new_isr))));
    }
  }
  return absl::OkStatus();
}

Status FenceBroker(RecordBuilder& builder, int32_t broker_id) {
  const BrokerRegistration* broker = builder.image().FindBroker(broker_id);
  if (broker == nullptr) {
    return absl::InternalError(absl::StrCat("fencing unknown broker ", broker_id));
  }
  if (broker->fenced) return absl::OkStatus();
  const int64_t epoch = broker->epoch;
  RETURN_IF_ERROR(MoveLeadershipsOff(builder, broker_id));
  return builder.Add(BrokerFenced(broker_id, epoch));
}

Status ElectOfflineLeaders(RecordBuilder& builder, int32_t broker_id) {
  if (!builder.image().IsLive(broker_id)) {
    return absl::InternalError(absl::StrCat("electing broker ", broker_id, " that is not live"));
  }
  for (const TopicId& id : TopicIds(builder.image())) {
    const int32_t count = static_cast<int32_t>(builder.image().FindTopic(id)->partitions.size());
    for (int32_t p = 0; p < count; ++p) {
      const PartitionState& state = *builder.image().FindPartition(id, p);
      if (state.leader != kNoLeader || !Contains(state.replicas, broker_id)) continue;
      if (Contains(state.isr, broker_id)) {
        RETURN_IF_ERROR(builder.Add(PartitionChange(id, p, broker_id, std::nullopt)));
      } else if (UncleanElectionEnabled(builder.image(), id)) {
        RETURN_IF_ERROR(
            builder.Add(PartitionChange(id, p, broker_id, std::vector<int32_t>{broker_id})));
      }
    }
  }
  return absl::OkStatus();
}

Status ElectPreferredLeaders(RecordBuilder& builder, int32_t imbalance_percentage) {
  // Per preferred broker: partitions it should lead, and how many of those it does not.
  std::map<int32_t, std::pair<int64_t, int64_t>> preferred_of;
  for (const TopicId& id : TopicIds(builder.image())) {
    const int32_t count = static_cast<int32_t>(builder.image().FindTopic(id)->partitions.size());
    for (int32_t p = 0; p < count; ++p) {
      const PartitionState& state = *builder.image().FindPartition(id, p);
      if (state.replicas.empty()) continue;
      auto& [total, elsewhere] = preferred_of[state.replicas.front()];
      total++;
      if (state.leader != state.replicas.front()) elsewhere++;
    }
  }
  for (const TopicId& id : TopicIds(builder.image())) {
    const int32_t count = static_cast<int32_t>(builder.image().FindTopic(id)->partitions.size());
    for (int32_t p = 0; p < count; ++p) {
      const PartitionState& state = *builder.image().FindPartition(id, p);
      if (state.replicas.empty()) continue;
      const int32_t preferred = state.replicas.front();
      if (state.leader == preferred || !Contains(state.isr, preferred) ||
          !builder.image().IsLive(preferred)) {
        continue;
      }
      const auto [total, elsewhere] = preferred_of[preferred];
      if (elsewhere * 100 <= total * imbalance_percentage) continue;  // within the threshold
      RETURN_IF_ERROR(builder.Add(PartitionChange(id, p, preferred, std::nullopt)));
    }
  }
  return absl::OkStatus();
}

Status ElectUncleanLeaders(RecordBuilder& builder, const TopicId& topic) {
  const TopicImage* t = builder.image().FindTopic(topic);
  if (t == nullptr) return absl::InternalError("unclean election for an unknown topic");
  const int32_t count = static_cast<int32_t>(t->partitions.size());
  for (int32_t p = 0; p < count; ++p) {
    const PartitionState& state = *builder.image().FindPartition(topic, p);
    if (state.leader != kNoLeader) continue;
    for (int32_t r : state.replicas) {
      if (!builder.image().IsLive(r)) continue;
      RETURN_IF_ERROR(builder.Add(PartitionChange(topic, p, r, std::vector<int32_t>{r})));
      break;
    }
  }
  return absl::OkStatus();
}

}  // namespace spool::controller
