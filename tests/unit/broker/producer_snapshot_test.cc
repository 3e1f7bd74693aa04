// Producer-state snapshot files (broker/producer_snapshot.h, broker/STATE.md "Producer-state
// snapshots"): the encoding round-trips a random table, every damaged or truncated image and
// another version are refused, the files are listed, pruned and deleted by offset, and the
// loader (producer_state_loader.h) starts from the newest good snapshot, skips a damaged one,
// and never uses one above the log end.
#include "broker/producer_snapshot.h"

#include <random>
#include <string>
#include <vector>

#include "broker/producer_state_loader.h"
#include "common/byte_order.h"
#include "common/crc32c.h"
#include "gtest/gtest.h"
#include "log/file_util.h"
#include "log/log_format.h"
#include "log/record/batch_builder.h"
#include "tests/support/log_test_util.h"
#include "tests/support/record_test_util.h"

namespace spool::testing {
namespace {

using broker::BatchIdentity;
using broker::DedupCheck;
using broker::ProducerSnapshot;
using broker::ProducerStateTable;

// A table built the way a leader builds it: random producers, epochs and batch sizes, with
// evictions (more than 5 batches per producer) and epoch bumps. Returns the end offset.
Offset RandomTable(std::mt19937_64& rng, ProducerStateTable& table) {
  std::vector<int32_t> next(20, 0);
  std::vector<int16_t> epoch(20, 0);
  int64_t offset = static_cast<int64_t>(rng() % 1000);
  for (int i = 0; i < 300; ++i) {
    const size_t p = rng() % next.size();
    if (rng() % 40 == 0) {
      epoch[p]++;
      next[p] = 0;
    }
    const int records = 1 + static_cast<int>(rng() % 7);
    BatchIdentity id{static_cast<int64_t>(p * 1000 + 3), epoch[p], next[p],
                     broker::AddToSequence(next[p], records - 1)};
    table.Record(id, Offset(offset), Offset(offset + records - 1));
    next[p] = broker::AddToSequence(next[p], records);
    offset += records + static_cast<int64_t>(rng() % 3);  // plain batches between
  }
  return Offset(offset);
}

TEST(ProducerSnapshotFormatTest, ARandomTableRoundTrips) {
  std::mt19937_64 rng(TestSeed());
  for (int round = 0; round < 20; ++round) {
    ProducerStateTable table;
    const Offset end = RandomTable(rng, table);
    ASSERT_GT(table.size(), 0u);
    const std::vector<std::byte> file = broker::EncodeProducerSnapshot(end, table);
    StatusOr<ProducerSnapshot> decoded = broker::DecodeProducerSnapshot(file);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->offset, end);
    EXPECT_TRUE(decoded->table == table);
    bool any_evicted = false;
    for (const auto& [id, entry] : decoded->table.entries()) any_evicted |= entry.evicted;
    EXPECT_TRUE(any_evicted) << "the random table should exercise the evicted flag";
  }
  // An empty table at offset 0 is a valid snapshot too.
  StatusOr<ProducerSnapshot> empty =
      broker::DecodeProducerSnapshot(broker::EncodeProducerSnapshot(Offset(0), {}));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->table.size(), 0u);
}

