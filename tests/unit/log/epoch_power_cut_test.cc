// The leader-epoch invariant (log/FORMAT.md section 6) under random operations: appends under
// rising epochs (alone and concurrent), assign_epoch, epochs bumped without one, wait_durable,
// truncate_to, clean closes and power cuts with torn tails, checked against a model after every
// operation and every reopen. The seed comes from TestSeed().
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/io/when_all.h"
#include "log/partition_log.h"
#include "tests/support/fault_file_system.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"
#include "tests/unit/log/epoch_test_util.h"

namespace spool {
namespace {

using log::LogConfig;
using log::PartitionLog;
using testing::AppendUnder;

LogConfig Config() {
  return testing::SmallSegments(2000, 300);
}

struct ModelEntry {
  int32_t epoch;
  int64_t start;
  bool assigned;  // by an acknowledged assign_epoch, before any batch of its own
};

// Kafka's rule, written out again for the model.
void ModelAdd(std::vector<ModelEntry>& m, int32_t epoch, int64_t start, bool assigned) {
  if (!m.empty() && epoch <= m.back().epoch) return;
  while (!m.empty() && m.back().start >= start) m.pop_back();
  m.push_back({epoch, start, assigned});
}

testing::Epochs ModelList(const std::vector<ModelEntry>& m) {
  testing::Epochs out;
  for (const ModelEntry& e : m) out.push_back(log::LeaderEpochEntry{e.epoch, Offset(e.start)});
  return out;
}

Task<void> PowerCutLoop(io::Reactor& reactor, const std::string& root, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto base = io::NewReactorFileSystem(reactor);
  testing::FaultFileSystem fs(reactor, *base, root + "/scratch");
  const std::string dir = root + "/p";
  ManualClock clock;
  std::vector<ModelEntry> model;
  int32_t epoch = 0;
  int64_t durable_end = 0;
  bool batch_since_epoch = false;
  int rebuilt_rounds = 0;
  for (int round = 0; round < 40; ++round) {
    auto opened = co_await PartitionLog::Open(fs, clock, dir, Config());
    EXPECT_TRUE(opened.ok()) << "round " << round << ": " << opened.status();
    if (!opened.ok()) co_return;
    PartitionLog& plog = **opened;
    const int64_t end = plog.log_end_offset().value();
    EXPECT_GE(end, durable_end) << "round " << round;
    // What must survive: every entry below the end, and assigned ones at it.
    std::vector<ModelEntry> kept;
    for (const ModelEntry& e : model) {
      if (e.start < end || (e.start == end && e.assigned)) kept.push_back(e);
    }
    if (kept.size() < model.size()) ++rebuilt_rounds;
    model = kept;
    EXPECT_EQ(plog.leader_epochs(), ModelList(model)) << "round " << round << ", seed " << seed;
    if (::testing::Test::HasFailure()) co_return;
    for (ModelEntry& e : model) e.assigned = e.start == end;
    batch_since_epoch = !model.empty() && model.back().start < end;
    // An epoch bumped without assign_epoch whose batches were all lost is not taken up again:
    // its first batch at the end would replace an assigned entry there, which only survives a
    // crash when no checkpoint was written in between (partition_log.h).
    if (!model.empty()) epoch = model.back().epoch;
    durable_end = end;

    const int ops = 5 + static_cast<int>(rng() % 25);
    for (int op = 0; op < ops; ++op) {
      const uint64_t pick = rng() % 10;
      if (pick < 5) {  // an append under the current epoch
        const int64_t b =
            co_await AppendUnder(plog, 1 + static_cast<int>(rng() % 4), epoch, rng() % 400);
        if (b < 0) co_return;
        ModelAdd(model, epoch, b, false);
        batch_since_epoch = true;
      } else if (pick == 5) {  // a leader change through assign_epoch
        ++epoch;
        const Offset at = plog.log_end_offset();
        Status st = co_await plog.assign_epoch(epoch, at);
        EXPECT_TRUE(st.ok()) << st;
        ModelAdd(model, epoch, at.value(), true);
        durable_end = at.value();
        batch_since_epoch = false;
      } else if (pick == 6 && batch_since_epoch) {  // batches of a newer epoch, unassigned
        epoch += 1 + static_cast<int32_t>(rng() % 2);
      } else if (pick == 7 && plog.log_end_offset().value() > 0) {
        Status st = co_await plog.wait_durable(plog.log_end_offset() - 1);
        EXPECT_TRUE(st.ok()) << st;
        durable_end = plog.log_end_offset().value();
      } else if (pick == 8 && plog.log_end_offset().value() > 0) {
        const int64_t to =
            static_cast<int64_t>(rng() % static_cast<uint64_t>(plog.log_end_offset().value() + 1));
        const int64_t end_before = plog.log_end_offset().value();
        Status st = co_await plog.truncate_to(Offset(to));
        EXPECT_TRUE(st.ok()) << st;
        const int64_t cut = plog.log_end_offset().value();  // rounded down to a batch start
        // Past the end it changes nothing; at the end it drops an epoch assigned there.
        while (to <= end_before && !model.empty() && model.back().start >= cut) model.pop_back();
        durable_end = std::min(durable_end, cut);
        batch_since_epoch = !model.empty() && model.back().start < cut;
      } else if (pick == 9) {
        // Concurrent appends, epochs rising in call order, some waiting to be durable: a batch
        // of a new epoch can become visible while a sync round that does not cover it runs.
        const size_t n = 2 + rng() % 5;
        std::vector<std::vector<std::byte>> batches;
        std::vector<int32_t> epochs;
        std::vector<bool> waits;
        for (size_t i = 0; i < n; ++i) {
          if (rng() % 3 == 0 && (i > 0 || batch_since_epoch)) ++epoch;
          batches.push_back(testing::EpochBatch(1 + static_cast<int>(rng() % 3), epoch,
                                                1700000000000, rng() % 400));
          epochs.push_back(epoch);
          waits.push_back(rng() % 2 == 0);
        }
        std::vector<StatusOr<log::AppendResult>> results(n, absl::UnknownError("not run"));
        std::vector<Task<void>> tasks;
        for (size_t i = 0; i < n; ++i) {
          tasks.push_back([](PartitionLog& l, std::vector<std::byte>& b, bool wait,
                             StatusOr<log::AppendResult>& out) -> Task<void> {
            out = co_await l.append(b);
            if (out.ok() && wait) {
              Status st = co_await l.wait_durable(out->last_offset);
              if (!st.ok()) out = st;
            }
          }(plog, batches[i], waits[i], results[i]));
        }
        co_await io::WhenAll(reactor, std::move(tasks));
        for (size_t i = 0; i < n; ++i) {  // offsets follow call order
          EXPECT_TRUE(results[i].ok()) << results[i].status();
          if (!results[i].ok()) co_return;
          ModelAdd(model, epochs[i], results[i]->base_offset.value(), false);
          if (waits[i]) durable_end = std::max(durable_end, results[i]->last_offset.value() + 1);
        }
        batch_since_epoch = true;
      }
      EXPECT_EQ(plog.leader_epochs(), ModelList(model)) << "round " << round << " op " << op;
      if (::testing::Test::HasFailure()) co_return;
    }
    if (rng() % 5 == 0) {
      Status st = co_await plog.close();
      EXPECT_TRUE(st.ok()) << st;
      durable_end = plog.log_end_offset().value();
      opened->reset();
      continue;
    }
    testing::PowerCutOptions cut;
    cut.torn_tail = rng() % 2 == 0;
    cut.seed = rng();
    opened->reset();
    Status st = co_await fs.SimulatePowerCut(cut);
    EXPECT_TRUE(st.ok()) << st;
    if (!st.ok()) co_return;
  }
  EXPECT_GT(rebuilt_rounds, 0) << "no power cut took an entry away";
}

TEST(EpochPowerCutTest, RandomizedPowerCutsKeepTheInvariant) {
  const uint64_t seed = testing::TestSeed();
  testing::TempDir tmp;
  auto reactor = testing::MakeReactor();
  reactor->block_on(PowerCutLoop(*reactor, tmp.path(), seed));
}

}  // namespace
}  // namespace spool
