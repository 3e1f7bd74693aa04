// The checkpoint file and the clean-shutdown marker: round trips, every kind of damage
// rejected, atomic replacement, and what the log does when either is damaged or stale.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/byte_order.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/io/file_system.h"
#include "log/checkpoint_file.h"
#include "log/clean_shutdown.h"
#include "log/log_format.h"
#include "log/partition_log.h"
#include "log/record/batch_builder.h"
#include "tests/support/log_files.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using log::CheckpointData;
using log::CleanShutdownMarker;
using log::LogConfig;
using log::PartitionLog;

CheckpointData Sample() {
  CheckpointData d;
  d.recovery_point = Offset(123456789);
  d.log_start_offset = Offset(1000);
  d.high_watermark = Offset(123456700);
  d.leader_epochs = {{3, Offset(0)}, {4, Offset(5000)}, {7, Offset(100000)}};
  return d;
}

using testing::Slurp;
using testing::Spill;

TEST(CheckpointFileTest, RoundTrip) {
  const CheckpointData d = Sample();
  auto back = log::DecodeCheckpoint(log::EncodeCheckpoint(d));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, d);
  CheckpointData minimal;
  minimal.recovery_point = Offset(7);
  auto min_back = log::DecodeCheckpoint(log::EncodeCheckpoint(minimal));
  ASSERT_TRUE(min_back.ok()) << min_back.status();
  EXPECT_EQ(*min_back, minimal);
  EXPECT_FALSE(min_back->high_watermark.has_value());
}

TEST(CheckpointFileTest, LayoutMatchesTheFormatDocument) {
  CheckpointData d;
  d.recovery_point = Offset(0x0102030405060708);
  d.log_start_offset = Offset(9);
  std::vector<std::byte> f = log::EncodeCheckpoint(d);
  ASSERT_EQ(f.size(), 12u + 28u + 4u);
  EXPECT_EQ(LoadBigEndian<uint32_t>(f.data()), 0x5350434Bu);  // "SPCK"
  EXPECT_EQ(LoadBigEndian<uint16_t>(f.data() + 4), 1u);
  EXPECT_EQ(LoadBigEndian<uint32_t>(f.data() + 8), 28u);
  EXPECT_EQ(LoadBigEndian<int64_t>(f.data() + 12), 0x0102030405060708);
  EXPECT_EQ(LoadBigEndian<int64_t>(f.data() + 20), 9);
  EXPECT_EQ(LoadBigEndian<int64_t>(f.data() + 28), -1);
  EXPECT_EQ(LoadBigEndian<uint32_t>(f.data() + 36), 0u);
  EXPECT_EQ(LoadBigEndian<uint32_t>(f.data() + 40), crc32c::Value(f.data(), 40));
}

TEST(CheckpointFileTest, EveryFlippedBitAndEveryTruncationIsRejected) {
  const std::vector<std::byte> f = log::EncodeCheckpoint(Sample());
  for (size_t i = 0; i < f.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<std::byte> bad = f;
      bad[i] ^= static_cast<std::byte>(1 << bit);
      auto r = log::DecodeCheckpoint(bad);
      EXPECT_FALSE(r.ok()) << "byte " << i << " bit " << bit;
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
      }
    }
  }
  for (size_t n = 0; n < f.size(); ++n) {
    EXPECT_FALSE(log::DecodeCheckpoint(std::span(f).first(n)).ok()) << n;
  }
  std::vector<std::byte> longer = f;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(log::DecodeCheckpoint(longer).ok());
}

TEST(CheckpointFileTest, UnknownVersionOrMustUnderstandFlagIsRejectedEvenWithAGoodCrc) {
  auto recrc = [](std::vector<std::byte> f) {
    const size_t covered = f.size() - 4;
    StoreBigEndian<uint32_t>(f.data() + covered, crc32c::Value(f.data(), covered));
    return f;
  };
  std::vector<std::byte> f = log::EncodeCheckpoint(Sample());
  std::vector<std::byte> v2 = f;
  StoreBigEndian<uint16_t>(v2.data() + 4, 2);
  EXPECT_FALSE(log::DecodeCheckpoint(recrc(v2)).ok());
  std::vector<std::byte> must = f;
  StoreBigEndian<uint16_t>(must.data() + 6, 0x0100);
  EXPECT_FALSE(log::DecodeCheckpoint(recrc(must)).ok());
  std::vector<std::byte> ignorable = f;
  StoreBigEndian<uint16_t>(ignorable.data() + 6, 0x0001);
  EXPECT_TRUE(log::DecodeCheckpoint(recrc(ignorable)).ok());
}

TEST(CleanShutdownTest, RoundTripAndDamageRejected) {
  const CleanShutdownMarker m{Offset(500), Offset(400), 12345};
  const std::vector<std::byte> f = log::EncodeCleanShutdown(m);
  ASSERT_EQ(f.size(), log::kCleanShutdownSize);
  auto back = log::DecodeCleanShutdown(f);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, m);
  for (size_t i = 0; i < f.size(); ++i) {
    std::vector<std::byte> bad = f;
    bad[i] ^= std::byte{0x04};
    EXPECT_FALSE(log::DecodeCleanShutdown(bad).ok()) << "byte " << i;
  }
  EXPECT_FALSE(log::DecodeCleanShutdown(std::span(f).first(f.size() - 1)).ok());
}