TEST(ProducerSnapshotFormatTest, TheLayoutIsTheDocumentedOne) {
  ProducerStateTable table;
  table.Record(BatchIdentity{7, 2, 0, 2}, Offset(10), Offset(12));
  const std::vector<std::byte> file = broker::EncodeProducerSnapshot(Offset(20), table);
  // preamble 12 + fixed body 12 + one producer 12 + one batch 24 + crc 4.
  ASSERT_EQ(file.size(), 64u);
  const std::byte* p = file.data();
  EXPECT_EQ(LoadBigEndian<uint32_t>(p), 0x53505053u);
  EXPECT_EQ(LoadBigEndian<uint16_t>(p + 4), 1);
  EXPECT_EQ(LoadBigEndian<uint16_t>(p + 6), 0);
  EXPECT_EQ(LoadBigEndian<uint32_t>(p + 8), 48u);
  EXPECT_EQ(LoadBigEndian<int64_t>(p + 12), 20);
  EXPECT_EQ(LoadBigEndian<uint32_t>(p + 20), 1u);
  EXPECT_EQ(LoadBigEndian<int64_t>(p + 24), 7);
  EXPECT_EQ(LoadBigEndian<int16_t>(p + 32), 2);
  EXPECT_EQ(static_cast<int>(p[34]), 0);
  EXPECT_EQ(static_cast<int>(p[35]), 1);
  EXPECT_EQ(LoadBigEndian<int32_t>(p + 36), 0);
  EXPECT_EQ(LoadBigEndian<int32_t>(p + 40), 2);
  EXPECT_EQ(LoadBigEndian<int64_t>(p + 44), 10);
  EXPECT_EQ(LoadBigEndian<int64_t>(p + 52), 12);
  EXPECT_EQ(LoadBigEndian<uint32_t>(p + 60), crc32c::Value(p, 60));
  EXPECT_EQ(broker::ProducerSnapshotName(Offset(42)), "00000000000000000042.producers");
  EXPECT_EQ(broker::ParseProducerSnapshotName("00000000000000000042.producers"), Offset(42));
  EXPECT_FALSE(broker::ParseProducerSnapshotName("00000000000000000042.producers.tmp"));
  EXPECT_FALSE(broker::ParseProducerSnapshotName("00000000000000000042.log"));
}

TEST(ProducerSnapshotFormatTest, DamagedTruncatedAndOtherVersionsAreRefused) {
  std::mt19937_64 rng(TestSeed());
  ProducerStateTable table;
  const Offset end = RandomTable(rng, table);
  const std::vector<std::byte> good = broker::EncodeProducerSnapshot(end, table);
  ASSERT_TRUE(broker::DecodeProducerSnapshot(good).ok());
  // Every truncation, and an extra byte.
  for (size_t n = 0; n < good.size(); ++n) {
    StatusOr<ProducerSnapshot> d = broker::DecodeProducerSnapshot(std::span(good).first(n));
    ASSERT_TRUE(absl::IsDataLoss(d.status())) << n << ": " << d.status();
  }
  std::vector<std::byte> longer = good;
  longer.push_back(std::byte{0});
  EXPECT_TRUE(absl::IsDataLoss(broker::DecodeProducerSnapshot(longer).status()));
  // Random bit flips anywhere.
  for (int i = 0; i < 500; ++i) {
    std::vector<std::byte> bad = good;
    bad[rng() % bad.size()] ^= std::byte{static_cast<uint8_t>(1u << (rng() % 8))};
    EXPECT_TRUE(absl::IsDataLoss(broker::DecodeProducerSnapshot(bad).status())) << i;
  }
  // Version 2 and a must-understand flag are refused even with a correct CRC; so is a body
  // that breaks the rules (a batch at the snapshot's offset).
  auto reseal = [](std::vector<std::byte> file) {
    const size_t covered = file.size() - 4;
    StoreBigEndian<uint32_t>(file.data() + covered, crc32c::Value(file.data(), covered));
    return file;
  };
  std::vector<std::byte> v2 = good;
  StoreBigEndian<uint16_t>(v2.data() + 4, 2);
  StatusOr<ProducerSnapshot> refused = broker::DecodeProducerSnapshot(reseal(v2));
  EXPECT_TRUE(absl::IsDataLoss(refused.status()));
  EXPECT_NE(std::string(refused.status().message()).find("version"), std::string::npos)
      << refused.status();
  std::vector<std::byte> flagged = good;
  StoreBigEndian<uint16_t>(flagged.data() + 6, 0x0100);
  EXPECT_TRUE(absl::IsDataLoss(broker::DecodeProducerSnapshot(reseal(flagged)).status()));
  ProducerStateTable one;
  one.Record(BatchIdentity{7, 0, 0, 0}, Offset(5), Offset(5));
  const std::vector<std::byte> at_end = reseal(broker::EncodeProducerSnapshot(Offset(5), one));
  EXPECT_TRUE(absl::IsDataLoss(broker::DecodeProducerSnapshot(at_end).status()));
}

class ProducerSnapshotFileTest : public LogTest {
 protected:
  // Appends `batch`, failing the test on an error; returns its offsets.
  static Task<log::AppendResult> Append(log::PartitionLog& log, std::vector<std::byte> batch) {
    StatusOr<log::AppendResult> r = co_await log.append(batch);
    EXPECT_TRUE(r.ok()) << r.status();
    co_return r.ok() ? *r : log::AppendResult{};
  }
};

