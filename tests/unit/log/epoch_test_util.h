// Helpers shared by the leader-epoch and replica-append tests of the partition log: batches
// stamped with a leader epoch, appends under an epoch, and epoch lists written out short.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/strong_int.h"
#include "common/task.h"
#include "gtest/gtest.h"
#include "log/leader_epoch.h"
#include "log/partition_log.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_header.h"

namespace spool::log {
// For gtest's messages.
inline std::ostream& operator<<(std::ostream& os, const LeaderEpochEntry& e) {
  return os << "(" << e.epoch << ", " << e.start_offset << ")";
}
}  // namespace spool::log

namespace spool::testing {

// A sealed batch of `records` records (values of `value_size` bytes, timestamps from `ts`),
// its partitionLeaderEpoch stamped to `epoch` (-1 leaves it unstamped).
inline std::vector<std::byte> EpochBatch(int records, int32_t epoch, int64_t ts = 1700000000000,
                                         size_t value_size = 100) {
  record::BatchBuilder builder;
  for (int i = 0; i < records; ++i) builder.Append(ts + i, "k", std::string(value_size, 'v'));
  auto sealed = builder.Seal();
  EXPECT_TRUE(sealed.ok()) << sealed.status();
  std::vector<std::byte> out = std::move(sealed).value();
  record::StampLeaderEpoch(out, epoch);
  return out;
}

// Appends `records` records under `epoch` through the leader path; returns the base offset
// (-1 on failure, which fails the test).
inline Task<int64_t> AppendUnder(log::PartitionLog& plog, int records, int32_t epoch,
                                 size_t value_size = 100) {
  std::vector<std::byte> batch = EpochBatch(records, epoch, 1700000000000, value_size);
  StatusOr<log::AppendResult> r = co_await plog.append(batch);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) co_return -1;
  co_return r->base_offset.value();
}

using Epochs = std::vector<log::LeaderEpochEntry>;

// {epoch, start} pairs as a list, for short expectations: Entries({{0, 0}, {2, 5}}).
// A log config with small segments and a dense index, no retention (the epoch tests' logs).
inline log::LogConfig SmallSegments(uint64_t segment_bytes, uint32_t index_interval_bytes) {
  log::LogConfig c;
  c.segment_bytes = segment_bytes;
  c.index_interval_bytes = index_interval_bytes;
  c.retention_ms = -1;
  return c;
}

inline Epochs Entries(std::initializer_list<std::pair<int32_t, int64_t>> pairs) {
  Epochs out;
  for (auto [e, s] : pairs) out.push_back(log::LeaderEpochEntry{e, Offset(s)});
  return out;
}

}  // namespace spool::testing
