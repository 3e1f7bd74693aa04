// PartitionLog basics: append/read round trips, offset assignment, validation, segment rolls,
// reads across segments, reopen with and without a clean shutdown, group commit and the
// interval flush policy.
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/file_system.h"
#include "common/io/when_all.h"
#include "log/log_format.h"
#include "log/partition_log.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_header.h"
#include "log/record/batch_reader.h"
#include "tests/support/fault_file_system.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using log::LogConfig;
using log::PartitionLog;

std::vector<std::byte> MakeBatch(int records, int64_t ts, size_t value_size = 32, char fill = 'v') {
  record::BatchBuilder builder;
  for (int i = 0; i < records; ++i) {
    builder.Append(ts + i, "key-" + std::to_string(i), std::string(value_size, fill));
  }
  auto sealed = builder.Seal();
  EXPECT_TRUE(sealed.ok()) << sealed.status();
  return std::move(sealed).value();
}

class LogBasicTest : public testing::LogTest {
 protected:
  static LogConfig Config() {
    LogConfig c;
    c.retention_ms = -1;
    return c;
  }

  Task<std::unique_ptr<PartitionLog>> Open(LogConfig config = Config()) {
    co_return co_await OpenLog(config);
  }

  // Appends `batch` and records its stamped bytes as expected log content.
  Task<StatusOr<log::AppendResult>> Append(PartitionLog& plog, std::vector<std::byte> batch) {
    auto r = co_await plog.append(batch);
    if (r.ok()) expected_.insert(expected_.end(), batch.begin(), batch.end());
    co_return r;
  }

  size_t SegmentFiles() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (log::ParseSegmentName(e.path().filename().string(), log::kLogSuffix)) ++n;
    }
    return n;
  }

  std::vector<std::byte> expected_;
};

TEST_F(LogBasicTest, AppendThenReadRoundTripsByteForByte) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    std::mt19937_64 rng(testing::TestSeed());
    for (int i = 0; i < 50; ++i) {
      CO_ASSERT_OK(co_await Append(*plog, testing::RandomBatch(rng, 10, 2000, clock_.wall_ms())));
    }
    auto all = co_await testing::ReadWholeLog(*plog, 4096);
    CO_ASSERT_OK(all);
    EXPECT_TRUE(*all == expected_) << all->size() << " vs " << expected_.size();
    for (auto [pos, size] : testing::SplitBatches(*all)) {
      EXPECT_TRUE(record::VerifyBatch(std::span(*all).subspan(pos, size)).ok());
    }
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LogBasicTest, OffsetsAreAssignedInOrderAndStampedWithoutBreakingTheCrc) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    const int counts[] = {1, 3, 5, 2};
    int64_t next = 0;
    for (int n : counts) {
      std::vector<std::byte> batch = MakeBatch(n, clock_.wall_ms());
      auto r = co_await plog->append(batch);
      CO_ASSERT_OK(r);
      EXPECT_EQ(r->base_offset.value(), next);
      EXPECT_EQ(r->last_offset.value(), next + n - 1);
      // Stamped in the caller's buffer; the CRC (which does not cover it) still holds.
      auto h = record::VerifyBatch(batch);
      CO_ASSERT_OK(h);
      EXPECT_EQ(h->base_offset, next);
      next += n;
      EXPECT_EQ(plog->log_end_offset().value(), next);
      EXPECT_EQ(plog->visible_end_offset().value(), next);
    }
    // A reader of the stored bytes sees every record at its assigned offset.
    auto all = co_await testing::ReadWholeLog(*plog);
    CO_ASSERT_OK(all);
    int64_t want = 0;
    for (auto [pos, size] : testing::SplitBatches(*all)) {
      auto reader = record::BatchReader::Open(std::span(*all).subspan(pos, size));
      CO_ASSERT_OK(reader);
      record::RecordView rec;
      while (true) {
        auto more = reader->Next(&rec);
        CO_ASSERT_OK(more);
        if (!*more) break;
        EXPECT_EQ(rec.offset, want++);
      }
    }
    EXPECT_EQ(want, next);
  }());
}

