// Crash recovery of the partition log under simulated power cuts (tests/support's fault-
// injecting file system over real files; the fault layer stands in for pulling the plug, which
// a test cannot do to a real disk).
//
// Invariants checked after every "reboot":
//   1. Every batch whose wait_durable() returned OK before the cut is there, byte for byte.
//   2. Nothing is invented: the recovered log is a prefix of what was appended, batch for batch,
//      byte for byte (batches that reached the disk whole without a sync may survive).
//   3. Every batch served passes VerifyBatch (no torn or corrupt batch is returned).
//   4. The log keeps working: appends continue at the recovered end.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "common/io/file_system.h"
#include "common/io/when_all.h"
#include "log/partition_log.h"
#include "log/record/batch_header.h"
#include "tests/support/fault_file_system.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using log::PartitionLog;

struct Appended {
  int64_t base = 0;
  int64_t last = 0;
  std::vector<std::byte> bytes;  // as stamped by the log
};

// What the test knows the log must hold.
struct Model {
  std::vector<Appended> batches;  // in offset order, contiguous
  int64_t durable_end = 0;        // wait_durable() acknowledged every offset below this

  int64_t end() const { return batches.empty() ? 0 : batches.back().last + 1; }
};

log::LogConfig SmallConfig() {
  log::LogConfig c;
  c.segment_bytes = 48 * 1024;  // many rolls
  c.index_interval_bytes = 512;
  c.retention_ms = -1;
  return c;
}

// Checks invariants 1-3 and trims the model to what survived.
Task<void> CheckRecovered(PartitionLog& plog, Model& model, uint64_t& dropped) {
  const int64_t end = plog.log_end_offset().value();
  EXPECT_EQ(plog.log_start_offset().value(), 0);
  EXPECT_GE(end, model.durable_end) << "an acknowledged-durable batch was lost";
  EXPECT_LE(end, model.end()) << "recovery invented offsets";
  auto all = co_await testing::ReadWholeLog(plog);
  EXPECT_TRUE(all.ok()) << all.status();
  if (!all.ok()) co_return;
  auto ranges = testing::SplitBatches(*all);
  size_t covered = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    auto [pos, size] = ranges[i];
    std::span<const std::byte> got(all->data() + pos, size);
    EXPECT_TRUE(record::VerifyBatch(got).ok()) << "served a corrupt batch at index " << i;
    EXPECT_LT(i, model.batches.size());
    if (i >= model.batches.size()) break;
    const auto& want = model.batches[i].bytes;
    EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin(), want.end()))
        << "batch " << i << " (base offset " << model.batches[i].base << ") differs";
    covered += size;
  }
  EXPECT_EQ(covered, all->size()) << "trailing bytes after the last whole batch";
  const size_t kept = ranges.size();
  EXPECT_EQ(kept == 0 ? 0 : model.batches[kept - 1].last + 1, end);
  dropped += model.batches.size() - std::min(kept, model.batches.size());
  model.batches.resize(std::min(kept, model.batches.size()));
  model.durable_end = std::min(model.durable_end, model.end());
}

Task<Status> AppendOne(PartitionLog& plog, Model& model, std::vector<std::byte> batch) {
  auto r = co_await plog.append(batch);
  if (!r.ok()) co_return r.status();
  EXPECT_EQ(r->base_offset.value(), model.end());
  model.batches.push_back({r->base_offset.value(), r->last_offset.value(), std::move(batch)});
  co_return absl::OkStatus();
}