// log/FORMAT.md, "Worked example": the files the log writes for two small batches, byte for byte.
// If this fails, the document and the code disagree: fix whichever is wrong, never both blindly.
std::vector<std::byte> FromHex(std::string_view hex) {
  std::vector<std::byte> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(FormatExampleTest, FilesOfTheWorkedExampleAreByteExact) {
  testing::TempDir tmp;
  auto reactor = testing::MakeReactor();
  auto fs = io::NewReactorFileSystem(*reactor);
  ManualClock clock;
  const std::string dir = tmp.file("example");
  constexpr int64_t t = 1700000000000;
  reactor->block_on([&]() -> Task<void> {
    LogConfig c;
    c.index_interval_bytes = 0;
    auto plog = co_await PartitionLog::Open(*fs, clock, dir, c);
    CO_ASSERT_OK(plog);
    record::BatchBuilder a;
    a.Append(t, "a", "x");
    a.Append(t + 1, "a", "y");
    auto batch_a = a.Seal();
    CO_ASSERT_OK(batch_a);
    CO_ASSERT_OK(co_await (*plog)->append(*batch_a));
    record::BatchBuilder b;
    b.Append(t + 2, "b", "z");
    auto batch_b = b.Seal();
    CO_ASSERT_OK(batch_b);
    CO_ASSERT_OK(co_await (*plog)->append(*batch_b));
    auto at = co_await (*plog)->offset_for_timestamp(t + 2);
    CO_ASSERT_OK(at);
    EXPECT_EQ(at->value().value(), 2);
    CO_ASSERT_OK(co_await (*plog)->close());
  }());
  const std::string stem = dir + "/" + log::SegmentStem(Offset(0));
  EXPECT_TRUE(Slurp(stem + ".log") ==
              FromHex("000000000000000000000043ffffffff0282240e890000000000010000018bcfe568000000"
                      "018bcfe56801ffffffffffffffffffffffffffff0000000210000000026102780010000202"
                      "0261027900"
                      "00000000000000020000003affffffff02375af1030000000000000000018bcfe5680200"
                      "00018bcfe56802ffffffffffffffffffffffffffff00000001100000000262027a00"));
  EXPECT_TRUE(Slurp(stem + ".index") ==
              FromHex("53504f490001000800000000000000000000000200000000000000009f4efaef00000000"
                      "00000000000000020000004f"));
  EXPECT_TRUE(Slurp(stem + ".timeindex") ==
              FromHex("535054490001000c0000000000000000000000020000000000000000c770a56e0000018b"
                      "cfe56801000000000000018bcfe5680200000002"));
  EXPECT_TRUE(Slurp(dir + "/log.checkpoint") ==
              FromHex("5350434b000100000000001c00000000000000030000000000000000ffffffffffffffff"
                      "000000007ab5638a"));
  EXPECT_TRUE(Slurp(dir + "/clean_shutdown") ==
              FromHex("5350435300010000000000000000000300000000000000000000000000000095b5c2ae4a"));
}

class CheckpointLogTest : public ::testing::Test {
 protected:
  CheckpointLogTest()
      : reactor_(testing::MakeReactor()),
        fs_(io::NewReactorFileSystem(*reactor_)),
        dir_(tmp_.file("p")) {}

  static LogConfig Config() {
    LogConfig c;
    c.segment_bytes = 4096;
    c.retention_ms = -1;
    return c;
  }

  // Appends 40 batches (several segments), closes cleanly.
  Task<void> Fill(bool close = true) {
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    for (int i = 0; i < 40; ++i) {
      record::BatchBuilder builder;
      builder.Append(i, "k", std::string(300, 'c'));
      auto b = builder.Seal();
      CO_ASSERT_OK(b);
      CO_ASSERT_OK(co_await (*plog)->append(*b));
      expected_.insert(expected_.end(), b->begin(), b->end());
    }
    if (close) CO_ASSERT_OK(co_await (*plog)->close());
  }

  Task<void> ExpectAllThere(PartitionLog& plog) {
    EXPECT_EQ(plog.log_end_offset().value(), 40);
    auto all = co_await testing::ReadWholeLog(plog);
    CO_ASSERT_OK(all);
    EXPECT_TRUE(*all == expected_);
  }

  std::string Path(std::string_view name) const { return dir_ + "/" + std::string(name); }

  testing::TempDir tmp_;
  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::FileSystem> fs_;
  std::string dir_;
  ManualClock clock_;
  std::vector<std::byte> expected_;
};

TEST_F(CheckpointLogTest, WriteReplacesAtomicallyAndLeavesNoTempFile) {
  reactor_->block_on([&]() -> Task<void> {
    std::filesystem::create_directories(dir_);
    auto missing = co_await log::ReadCheckpoint(*fs_, dir_);
    EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
    CO_ASSERT_OK(co_await log::WriteCheckpoint(*fs_, dir_, Sample()));
    CheckpointData next = Sample();
    next.recovery_point = Offset(5);
    next.leader_epochs.clear();
    CO_ASSERT_OK(co_await log::WriteCheckpoint(*fs_, dir_, next));
    auto back = co_await log::ReadCheckpoint(*fs_, dir_);
    CO_ASSERT_OK(back);
    EXPECT_EQ(*back, next);
    EXPECT_FALSE(std::filesystem::exists(Path(log::kCheckpointName) + ".tmp"));
    // A torn write of the file is detected.
    std::vector<std::byte> torn = Slurp(Path(log::kCheckpointName));
    torn.resize(torn.size() / 2);
    Spill(Path(log::kCheckpointName), torn);
    auto bad = co_await log::ReadCheckpoint(*fs_, dir_);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  }());
}

TEST_F(CheckpointLogTest, TheLogWritesACheckpointWithItsRecoveryPointAndLogStart) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill();
    auto ck = co_await log::ReadCheckpoint(*fs_, dir_);
    CO_ASSERT_OK(ck);
    EXPECT_EQ(ck->recovery_point.value(), 40);
    EXPECT_EQ(ck->log_start_offset.value(), 0);
  }());
}