TEST_F(LogBasicTest, InvalidBatchesAreRejectedAndNothingIsWritten) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig config = Config();
    config.max_message_bytes = 4096;
    auto plog = co_await Open(config);
    CO_ASSERT_TRUE(plog != nullptr);
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(2, clock_.wall_ms())));

    std::vector<std::byte> bad_crc = MakeBatch(2, clock_.wall_ms());
    bad_crc.back() ^= std::byte{1};
    auto r = co_await plog->append(bad_crc);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();

    std::vector<std::byte> torn = MakeBatch(2, clock_.wall_ms());
    torn.resize(torn.size() - 3);
    r = co_await plog->append(torn);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();

    std::vector<std::byte> two = MakeBatch(1, clock_.wall_ms());
    std::vector<std::byte> second = MakeBatch(1, clock_.wall_ms());
    two.insert(two.end(), second.begin(), second.end());
    r = co_await plog->append(two);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();

    std::vector<std::byte> big = MakeBatch(1, clock_.wall_ms(), 8000);
    r = co_await plog->append(big);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange) << r.status();

    std::vector<std::byte> garbage(100, std::byte{0x5a});
    r = co_await plog->append(garbage);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();

    EXPECT_EQ(plog->log_end_offset().value(), 2);
    auto all = co_await testing::ReadWholeLog(*plog);
    CO_ASSERT_OK(all);
    EXPECT_TRUE(*all == expected_);
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(1, clock_.wall_ms())));
    EXPECT_EQ(plog->log_end_offset().value(), 3);
  }());
}

TEST_F(LogBasicTest, RollsBySizeIntoSegmentsNamedByBaseOffset) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig config = Config();
    config.segment_bytes = 4096;
    auto plog = co_await Open(config);
    CO_ASSERT_TRUE(plog != nullptr);
    std::vector<int64_t> bases;
    for (int i = 0; i < 40; ++i) {
      auto r = co_await Append(*plog, MakeBatch(3, clock_.wall_ms(), 200));
      CO_ASSERT_OK(r);
    }
    const auto stats = plog->stats();
    EXPECT_GT(stats.segments, 5u);
    EXPECT_EQ(stats.rolls + 1, stats.segments);
    EXPECT_EQ(stats.size_bytes, expected_.size());
    EXPECT_EQ(SegmentFiles(), stats.segments);
    // Every segment file is named by the offset of its first batch and holds at most
    // segment_bytes.
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      auto base = log::ParseSegmentName(e.path().filename().string(), log::kLogSuffix);
      if (!base) continue;
      EXPECT_LE(std::filesystem::file_size(e.path()), config.segment_bytes);
      std::vector<std::byte> head(record::kHeaderSize);
      auto file = co_await fs_->open(e.path().string(), io::OpenMode::kRead);
      CO_ASSERT_OK(file);
      auto n = co_await (*file)->read_at(0, head);
      CO_ASSERT_OK(n);
      auto h = record::ParseHeader(head);
      CO_ASSERT_OK(h);
      EXPECT_EQ(h->base_offset, base->value());
      CO_ASSERT_OK(co_await (*file)->close());
    }
    auto all = co_await testing::ReadWholeLog(*plog, 1 << 20);
    CO_ASSERT_OK(all);
    EXPECT_TRUE(*all == expected_);
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LogBasicTest, RollsByAgeWithAManualClock) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig config = Config();
    config.segment_ms = 60'000;
    auto plog = co_await Open(config);
    CO_ASSERT_TRUE(plog != nullptr);
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(1, clock_.wall_ms())));
    clock_.advance_ms(59'999);
    CO_ASSERT_OK(co_await plog->maybe_roll());
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(1, clock_.wall_ms())));
    EXPECT_EQ(plog->stats().segments, 1u);
    clock_.advance_ms(1);
    CO_ASSERT_OK(co_await plog->maybe_roll());  // age reached: rolls without an append
    EXPECT_EQ(plog->stats().segments, 2u);
    CO_ASSERT_OK(co_await plog->maybe_roll());  // an empty active segment never rolls
    EXPECT_EQ(plog->stats().segments, 2u);
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(1, clock_.wall_ms())));
    clock_.advance_ms(60'000);
    auto r = co_await Append(*plog, MakeBatch(2, clock_.wall_ms()));  // the append rolls first
    CO_ASSERT_OK(r);
    EXPECT_EQ(plog->stats().segments, 3u);
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/" + log::SegmentStem(r->base_offset) +
                                        std::string(log::kLogSuffix)));
    auto all = co_await testing::ReadWholeLog(*plog);
    CO_ASSERT_OK(all);
    EXPECT_TRUE(*all == expected_);
  }());
}

