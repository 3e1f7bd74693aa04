// What recovery does when it cannot trust what it reads. Two rules (log/FORMAT.md, "Recovery"):
//   1. An I/O error, or a file that changes under the read, fails Open and changes nothing on
//      disk. Only a file that was read whole and failed its own checks counts as damaged; a
//      transient error must never make recovery ignore a good checkpoint, cut a segment or
//      delete one.
//   2. Damage in data below the recovery point (data that was durable) fails Open with kDataLoss
//      and changes nothing: a crash cannot cause it, and cutting there would delete acknowledged
//      batches and every later segment. Damage past the recovery point is still cut (the
//      corruption and crash-recovery tests cover that).
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/file_system.h"
#include "log/checkpoint_file.h"
#include "log/log_format.h"
#include "log/partition_log.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_header.h"
#include "tests/support/hook_file_system.h"
#include "tests/support/log_files.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using log::LogConfig;
using log::PartitionLog;

// Every file of a directory, by name, with its bytes.
using DirImage = std::map<std::string, std::vector<std::byte>>;

DirImage Snapshot(const std::string& dir) {
  DirImage out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out[e.path().filename().string()] = testing::Slurp(e.path().string());
  }
  return out;
}

void FlipByte(const std::string& path, size_t pos) {
  std::vector<std::byte> bytes = testing::Slurp(path);
  bytes.at(pos) ^= std::byte{0x20};
  testing::Spill(path, bytes);
}

class RecoveryErrorsTest : public ::testing::Test {
 protected:
  RecoveryErrorsTest()
      : reactor_(testing::MakeReactor()),
        base_(io::NewReactorFileSystem(*reactor_)),
        fs_(*reactor_, *base_),
        dir_(tmp_.file("p")) {}

  static LogConfig Config() {
    LogConfig c;
    c.segment_bytes = 2048;
    c.index_interval_bytes = 512;
    c.retention_ms = -1;
    return c;
  }

  // Appends 40 batches (seven or eight segments), each acknowledged durable; then closes cleanly or
  // drops the log as a crash would.
  Task<void> Fill(bool clean_close) {
    auto plog = co_await PartitionLog::Open(fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    for (int i = 0; i < 40; ++i) {
      record::BatchBuilder builder;
      builder.Append(clock_.wall_ms() + i, "k", std::string(300, static_cast<char>('a' + i % 26)));
      auto b = builder.Seal();
      CO_ASSERT_OK(b);
      auto r = co_await (*plog)->append(*b);
      CO_ASSERT_OK(r);
      CO_ASSERT_OK(co_await (*plog)->wait_durable(r->last_offset));
      expected_.insert(expected_.end(), b->begin(), b->end());
    }
    CO_ASSERT_TRUE((*plog)->stats().segments >= 5);
    if (clean_close) CO_ASSERT_OK(co_await (*plog)->close());
  }

  // Opens the log; it must fail, and leave every file as it was.
  Task<void> ExpectOpenFails(const std::string& what, absl::StatusCode code, int err = 0) {
    const DirImage before = Snapshot(dir_);
    auto plog = co_await PartitionLog::Open(fs_, clock_, dir_, Config());
    EXPECT_FALSE(plog.ok()) << what << ": Open went on";
    if (!plog.ok()) {
      EXPECT_EQ(plog.status().code(), code) << what << ": " << plog.status();
      if (err != 0) {
        EXPECT_EQ(ErrnoOf(plog.status()), err) << what << ": " << plog.status();
      }
    }
    EXPECT_TRUE(Snapshot(dir_) == before) << what << ": Open changed the files";
  }

  // Opens the log; every acknowledged batch must be there.
  Task<void> ExpectEverythingThere(const std::string& what) {
    auto plog = co_await PartitionLog::Open(fs_, clock_, dir_, Config());
    EXPECT_TRUE(plog.ok()) << what << ": " << plog.status();
    if (!plog.ok()) co_return;
    EXPECT_EQ((*plog)->log_end_offset().value(), 40) << what;
    auto all = co_await testing::ReadWholeLog(**plog);
    EXPECT_TRUE(all.ok()) << what << ": " << all.status();
    if (all.ok()) {
      EXPECT_TRUE(*all == expected_) << what;
    }
    PermitUncheckedError(co_await (*plog)->close());
  }

  testing::TempDir tmp_;
  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::FileSystem> base_;
  testing::HookFileSystem fs_;
  std::string dir_;
  ManualClock clock_;
  std::vector<std::byte> expected_;
};

// Regression: a checkpoint that could not be read was treated like a damaged one, so Open went
// on without it: segments below its log start came back, and the checkpoint was rewritten
// without its high watermark and leader epochs.
TEST_F(RecoveryErrorsTest, AnUnreadableCheckpointFailsOpenAndKeepsItsContent) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill(/*clean_close=*/true);
    auto ck = co_await log::ReadCheckpoint(fs_, dir_);
    CO_ASSERT_OK(ck);
    ck->high_watermark = Offset(30);
    ck->leader_epochs = {{1, Offset(0)}, {2, Offset(17)}};
    CO_ASSERT_OK(co_await log::WriteCheckpoint(fs_, dir_, *ck));

