// Disk errors during append and fdatasync (injected by tests/support's fault file system, the
// one way to make a real disk fail on cue): the caller gets the error with its errno, nothing
// acknowledged is lost, and the log reopens cleanly. Also group commit under a held fdatasync:
// one sync covers every append that piled up behind it.
#include <gtest/gtest.h>

#include <cerrno>
#include <random>
#include <vector>

#include "common/io/file_system.h"
#include "common/io/when_all.h"
#include "log/partition_log.h"
#include "tests/support/fault_file_system.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using log::PartitionLog;

class LogFaultsTest : public ::testing::Test {
 protected:
  LogFaultsTest()
      : reactor_(testing::MakeReactor()),
        base_(io::NewReactorFileSystem(*reactor_)),
        fs_(*reactor_, *base_, tmp_.file("scratch")),
        dir_(tmp_.file("part-0")) {}

  Task<std::unique_ptr<PartitionLog>> Open(log::LogConfig config = Config()) {
    auto opened = co_await PartitionLog::Open(fs_, clock_, dir_, config);
    EXPECT_TRUE(opened.ok()) << opened.status();
    co_return opened.ok() ? std::move(opened).value() : nullptr;
  }

  static log::LogConfig Config() {
    log::LogConfig c;
    c.segment_bytes = 32 * 1024;
    c.retention_ms = -1;
    return c;
  }

  std::vector<std::byte> Batch() { return testing::RandomBatch(rng_, 4, 400, clock_.wall_ms()); }

  // Appends and waits until durable; records the batch as acknowledged.
  Task<Status> AppendDurable(PartitionLog& plog) {
    auto batch = Batch();
    auto r = co_await plog.append(batch);
    if (!r.ok()) co_return r.status();
    CO_RETURN_IF_ERROR(co_await plog.wait_durable(r->last_offset));
    acked_.insert(acked_.end(), batch.begin(), batch.end());
    co_return absl::OkStatus();
  }

  // The log holds exactly the acknowledged batches (used where nothing unacknowledged can
  // survive).
  Task<void> ExpectExactlyAcked(PartitionLog& plog) {
    auto all = co_await testing::ReadWholeLog(plog);
    EXPECT_TRUE(all.ok()) << all.status();
    if (all.ok()) {
      EXPECT_TRUE(*all == acked_) << all->size() << " vs " << acked_.size() << " bytes";
    }
  }

  testing::TempDir tmp_;
  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::FileSystem> base_;
  testing::FaultFileSystem fs_;
  std::string dir_;
  ManualClock clock_;
  std::mt19937_64 rng_{7};
  std::vector<std::byte> acked_;
};

TEST_F(LogFaultsTest, EnospcDuringAppendFailsThatAppendOnly) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 5; ++i) CO_ASSERT_OK(co_await AppendDurable(*plog));
    const Offset end = plog->log_end_offset();
    fs_.SetWriteBudget(100);  // smaller than any batch
    auto batch = Batch();
    auto r = co_await plog->append(batch);
    CO_ASSERT_TRUE(!(r.ok()));
    EXPECT_EQ(ErrnoOf(r.status()), ENOSPC) << r.status();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
    EXPECT_EQ(plog->log_end_offset(), end) << "a failed append must not take offsets";
    co_await ExpectExactlyAcked(*plog);
    // Space comes back: appends go on at the same offset.
    fs_.ClearWriteBudget();
    auto again = Batch();
    auto ok = co_await plog->append(again);
    CO_ASSERT_OK(ok);
    EXPECT_EQ(ok->base_offset, end);
    CO_ASSERT_OK(co_await plog->wait_durable(ok->last_offset));
    acked_.insert(acked_.end(), again.begin(), again.end());
    CO_ASSERT_OK(co_await plog->close());
    plog.reset();
    auto reopened = co_await Open();
    CO_ASSERT_TRUE(reopened != nullptr);
    co_await ExpectExactlyAcked(*reopened);
  }());
}