TEST_F(ProducerSnapshotFileTest, WriteListPruneAndDeleteOutside) {
  reactor_->block_on([&]() -> Task<void> {
    CO_ASSERT_OK(co_await io::CreateDirs(*fs_, dir_));
    ProducerStateTable table;
    table.Record(BatchIdentity{1, 0, 0, 0}, Offset(0), Offset(0));
    for (int64_t at : {30, 10, 20, 40}) {
      CO_ASSERT_OK(co_await broker::WriteProducerSnapshot(*fs_, dir_, Offset(at), table));
    }
    // A leftover temp file and an unrelated name.
    std::vector<std::byte> nothing;
    std::string other = "x.txt";
    CO_ASSERT_OK(co_await log::WriteFileAtomically(*fs_, dir_, other, nothing));
    std::string tmp = log::JoinPath(dir_, "00000000000000000050.producers.tmp");
    StatusOr<std::unique_ptr<io::File>> tmp_file = co_await log::WriteWholeFile(*fs_, tmp, nothing);
    CO_ASSERT_OK(tmp_file);
    CO_ASSERT_OK(co_await (*tmp_file)->close());
    StatusOr<std::vector<Offset>> listed = co_await broker::ListProducerSnapshots(*fs_, dir_);
    CO_ASSERT_OK(listed);
    EXPECT_EQ(*listed, (std::vector<Offset>{Offset(10), Offset(20), Offset(30), Offset(40)}));
    StatusOr<ProducerSnapshot> read = co_await broker::ReadProducerSnapshot(*fs_, dir_, Offset(20));
    CO_ASSERT_OK(read);
    EXPECT_TRUE(read->table == table);

    StatusOr<size_t> dropped =
        co_await broker::DeleteProducerSnapshotsOutside(*fs_, dir_, Offset(15), Offset(30));
    CO_ASSERT_OK(dropped);
    EXPECT_EQ(*dropped, 2u);
    listed = co_await broker::ListProducerSnapshots(*fs_, dir_);
    CO_ASSERT_OK(listed);
    EXPECT_EQ(*listed, (std::vector<Offset>{Offset(20), Offset(30)}));
    StatusOr<std::vector<std::string>> names = co_await fs_->list_dir(dir_);
    CO_ASSERT_OK(names);
    EXPECT_EQ(*names, (std::vector<std::string>{"00000000000000000020.producers",
                                                "00000000000000000030.producers", "x.txt"}));

    CO_ASSERT_OK(co_await broker::KeepNewestProducerSnapshots(*fs_, dir_, 1));
    listed = co_await broker::ListProducerSnapshots(*fs_, dir_);
    CO_ASSERT_OK(listed);
    EXPECT_EQ(*listed, (std::vector<Offset>{Offset(30)}));

    // A file whose name and content disagree is damage.
    std::string path30 = log::JoinPath(dir_, broker::ProducerSnapshotName(Offset(30)));
    StatusOr<std::vector<std::byte>> bytes = co_await log::ReadWholeFile(*fs_, path30, 1 << 20);
    CO_ASSERT_OK(bytes);
    std::string name31 = broker::ProducerSnapshotName(Offset(31));
    CO_ASSERT_OK(co_await log::WriteFileAtomically(*fs_, dir_, name31, *bytes));
    StatusOr<ProducerSnapshot> renamed =
        co_await broker::ReadProducerSnapshot(*fs_, dir_, Offset(31));
    EXPECT_TRUE(absl::IsDataLoss(renamed.status())) << renamed.status();
    StatusOr<ProducerSnapshot> missing =
        co_await broker::ReadProducerSnapshot(*fs_, dir_, Offset(99));
    EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  }());
}

