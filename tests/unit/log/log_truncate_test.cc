// truncate_to: in the middle of a segment, at a segment boundary, to zero, below the log start,
// past the end; appends continue at the right offsets; the result survives a reopen with and
// without a clean shutdown; in-flight appends finish first.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/file_system.h"
#include "common/io/when_all.h"
#include "log/log_format.h"
#include "log/partition_log.h"
#include "log/record/batch_builder.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using log::LogConfig;
using log::PartitionLog;

std::vector<std::byte> MakeBatch(int records, int64_t ts, size_t value_size = 200) {
  record::BatchBuilder builder;
  for (int i = 0; i < records; ++i) builder.Append(ts + i, "k", std::string(value_size, 't'));
  auto sealed = builder.Seal();
  EXPECT_TRUE(sealed.ok()) << sealed.status();
  return std::move(sealed).value();
}

class LogTruncateTest : public testing::LogTest {
 protected:
  static LogConfig Config() {
    LogConfig c;
    c.segment_bytes = 3000;
    c.index_interval_bytes = 400;
    c.retention_ms = -1;
    return c;
  }

  Task<std::unique_ptr<PartitionLog>> Open(LogConfig c = Config()) {
    co_return co_await OpenLog(c);
  }

  struct Batch {
    int64_t base;
    int64_t last;
    std::vector<std::byte> bytes;
  };

  Task<Status> Append(PartitionLog& plog, int records) {
    std::vector<std::byte> b = MakeBatch(records, clock_.wall_ms());
    auto r = co_await plog.append(b);
    if (!r.ok()) co_return r.status();
    if (!batches_.empty() && batches_.back().last + 1 != r->base_offset.value()) {
      co_return absl::InternalError("offsets are not contiguous");
    }
    batches_.push_back({r->base_offset.value(), r->last_offset.value(), std::move(b)});
    co_return Status();
  }

  // Drops the model's batches at or after the one holding `offset`.
  void ModelTruncate(int64_t offset) {
    while (!batches_.empty() && batches_.back().last >= offset) batches_.pop_back();
  }
  int64_t ModelEnd() const { return batches_.empty() ? 0 : batches_.back().last + 1; }

  Task<void> ExpectModel(PartitionLog& plog) {
    EXPECT_EQ(plog.log_end_offset().value(), ModelEnd());
    auto all = co_await testing::ReadWholeLog(plog);
    CO_ASSERT_OK(all);
    std::vector<std::byte> want;
    for (const Batch& b : batches_) want.insert(want.end(), b.bytes.begin(), b.bytes.end());
    EXPECT_TRUE(*all == want) << all->size() << " vs " << want.size();
  }

  size_t SegmentFiles() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (log::ParseSegmentName(e.path().filename().string(), log::kLogSuffix)) ++n;
    }
    return n;
  }

  std::vector<Batch> batches_;
};

TEST_F(LogTruncateTest, InTheMiddleOfABatchCutsAtItsStartAndAppendsContinue) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 30; ++i) CO_ASSERT_OK(co_await Append(*plog, 3));
    const size_t segments = plog->stats().segments;
    CO_ASSERT_TRUE(segments >= 4);
    // Offset 40 is the second record of the batch at 39.
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(40)));
    ModelTruncate(40);
    EXPECT_EQ(plog->log_end_offset().value(), 39);
    EXPECT_EQ(plog->visible_end_offset().value(), 39);
    EXPECT_EQ(plog->durable_end_offset().value(), 39);
    EXPECT_LT(plog->stats().segments, segments);
    EXPECT_EQ(SegmentFiles(), plog->stats().segments);
    co_await ExpectModel(*plog);
    CO_ASSERT_OK(co_await Append(*plog, 2));
    EXPECT_EQ(batches_.back().base, 39);
    for (int i = 0; i < 10; ++i) CO_ASSERT_OK(co_await Append(*plog, 3));  // rolls again
    co_await ExpectModel(*plog);
    CO_ASSERT_OK(co_await plog->close());
    auto reopened = co_await Open();
    CO_ASSERT_TRUE(reopened != nullptr);
    EXPECT_TRUE(reopened->recovery_stats().clean_shutdown);
    co_await ExpectModel(*reopened);
  }());
}

TEST_F(LogTruncateTest, AtASegmentBoundaryEmptiesThatSegment) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 30; ++i) CO_ASSERT_OK(co_await Append(*plog, 3));
    // The second segment's base offset.
    int64_t boundary = -1;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      auto b = log::ParseSegmentName(e.path().filename().string(), log::kLogSuffix);
      if (b && b->value() > 0 && (boundary < 0 || b->value() < boundary)) boundary = b->value();
    }
    CO_ASSERT_TRUE(boundary > 0);
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(boundary)));
    ModelTruncate(boundary);
    EXPECT_EQ(plog->log_end_offset().value(), boundary);
    EXPECT_EQ(plog->stats().segments, 2u);  // the first, and the emptied one (named by base)
    EXPECT_EQ(std::filesystem::file_size(dir_ + "/" + log::SegmentStem(Offset(boundary)) +
                                         std::string(log::kLogSuffix)),
              0u);
    co_await ExpectModel(*plog);
    CO_ASSERT_OK(co_await Append(*plog, 1));
    EXPECT_EQ(batches_.back().base, boundary);
    co_await ExpectModel(*plog);
    // Without a clean shutdown the cut is still there after the scan.
    plog.reset();
    auto reopened = co_await Open();
    CO_ASSERT_TRUE(reopened != nullptr);
    EXPECT_FALSE(reopened->recovery_stats().clean_shutdown);
    co_await ExpectModel(*reopened);
  }());
}

