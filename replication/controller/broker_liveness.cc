#include "replication/controller/broker_liveness.h"

namespace spool::controller {

void BrokerLiveness::Reset(const ClusterImage& image, int64_t now_ms) {
  last_contact_ms_.clear();
  for (const auto& [id, broker] : image.brokers()) last_contact_ms_[id] = now_ms;
}

std::optional<int64_t> BrokerLiveness::LastContact(int32_t broker_id) const {
  auto it = last_contact_ms_.find(broker_id);
  if (it == last_contact_ms_.end()) return std::nullopt;
  return it->second;
}

bool BrokerLiveness::HasSession(int32_t broker_id, int64_t now_ms,
                                int64_t session_timeout_ms) const {
  const std::optional<int64_t> last = LastContact(broker_id);
  return last.has_value() && now_ms - *last <= session_timeout_ms;
}

}  // namespace spool::controller