Task<void> CrashLoop(io::Reactor& reactor, const std::string& root, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto base = io::NewReactorFileSystem(reactor);
  testing::FaultFileSystem fs(reactor, *base, root + "/scratch");
  const std::string dir = root + "/topic-0";
  ManualClock clock;
  Model model;
  uint64_t dropped = 0;
  uint64_t rounds_with_drops = 0;
  constexpr int kRounds = 60;
  for (int round = 0; round < kRounds; ++round) {
    auto opened = co_await PartitionLog::Open(fs, clock, dir, SmallConfig());
    EXPECT_TRUE(opened.ok()) << "round " << round << ": " << opened.status();
    if (!opened.ok()) co_return;
    PartitionLog& plog = **opened;
    const uint64_t before = dropped;
    co_await CheckRecovered(plog, model, dropped);
    if (dropped > before) ++rounds_with_drops;
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "failed in round " << round;
      co_return;
    }

    const int ops = 5 + static_cast<int>(rng() % 40);
    for (int op = 0; op < ops; ++op) {
      clock.advance_ms(1);
      switch (rng() % 5) {
        case 0:
        case 1: {  // one append
          Status st =
              co_await AppendOne(plog, model, testing::RandomBatch(rng, 20, 600, clock.wall_ms()));
          EXPECT_TRUE(st.ok()) << st;
          break;
        }
        case 2: {  // a burst of concurrent appends, then wait for them all to be durable
          std::vector<Task<void>> burst;
          const int n = 2 + static_cast<int>(rng() % 8);
          std::vector<std::vector<std::byte>> batches;
          for (int i = 0; i < n; ++i) {
            batches.push_back(testing::RandomBatch(rng, 10, 1500, clock.wall_ms()));
          }
          std::vector<StatusOr<log::AppendResult>> results(n, absl::UnknownError("not run"));
          for (int i = 0; i < n; ++i) {
            burst.push_back([](PartitionLog& l, std::vector<std::byte>& b,
                               StatusOr<log::AppendResult>& out) -> Task<void> {
              out = co_await l.append(b);
              if (out.ok()) {
                Status st = co_await l.wait_durable(out->last_offset);
                if (!st.ok()) out = st;
              }
            }(plog, batches[i], results[i]));
          }
          co_await io::WhenAll(reactor, std::move(burst));
          // Appends are ordered by call order: record them in offset order.
          std::vector<int> order(n);
          for (int i = 0; i < n; ++i) order[i] = i;
          std::sort(order.begin(), order.end(), [&](int a, int b) {
            return results[a]->base_offset < results[b]->base_offset;
          });
          for (int i : order) {
            EXPECT_TRUE(results[i].ok()) << results[i].status();
            if (!results[i].ok()) co_return;
            EXPECT_EQ(results[i]->base_offset.value(), model.end());
            model.batches.push_back({results[i]->base_offset.value(),
                                     results[i]->last_offset.value(), std::move(batches[i])});
          }
          model.durable_end = model.end();
          break;
        }
        case 3: {  // make everything so far durable
          Status st = co_await plog.wait_durable(Offset(model.end() - 1));
          EXPECT_TRUE(st.ok()) << st;
          model.durable_end = model.end();
          break;
        }
        case 4: {  // an append that is acknowledged durable on its own
          Status st =
              co_await AppendOne(plog, model, testing::RandomBatch(rng, 5, 3000, clock.wall_ms()));
          EXPECT_TRUE(st.ok()) << st;
          st = co_await plog.wait_durable(Offset(model.end() - 1));
          EXPECT_TRUE(st.ok()) << st;
          model.durable_end = model.end();
          break;
        }
      }
      if (::testing::Test::HasFailure()) co_return;
    }
    // Leave an unsynced tail so the cut has something to drop.
    for (int i = 0; i < 3; ++i) {
      Status st =
          co_await AppendOne(plog, model, testing::RandomBatch(rng, 5, 800, clock.wall_ms()));
      EXPECT_TRUE(st.ok()) << st;
    }
    EXPECT_EQ(plog.durable_end_offset().value() >= model.durable_end, true);

    if (rng() % 6 == 0) {
      // A clean shutdown: everything must come back, without a scan.
      Status st = co_await plog.close();
      EXPECT_TRUE(st.ok()) << st;
      model.durable_end = model.end();
      opened->reset();
      auto again = co_await PartitionLog::Open(fs, clock, dir, SmallConfig());
      EXPECT_TRUE(again.ok()) << again.status();
      if (!again.ok()) co_return;
      EXPECT_TRUE((*again)->recovery_stats().clean_shutdown);
      EXPECT_EQ((*again)->recovery_stats().segments_scanned, 0u);
      EXPECT_EQ((*again)->log_end_offset().value(), model.end());
      PermitUncheckedError(co_await (*again)->close());
      continue;
    }
    testing::PowerCutOptions cut;
    cut.torn_tail = rng() % 2 == 0;
    cut.seed = rng();
    opened->reset();  // the process "dies": its files are closed without a flush
    Status st = co_await fs.SimulatePowerCut(cut);
    EXPECT_TRUE(st.ok()) << st;
    if (!st.ok()) co_return;
  }
  // The test must have exercised recovery: some cut dropped unsynced batches.
  EXPECT_GT(dropped, 0u);
  EXPECT_GT(rounds_with_drops, 0u);
}

