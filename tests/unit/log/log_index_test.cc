// Offset and time indexes: the in-memory lookups, the file format's checks, lookups through the
// log at every boundary, and rebuilding a missing, garbage or inconsistent index file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/byte_order.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/io/file_system.h"
#include "log/index_file.h"
#include "log/log_format.h"
#include "log/offset_index.h"
#include "log/partition_log.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_header.h"
#include "log/time_index.h"
#include "tests/support/log_files.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using log::LogConfig;
using log::OffsetIndex;
using log::PartitionLog;
using log::TimeIndex;

std::vector<std::byte> MakeBatch(int records, int64_t ts, size_t value_size) {
  record::BatchBuilder builder;
  for (int i = 0; i < records; ++i) builder.Append(ts + i, "k", std::string(value_size, 'x'));
  auto sealed = builder.Seal();
  EXPECT_TRUE(sealed.ok()) << sealed.status();
  return std::move(sealed).value();
}

using testing::Slurp;
using testing::Spill;

// ---- OffsetIndex / TimeIndex as values ----

TEST(OffsetIndexTest, FloorLookupsAtAndAroundEveryEntry) {
  OffsetIndex index;
  index.Append(0, 0);
  index.Append(10, 4096);
  index.Append(25, 8200);
  EXPECT_FALSE(index.Floor(-1).has_value());
  EXPECT_EQ(index.Floor(0)->position, 0u);
  EXPECT_EQ(index.Floor(9)->position, 0u);
  EXPECT_EQ(index.Floor(10)->position, 4096u);
  EXPECT_EQ(index.Floor(11)->position, 4096u);
  EXPECT_EQ(index.Floor(24)->position, 4096u);
  EXPECT_EQ(index.Floor(25)->position, 8200u);
  EXPECT_EQ(index.Floor(1'000'000)->position, 8200u);
  EXPECT_EQ(index.FloorByPosition(4095)->relative_offset, 0u);
  EXPECT_EQ(index.FloorByPosition(4096)->relative_offset, 10u);
  EXPECT_EQ(index.FloorByPosition(9000)->relative_offset, 25u);
  index.TruncateToPosition(4096);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.last_position(), 0u);
  OffsetIndex empty;
  EXPECT_FALSE(empty.Floor(5).has_value());
  EXPECT_FALSE(empty.FloorByPosition(5).has_value());
}

TEST(OffsetIndexTest, EncodeDecodeRoundTripAndEveryCheck) {
  OffsetIndex index;
  index.Append(3, 100);
  index.Append(9, 5000);
  const Offset base(1000);
  std::vector<std::byte> file = index.Encode(base);
  ASSERT_EQ(file.size(), log::kIndexHeaderSize + 2 * log::kOffsetIndexEntrySize);
  auto decoded = OffsetIndex::Decode(file, base, 6000, 20);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->entries(), index.entries());

  // Every single flipped byte is caught (header fields, CRC, entries).
  for (size_t i = 0; i < file.size(); ++i) {
    std::vector<std::byte> bad = file;
    bad[i] ^= std::byte{0x10};
    EXPECT_FALSE(OffsetIndex::Decode(bad, base, 6000, 20).ok()) << "byte " << i;
  }
  // Truncated anywhere.
  for (size_t n = 0; n < file.size(); ++n) {
    EXPECT_FALSE(OffsetIndex::Decode(std::span(file).first(n), base, 6000, 20).ok()) << n;
  }
  EXPECT_FALSE(OffsetIndex::Decode(file, Offset(999), 6000, 20).ok()) << "wrong base";
  EXPECT_FALSE(OffsetIndex::Decode(file, base, 5000, 20).ok()) << "position past the log";
  EXPECT_FALSE(OffsetIndex::Decode(file, base, 6000, 9).ok()) << "offset past the segment";
  // A time index is not an offset index.
  TimeIndex t;
  t.MaybeAppend(5, 0);
  EXPECT_FALSE(OffsetIndex::Decode(t.Encode(base), base, 6000, 20).ok());
}

TEST(OffsetIndexTest, NonMonotonicEntriesWithAValidCrcAreRejected) {
  OffsetIndex index;
  index.Append(9, 5000);
  index.Append(3, 6000);  // offsets go backwards
  EXPECT_FALSE(OffsetIndex::Decode(index.Encode(Offset(0)), Offset(0), 10000, 20).ok());
  OffsetIndex positions;
  positions.Append(3, 5000);
  positions.Append(9, 100);  // positions go backwards
  EXPECT_FALSE(OffsetIndex::Decode(positions.Encode(Offset(0)), Offset(0), 10000, 20).ok());
}

