// append_replica, the follower path: runs of whole batches copied from another (leader) log go
// in unchanged, with one write per run (per segment when a run crosses one); anything invalid in
// a run (a bad CRC, a torn batch, a gap, the wrong start) writes nothing; write failures and
// concurrent appends behave as for append(); the epochs and bytes survive a crash and a close.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <random>
#include <vector>

#include "common/io/when_all.h"
#include "log/partition_log.h"
#include "log/record/batch_header.h"
#include "tests/support/fault_file_system.h"
#include "tests/support/log_files.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"
#include "tests/unit/log/epoch_test_util.h"

namespace spool {
namespace {

using log::AppendResult;
using log::LogConfig;
using log::PartitionLog;
using testing::AppendUnder;
using testing::Entries;

LogConfig Config() {
  return testing::SmallSegments(4000, 500);
}

class ReplicaAppendTest : public testing::LogTest {
 protected:
  ReplicaAppendTest() : fault_(*reactor_, *fs_, tmp_.file("scratch")) {}

  // A leader log in its own directory with batches of epochs 0, 3 and 4, read back whole.
  Task<void> MakeLeader(int batches) {
    const std::string dir = tmp_.file("leader");
    const LogConfig config = Config();
    auto opened = co_await log::PartitionLog::Open(*fs_, clock_, dir, config);
    CO_ASSERT_OK(opened);
    PartitionLog& leader = **opened;
    std::mt19937_64 rng(seed_);
    for (int i = 0; i < batches; ++i) {
      const int32_t epoch = i < batches / 3 ? 0 : (i < 2 * batches / 3 ? 3 : 4);
      const int64_t b =
          co_await AppendUnder(leader, 1 + static_cast<int>(rng() % 5), epoch, rng() % 300);
      CO_ASSERT_TRUE(b >= 0);
    }
    leader_epochs_ = leader.leader_epochs();
    leader_end_ = leader.log_end_offset().value();
    auto all = co_await testing::ReadWholeLog(leader);
    CO_ASSERT_OK(all);
    leader_bytes_ = std::move(all).value();
    ranges_ = testing::SplitBatches(leader_bytes_);
    CO_ASSERT_OK(co_await leader.close());
  }

  // Batches [first, last) of the leader's log, as one run.
  std::vector<std::byte> Run(size_t first, size_t last) const {
    const size_t from = ranges_[first].first;
    const size_t to = last == ranges_.size() ? leader_bytes_.size() : ranges_[last].first;
    return std::vector<std::byte>(leader_bytes_.begin() + static_cast<ptrdiff_t>(from),
                                  leader_bytes_.begin() + static_cast<ptrdiff_t>(to));
  }
  int64_t BaseOf(size_t batch) const {
    auto h = record::ParseHeader(std::span(leader_bytes_).subspan(ranges_[batch].first));
    return h.ok() ? h->base_offset : -1;
  }

  Task<std::unique_ptr<PartitionLog>> OpenFollower(LogConfig c = Config()) {
    auto opened = co_await PartitionLog::Open(fault_, clock_, dir_, c);
    EXPECT_TRUE(opened.ok()) << opened.status();
    if (!opened.ok()) co_return nullptr;
    co_return std::move(opened).value();
  }

  // The follower holds exactly the leader's first `batches` batches.
  Task<void> ExpectPrefix(PartitionLog& f, size_t batches) {
    const int64_t end = batches == ranges_.size() ? leader_end_ : BaseOf(batches);
    EXPECT_EQ(f.log_end_offset().value(), end);
    auto all = co_await testing::ReadWholeLog(f);
    CO_ASSERT_OK(all);
    EXPECT_TRUE(*all == (batches == 0 ? std::vector<std::byte>() : Run(0, batches)))
        << all->size() << " bytes";
  }