TEST_F(LogFaultsTest, EnospcWhileRollingASegmentIsReportedAndRecoverable) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    // Fill the first segment close to segment_bytes, so the next append must roll.
    while (plog->stats().size_bytes < Config().segment_bytes - 2048) {
      CO_ASSERT_OK(co_await AppendDurable(*plog));
    }
    fs_.SetWriteBudget(0);
    bool failed = false;
    for (int i = 0; i < 8 && !failed; ++i) {
      auto batch = Batch();
      auto r = co_await plog->append(batch);
      if (!r.ok()) {
        failed = true;
        EXPECT_EQ(ErrnoOf(r.status()), ENOSPC) << r.status();
      } else {
        auto st = co_await plog->wait_durable(r->last_offset);
        if (st.ok()) acked_.insert(acked_.end(), batch.begin(), batch.end());
      }
    }
    EXPECT_TRUE(failed) << "no write failed with a zero write budget";
    fs_.ClearWriteBudget();
    Status st = co_await AppendDurable(*plog);
    if (st.ok()) {
      PermitUncheckedError(co_await plog->close());
    }
    plog.reset();
    // Whatever state the failure left, the log reopens and keeps every acknowledged batch.
    auto reopened = co_await Open();
    CO_ASSERT_TRUE(reopened != nullptr);
    co_await ExpectExactlyAcked(*reopened);
    CO_ASSERT_OK(co_await AppendDurable(*reopened));
  }());
}

TEST_F(LogFaultsTest, EioDuringAppendFailsThatAppendOnly) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    CO_ASSERT_OK(co_await AppendDurable(*plog));
    fs_.FailNextWrites(1, EIO);
    auto batch = Batch();
    auto r = co_await plog->append(batch);
    CO_ASSERT_TRUE(!(r.ok()));
    EXPECT_EQ(ErrnoOf(r.status()), EIO) << r.status();
    CO_ASSERT_OK(co_await AppendDurable(*plog));
    co_await ExpectExactlyAcked(*plog);
    CO_ASSERT_OK(co_await plog->close());
    plog.reset();
    auto reopened = co_await Open();
    CO_ASSERT_TRUE(reopened != nullptr);
    co_await ExpectExactlyAcked(*reopened);
  }());
}

TEST_F(LogFaultsTest, EioDuringFdatasyncFailsTheLogUntilReopened) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 3; ++i) CO_ASSERT_OK(co_await AppendDurable(*plog));
    fs_.FailNextSyncs(1, EIO);
    auto batch = Batch();
    auto r = co_await plog->append(batch);
    CO_ASSERT_OK(r);
    Status st = co_await plog->wait_durable(r->last_offset);
    CO_ASSERT_TRUE(!(st.ok()));
    EXPECT_EQ(ErrnoOf(st), EIO) << st;
    // The log refuses work it cannot make durable; it does not retry the sync and lie.
    auto next = Batch();
    auto refused = co_await plog->append(next);
    EXPECT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
    Status again = co_await plog->wait_durable(r->last_offset);
    EXPECT_FALSE(again.ok());
    PermitUncheckedError(co_await plog->close());
    plog.reset();
    // A power cut on top: only what was acknowledged is guaranteed; reopening recovers.
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    auto reopened = co_await Open();
    CO_ASSERT_TRUE(reopened != nullptr);
    EXPECT_FALSE(reopened->recovery_stats().clean_shutdown);
    auto all = co_await testing::ReadWholeLog(*reopened);
    CO_ASSERT_OK(all);
    CO_ASSERT_TRUE(all->size() >= acked_.size());
    EXPECT_TRUE(std::equal(acked_.begin(), acked_.end(), all->begin()));
    CO_ASSERT_OK(co_await AppendDurable(*reopened));
  }());
}