TEST(IndexFileTest, MustUnderstandFlagsAndUnknownVersionsAreRejected) {
  OffsetIndex index;
  index.Append(1, 1);
  std::vector<std::byte> file = index.Encode(Offset(0));
  auto restamp = [](std::vector<std::byte> f) {
    // Recompute the CRC as a writer of that variant would.
    const uint32_t crc =
        crc32c::Extend(crc32c::Value(f.data(), log::kIndexCrcPos), f.data() + log::kIndexHeaderSize,
                       f.size() - log::kIndexHeaderSize);
    StoreBigEndian<uint32_t>(f.data() + log::kIndexCrcPos, crc);
    return f;
  };
  std::vector<std::byte> ignorable = file;
  StoreBigEndian<uint32_t>(ignorable.data() + log::kIndexFlagsPos, 0x1);
  EXPECT_TRUE(OffsetIndex::Decode(restamp(ignorable), Offset(0), 100, 10).ok());
  std::vector<std::byte> must = file;
  StoreBigEndian<uint32_t>(must.data() + log::kIndexFlagsPos, 0x10000);
  EXPECT_FALSE(OffsetIndex::Decode(restamp(must), Offset(0), 100, 10).ok());
  std::vector<std::byte> v2 = file;
  StoreBigEndian<uint16_t>(v2.data() + log::kIndexVersionPos, 2);
  EXPECT_FALSE(OffsetIndex::Decode(restamp(v2), Offset(0), 100, 10).ok());
}

TEST(TimeIndexTest, KeepsStrictlyIncreasingTimestampsAndFindsTheLastBefore) {
  TimeIndex t;
  EXPECT_TRUE(t.MaybeAppend(100, 0));
  EXPECT_FALSE(t.MaybeAppend(100, 4));  // not above the last
  EXPECT_FALSE(t.MaybeAppend(50, 5));
  EXPECT_TRUE(t.MaybeAppend(200, 10));
  EXPECT_TRUE(t.MaybeAppend(300, 20));
  EXPECT_FALSE(t.LastBefore(100).has_value());
  EXPECT_EQ(t.LastBefore(101)->relative_offset, 0u);
  EXPECT_EQ(t.LastBefore(200)->relative_offset, 0u);
  EXPECT_EQ(t.LastBefore(201)->relative_offset, 10u);
  EXPECT_EQ(t.LastBefore(1000)->relative_offset, 20u);
  t.TruncateToOffset(10);
  EXPECT_EQ(t.size(), 1u);
  auto decoded = TimeIndex::Decode(t.Encode(Offset(7)), Offset(7), 30);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->entries(), t.entries());
  std::vector<std::byte> file = t.Encode(Offset(7));
  for (size_t i = 0; i < file.size(); ++i) {
    std::vector<std::byte> bad = file;
    bad[i] ^= std::byte{0x01};
    EXPECT_FALSE(TimeIndex::Decode(bad, Offset(7), 30).ok()) << "byte " << i;
  }
}

// ---- through the log ----

class LogIndexTest : public ::testing::Test {
 protected:
  LogIndexTest()
      : reactor_(testing::MakeReactor()),
        fs_(io::NewReactorFileSystem(*reactor_)),
        dir_(tmp_.file("p")) {}

  static LogConfig Config() {
    LogConfig c;
    c.segment_bytes = 16 * 1024;
    c.index_interval_bytes = 1000;
    c.retention_ms = -1;
    return c;
  }

  struct Batch {
    int64_t base;
    int64_t last;
    size_t position;  // in expected_
    size_t size;
  };

  // Appends batches of 1..4 records with varied sizes, then closes cleanly.
  Task<void> Fill(int n) {
    auto opened = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(opened);
    for (int i = 0; i < n; ++i) {
      std::vector<std::byte> b = MakeBatch(1 + i % 4, 1000 + i, 50 + (i * 37) % 400);
      auto r = co_await (*opened)->append(b);
      CO_ASSERT_OK(r);
      batches_.push_back(
          {r->base_offset.value(), r->last_offset.value(), expected_.size(), b.size()});
      expected_.insert(expected_.end(), b.begin(), b.end());
    }
    CO_ASSERT_OK(co_await (*opened)->close());
  }