TEST_F(LogBasicTest, ReadsSpanSegmentsAndRespectMaxBytesAndUpper) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig config = Config();
    config.segment_bytes = 2048;
    config.index_interval_bytes = 300;
    auto plog = co_await Open(config);
    CO_ASSERT_TRUE(plog != nullptr);
    std::vector<std::pair<size_t, size_t>> ranges;  // of expected_
    std::vector<log::AppendResult> results;
    for (int i = 0; i < 30; ++i) {
      const size_t at = expected_.size();
      auto r = co_await Append(*plog, MakeBatch(2, clock_.wall_ms(), 100 + 10 * i));
      CO_ASSERT_OK(r);
      ranges.emplace_back(at, expected_.size() - at);
      results.push_back(*r);
    }
    CO_ASSERT_TRUE(plog->stats().segments >= 5);
    const Offset end = plog->log_end_offset();

    // Everything in one read: several slices, in order, byte for byte.
    auto whole = co_await plog->read(Offset(0), 1 << 20, end);
    CO_ASSERT_OK(whole);
    EXPECT_GT(whole->slices.size(), 1u);
    EXPECT_EQ(whole->next_offset, end);
    EXPECT_EQ(whole->total_bytes, expected_.size());
    auto bytes = co_await PartitionLog::ReadAll(*whole);
    CO_ASSERT_OK(bytes);
    EXPECT_TRUE(*bytes == expected_);

    // max_bytes smaller than the first batch: still exactly that one batch.
    auto one = co_await plog->read(results[7].base_offset, 1, end);
    CO_ASSERT_OK(one);
    EXPECT_EQ(one->total_bytes, ranges[7].second);
    EXPECT_EQ(one->next_offset, results[7].last_offset + 1);

    // A budget of three batches exactly, from the middle of a batch.
    const size_t three = ranges[10].second + ranges[11].second + ranges[12].second;
    auto some = co_await plog->read(results[10].last_offset, three, end);
    CO_ASSERT_OK(some);
    auto some_bytes = co_await PartitionLog::ReadAll(*some);
    CO_ASSERT_OK(some_bytes);
    EXPECT_TRUE(std::equal(some_bytes->begin(), some_bytes->end(),
                           expected_.begin() + static_cast<ptrdiff_t>(ranges[10].first),
                           expected_.begin() + static_cast<ptrdiff_t>(ranges[10].first + three)));
    EXPECT_EQ(some->next_offset, results[12].last_offset + 1);
    // One byte less: two batches.
    auto fewer = co_await plog->read(results[10].base_offset, three - 1, end);
    CO_ASSERT_OK(fewer);
    EXPECT_EQ(fewer->total_bytes, ranges[10].second + ranges[11].second);

    // `upper` stops before the batch that holds it.
    auto capped = co_await plog->read(Offset(0), 1 << 20, results[20].base_offset);
    CO_ASSERT_OK(capped);
    EXPECT_EQ(capped->total_bytes, ranges[20].first);
    EXPECT_EQ(capped->next_offset, results[20].base_offset);
    auto none = co_await plog->read(results[20].base_offset, 1 << 20, results[20].base_offset);
    CO_ASSERT_OK(none);
    EXPECT_TRUE(none->slices.empty());

    // At the end: empty; past it: an error.
    auto at_end = co_await plog->read(end, 1 << 20, end);
    CO_ASSERT_OK(at_end);
    EXPECT_TRUE(at_end->slices.empty());
    EXPECT_EQ(at_end->next_offset, end);
    auto past = co_await plog->read(end + 1, 1 << 20, end + 1);
    EXPECT_EQ(past.status().code(), absl::StatusCode::kOutOfRange) << past.status();
  }());
}