// Regression: after a failed fdatasync, close() left the unsynced bytes in the files; the
// reopened log's scan read them back (on Linux they may live only in the page cache by then,
// their write to disk dropped) and its own fdatasync then counted them durable.
TEST_F(LogFaultsTest, AfterAFailedFdatasyncReopenRecoversOnlyWhatASyncCovered) {
  reactor_->block_on([&]() -> Task<void> {
    log::LogConfig config = Config();
    config.segment_bytes = 4096;  // the failed round also covers sealed segments
    auto plog = co_await Open(config);
    CO_ASSERT_TRUE(plog != nullptr);
    for (int i = 0; i < 3; ++i) CO_ASSERT_OK(co_await AppendDurable(*plog));
    for (int i = 0; i < 12; ++i) {
      auto batch = Batch();
      CO_ASSERT_OK(co_await plog->append(batch));
    }
    CO_ASSERT_TRUE(plog->stats().rolls > 0);
    fs_.FailNextSyncs(1, EIO);
    Status st = co_await plog->wait_durable(plog->log_end_offset() - 1);
    EXPECT_EQ(ErrnoOf(st), EIO) << st;
    Status closed = co_await plog->close();
    EXPECT_EQ(closed.code(), absl::StatusCode::kFailedPrecondition) << closed;
    plog.reset();
    auto reopened = co_await Open(config);
    CO_ASSERT_TRUE(reopened != nullptr);
    co_await ExpectExactlyAcked(*reopened);
    CO_ASSERT_OK(co_await AppendDurable(*reopened));
    CO_ASSERT_OK(co_await reopened->close());
    reopened.reset();
    auto again = co_await Open(config);
    CO_ASSERT_TRUE(again != nullptr);
    EXPECT_TRUE(again->recovery_stats().clean_shutdown);
    co_await ExpectExactlyAcked(*again);
  }());
}

TEST_F(LogFaultsTest, EnospcDuringFdatasyncIsReportedWithItsErrno) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    CO_ASSERT_OK(co_await AppendDurable(*plog));
    fs_.FailNextSyncs(1, ENOSPC);
    auto batch = Batch();
    auto r = co_await plog->append(batch);
    CO_ASSERT_OK(r);
    Status st = co_await plog->wait_durable(r->last_offset);
    EXPECT_EQ(ErrnoOf(st), ENOSPC) << st;
    PermitUncheckedError(co_await plog->close());
    plog.reset();
    auto reopened = co_await Open();
    CO_ASSERT_TRUE(reopened != nullptr);
    auto all = co_await testing::ReadWholeLog(*reopened);
    CO_ASSERT_OK(all);
    CO_ASSERT_TRUE(all->size() >= acked_.size());
    EXPECT_TRUE(std::equal(acked_.begin(), acked_.end(), all->begin()));
  }());
}

TEST_F(LogFaultsTest, OneFdatasyncCoversEveryAppendQueuedBehindIt) {
  reactor_->block_on([&]() -> Task<void> {
    auto plog = co_await Open();
    CO_ASSERT_TRUE(plog != nullptr);
    fs_.HoldSyncs();
    const uint64_t syncs_before = fs_.sync_count();
    // The first waiter starts an fdatasync, which parks at the gate.
    constexpr int kAppends = 40;
    std::vector<std::vector<std::byte>> batches;
    for (int i = 0; i < kAppends; ++i) batches.push_back(Batch());
    std::vector<Status> results(kAppends, absl::UnknownError("not run"));
    std::vector<Task<void>> tasks;
    for (int i = 0; i < kAppends; ++i) {
      tasks.push_back([](PartitionLog& l, std::vector<std::byte>& b, Status& out) -> Task<void> {
        auto r = co_await l.append(b);
        if (!r.ok()) {
          out = r.status();
          co_return;
        }
        out = co_await l.wait_durable(r->last_offset);
      }(*plog, batches[i], results[i]));
    }
    int done = 0;
    std::vector<Task<void>> all;
    all.push_back([](std::vector<Task<void>> ts, io::Reactor& r, int& d) -> Task<void> {
      co_await io::WhenAll(r, std::move(ts));
      d = 1;
    }(std::move(tasks), *reactor_, done));
    reactor_->spawn(std::move(all[0]));
    CO_ASSERT_OK(co_await testing::WaitFor(*reactor_, [&] { return fs_.syncs_waiting() >= 1; }));
    EXPECT_EQ(done, 0) << "appends became durable while the fdatasync was held";
    fs_.ReleaseSyncs();
    CO_ASSERT_OK(co_await testing::WaitFor(*reactor_, [&] { return done == 1; }));
    for (const Status& st : results) EXPECT_TRUE(st.ok()) << st;
    // One sync was parked; at most one more covers everything that queued behind it.
    EXPECT_LE(fs_.sync_count() - syncs_before, 2u + plog->stats().rolls);
    EXPECT_GE(plog->stats().batches_per_sync_max, static_cast<uint64_t>(kAppends / 2));
    CO_ASSERT_OK(co_await plog->close());
  }());
}

}  // namespace
}  // namespace spool
