#include "replication/controller/placement.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "replication/controller/controller_errors.h"

namespace spool::controller {
namespace {

// Brokers by id; when every broker has a rack, interleaved: the first broker of each rack (racks
// in name order), then the second of each, and so on.
std::vector<PlacementBroker> Arrange(std::vector<PlacementBroker> brokers, bool rack_aware) {
  std::sort(brokers.begin(), brokers.end(),
            [](const PlacementBroker& a, const PlacementBroker& b) { return a.id < b.id; });
  if (!rack_aware) return brokers;
  std::map<std::string, std::vector<PlacementBroker>> by_rack;
  for (const PlacementBroker& b : brokers) by_rack[*b.rack].push_back(b);
  std::vector<PlacementBroker> out;
  for (size_t round = 0; out.size() < brokers.size(); ++round) {
    for (const auto& [rack, members] : by_rack) {
      if (round < members.size()) out.push_back(members[round]);
    }
  }
  return out;
}

}  // namespace

StatusOr<std::vector<std::vector<int32_t>>> AssignReplicas(std::vector<PlacementBroker> brokers,
                                                           int32_t num_partitions,
                                                           int32_t replication_factor,
                                                           const PlacementOptions& options) {
  if (num_partitions < 1) {
    return ControllerStatus(ControllerError::kInvalidPartitions,
                            absl::StrCat("number of partitions ", num_partitions, " < 1"));
  }
  if (replication_factor < 1 || replication_factor > static_cast<int32_t>(brokers.size())) {
    return ControllerStatus(ControllerError::kInvalidReplicationFactor,
                            absl::StrCat("replication factor ", replication_factor, " with ",
                                         brokers.size(), " available brokers"));
  }
  std::set<int32_t> ids;
  for (const PlacementBroker& b : brokers) {
    if (!ids.insert(b.id).second) {
      return ControllerStatus(ControllerError::kInvalidRequest,
                              absl::StrCat("broker ", b.id, " given twice"));
    }
  }
  const bool rack_aware = std::all_of(brokers.begin(), brokers.end(),
                                      [](const PlacementBroker& b) { return b.rack.has_value(); });
  const std::vector<PlacementBroker> order = Arrange(std::move(brokers), rack_aware);
  const size_t n = order.size();
  std::set<std::string> all_racks;
  if (rack_aware) {
    for (const PlacementBroker& b : order) all_racks.insert(*b.rack);
  }

  std::vector<std::vector<int32_t>> out;
  out.reserve(num_partitions);
  for (int32_t i = 0; i < num_partitions; ++i) {
    const size_t p = static_cast<size_t>(options.first_partition) + i;
    // Every round of n leaders pairs followers differently.
    const size_t shift = options.replica_shift + p / n;
    const size_t first = (p + options.start_index) % n;
    std::vector<int32_t> replicas{order[first].id};
    std::vector<bool> used(n, false);
    used[first] = true;
    std::set<std::string> racks;
    if (rack_aware) racks.insert(*order[first].rack);
    while (static_cast<int32_t>(replicas.size()) < replication_factor) {
      // Candidates in the shifted order; with racks, the first one on a rack not used yet while
      // there is such a rack, else the first one not used.
      std::optional<size_t> pick;
      for (size_t k = 0; k + 1 < n; ++k) {
        const size_t candidate = (first + 1 + (shift + k) % (n - 1)) % n;
        if (used[candidate]) continue;
        if (rack_aware && racks.size() < all_racks.size() &&
            racks.contains(*order[candidate].rack)) {
          continue;
        }
        pick = candidate;
        break;
      }
      // A pick always exists: fewer than n brokers are used, and while a rack is unused some
      // unused broker is on it.
      used[*pick] = true;
      replicas.push_back(order[*pick].id);
      if (rack_aware) racks.insert(*order[*pick].rack);
    }
    out.push_back(std::move(replicas));
  }
  return out;
}

}  // namespace spool::controller