TEST_F(LogBasicTest, ReopenAfterCloseIsCleanAndSkipsTheScan) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig config = Config();
    config.segment_bytes = 8192;
    {
      auto plog = co_await Open(config);
      CO_ASSERT_TRUE(plog != nullptr);
      for (int i = 0; i < 40; ++i) CO_ASSERT_OK(co_await Append(*plog, MakeBatch(2, i, 300)));
      CO_ASSERT_OK(co_await plog->close());
    }
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/" + std::string(log::kCleanShutdownName)));
    auto plog = co_await Open(config);
    CO_ASSERT_TRUE(plog != nullptr);
    const auto& rs = plog->recovery_stats();
    EXPECT_TRUE(rs.clean_shutdown);
    EXPECT_TRUE(rs.checkpoint_valid);
    EXPECT_EQ(rs.segments_scanned, 0u);
    EXPECT_EQ(rs.batches_scanned, 0u);
    EXPECT_EQ(rs.indexes_rebuilt, 0u);
    // The marker is gone (and that is durable) before any append.
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/" + std::string(log::kCleanShutdownName)));
    EXPECT_EQ(plog->log_end_offset().value(), 80);
    EXPECT_EQ(plog->durable_end_offset().value(), 80);
    auto all = co_await testing::ReadWholeLog(*plog);
    CO_ASSERT_OK(all);
    EXPECT_TRUE(*all == expected_);
    auto r = co_await Append(*plog, MakeBatch(1, 99));
    CO_ASSERT_OK(r);
    EXPECT_EQ(r->base_offset.value(), 80);
  }());
}

TEST_F(LogBasicTest, ReopenWithoutCloseScansAndKeepsEverything) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig config = Config();
    config.segment_bytes = 8192;
    {
      auto plog = co_await Open(config);
      CO_ASSERT_TRUE(plog != nullptr);
      for (int i = 0; i < 40; ++i) CO_ASSERT_OK(co_await Append(*plog, MakeBatch(2, i, 300)));
      // Dropped without close(): no marker, the tail past the recovery point is scanned.
    }
    auto plog = co_await Open(config);
    CO_ASSERT_TRUE(plog != nullptr);
    const auto& rs = plog->recovery_stats();
    EXPECT_FALSE(rs.clean_shutdown);
    EXPECT_GE(rs.segments_scanned, 1u);
    EXPECT_GT(rs.batches_scanned, 0u);
    EXPECT_EQ(rs.bytes_truncated, 0u);
    EXPECT_TRUE(rs.truncation_reason.empty()) << rs.truncation_reason;
    EXPECT_EQ(plog->log_end_offset().value(), 80);
    auto all = co_await testing::ReadWholeLog(*plog);
    CO_ASSERT_OK(all);
    EXPECT_TRUE(*all == expected_);
    auto r = co_await Append(*plog, MakeBatch(1, 99));
    CO_ASSERT_OK(r);
    EXPECT_EQ(r->base_offset.value(), 80);
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LogBasicTest, GroupCommitCoversManyAppendsWithFewFdatasyncs) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    constexpr int kAppends = 200;
    std::vector<std::vector<std::byte>> batches;
    for (int i = 0; i < kAppends; ++i) batches.push_back(MakeBatch(1 + i % 3, i, 100));
    std::vector<Status> results(kAppends, absl::UnknownError("not run"));
    std::vector<int64_t> bases(kAppends, -1);
    std::vector<Task<void>> tasks;
    for (int i = 0; i < kAppends; ++i) {
      tasks.push_back(
          [](PartitionLog& l, std::vector<std::byte>& b, Status& out, int64_t& base) -> Task<void> {
            auto r = co_await l.append(b);
            if (!r.ok()) {
              out = r.status();
              co_return;
            }
            base = r->base_offset.value();
            out = co_await l.wait_durable(r->last_offset);
            // Durable means durable_end_offset() covers it now.
            if (out.ok() && l.durable_end_offset() <= r->last_offset) {
              out = absl::InternalError("wait_durable returned before the durable end covered it");
            }
          }(*plog, batches[i], results[i], bases[i]));
    }
    co_await io::WhenAll(*reactor_, std::move(tasks));
    for (const Status& st : results) EXPECT_TRUE(st.ok()) << st;
    // Offsets follow call order.
    for (int i = 1; i < kAppends; ++i) EXPECT_LT(bases[i - 1], bases[i]);
    const auto stats = plog->stats();
    EXPECT_EQ(stats.appends, static_cast<uint64_t>(kAppends));
    EXPECT_LT(stats.fdatasyncs, static_cast<uint64_t>(kAppends));
    EXPECT_GT(stats.batches_per_sync_max, 1u);
    EXPECT_EQ(plog->durable_end_offset(), plog->log_end_offset());
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LogBasicTest, WaitDurableForAnOffsetNotAppendedIsAnError) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(2, 0)));
    Status st = co_await plog->wait_durable(Offset(2));
    EXPECT_EQ(st.code(), absl::StatusCode::kOutOfRange) << st;
    CO_ASSERT_OK(co_await plog->wait_durable(Offset(1)));
    CO_ASSERT_OK(co_await plog->flush());  // nothing new: no-op
  }());
}

