// RunWorkload: one benchmark run against a running cluster — create the topics, start the
// consumers at the end of every partition, run the producers (paced or flat out) for the
// workload's record count or duration, consume until every acknowledged record has arrived (or
// nothing has arrived for RunOptions::idle_timeout), verify, and return every figure.
//
// Threads: one per producer (each its own Producer, so its own I/O thread), one per consumer
// (each its own Consumer over its share of the partitions, or a member of workload.group, which
// joins before the producers start), and the calling thread, which paces
// the phases and prints a progress line every progress_interval. Blocks until the run is over;
// a run with a failed verification still returns its result (verify.ok() is false).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "bench/engine/result.h"
#include "bench/engine/workload.h"
#include "common/status.h"

namespace spool::bench {

struct RunOptions {
  std::string bootstrap;
  std::chrono::milliseconds progress_interval{1000};
  std::ostream* progress = nullptr;  // where progress lines go; nullptr: quiet
  std::chrono::milliseconds idle_timeout{10000};
  std::chrono::milliseconds request_timeout{10000};     // admin requests (create/delete topics)
  std::chrono::milliseconds group_join_timeout{60000};  // until a group assigned every partition
  std::optional<Limits> limits;                         // copied into the result
  // Fault injection, for the test that the correctness check can fail
  // (tests/integration/bench_test.cc): producer 0 marks this sequence acknowledged without
  // sending it, as a broker that lost an acknowledged record would look to the consumers.
  std::optional<uint64_t> inject_lost_sequence;
};

// Errors: kInvalidArgument for a workload this runner cannot run, kUnavailable when the
// cluster cannot be reached, or the first admin error (creating a topic). Produce and consume
// errors do not fail the call: they are in the result.
[[nodiscard]] StatusOr<BenchResult> RunWorkload(Workload workload, const RunOptions& options);

}  // namespace spool::bench