TEST_F(ProducerSnapshotFileTest, TheLoaderStartsAtTheNewestGoodSnapshotAndSkipsDamage) {
  reactor_->block_on([&]() -> Task<void> {
    std::unique_ptr<log::PartitionLog> log = co_await OpenLog(log::LogConfig{});
    CO_ASSERT_TRUE(log != nullptr);
    // Producer 5: batches at 0..2 and 3..4; then 30 plain offsets; producer 6 at 35.
    ProducerStateTable live;
    auto record = [&live](const std::vector<std::byte>& b, const log::AppendResult& r) {
      StatusOr<record::BatchHeader> h = record::ParseHeader(b);
      if (h.ok()) live.Record(BatchIdentity::FromHeader(*h), r.base_offset, r.last_offset);
    };
    std::vector<std::byte> b1 = IdempotentBatch(5, 0, 0, 3);
    const log::AppendResult r1 = co_await Append(*log, b1);
    record(b1, r1);
    std::vector<std::byte> b2 = IdempotentBatch(5, 0, 3, 2);
    const log::AppendResult r2 = co_await Append(*log, b2);
    record(b2, r2);
    const ProducerStateTable at5 = live;
    for (int i = 0; i < 6; ++i) {
      std::vector<std::byte> plain = IdempotentBatch(-1, -1, -1, 5);
      co_await Append(*log, plain);
    }
    std::vector<std::byte> b3 = IdempotentBatch(6, 0, 0, 1);
    const log::AppendResult r3 = co_await Append(*log, b3);
    record(b3, r3);
    const Offset end = log->log_end_offset();
    CO_ASSERT_TRUE(end == Offset(36));

    // No snapshot and a tail of 10 offsets: producer 5 is unknown.
    StatusOr<broker::LoadedProducerState> tail =
        co_await broker::LoadProducerStateWithSnapshots(*fs_, dir_, *log, 10);
    CO_ASSERT_OK(tail);
    EXPECT_FALSE(tail->snapshot.has_value());
    EXPECT_EQ(tail->scanned_from, Offset(26));
    EXPECT_EQ(tail->table.Find(5), nullptr);
    EXPECT_NE(tail->table.Find(6), nullptr);

    // A snapshot at 5 (and one at 0): the full table, producer 5 included.
    const ProducerStateTable none;
    CO_ASSERT_OK(co_await broker::WriteProducerSnapshot(*fs_, dir_, Offset(0), none));
    CO_ASSERT_OK(co_await broker::WriteProducerSnapshot(*fs_, dir_, Offset(5), at5));
    StatusOr<broker::LoadedProducerState> loaded =
        co_await broker::LoadProducerStateWithSnapshots(*fs_, dir_, *log, 10);
    CO_ASSERT_OK(loaded);
    EXPECT_EQ(loaded->snapshot, Offset(5));
    EXPECT_TRUE(loaded->table == live);
    const DedupCheck dup = loaded->table.Check(BatchIdentity{5, 0, 3, 4});
    EXPECT_EQ(dup.kind, DedupCheck::kDuplicate);
    EXPECT_EQ(dup.base_offset, Offset(3));

    // A snapshot above the log end is deleted, not used (it would claim producer 9).
    ProducerStateTable ghost = live;
    ghost.Record(BatchIdentity{9, 0, 0, 0}, Offset(40), Offset(40));
    CO_ASSERT_OK(co_await broker::WriteProducerSnapshot(*fs_, dir_, Offset(41), ghost));
    // The newest within the log is damaged: skipped (and deleted), the one at 0 used.
    std::vector<std::byte> damaged = broker::EncodeProducerSnapshot(Offset(5), at5);
    damaged[damaged.size() / 2] ^= std::byte{0x10};
    std::string name5 = broker::ProducerSnapshotName(Offset(5));
    CO_ASSERT_OK(co_await log::WriteFileAtomically(*fs_, dir_, name5, damaged));
    loaded = co_await broker::LoadProducerStateWithSnapshots(*fs_, dir_, *log, 10);
    CO_ASSERT_OK(loaded);
    EXPECT_EQ(loaded->snapshot, Offset(0));
    EXPECT_EQ(loaded->damaged_snapshots, 1u);
    EXPECT_TRUE(loaded->table == live);
    EXPECT_EQ(loaded->table.Find(9), nullptr);
    StatusOr<std::vector<Offset>> left = co_await broker::ListProducerSnapshots(*fs_, dir_);
    CO_ASSERT_OK(left);
    EXPECT_EQ(*left, std::vector<Offset>{Offset(0)});
    CO_ASSERT_OK(co_await log->close());
  }());
}

}  // namespace
}  // namespace spool::testing