  // For every offset: a one-byte read returns exactly the batch that holds it.
  Task<void> CheckEveryOffset(PartitionLog& plog) {
    const Offset end = plog.log_end_offset();
    for (const Batch& b : batches_) {
      for (int64_t o = b.base; o <= b.last; ++o) {
        auto r = co_await plog.read(Offset(o), 1, end);
        CO_ASSERT_OK(r);
        EXPECT_EQ(r->total_bytes, b.size) << "offset " << o;
        EXPECT_EQ(r->next_offset.value(), b.last + 1) << "offset " << o;
        auto bytes = co_await PartitionLog::ReadAll(*r);
        CO_ASSERT_OK(bytes);
        EXPECT_TRUE(std::equal(bytes->begin(), bytes->end(),
                               expected_.begin() + static_cast<ptrdiff_t>(b.position),
                               expected_.begin() + static_cast<ptrdiff_t>(b.position + b.size)))
            << "offset " << o;
        if (::testing::Test::HasFailure()) co_return;
      }
    }
    auto past = co_await plog.read(end + 1, 1, end + 1);
    EXPECT_EQ(past.status().code(), absl::StatusCode::kOutOfRange);
  }

  std::string IndexPath(int64_t base) const {
    return testing::SegmentPath(dir_, base, log::kIndexSuffix);
  }
  std::string TimeIndexPath(int64_t base) const {
    return testing::SegmentPath(dir_, base, log::kTimeIndexSuffix);
  }
  std::vector<int64_t> SegmentBases() const { return testing::SegmentBases(dir_); }

  testing::TempDir tmp_;
  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::FileSystem> fs_;
  std::string dir_;
  ManualClock clock_;
  std::vector<Batch> batches_;
  std::vector<std::byte> expected_;
};

TEST_F(LogIndexTest, EveryOffsetFindsItsBatchAcrossSegmentsAndIndexEntries) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill(120);
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    CO_ASSERT_TRUE((*plog)->stats().segments >= 3);
    // The index files exist and are sparse: fewer entries than batches, more than none.
    size_t entries = 0;
    for (int64_t base : SegmentBases()) {
      entries += (std::filesystem::file_size(IndexPath(base)) - log::kIndexHeaderSize) /
                 log::kOffsetIndexEntrySize;
    }
    EXPECT_GT(entries, 10u);
    EXPECT_LT(entries, batches_.size());
    co_await CheckEveryOffset(**plog);
  }());
}

TEST_F(LogIndexTest, ZeroIntervalIndexesEveryBatch) {
  reactor_->block_on([&]() -> Task<void> {
    LogConfig c = Config();
    c.index_interval_bytes = 0;
    auto opened = co_await PartitionLog::Open(*fs_, clock_, dir_, c);
    CO_ASSERT_OK(opened);
    for (int i = 0; i < 10; ++i) {
      std::vector<std::byte> b = MakeBatch(2, i, 10);
      CO_ASSERT_OK(co_await (*opened)->append(b));
    }
    CO_ASSERT_OK(co_await (*opened)->close());
    EXPECT_EQ(std::filesystem::file_size(IndexPath(0)),
              log::kIndexHeaderSize + 10 * log::kOffsetIndexEntrySize);
  }());
}

TEST_F(LogIndexTest, MissingIndexFilesAreRebuiltIdentically) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill(120);
    const std::vector<int64_t> bases = SegmentBases();
    CO_ASSERT_TRUE(bases.size() >= 3);
    const std::vector<std::byte> index = Slurp(IndexPath(bases[1]));
    const std::vector<std::byte> time_index = Slurp(TimeIndexPath(bases[1]));
    std::filesystem::remove(IndexPath(bases[1]));
    std::filesystem::remove(TimeIndexPath(bases[1]));
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    EXPECT_TRUE((*plog)->recovery_stats().clean_shutdown);
    EXPECT_EQ((*plog)->recovery_stats().indexes_rebuilt, 1u);
    EXPECT_EQ((*plog)->recovery_stats().segments_scanned, 1u);
    // Rebuilt with the same rule as when appending: the same bytes.
    EXPECT_TRUE(Slurp(IndexPath(bases[1])) == index);
    EXPECT_TRUE(Slurp(TimeIndexPath(bases[1])) == time_index);
    co_await CheckEveryOffset(**plog);
  }());
}

TEST_F(LogIndexTest, GarbageIndexFileIsRebuilt) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill(120);
    const std::vector<int64_t> bases = SegmentBases();
    const std::vector<std::byte> index = Slurp(IndexPath(bases[0]));
    Spill(IndexPath(bases[0]), std::vector<std::byte>(300, std::byte{0xab}));
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    EXPECT_EQ((*plog)->recovery_stats().indexes_rebuilt, 1u);
    EXPECT_TRUE(Slurp(IndexPath(bases[0])) == index);
    co_await CheckEveryOffset(**plog);
  }());
}

