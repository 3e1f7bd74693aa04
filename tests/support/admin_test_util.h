// Small helpers over client::AdminSession for tests of one topic: the partitions of a topic as
// admin calls take them, and admin results keyed by partition alone. Header-only (the tests
// that use it link spool_client; spool_test_support does not).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "client/admin.h"

namespace spool::testing {

inline std::vector<std::pair<std::string, int32_t>> TopicPartitions(const std::string& topic,
                                                                    int32_t partitions) {
  std::vector<std::pair<std::string, int32_t>> out;
  for (int32_t p = 0; p < partitions; ++p) out.emplace_back(topic, p);
  return out;
}

inline std::map<int32_t, int64_t> ByPartition(
    const client::AdminSession::PartitionOffsets& offsets) {
  std::map<int32_t, int64_t> out;
  for (const auto& [tp, offset] : offsets) out[tp.second] = offset;
  return out;
}

}  // namespace spool::testing