    fs_.FailReads(std::string(log::kCheckpointName), EIO);
    co_await ExpectOpenFails("EIO on the checkpoint", absl::StatusCode::kDataLoss, EIO);
    EXPECT_GT(fs_.failed_reads(), 0);
    fs_.ClearFaults();
    fs_.ShortReads(std::string(log::kCheckpointName));
    co_await ExpectOpenFails("short reads of the checkpoint", absl::StatusCode::kAborted);
    fs_.ClearFaults();

    co_await ExpectEverythingThere("after the checkpoint errors");
    auto kept = co_await log::ReadCheckpoint(fs_, dir_);
    CO_ASSERT_OK(kept);
    EXPECT_EQ(kept->high_watermark, Offset(30));
    EXPECT_EQ(kept->leader_epochs, ck->leader_epochs);
  }());
}

TEST_F(RecoveryErrorsTest, AnUnreadableMarkerOrIndexFileFailsOpen) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill(/*clean_close=*/true);
    fs_.FailReads(std::string(log::kCleanShutdownName), EIO);
    co_await ExpectOpenFails("EIO on the marker", absl::StatusCode::kDataLoss, EIO);
    fs_.FailReads(std::string(log::kIndexSuffix), EIO);
    co_await ExpectOpenFails("EIO on the index files", absl::StatusCode::kDataLoss, EIO);
    fs_.ClearFaults();
    co_await ExpectEverythingThere("after the read errors");
  }());
}

// Regression: a short read in the recovery scan was taken for the end of the file ("the file
// shrank"), so the segment was cut there and every later segment deleted, durable batches
// included.
TEST_F(RecoveryErrorsTest, ShortOrFailedSegmentReadsFailOpenAndCutNothing) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill(/*clean_close=*/false);  // unclean: the next open scans
    fs_.ShortReads(std::string(log::kLogSuffix));
    co_await ExpectOpenFails("short segment reads", absl::StatusCode::kAborted);
    fs_.FailReads(std::string(log::kLogSuffix), EIO);
    co_await ExpectOpenFails("EIO on the segments", absl::StatusCode::kDataLoss, EIO);
    fs_.ClearFaults();
    co_await ExpectEverythingThere("after the segment read errors");
  }());
}

// Regression: a bad batch found in a segment below the recovery point (here: one whose index
// files are gone, so it is scanned) was cut like a torn tail, and every later segment deleted:
// 30-odd acknowledged-durable batches lost to one flipped bit.
TEST_F(RecoveryErrorsTest, DamageBelowTheRecoveryPointFailsOpenAndDeletesNothing) {
  for (const bool clean : {true, false}) {
    const std::string what = clean ? "after a clean close" : "after a crash";
    std::filesystem::remove_all(dir_);
    expected_.clear();
    reactor_->block_on([&]() -> Task<void> {
      co_await Fill(clean);
      const int64_t first = testing::SegmentBases(dir_).front();
      std::filesystem::remove(testing::SegmentPath(dir_, first, log::kIndexSuffix));
      std::filesystem::remove(testing::SegmentPath(dir_, first, log::kTimeIndexSuffix));
      const size_t pos = record::kHeaderSize + 100;  // inside the first batch's records
      FlipByte(testing::SegmentPath(dir_, first, log::kLogSuffix), pos);
      co_await ExpectOpenFails(what, absl::StatusCode::kDataLoss);
      // Repaired (here: the bit flipped back), the log opens with everything.
      FlipByte(testing::SegmentPath(dir_, first, log::kLogSuffix), pos);
      co_await ExpectEverythingThere(what + ", repaired");
    }());
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace spool