TEST_F(CheckpointLogTest, ACorruptCheckpointIsNeverTrustedAndForcesAFullScan) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill();
    std::vector<std::byte> ck = Slurp(Path(log::kCheckpointName));
    ck[14] ^= std::byte{0xff};  // inside the recovery point
    Spill(Path(log::kCheckpointName), ck);
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    const auto& rs = (*plog)->recovery_stats();
    EXPECT_FALSE(rs.checkpoint_valid);
    EXPECT_FALSE(rs.clean_shutdown) << "a marker is not enough without a valid checkpoint";
    EXPECT_EQ(rs.segments_scanned, (*plog)->stats().segments);
    EXPECT_EQ(rs.batches_scanned, 40u);
    co_await ExpectAllThere(**plog);
    // Recovery wrote a good checkpoint again.
    auto fresh = co_await log::ReadCheckpoint(*fs_, dir_);
    CO_ASSERT_OK(fresh);
    EXPECT_EQ(fresh->recovery_point.value(), 40);
  }());
}

TEST_F(CheckpointLogTest, AMissingCheckpointForcesAFullScan) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill(/*close=*/false);
    std::filesystem::remove(Path(log::kCheckpointName));
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    EXPECT_FALSE((*plog)->recovery_stats().checkpoint_valid);
    EXPECT_EQ((*plog)->recovery_stats().batches_scanned, 40u);
    co_await ExpectAllThere(**plog);
  }());
}

TEST_F(CheckpointLogTest, AMarkerThatDoesNotMatchTheFilesIsNotTrusted) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill();
    // Garbage appended to the active segment after the clean shutdown (or a marker from some
    // other state): its size no longer matches, so the log scans and cuts the garbage.
    std::string active;
    int64_t best = -1;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      auto b = log::ParseSegmentName(e.path().filename().string(), log::kLogSuffix);
      if (b && b->value() > best) {
        best = b->value();
        active = e.path().string();
      }
    }
    std::vector<std::byte> seg = Slurp(active);
    seg.insert(seg.end(), 100, std::byte{0x33});
    Spill(active, seg);
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    const auto& rs = (*plog)->recovery_stats();
    EXPECT_FALSE(rs.clean_shutdown);
    EXPECT_EQ(rs.bytes_truncated, 100u);
    EXPECT_FALSE(rs.truncation_reason.empty());
    co_await ExpectAllThere(**plog);
  }());
}

TEST_F(CheckpointLogTest, ADamagedMarkerMeansAnUncleanOpen) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill();
    std::vector<std::byte> m = Slurp(Path(log::kCleanShutdownName));
    m[9] ^= std::byte{1};
    Spill(Path(log::kCleanShutdownName), m);
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    EXPECT_FALSE((*plog)->recovery_stats().clean_shutdown);
    EXPECT_GE((*plog)->recovery_stats().segments_scanned, 1u);
    EXPECT_FALSE(std::filesystem::exists(Path(log::kCleanShutdownName)));
    co_await ExpectAllThere(**plog);
  }());
}

TEST_F(CheckpointLogTest, ALeftoverTempCheckpointIsRemovedAndIgnored) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill();
    Spill(Path(log::kCheckpointName) + ".tmp", std::vector<std::byte>(10, std::byte{7}));
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    EXPECT_TRUE((*plog)->recovery_stats().clean_shutdown);
    EXPECT_EQ((*plog)->recovery_stats().tmp_files_removed, 1u);
    EXPECT_FALSE(std::filesystem::exists(Path(log::kCheckpointName) + ".tmp"));
    co_await ExpectAllThere(**plog);
  }());
}

}  // namespace
}  // namespace spool