TEST_F(LogTruncateTest, ToZeroRemovesEverything) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 20; ++i) CO_ASSERT_OK(co_await Append(*plog, 2));
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(0)));
    ModelTruncate(0);
    EXPECT_EQ(plog->log_end_offset().value(), 0);
    EXPECT_EQ(plog->log_start_offset().value(), 0);
    EXPECT_EQ(plog->stats().segments, 1u);
    EXPECT_EQ(plog->stats().size_bytes, 0u);
    EXPECT_EQ(SegmentFiles(), 1u);
    auto empty = co_await plog->read(Offset(0), 100, plog->log_end_offset());
    CO_ASSERT_OK(empty);
    EXPECT_TRUE(empty->slices.empty());
    CO_ASSERT_OK(co_await Append(*plog, 4));
    EXPECT_EQ(batches_.back().base, 0);
    co_await ExpectModel(*plog);
    plog.reset();
    auto reopened = co_await Open();
    CO_ASSERT_TRUE(reopened != nullptr);
    co_await ExpectModel(*reopened);
  }());
}

TEST_F(LogTruncateTest, PastTheEndIsANoOpAndTheLastOffsetCutsOneBatch) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 5; ++i) CO_ASSERT_OK(co_await Append(*plog, 2));
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(10)));
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(1000)));
    co_await ExpectModel(*plog);
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(9)));  // the last offset
    ModelTruncate(9);
    EXPECT_EQ(plog->log_end_offset().value(), 8);
    co_await ExpectModel(*plog);
  }());
}

TEST_F(LogTruncateTest, BelowTheLogStartRestartsTheLogThere) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig c = Config();
    c.retention_bytes = 0;
    auto plog = co_await Open(c);
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 30; ++i) CO_ASSERT_OK(co_await Append(*plog, 3));
    CO_ASSERT_OK(co_await plog->apply_retention());
    const Offset start = plog->log_start_offset();
    CO_ASSERT_TRUE(start.value() > 10);
    CO_ASSERT_OK(co_await plog->truncate_to(Offset(5)));
    EXPECT_EQ(plog->log_start_offset().value(), 5);
    EXPECT_EQ(plog->log_end_offset().value(), 5);
    EXPECT_EQ(SegmentFiles(), 1u);
    batches_.clear();
    std::vector<std::byte> b = MakeBatch(1, 0);
    auto r = co_await plog->append(b);
    CO_ASSERT_OK(r);
    EXPECT_EQ(r->base_offset.value(), 5);
    plog.reset();
    auto reopened = co_await Open(c);
    CO_ASSERT_TRUE(reopened != nullptr);
    EXPECT_EQ(reopened->log_start_offset().value(), 5);
    EXPECT_EQ(reopened->log_end_offset().value(), 6);
  }());
}

TEST_F(LogTruncateTest, RestartAtAboveTheEndStartsTheLogOverThere) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 12; ++i) CO_ASSERT_OK(co_await Append(*plog, 3));  // several segments
    CO_ASSERT_TRUE(SegmentFiles() > 1);
    const Offset end = plog->log_end_offset();
    Status at_end = co_await plog->restart_at(end);
    EXPECT_TRUE(absl::IsInvalidArgument(at_end)) << at_end;
    const Offset inside(3);
    Status within = co_await plog->restart_at(inside);
    EXPECT_TRUE(absl::IsInvalidArgument(within)) << within;
    CO_ASSERT_OK(co_await plog->restart_at(Offset(1000)));
    EXPECT_EQ(plog->log_start_offset().value(), 1000);
    EXPECT_EQ(plog->log_end_offset().value(), 1000);
    EXPECT_EQ(plog->durable_end_offset().value(), 1000);
    EXPECT_EQ(SegmentFiles(), 1u);
    EXPECT_TRUE(plog->leader_epochs().empty());
    std::vector<std::byte> b = MakeBatch(2, 0);
    auto r = co_await plog->append(b);
    CO_ASSERT_OK(r);
    EXPECT_EQ(r->base_offset.value(), 1000);
    // A crash (no close) keeps the restart: recovery starts at the new log start.
    plog.reset();
    auto reopened = co_await Open();
    CO_ASSERT_TRUE(reopened != nullptr);
    EXPECT_EQ(reopened->log_start_offset().value(), 1000);
    EXPECT_EQ(reopened->log_end_offset().value(), 1002);
    CO_ASSERT_OK(co_await reopened->close());
  }());
}

TEST_F(LogTruncateTest, WaitsForAppendsInFlight) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 5; ++i) CO_ASSERT_OK(co_await Append(*plog, 2));
    std::vector<std::vector<std::byte>> burst;
    for (int i = 0; i < 20; ++i) burst.push_back(MakeBatch(1, i));
    std::vector<Task<void>> tasks;
    int ok = 0;
    for (auto& b : burst) {
      tasks.push_back([](PartitionLog& l, std::vector<std::byte>& bytes, int& n) -> Task<void> {
        auto r = co_await l.append(bytes);
        if (r.ok()) ++n;
      }(*plog, b, ok));
    }
    tasks.push_back([](PartitionLog& l) -> Task<void> {
      Status st = co_await l.truncate_to(Offset(4));
      EXPECT_TRUE(st.ok()) << st;
    }(*plog));
    co_await io::WhenAll(*reactor_, std::move(tasks));
    // Every append that started before the truncation finished first, then was cut away.
    EXPECT_EQ(ok, 20);
    ModelTruncate(4);
    co_await ExpectModel(*plog);
  }());
}

}  // namespace
}  // namespace spool
