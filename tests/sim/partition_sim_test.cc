// The partition-replication simulator (tests/sim/partition/sim_cluster.h) over many seeds, plus
// the tests that show a seed replays and that the checker can fail.
//
//   partition_sim_test                       seeds from $SPOOL_SEED (or TestSeed()), count
//                                            $SPOOL_SIM_SEEDS (default 10)
//   SPOOL_SEED=N SPOOL_SIM_SEEDS=1 partition_sim_test --gtest_filter=PartitionSim.Seeds
//                                            replays seed N (prints its last steps on failure)
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/sim/partition/sim_cluster.h"
#include "tests/support/test_env.h"

namespace spool::sim {
namespace {

uint64_t EnvCount(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

PartitionSimResult RunOne(PartitionSimOptions options) {
  testing::TempDir tmp;
  options.dir = tmp.path();
  std::unique_ptr<io::Reactor> reactor = testing::MakeReactor();
  return reactor->block_on(RunPartitionSim(*reactor, options));
}

void PrintTrace(const PartitionSimResult& r) {
  std::printf("--- last %zu steps ---\n", r.trace.size());
  for (const std::string& line : r.trace) std::printf("%s\n", line.c_str());
}

TEST(PartitionSim, Seeds) {
  const uint64_t first = testing::TestSeed();
  const uint64_t count = EnvCount("SPOOL_SIM_SEEDS", 10);
  const auto start = std::chrono::steady_clock::now();
  int failures = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    PartitionSimOptions options;
    options.seed = seed;
    options.trace_lines = EnvCount("SPOOL_SIM_TRACE", 200);
    const PartitionSimResult r = RunOne(options);
    std::printf(
        "seed %llu: %d nodes, %d partitions, %llu steps, %llu kills, %llu power cuts, "
        "%llu acked, %llu committed, %llu truncations, %llu elections%s\n",
        static_cast<unsigned long long>(seed), r.nodes, r.partitions,
        static_cast<unsigned long long>(r.steps), static_cast<unsigned long long>(r.kills),
        static_cast<unsigned long long>(r.power_cuts), static_cast<unsigned long long>(r.acked),
        static_cast<unsigned long long>(r.committed),
        static_cast<unsigned long long>(r.truncations),
        static_cast<unsigned long long>(r.elections), r.ok && r.converged && r.live ? "" : " FAIL");
    if (!r.ok || !r.converged || !r.live) {
      ++failures;
      PrintTrace(r);
      ADD_FAILURE() << "seed " << seed << ": "
                    << (!r.ok          ? r.violation
                        : !r.converged ? std::string("did not converge after the heal")
                                       : std::string("no acks=all write committed after the heal"))
                    << "\n  replay: SPOOL_SEED=" << seed
                    << " SPOOL_SIM_SEEDS=1 partition_sim_test --gtest_filter=PartitionSim.Seeds";
      if (failures >= 3) break;
    }
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu seeds in %.1f s\n", static_cast<unsigned long long>(count), wall);
}

TEST(PartitionSim, SameSeedReplaysTheSameRun) {
  PartitionSimOptions options;
  options.seed = testing::TestSeed();
  options.fault_steps = 300;
  const PartitionSimResult a = RunOne(options);
  const PartitionSimResult b = RunOne(options);
  EXPECT_EQ(a.trace_hash, b.trace_hash) << "seed " << options.seed;
  EXPECT_EQ(a.acked, b.acked);
  EXPECT_EQ(a.steps, b.steps);
  if (a.trace_hash != b.trace_hash) {
    PrintTrace(a);
    PrintTrace(b);
  }
}

// The checker is not vacuous: followers that ignore the leader's diverging epoch keep a suffix
// the new leader does not have, and some seed must show logs that differ below the HW (or a
// lost acknowledged write).
TEST(PartitionSim, CatchesFollowersThatSkipDivergenceTruncation) {
  int caught = 0;
  std::string first;
  uint64_t first_seed = 0;
  for (uint64_t seed = 1; seed <= 40 && caught == 0; ++seed) {
    PartitionSimOptions options;
    options.seed = seed;
    options.bug_skip_divergence_truncation = true;
    const PartitionSimResult r = RunOne(options);
    if (!r.ok) {
      ++caught;
      first = r.violation;
      first_seed = seed;
    }
  }
  ASSERT_GT(caught, 0) << "no seed caught followers that skip the divergence truncation";
  std::printf("skipped divergence truncation caught at seed %llu: %s\n",
              static_cast<unsigned long long>(first_seed), first.c_str());
}

}  // namespace
}  // namespace spool::sim