TEST_F(LogBasicTest, IntervalPolicyFlushesAfterFlushMessages) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig config = Config();
    config.flush_policy = log::FlushPolicy::kInterval;
    config.flush_messages = 5;
    config.flush_ms = 3'600'000;  // never by time in this test
    auto plog = co_await Open(config);
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 4; ++i) CO_ASSERT_OK(co_await Append(*plog, MakeBatch(1, i)));
    EXPECT_EQ(plog->durable_end_offset().value(), 0);
    EXPECT_EQ(plog->stats().fdatasyncs, 0u);
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(1, 4)));  // the fifth message
    CO_ASSERT_OK(co_await testing::WaitFor(
        *reactor_, [&] { return plog->durable_end_offset().value() == 5; }));
    EXPECT_EQ(plog->stats().fdatasyncs, 1u);
    CO_ASSERT_OK(co_await plog->wait_durable(Offset(4)));  // already durable: returns at once
    // A waiter under the interval policy waits for the flusher rather than syncing itself.
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(2, 5)));
    bool durable = false;
    reactor_->spawn([](PartitionLog& l, bool& d) -> Task<void> {
      Status st = co_await l.wait_durable(Offset(6));
      EXPECT_TRUE(st.ok()) << st;
      d = true;
    }(*plog, durable));
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(3, 7)));  // 2 + 3 messages: due
    CO_ASSERT_OK(co_await testing::WaitFor(*reactor_, [&] { return durable; }));
    EXPECT_EQ(plog->stats().fdatasyncs, 2u);
    // flush() syncs now whatever the policy says.
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(1, 10)));
    CO_ASSERT_OK(co_await plog->flush());
    EXPECT_EQ(plog->durable_end_offset(), plog->log_end_offset());
    CO_ASSERT_OK(co_await plog->close());  // stops the flusher
  }());
}