TEST_F(LogIndexTest, AValidLookingIndexThatPointsAtTheWrongBatchIsRebuilt) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill(120);
    const std::vector<int64_t> bases = SegmentBases();
    // Well-formed and CRC-correct, but its entry names the wrong offset for its position.
    OffsetIndex wrong;
    wrong.Append(1, static_cast<uint32_t>(batches_[3].position));
    Spill(IndexPath(bases[0]), wrong.Encode(Offset(bases[0])));
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    EXPECT_EQ((*plog)->recovery_stats().indexes_rebuilt, 1u);
    co_await CheckEveryOffset(**plog);
  }());
}

// Regression: the load checks did not compare a time index with the batches they read after
// its last offset-index entry, so a CRC-valid time index written when the segment was shorter
// was trusted: the segment's largest timestamp was the old one, and a lookup for the newer
// records skipped the segment.
TEST_F(LogIndexTest, AStaleButWellFormedTimeIndexIsRebuilt) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill(12);
    CO_ASSERT_TRUE(SegmentBases().size() == 1u);
    const std::vector<std::byte> stale_index = Slurp(IndexPath(0));
    const std::vector<std::byte> stale_time_index = Slurp(TimeIndexPath(0));
    // Younger records fill the segment until it rolls; its index files are written again.
    constexpr int64_t kYoung = 1'000'000;
    std::optional<int64_t> first_young;
    {
      auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
      CO_ASSERT_OK(plog);
      while ((*plog)->stats().rolls == 0) {
        std::vector<std::byte> b = MakeBatch(2, kYoung, 300);
        auto r = co_await (*plog)->append(b);
        CO_ASSERT_OK(r);
        if (!first_young) first_young = r->base_offset.value();
      }
      CO_ASSERT_OK(co_await (*plog)->close());
    }
    CO_ASSERT_TRUE(first_young.has_value());
    // The files of the first close come back (as a stale copy, or a lost rewrite, would).
    Spill(IndexPath(0), stale_index);
    Spill(TimeIndexPath(0), stale_time_index);
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    EXPECT_EQ((*plog)->recovery_stats().indexes_rebuilt, 1u);
    auto at = co_await (*plog)->offset_for_timestamp(kYoung);
    CO_ASSERT_OK(at);
    EXPECT_EQ(*at, std::optional<Offset>(Offset(*first_young)));
  }());
}

TEST_F(LogIndexTest, IndexesRebuiltByAScanEqualThoseWrittenWhileAppending) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill(120);
    const std::vector<int64_t> bases = SegmentBases();
    std::vector<std::vector<std::byte>> indexes;
    for (int64_t b : bases) indexes.push_back(Slurp(IndexPath(b)));
    // Forget everything but the segments: no checkpoint, no marker, no index file.
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (!log::ParseSegmentName(e.path().filename().string(), log::kLogSuffix)) {
        std::filesystem::remove(e.path());
      }
    }
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    EXPECT_FALSE((*plog)->recovery_stats().checkpoint_valid);
    EXPECT_EQ((*plog)->recovery_stats().segments_scanned, bases.size());
    co_await CheckEveryOffset(**plog);
    CO_ASSERT_OK(co_await (*plog)->close());
    for (size_t i = 0; i < bases.size(); ++i) {
      EXPECT_TRUE(Slurp(IndexPath(bases[i])) == indexes[i]) << "segment " << bases[i];
    }
  }());
}

TEST_F(LogIndexTest, OrphanIndexFilesAndTempFilesAreRemovedOtherFilesKept) {
  reactor_->block_on([&]() -> Task<void> {
    co_await Fill(10);
    Spill(IndexPath(777), std::vector<std::byte>(40));
    Spill(TimeIndexPath(777), std::vector<std::byte>(40));
    Spill(dir_ + "/" + log::SegmentStem(Offset(5)) + ".log.tmp", std::vector<std::byte>(7));
    Spill(dir_ + "/notes.txt", std::vector<std::byte>(3));
    auto plog = co_await PartitionLog::Open(*fs_, clock_, dir_, Config());
    CO_ASSERT_OK(plog);
    EXPECT_EQ((*plog)->recovery_stats().orphan_files_removed, 2u);
    EXPECT_EQ((*plog)->recovery_stats().tmp_files_removed, 1u);
    EXPECT_FALSE(std::filesystem::exists(IndexPath(777)));
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/notes.txt"));
    co_await CheckEveryOffset(**plog);
  }());
}

}  // namespace
}  // namespace spool
