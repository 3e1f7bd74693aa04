// BrokerLiveness: when each broker was last heard from (registration or heartbeat), as the
// ACTIVE controller sees it. Volatile by design: it is not in the metadata log or the image,
// so a controller that becomes active must call Reset() (every registered broker gets a fresh
// session from that moment, as in Kafka) before it fences anyone.
//
// Times are milliseconds of the caller's monotonic clock. A plain value type, no
// synchronisation: owned by the controller's driver, used on its thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "replication/controller/metadata_image.h"

namespace spool::controller {

class BrokerLiveness {
 public:
  // The broker was heard from at `now_ms`.
  void Touch(int32_t broker_id, int64_t now_ms) { last_contact_ms_[broker_id] = now_ms; }
  void Forget(int32_t broker_id) { last_contact_ms_.erase(broker_id); }
  // Every broker of `image` starts a session at `now_ms`; brokers not in it are forgotten.
  void Reset(const ClusterImage& image, int64_t now_ms);

  std::optional<int64_t> LastContact(int32_t broker_id) const;
  // Heard from within the last `session_timeout_ms` (a broker never heard from has no session).
  bool HasSession(int32_t broker_id, int64_t now_ms, int64_t session_timeout_ms) const;

 private:
  std::map<int32_t, int64_t> last_contact_ms_;
};

}  // namespace spool::controller