TEST_F(LogBasicTest, IntervalPolicyFlushesAfterFlushMsOfTheClock) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig config = Config();
    config.flush_policy = log::FlushPolicy::kInterval;
    config.flush_messages = 1'000'000;
    config.flush_ms = 20;  // the flusher checks the (manual) clock every 20 ms of real time
    auto plog = co_await Open(config);
    CO_ASSERT_TRUE(plog != nullptr);
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(1, 0)));
    EXPECT_EQ(plog->durable_end_offset().value(), 0);
    clock_.advance_ms(20);
    CO_ASSERT_OK(co_await testing::WaitFor(
        *reactor_, [&] { return plog->durable_end_offset().value() == 1; }));
    // An append also notices that flush_ms has passed.
    clock_.advance_ms(20);
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(1, 1)));
    CO_ASSERT_OK(co_await testing::WaitFor(
        *reactor_, [&] { return plog->durable_end_offset().value() == 2; }));
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LogBasicTest, AFailedWriteAmongAppendsInFlightCutsBackAndAbortsTheOnesBehindIt) {
  testing::FaultFileSystem faulty(*reactor_, *fs_, tmp_.file("scratch"));
  reactor_->block_on([&]() -> Task<void> {
    auto opened = co_await PartitionLog::Open(faulty, clock_, dir_, Config());
    CO_ASSERT_OK(opened);
    PartitionLog& plog = **opened;
    for (int i = 0; i < 3; ++i) CO_ASSERT_OK(co_await Append(plog, MakeBatch(2, i)));
    const Offset start = plog.log_end_offset();
    // Ten appends in flight at once; the budget lets the first three writes through.
    constexpr int kBurst = 10;
    std::vector<std::vector<std::byte>> burst;
    for (int i = 0; i < kBurst; ++i) burst.push_back(MakeBatch(1, 10 + i, 50));
    faulty.SetWriteBudget(3 * burst[0].size());
    std::vector<StatusOr<log::AppendResult>> results(kBurst, absl::UnknownError("not run"));
    std::vector<Task<void>> tasks;
    for (int i = 0; i < kBurst; ++i) {
      tasks.push_back([](PartitionLog& l, std::vector<std::byte>& b,
                         StatusOr<log::AppendResult>& out) -> Task<void> {
        out = co_await l.append(b);
      }(plog, burst[i], results[i]));
    }
    co_await io::WhenAll(*reactor_, std::move(tasks));
    for (int i = 0; i < 3; ++i) {
      CO_ASSERT_OK(results[i]);
      EXPECT_EQ(results[i]->base_offset, start + i);
      expected_.insert(expected_.end(), burst[i].begin(), burst[i].end());
    }
    EXPECT_EQ(ErrnoOf(results[3].status()), ENOSPC) << results[3].status();
    for (int i = 4; i < kBurst; ++i) {
      EXPECT_EQ(results[i].status().code(), absl::StatusCode::kAborted) << results[i].status();
    }
    EXPECT_EQ(plog.log_end_offset(), start + 3)
        << "the failed appends' offsets are handed out again";
    EXPECT_EQ(plog.stats().append_errors, static_cast<uint64_t>(kBurst - 3));
    auto all = co_await testing::ReadWholeLog(plog);
    CO_ASSERT_OK(all);
    EXPECT_TRUE(*all == expected_);
    // Space is back: the log goes on at the cut, durably, and reopens cleanly.
    faulty.ClearWriteBudget();
    auto r = co_await Append(plog, MakeBatch(1, 99));
    CO_ASSERT_OK(r);
    EXPECT_EQ(r->base_offset, start + 3);
    CO_ASSERT_OK(co_await plog.wait_durable(r->last_offset));
    CO_ASSERT_OK(co_await plog.close());
    auto reopened = co_await PartitionLog::Open(faulty, clock_, dir_, Config());
    CO_ASSERT_OK(reopened);
    EXPECT_TRUE((*reopened)->recovery_stats().clean_shutdown);
    auto again = co_await testing::ReadWholeLog(**reopened);
    CO_ASSERT_OK(again);
    EXPECT_TRUE(*again == expected_);
    CO_ASSERT_OK(co_await (*reopened)->close());
  }());
}

TEST_F(LogBasicTest, AnIntervalPolicyLogDroppedWithoutCloseLeavesTheReactorSafe) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig config = Config();
    config.flush_policy = log::FlushPolicy::kInterval;
    config.flush_ms = 5;
    config.flush_messages = 1;
    {
      auto plog = co_await Open(config);
      CO_ASSERT_TRUE(plog != nullptr);
      CO_ASSERT_OK(co_await Append(*plog, MakeBatch(3, 0)));
      CO_ASSERT_OK(co_await testing::WaitFor(
          *reactor_, [&] { return plog->durable_end_offset().value() == 3; }));
      // Dropped here with its flusher parked and a timer pending.
    }
    // Let the orphaned timer fire: it must not touch the destroyed log.
    co_await reactor_->sleep_for(std::chrono::milliseconds(20));
    auto plog = co_await Open(config);
    CO_ASSERT_TRUE(plog != nullptr);
    EXPECT_FALSE(plog->recovery_stats().clean_shutdown);
    auto all = co_await testing::ReadWholeLog(*plog);
    CO_ASSERT_OK(all);
    EXPECT_TRUE(*all == expected_);
    CO_ASSERT_OK(co_await plog->close());
  }());
}

TEST_F(LogBasicTest, OperationsAfterCloseFail) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    CO_ASSERT_OK(co_await Append(*plog, MakeBatch(1, 0)));
    CO_ASSERT_OK(co_await plog->close());
    std::vector<std::byte> batch = MakeBatch(1, 0);
    auto r = co_await plog->append(batch);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    auto rd = co_await plog->read(Offset(0), 100, Offset(1));
    EXPECT_EQ(rd.status().code(), absl::StatusCode::kFailedPrecondition);
    CO_ASSERT_OK(co_await plog->close());  // idempotent
  }());
}

}  // namespace
}  // namespace spool