  uint64_t seed_ = testing::TestSeed();
  testing::FaultFileSystem fault_;
  std::vector<std::byte> leader_bytes_;
  std::vector<std::pair<size_t, size_t>> ranges_;
  testing::Epochs leader_epochs_;
  int64_t leader_end_ = 0;
};

TEST_F(ReplicaAppendTest, RunsFromALeaderReadBackIdentical) {
  reactor_->block_on([&]() -> Task<void> {
    co_await MakeLeader(30);
    CO_ASSERT_TRUE(ranges_.size() == 30u);
    auto f = co_await OpenFollower();
    CO_ASSERT_TRUE(f != nullptr);
    std::mt19937_64 rng(seed_ + 1);
    size_t at = 0;
    while (at < ranges_.size()) {
      const size_t n = std::min<size_t>(ranges_.size() - at, 1 + rng() % 8);
      std::vector<std::byte> run = Run(at, at + n);
      const uint64_t writes = fault_.stats().writes;
      const size_t segments = f->stats().segments;
      auto r = co_await f->append_replica(run);
      CO_ASSERT_OK(r);
      EXPECT_EQ(r->base_offset.value(), BaseOf(at));
      EXPECT_EQ(r->last_offset.value(), f->log_end_offset().value() - 1);
      // One write per segment the run went into (a roll also writes the two index files of the
      // segment it seals).
      const uint64_t rolls = f->stats().segments - segments;
      const uint64_t log_writes = fault_.stats().writes - writes - 2 * rolls;
      if (rolls == 0) {
        EXPECT_EQ(log_writes, 1u);
      } else {
        EXPECT_GE(log_writes, rolls);
        EXPECT_LE(log_writes, rolls + 1);
      }
      at += n;
    }
    EXPECT_GT(f->stats().segments, 1u);
    co_await ExpectPrefix(*f, ranges_.size());
    EXPECT_EQ(f->leader_epochs(), leader_epochs_);
    EXPECT_EQ(f->leader_epochs().size(), 3u);
    EXPECT_EQ(f->end_offset_for_epoch(3).end_offset.value(),
              leader_epochs_[2].start_offset.value());
    // Durable on request; survives a power cut, then a clean close.
    CO_ASSERT_OK(co_await f->wait_durable(f->log_end_offset() - 1));
    f.reset();
    CO_ASSERT_OK(co_await fault_.SimulatePowerCut());
    f = co_await OpenFollower();
    CO_ASSERT_TRUE(f != nullptr);
    co_await ExpectPrefix(*f, ranges_.size());
    EXPECT_EQ(f->leader_epochs(), leader_epochs_);
    CO_ASSERT_OK(co_await f->close());
    f = co_await OpenFollower();
    CO_ASSERT_TRUE(f != nullptr);
    EXPECT_TRUE(f->recovery_stats().clean_shutdown);
    co_await ExpectPrefix(*f, ranges_.size());
    EXPECT_EQ(f->leader_epochs(), leader_epochs_);
    CO_ASSERT_OK(co_await f->close());
  }());
}

TEST_F(ReplicaAppendTest, ARunLargerThanASegmentIsSplitPerSegment) {
  reactor_->block_on([&]() -> Task<void> {
    co_await MakeLeader(40);
    auto f = co_await OpenFollower();
    CO_ASSERT_TRUE(f != nullptr);
    std::vector<std::byte> run = Run(0, ranges_.size());
    CO_ASSERT_TRUE(run.size() > 2 * Config().segment_bytes);
    const uint64_t writes = fault_.stats().writes;
    auto r = co_await f->append_replica(run);
    CO_ASSERT_OK(r);
    EXPECT_GE(f->stats().segments, 3u);
    // One write per segment, plus the two index files of each segment a roll sealed.
    const uint64_t segments = f->stats().segments;
    EXPECT_EQ(fault_.stats().writes - writes, segments + 2 * (segments - 1));
    for (int64_t base : testing::SegmentBases(dir_)) {
      EXPECT_LE(std::filesystem::file_size(testing::SegmentPath(dir_, base, log::kLogSuffix)),
                Config().segment_bytes);
    }
    co_await ExpectPrefix(*f, ranges_.size());
    EXPECT_EQ(f->leader_epochs(), leader_epochs_);
    f.reset();  // a crash: the recovery scan sees the same batches
    f = co_await OpenFollower();
    CO_ASSERT_TRUE(f != nullptr);
    co_await ExpectPrefix(*f, ranges_.size());
    EXPECT_EQ(f->leader_epochs(), leader_epochs_);
    CO_ASSERT_OK(co_await f->close());
  }());
}

TEST_F(ReplicaAppendTest, ARunThatDoesNotContinueTheLogWritesNothing) {
  reactor_->block_on([&]() -> Task<void> {
    co_await MakeLeader(12);
    auto f = co_await OpenFollower();
    CO_ASSERT_TRUE(f != nullptr);
    std::vector<std::byte> later = Run(3, 6);
    auto r = co_await f->append_replica(later);
    EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
    EXPECT_NE(r.status().message().find("not contiguous"), std::string::npos) << r.status();
    // A gap inside the run: batches 0-1 then 3-4.
    std::vector<std::byte> gap = Run(0, 2);
    std::vector<std::byte> rest = Run(3, 5);
    gap.insert(gap.end(), rest.begin(), rest.end());
    r = co_await f->append_replica(gap);
    EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
    EXPECT_NE(r.status().message().find("not contiguous"), std::string::npos) << r.status();
    co_await ExpectPrefix(*f, 0);
    EXPECT_EQ(f->stats().size_bytes, 0u);
    EXPECT_EQ(std::filesystem::file_size(testing::SegmentPath(dir_, 0, log::kLogSuffix)), 0u);
    EXPECT_TRUE(f->leader_epochs().empty());
    // The right run goes in; the same run again does not (it no longer continues the log).
    std::vector<std::byte> first = Run(0, 3);
    CO_ASSERT_OK(co_await f->append_replica(first));
    r = co_await f->append_replica(first);
    EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
    CO_ASSERT_OK(co_await f->append_replica(later));
    co_await ExpectPrefix(*f, 6);
    CO_ASSERT_OK(co_await f->close());
  }());
}

TEST_F(ReplicaAppendTest, AnInvalidBatchAnywhereInTheRunWritesNothing) {
  reactor_->block_on([&]() -> Task<void> {
    co_await MakeLeader(12);
    LogConfig c = Config();
    auto f = co_await OpenFollower(c);
    CO_ASSERT_TRUE(f != nullptr);
    std::vector<std::byte> good = Run(0, 6);
    // A bad CRC in the middle batch's records.
    std::vector<std::byte> bad = good;
    bad[ranges_[3].first + ranges_[3].second - 1] ^= std::byte{0x10};
    auto r = co_await f->append_replica(bad);
    EXPECT_TRUE(absl::IsDataLoss(r.status())) << r.status();
    // A torn last batch.
    std::vector<std::byte> torn(good.begin(), good.end() - 5);
    r = co_await f->append_replica(torn);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
    // A bad magic in the second batch.
    std::vector<std::byte> magic = good;
    magic[ranges_[1].first + record::kMagicPos] = std::byte{1};
    r = co_await f->append_replica(magic);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
    std::vector<std::byte> none;
    r = co_await f->append_replica(none);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
    co_await ExpectPrefix(*f, 0);
    EXPECT_EQ(std::filesystem::file_size(testing::SegmentPath(dir_, 0, log::kLogSuffix)), 0u);
    CO_ASSERT_OK(co_await f->close());

    // max_message_bytes applies per batch, not to the run.
    auto largest = [&](size_t from, size_t to) {
      size_t out = 0;
      for (size_t i = from; i < to; ++i) out = std::max(out, ranges_[i].second);
      return out;
    };
    c.max_message_bytes = static_cast<uint32_t>(largest(0, 6));
    f = co_await OpenFollower(c);
    CO_ASSERT_TRUE(f != nullptr);
    CO_ASSERT_TRUE(good.size() > c.max_message_bytes);
    CO_ASSERT_OK(co_await f->append_replica(good));
    CO_ASSERT_OK(co_await f->close());
    c.max_message_bytes = static_cast<uint32_t>(largest(6, 12) - 1);
    f = co_await OpenFollower(c);
    CO_ASSERT_TRUE(f != nullptr);
    std::vector<std::byte> rest = Run(6, 12);
    r = co_await f->append_replica(rest);
    EXPECT_TRUE(absl::IsOutOfRange(r.status())) << r.status();
    co_await ExpectPrefix(*f, 6);
    CO_ASSERT_OK(co_await f->close());
  }());
}

TEST_F(ReplicaAppendTest, AFailedWriteFailsTheRunAndTheLogGoesOn) {
  reactor_->block_on([&]() -> Task<void> {
    co_await MakeLeader(10);
    auto f = co_await OpenFollower();
    CO_ASSERT_TRUE(f != nullptr);
    std::vector<std::byte> first = Run(0, 4);
    CO_ASSERT_OK(co_await f->append_replica(first));
    const testing::Epochs epochs = f->leader_epochs();
    std::vector<std::byte> second = Run(4, 10);
    fault_.FailNextWrites(1, ENOSPC);
    auto r = co_await f->append_replica(second);
    EXPECT_TRUE(absl::IsResourceExhausted(r.status())) << r.status();
    co_await ExpectPrefix(*f, 4);
    EXPECT_EQ(f->leader_epochs(), epochs) << "no entry from a batch that was not written";
    CO_ASSERT_OK(co_await f->append_replica(second));
    co_await ExpectPrefix(*f, 10);
    EXPECT_EQ(f->leader_epochs(), leader_epochs_);
    CO_ASSERT_OK(co_await f->close());
  }());
}

TEST_F(ReplicaAppendTest, ConcurrentAppendsAreOrderedByCallOrder) {
  reactor_->block_on([&]() -> Task<void> {
    co_await MakeLeader(6);
    auto f = co_await OpenFollower();
    CO_ASSERT_TRUE(f != nullptr);
    // append() called first takes offset 0: the run that starts at 0 no longer continues it.
    std::vector<std::byte> own = testing::EpochBatch(3, 7);
    std::vector<std::byte> run = Run(0, 3);
    StatusOr<AppendResult> a = absl::UnknownError("not run");
    StatusOr<AppendResult> b = absl::UnknownError("not run");
    std::vector<Task<void>> tasks;
    tasks.push_back(
        [](PartitionLog& l, std::vector<std::byte>& x, StatusOr<AppendResult>& out) -> Task<void> {
          out = co_await l.append(x);
        }(*f, own, a));
    tasks.push_back(
        [](PartitionLog& l, std::vector<std::byte>& x, StatusOr<AppendResult>& out) -> Task<void> {
          out = co_await l.append_replica(x);
        }(*f, run, b));
    co_await io::WhenAll(*reactor_, std::move(tasks));
    CO_ASSERT_OK(a);
    EXPECT_EQ(a->base_offset.value(), 0);
    EXPECT_TRUE(absl::IsFailedPrecondition(b.status())) << b.status();
    EXPECT_EQ(f->log_end_offset().value(), 3);
    EXPECT_EQ(f->leader_epochs(), Entries({{7, 0}}));
    CO_ASSERT_OK(co_await f->truncate_to(Offset(0)));

    // The run first, then append(): both go in, in that order.
    std::vector<std::byte> own2 = testing::EpochBatch(2, 9);
    std::vector<Task<void>> again;
    again.push_back(
        [](PartitionLog& l, std::vector<std::byte>& x, StatusOr<AppendResult>& out) -> Task<void> {
          out = co_await l.append_replica(x);
        }(*f, run, b));
    again.push_back(
        [](PartitionLog& l, std::vector<std::byte>& x, StatusOr<AppendResult>& out) -> Task<void> {
          out = co_await l.append(x);
        }(*f, own2, a));
    co_await io::WhenAll(*reactor_, std::move(again));
    CO_ASSERT_OK(b);
    CO_ASSERT_OK(a);
    EXPECT_EQ(b->base_offset.value(), 0);
    EXPECT_EQ(a->base_offset.value(), b->last_offset.value() + 1);
    auto all = co_await testing::ReadWholeLog(*f);
    CO_ASSERT_OK(all);
    std::vector<std::byte> want = run;
    want.insert(want.end(), own2.begin(), own2.end());  // stamped in place by append()
    EXPECT_TRUE(*all == want);
    CO_ASSERT_OK(co_await f->close());
  }());
}

}  // namespace
}  // namespace spool
