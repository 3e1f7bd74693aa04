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

#include <unistd.h>

#include "tests/sim/partition/sim_checker.h"
#include "tests/sim/partition/sim_cluster.h"
#include "tests/support/test_env.h"

namespace spool::sim {
namespace {

uint64_t EnvCount(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// The nodes' data goes to a tmpfs when there is one (unless $TMPDIR says where): the
// FaultFileSystem models what is durable itself, so a real disk's fdatasync only costs time
// (20x on a busy machine) and changes nothing in a run.
void PreferTmpfs() {
  static const bool done = [] {
    const char* tmp = std::getenv("TMPDIR");
    if ((tmp == nullptr || *tmp == '\0') && access("/dev/shm", W_OK | X_OK) == 0) {
      setenv("TMPDIR", "/dev/shm", 1);
    }
    return true;
  }();
  (void)done;
}

PartitionSimResult RunOne(PartitionSimOptions options) {
  PreferTmpfs();
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
        "%llu acked, %llu committed, %llu truncations, %llu elections, trace %016llx%s\n",
        static_cast<unsigned long long>(seed), r.nodes, r.partitions,
        static_cast<unsigned long long>(r.steps), static_cast<unsigned long long>(r.kills),
        static_cast<unsigned long long>(r.power_cuts), static_cast<unsigned long long>(r.acked),
        static_cast<unsigned long long>(r.committed),
        static_cast<unsigned long long>(r.truncations),
        static_cast<unsigned long long>(r.elections), static_cast<unsigned long long>(r.trace_hash),
        r.ok && r.converged && r.live ? "" : " FAIL");
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

// And it catches a lost acknowledged write: with unclean leader election a replica outside the
// ISR may lead once the ISR is gone, and some seed must lose (or overwrite) an acked batch.
TEST(PartitionSim, CatchesUncleanLeaderElection) {
  int caught = 0;
  std::string first;
  uint64_t first_seed = 0;
  for (uint64_t seed = 1; seed <= 200 && caught == 0; ++seed) {
    PartitionSimOptions options;
    options.seed = seed;
    options.unclean_leader_election = true;
    const PartitionSimResult r = RunOne(options);
    if (!r.ok) {
      ++caught;
      first = r.violation;
      first_seed = seed;
    }
  }
  ASSERT_GT(caught, 0) << "no seed caught the data loss of unclean leader elections";
  std::printf("unclean leader election caught at seed %llu: %s\n",
              static_cast<unsigned long long>(first_seed), first.c_str());
}

// The checker on hand-made snapshots: consistent replicas pass, each broken invariant is named.
BatchInfo Batch(int64_t base, int64_t producer, int32_t seq, int32_t epoch) {
  BatchInfo b;
  b.base = base;
  b.last = base;
  b.producer_id = producer;
  b.sequence = seq;
  b.leader_epoch = epoch;
  b.bytes = {std::byte{static_cast<uint8_t>(base)}, std::byte{static_cast<uint8_t>(epoch)},
             std::byte{static_cast<uint8_t>(seq)}};
  return b;
}

ReplicaSnapshot Replica(int32_t node, int64_t hw, std::vector<BatchInfo> batches) {
  ReplicaSnapshot r;
  r.node = node;
  r.high_watermark = hw;
  r.log_end = batches.empty() ? 0 : batches.back().last + 1;
  r.batches = std::move(batches);
  return r;
}

TEST(PartitionSimChecker, ConsistentReplicasPass) {
  std::vector<ReplicaSnapshot> rs = {
      Replica(0, 3, {Batch(0, 7, 0, 1), Batch(1, 7, 1, 1), Batch(2, 8, 0, 1)}),
      Replica(1, 2, {Batch(0, 7, 0, 1), Batch(1, 7, 1, 1), Batch(2, 8, 0, 1)}),
      // A divergent suffix above the HW is allowed.
      Replica(2, 2, {Batch(0, 7, 0, 1), Batch(1, 7, 1, 1), Batch(2, 9, 0, 0)})};
  rs[0].leader = true;
  rs[0].isr = {0, 1};
  const std::vector<AckedBatch> acked = {{0, 7, 0}, {1, 7, 1}, {2, 8, 0}};
  EXPECT_EQ(CheckPartition(0, rs, acked), "");
}

TEST(PartitionSimChecker, FlagsEachBrokenInvariant) {
  const std::vector<BatchInfo> good = {Batch(0, 7, 0, 1), Batch(1, 7, 1, 1)};
  // An acknowledged batch replaced below a follower's HW.
  std::vector<ReplicaSnapshot> lost = {Replica(0, 2, good),
                                       Replica(1, 2, {Batch(0, 7, 0, 1), Batch(1, 9, 0, 2)})};
  EXPECT_NE(CheckPartition(0, lost, {{1, 7, 1}}).find("acknowledged batch"), std::string::npos);
  // An ISR member lacking what the leader's HW covers (its own HW lags).
  std::vector<ReplicaSnapshot> short_isr = {Replica(0, 2, good),
                                            Replica(1, 1, {Batch(0, 7, 0, 1)})};
  short_isr[0].leader = true;
  short_isr[0].isr = {0, 1};
  EXPECT_NE(CheckPartition(0, short_isr, {{1, 7, 1}}).find("ISR member"), std::string::npos);
  // Logs that differ below the minimum HW (same batch, another epoch: other bytes).
  std::vector<ReplicaSnapshot> differ = {Replica(0, 2, good),
                                         Replica(1, 2, {Batch(0, 7, 0, 1), Batch(1, 7, 1, 2)})};
  EXPECT_NE(CheckPartition(0, differ, {}).find("logs differ"), std::string::npos);
  // One producer batch twice below the HW.
  std::vector<ReplicaSnapshot> dup = {Replica(0, 2, {Batch(0, 7, 0, 1), Batch(1, 7, 0, 1)})};
  EXPECT_NE(CheckPartition(0, dup, {}).find("twice"), std::string::npos);
  // One batch acknowledged at two offsets.
  std::vector<ReplicaSnapshot> one = {Replica(0, 2, good)};
  EXPECT_NE(CheckPartition(0, one, {{0, 7, 0}, {1, 7, 0}}).find("acknowledged at offsets"),
            std::string::npos);
}

}  // namespace
}  // namespace spool::sim
