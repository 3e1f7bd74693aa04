// Rebuilding the dedup table from a real partition log in a temp dir
// (broker/producer_state_loader.h): the table loaded from the log answers like the one built
// while appending, also after the log is closed and reopened (a restart), and a retried batch is
// recognised with its original offsets.
#include "broker/producer_state_loader.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "tests/support/log_test_util.h"
#include "tests/support/record_test_util.h"

namespace spool::testing {
namespace {

using broker::BatchIdentity;
using broker::DedupCheck;
using broker::ProducerStateTable;

class ProducerStateLoaderTest : public LogTest {};

TEST_F(ProducerStateLoaderTest, RebuildsFromTheLogAcrossAReopen) {
  std::mt19937_64 rng(TestSeed());
  reactor_->block_on([&]() -> Task<void> {
    log::LogConfig config;
    config.segment_bytes = 4096;  // several segments
    std::unique_ptr<log::PartitionLog> log = co_await OpenLog(config);
    if (!log) co_return;
    ProducerStateTable live;
    std::vector<int32_t> next(3, 0);
    struct Appended {
      BatchIdentity id;
      Offset base;
    };
    std::vector<Appended> appended;
    for (int i = 0; i < 120; ++i) {
      const int p = static_cast<int>(rng() % 3);
      const int records = 1 + static_cast<int>(rng() % 5);
      std::vector<std::byte> batch;
      if (rng() % 10 == 0) {
        batch = IdempotentBatch(-1, -1, -1, records);  // a plain producer's batch between
      } else {
        batch = IdempotentBatch(50 + p, 0, next[p], records);
      }
      StatusOr<record::BatchHeader> header = record::ParseHeader(batch);
      EXPECT_TRUE(header.ok());
      if (!header.ok()) co_return;
      const BatchIdentity id = BatchIdentity::FromHeader(*header);
      EXPECT_EQ(live.Check(id).kind, DedupCheck::kAppend);
      StatusOr<log::AppendResult> r = co_await log->append(batch);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) co_return;
      live.Record(id, r->base_offset, r->last_offset);
      if (id.idempotent()) {
        appended.push_back({id, r->base_offset});
        next[p] = broker::AddToSequence(next[p], records);
      }
    }
    EXPECT_GT(log->stats().segments, 1u);

    // A small chunk: many reads.
    StatusOr<ProducerStateTable> loaded = co_await broker::LoadProducerState(*log, 512);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    if (!loaded.ok()) co_return;
    EXPECT_EQ(loaded->size(), live.size());
    for (const Appended& a : appended) {
      const DedupCheck want = live.Check(a.id);
      const DedupCheck got = loaded->Check(a.id);
      EXPECT_EQ(got.kind, want.kind);
      EXPECT_EQ(got.base_offset, want.base_offset);
    }
    Status closed = co_await log->close();
    EXPECT_TRUE(closed.ok()) << closed;

    // After a restart: the last batch of every producer is still a duplicate at its offset,
    // and each producer's next sequence is accepted.
    std::unique_ptr<log::PartitionLog> reopened = co_await OpenLog(config);
    if (!reopened) co_return;
    StatusOr<ProducerStateTable> again = co_await broker::LoadProducerState(*reopened);
    EXPECT_TRUE(again.ok()) << again.status();
    if (!again.ok()) co_return;
    const Appended& last = appended.back();
    DedupCheck dup = again->Check(last.id);
    EXPECT_EQ(dup.kind, DedupCheck::kDuplicate);
    EXPECT_EQ(dup.base_offset, last.base);
    for (int p = 0; p < 3; ++p) {
      BatchIdentity fresh{50 + p, 0, next[p], next[p]};
      EXPECT_EQ(again->Check(fresh).kind, DedupCheck::kAppend) << p;
    }
    // Starting from an offset applies only the batches ending at or after it.
    ProducerStateTable tail;
    Status applied = co_await broker::ApplyLogToProducerState(*reopened, last.base, tail);
    EXPECT_TRUE(applied.ok()) << applied;
    EXPECT_EQ(tail.size(), 1u);
    EXPECT_EQ(tail.Check(last.id).kind, DedupCheck::kDuplicate);
    Status closed_again = co_await reopened->close();
    EXPECT_TRUE(closed_again.ok()) << closed_again;
  }());
}

TEST_F(ProducerStateLoaderTest, AnEmptyLogGivesAnEmptyTable) {
  reactor_->block_on([&]() -> Task<void> {
    std::unique_ptr<log::PartitionLog> log = co_await OpenLog(log::LogConfig{});
    if (!log) co_return;
    StatusOr<ProducerStateTable> loaded = co_await broker::LoadProducerState(*log);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    if (loaded.ok()) {
      EXPECT_EQ(loaded->size(), 0u);
    }
    Status closed = co_await log->close();
    EXPECT_TRUE(closed.ok()) << closed;
  }());
}

}  // namespace
}  // namespace spool::testing