TEST(CrashRecoveryTest, RandomizedPowerCutsKeepEveryDurableBatch) {
  const uint64_t seed = testing::TestSeed();
  testing::TempDir tmp;
  auto reactor = testing::MakeReactor();
  reactor->block_on(CrashLoop(*reactor, tmp.path(), seed));
}

// Regression: after an unclean open the checkpoint's recovery point was the log end, but the
// active segment's index files on disk were still those of an earlier close (when it was
// shorter). A roll rewrites them in place; a crash before that rewrite was durable brought the
// old ones back, and since the segment now ended at the recovery point they were trusted: the
// segment's largest timestamp was the old one, so a timestamp lookup skipped its newer records
// and time-based retention deleted it while they were still young.
TEST(CrashRecoveryTest, AnIndexFileRestoredByACrashNeverHidesNewerRecords) {
  testing::TempDir tmp;
  auto reactor = testing::MakeReactor();
  reactor->block_on([&]() -> Task<void> {
    auto base = io::NewReactorFileSystem(*reactor);
    testing::FaultFileSystem fs(*reactor, *base, tmp.file("scratch"));
    const std::string dir = tmp.file("p");
    ManualClock clock;
    constexpr int64_t kHour = 3600 * 1000;
    log::LogConfig config;
    config.segment_bytes = 1 << 20;
    config.segment_ms = kHour;
    config.index_interval_bytes = 256;
    config.retention_ms = 5 * kHour;
    std::mt19937_64 rng(1);
    std::vector<std::byte> expected;
    auto append = [&](PartitionLog& plog) -> Task<Status> {
      std::vector<std::byte> b = testing::RandomBatch(rng, 1, 300, clock.wall_ms());
      CO_ASSIGN_OR_RETURN(log::AppendResult r, co_await plog.append(b));
      CO_RETURN_IF_ERROR(co_await plog.wait_durable(r.last_offset));
      expected.insert(expected.end(), b.begin(), b.end());
      co_return Status();
    };

    // Ten old records, closed cleanly: the index files describe offsets 0-9.
    auto plog = co_await PartitionLog::Open(fs, clock, dir, config);
    CO_ASSERT_OK(plog);
    for (int i = 0; i < 10; ++i) CO_ASSERT_OK(co_await append(**plog));
    CO_ASSERT_OK(co_await (*plog)->close());
    // Ten records ten hours younger, durable, then a crash.
    clock.advance_ms(10 * kHour);
    const int64_t young = clock.wall_ms();
    plog = co_await PartitionLog::Open(fs, clock, dir, config);
    CO_ASSERT_OK(plog);
    for (int i = 0; i < 10; ++i) CO_ASSERT_OK(co_await append(**plog));
    plog->reset();
    // Recovery scans the segment; then it rolls (by age), and the sync round that would make
    // its rewritten index files durable fails after the directory sync: the new segment's name
    // is durable, the rewrite is not.
    plog = co_await PartitionLog::Open(fs, clock, dir, config);
    CO_ASSERT_OK(plog);
    EXPECT_FALSE((*plog)->recovery_stats().clean_shutdown);
    clock.advance_ms(kHour + 1);
    CO_ASSERT_OK(co_await (*plog)->maybe_roll());
    CO_ASSERT_TRUE((*plog)->stats().segments == 2);
    fs.FailNextSyncs(1);
    std::vector<std::byte> lost = testing::RandomBatch(rng, 1, 300, clock.wall_ms());
    CO_ASSERT_OK(co_await (*plog)->append(lost));
    Status st = co_await (*plog)->wait_durable(Offset(20));
    EXPECT_FALSE(st.ok());
    plog->reset();
    CO_ASSERT_OK(co_await fs.SimulatePowerCut());

    plog = co_await PartitionLog::Open(fs, clock, dir, config);
    CO_ASSERT_OK(plog);
    PartitionLog& log = **plog;
    EXPECT_EQ(log.log_end_offset().value(), 20);
    auto at = co_await log.offset_for_timestamp(young);
    CO_ASSERT_OK(at);
    EXPECT_EQ(*at, std::optional<Offset>(Offset(10))) << "the young records were not found";
    auto deleted = co_await log.apply_retention();
    CO_ASSERT_OK(deleted);
    EXPECT_EQ(*deleted, 0u) << "retention deleted a segment with records younger than 5 hours";
    auto all = co_await testing::ReadWholeLog(log);
    CO_ASSERT_OK(all);
    EXPECT_TRUE(*all == expected);
    CO_ASSERT_OK(co_await log.close());
  }());
}

}  // namespace
}  // namespace spool
