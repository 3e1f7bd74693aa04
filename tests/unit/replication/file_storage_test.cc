// FileStorage: round trips, recovery of torn and corrupt tails, damaged state files, and a crash
// loop under tests/support's power-cut model (FaultFileSystem), including cuts in the middle of
// a Persist() (a sync held at the gate), with and without torn tails.
#include "replication/raft/file_storage.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "common/io/file_system.h"
#include "replication/sim/memory_storage.h"
#include "tests/support/fault_file_system.h"
#include "tests/support/log_test_util.h"
#include "tests/support/test_env.h"

namespace spool::raft {
namespace {

using sim::DiskImage;

Entry E(uint64_t term, uint64_t index, std::string data = "d") {
  return Entry{Term{term}, Index{index}, EntryType::kNormal, std::move(data)};
}

std::shared_ptr<const Snapshot> Snap(uint64_t index, uint64_t term, std::string data) {
  auto s = std::make_shared<Snapshot>();
  s->meta = SnapshotMeta{Index{index}, Term{term}, {NodeId{1}, NodeId{2}, NodeId{3}}};
  s->data = std::move(data);
  return s;
}

// Compares a recovered state with the image the contract says the disk holds.
void ExpectState(const RecoveredState& got, const DiskImage& want) {
  EXPECT_EQ(got.hard_state, want.hard_state);
  ASSERT_EQ(got.snapshot == nullptr, want.snapshot == nullptr);
  if (want.snapshot) {
    EXPECT_EQ(*got.snapshot, *want.snapshot);
  }
  EXPECT_EQ(got.entries, want.entries);
}

Task<StatusOr<RecoveredState>> Reopen(io::FileSystem& fs, std::string dir,
                                      FileStorageRecovery* stats = nullptr) {
  CO_ASSIGN_OR_RETURN(std::unique_ptr<FileStorage> s, co_await FileStorage::Open(fs, dir));
  if (stats) *stats = s->recovery();
  RecoveredState out = s->TakeRecovered();
  CO_RETURN_IF_ERROR(co_await s->Close());
  co_return out;
}

Task<Status> PersistReady(FileStorage& s, const Ready& rd) {
  std::optional<HardState> hs = rd.hard_state;
  std::shared_ptr<const Snapshot> snap = rd.snapshot;
  std::vector<Entry> entries = rd.entries;
  co_return co_await s.Persist(hs, std::move(snap), std::move(entries));
}

class FileStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reactor_ = testing::MakeReactor();
    base_ = io::NewReactorFileSystem(*reactor_);
    dir_ = tmp_.file("raft");
  }
  testing::TempDir tmp_;
  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::FileSystem> base_;
  std::string dir_;
};

Task<void> RoundTripBody(io::FileSystem& fs, std::string dir) {
  auto opened = co_await FileStorage::Open(fs, dir);
  CO_ASSERT_OK(opened);
  FileStorage& s = **opened;
  RecoveredState empty = s.TakeRecovered();
  EXPECT_EQ(empty.hard_state, HardState{});
  EXPECT_TRUE(empty.entries.empty());
  DiskImage model;
  std::vector<Ready> ops(4);
  ops[0].hard_state = HardState{Term{1}, NodeId{2}};
  ops[0].entries = {E(1, 1, "a"), E(1, 2, "b"), E(1, 3, "c")};
  ops[1].entries = {E(2, 3, "C"), E(2, 4, "D")};  // overwrites index 3
  ops[2].snapshot = Snap(2, 1, "image@2");        // compaction: keeps 3..4
  ops[3].entries = {E(3, 5, std::string(5000, 'x'))};
  ops[3].hard_state = HardState{Term{3}, NodeId{1}};
  for (const Ready& rd : ops) {
    Status st = co_await PersistReady(s, rd);
    CO_ASSERT_OK(st);
    sim::ApplyWrites(rd, model);
  }
  EXPECT_EQ(s.last_index(), Index{5});
  CO_ASSERT_OK(co_await s.Close());
  FileStorageRecovery stats;
  auto back = co_await Reopen(fs, dir, &stats);
  CO_ASSERT_OK(back);
  ExpectState(*back, model);
  EXPECT_EQ(stats.bytes_cut, 0u);
  EXPECT_EQ(stats.entries, 3u);
}

TEST_F(FileStorageTest, RoundTripWithOverwriteAndCompaction) {
  reactor_->block_on(RoundTripBody(*base_, dir_));
}

Task<void> ReceivedSnapshotBody(io::FileSystem& fs, std::string dir) {
  auto opened = co_await FileStorage::Open(fs, dir);
  CO_ASSERT_OK(opened);
  FileStorage& s = **opened;
  DiskImage model;
  std::vector<Ready> ops(3);
  ops[0].entries = {E(1, 1), E(1, 2), E(1, 3), E(1, 4)};
  ops[1].snapshot = Snap(3, 2, "leader image");  // does not match our (3, term 1): drop all
  ops[2].entries = {E(2, 4, "after")};
  for (const Ready& rd : ops) {
    Status st = co_await PersistReady(s, rd);
    CO_ASSERT_OK(st);
    sim::ApplyWrites(rd, model);
  }
  CO_ASSERT_OK(co_await s.Close());
  auto back = co_await Reopen(fs, dir);
  CO_ASSERT_OK(back);
  ExpectState(*back, model);
  CO_ASSERT_TRUE(back->entries.size() == 1u);
  EXPECT_EQ(back->entries[0].data, "after");
}

TEST_F(FileStorageTest, ReceivedSnapshotReplacesAMismatchingLog) {
  reactor_->block_on(ReceivedSnapshotBody(*base_, dir_));
}

Task<Status> AppendRaw(io::FileSystem& fs, std::string path, std::vector<std::byte> bytes,
                       int64_t at = -1) {
  CO_ASSIGN_OR_RETURN(std::unique_ptr<io::File> f,
                      co_await fs.open(path, io::OpenMode::kReadWrite));
  CO_ASSIGN_OR_RETURN(uint64_t size, co_await f->size());
  const uint64_t offset = at < 0 ? size : static_cast<uint64_t>(at);
  CO_RETURN_IF_ERROR(co_await f->write_at(offset, bytes));
  co_return co_await f->close();
}

Task<void> TornTailBody(io::FileSystem& fs, std::string dir) {
  {
    auto opened = co_await FileStorage::Open(fs, dir);
    CO_ASSERT_OK(opened);
    Ready rd;
    rd.entries = {E(1, 1), E(1, 2), E(1, 3)};
    CO_ASSERT_OK(co_await PersistReady(**opened, rd));
    CO_ASSERT_OK(co_await (*opened)->Close());
  }
  const std::string log_path = dir + "/raft.log";
  // 1. Half of a record: cut.
  std::vector<std::byte> partial;
  file_format::AppendEntryRecord(E(1, 4), partial);
  partial.resize(partial.size() / 2);
  CO_ASSERT_OK(co_await AppendRaw(fs, log_path, partial));
  FileStorageRecovery stats;
  auto back = co_await Reopen(fs, dir, &stats);
  CO_ASSERT_OK(back);
  EXPECT_EQ(back->entries.size(), 3u);
  EXPECT_EQ(stats.bytes_cut, partial.size());
  // 2. A whole record with a flipped payload byte (CRC mismatch): cut.
  std::vector<std::byte> bad;
  file_format::AppendEntryRecord(E(1, 4), bad);
  bad.back() ^= std::byte{1};
  CO_ASSERT_OK(co_await AppendRaw(fs, log_path, bad));
  back = co_await Reopen(fs, dir, &stats);
  CO_ASSERT_OK(back);
  EXPECT_EQ(back->entries.size(), 3u);
  EXPECT_EQ(stats.bytes_cut, bad.size());
  // 3. A valid record that does not continue the sequence (index 9): cut.
  std::vector<std::byte> skip;
  file_format::AppendEntryRecord(E(1, 9), skip);
  CO_ASSERT_OK(co_await AppendRaw(fs, log_path, skip));
  back = co_await Reopen(fs, dir, &stats);
  CO_ASSERT_OK(back);
  EXPECT_EQ(back->entries.size(), 3u);
  EXPECT_EQ(stats.bytes_cut, skip.size());
  // 4. Zeroed space (preallocated, never written): cut.
  CO_ASSERT_OK(co_await AppendRaw(fs, log_path, std::vector<std::byte>(64)));
  back = co_await Reopen(fs, dir, &stats);
  CO_ASSERT_OK(back);
  EXPECT_EQ(back->entries.size(), 3u);
  EXPECT_EQ(stats.bytes_cut, 64u);
  // The storage keeps working after a cut.
  auto again = co_await FileStorage::Open(fs, dir);
  CO_ASSERT_OK(again);
  Ready more;
  more.entries = {E(2, 4, "next")};
  CO_ASSERT_OK(co_await PersistReady(**again, more));
  CO_ASSERT_OK(co_await (*again)->Close());
  back = co_await Reopen(fs, dir, &stats);
  CO_ASSERT_OK(back);
  CO_ASSERT_TRUE(back->entries.size() == 4u);
  EXPECT_EQ(back->entries[3].data, "next");
}

TEST_F(FileStorageTest, TornCorruptOrForeignTailIsCut) {
  reactor_->block_on(TornTailBody(*base_, dir_));
}

Task<void> DamagedStateBody(io::FileSystem& fs, std::string dir) {
  {
    auto opened = co_await FileStorage::Open(fs, dir);
    CO_ASSERT_OK(opened);
    Ready rd;
    rd.hard_state = HardState{Term{7}, NodeId{3}};
    rd.snapshot = Snap(0, 0, "");
    CO_ASSERT_OK(co_await PersistReady(**opened, rd));
    CO_ASSERT_OK(co_await (*opened)->Close());
  }
  std::vector<std::byte> flip{std::byte{0xff}};
  CO_ASSERT_OK(co_await AppendRaw(fs, dir + "/raft.state", flip, 16));
  auto back = co_await Reopen(fs, dir);
  EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss) << back.status();
}

TEST_F(FileStorageTest, DamagedTermAndVoteFileIsDataLossNotAFreshStart) {
  reactor_->block_on(DamagedStateBody(*base_, dir_));
}

TEST(RaftFileFormat, StateAndSnapshotRoundTripAndRejectDamage) {
  const HardState hs{Term{42}, NodeId{5}};
  std::vector<std::byte> b = file_format::EncodeState(hs);
  ASSERT_EQ(b.size(), file_format::kStateSize);
  auto back = file_format::DecodeState(b);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, hs);
  for (size_t i = 0; i < b.size(); ++i) {
    std::vector<std::byte> bad = b;
    bad[i] ^= std::byte{0x10};
    EXPECT_FALSE(file_format::DecodeState(bad).ok()) << "byte " << i;
  }
  auto snap = Snap(9, 4, "state machine image");
  std::vector<std::byte> s = file_format::EncodeSnapshot(*snap);
  auto decoded = file_format::DecodeSnapshot(s);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, *snap);
  s.pop_back();
  EXPECT_FALSE(file_format::DecodeSnapshot(s).ok());
}

// ---- crash loop ----

struct CrashLoopStats {
  int mid_persist_cuts = 0;
  int rounds = 0;
};

// Builds a random Ready that is valid for `disk`.
// `kind` picks the op (0-5); -1 draws it.
Ready RandomOp(std::mt19937_64& rng, const DiskImage& disk, int kind = -1) {
  Ready rd;
  const Index snap = disk.snapshot ? disk.snapshot->meta.index : Index{0};
  const Term snap_term = disk.snapshot ? disk.snapshot->meta.term : Term{0};
  const Index last = disk.entries.empty() ? snap : disk.entries.back().index;
  const Term last_term = disk.entries.empty() ? snap_term : disk.entries.back().term;
  const uint64_t term = std::max(last_term.value(), disk.hard_state.term.value());
  // Half the ops use one fixed size, so new records line up with the old ones they overwrite
  // (the case where a torn tail could splice a new record onto old ones).
  const bool fixed = rng() % 2 == 0;
  auto data = [&] {
    return std::string(fixed ? 16 : 1 + rng() % 300, static_cast<char>('a' + rng() % 26));
  };
  switch (kind >= 0 ? kind : static_cast<int>(rng() % 6)) {
    case 0:
    case 1: {  // append
      const uint64_t n = 1 + rng() % 6;
      for (uint64_t i = 1; i <= n; ++i) rd.entries.push_back(E(term, last.value() + i, data()));
      break;
    }
    case 2: {  // overwrite a suffix with a newer term
      if (disk.entries.empty()) break;
      const uint64_t from = snap.value() + 1 + rng() % disk.entries.size();
      const uint64_t n = 1 + rng() % 4;
      for (uint64_t i = 0; i < n; ++i) rd.entries.push_back(E(term + 1, from + i, data()));
      rd.hard_state = HardState{Term{term + 1}, NodeId{static_cast<uint32_t>(1 + rng() % 3)}};
      break;
    }
    case 3:  // term and vote
      rd.hard_state = HardState{Term{term + 1}, NodeId{static_cast<uint32_t>(rng() % 4)}};
      break;
    case 4: {  // compaction at an entry we hold
      if (disk.entries.empty()) break;
      const Entry& at = disk.entries[rng() % disk.entries.size()];
      rd.snapshot = Snap(at.index.value(), at.term.value(), data());
      break;
    }
    case 5:  // a snapshot received from a leader of a newer term
      rd.snapshot = Snap(last.value() + rng() % 4, term + 1, data());
      rd.hard_state = HardState{Term{term + 1}, NodeId{0}};
      break;
  }
  return rd;
}

// The recovered state after a cut during the op that takes `before` to `after`: either image,
// or (for the log) `before`'s log cut back to where `after` diverges, plus a prefix of `after`'s
// new entries. Never old entries behind new ones, never anything invented.
void ExpectBetween(const RecoveredState& got, const DiskImage& before, const DiskImage& after) {
  EXPECT_TRUE(got.hard_state == before.hard_state || got.hard_state == after.hard_state);
  const bool snap_before = (got.snapshot == nullptr && before.snapshot == nullptr) ||
                           (got.snapshot && before.snapshot && *got.snapshot == *before.snapshot);
  const bool snap_after = (got.snapshot == nullptr && after.snapshot == nullptr) ||
                          (got.snapshot && after.snapshot && *got.snapshot == *after.snapshot);
  EXPECT_TRUE(snap_before || snap_after) << "a snapshot that was never written";
  const Index s = got.snapshot ? got.snapshot->meta.index : Index{0};
  auto above = [&](const std::vector<Entry>& v) {
    std::vector<Entry> out;
    for (const Entry& e : v) {
      if (e.index > s) out.push_back(e);
    }
    return out;
  };
  const std::vector<Entry> b = above(before.entries);
  const std::vector<Entry> a = above(after.entries);
  if (got.entries == b) return;
  size_t common = 0;
  while (common < a.size() && common < b.size() && a[common] == b[common]) ++common;
  const bool prefix_of_after = got.entries.size() <= a.size() && got.entries.size() >= common &&
                               std::equal(got.entries.begin(), got.entries.end(), a.begin());
  EXPECT_TRUE(prefix_of_after) << "recovered " << got.entries.size() << " entries; before "
                               << b.size() << ", after " << a.size() << ", common " << common;
}

Task<void> CrashLoop(io::Reactor& reactor, std::string root, uint64_t seed, CrashLoopStats& stats) {
  std::mt19937_64 rng(seed);
  auto base = io::NewReactorFileSystem(reactor);
  testing::FaultFileSystem fs(reactor, *base, root + "/scratch");
  const std::string dir = root + "/raft";
  DiskImage model;
  for (int round = 0; round < 80; ++round) {
    ++stats.rounds;
    auto opened = co_await FileStorage::Open(fs, dir);
    CO_ASSERT_OK(opened);
    FileStorage& s = **opened;
    const int ops = static_cast<int>(rng() % 8);
    for (int i = 0; i < ops; ++i) {
      Ready rd = RandomOp(rng, model);
      Status st = co_await PersistReady(s, rd);
      CO_ASSERT_OK(st);
      sim::ApplyWrites(rd, model);
    }
    // One more op, cut at its n-th fdatasync (or after it completes, if it has fewer).
    // Overwrites are the interesting cut: favour them.
    Ready last = RandomOp(rng, model, rng() % 2 == 0 ? 2 : -1);
    DiskImage after = model;
    sim::ApplyWrites(last, after);
    const uint64_t target = 1 + rng() % 4;
    fs.HoldSyncs();
    bool done = false;
    Status result;
    reactor.spawn([](FileStorage& s, Ready rd, bool& done, Status& result) -> Task<void> {
      result = co_await PersistReady(s, rd);
      done = true;
    }(s, last, done, result));
    uint64_t reached = 0;
    std::function<bool()> parked_or_done = [&] { return done || fs.syncs_waiting() > 0; };
    while (true) {
      Status w = co_await testing::WaitFor(reactor, parked_or_done);
      CO_ASSERT_OK(w);
      if (done) break;
      if (++reached == target) break;
      fs.ReleaseSyncs();
      std::function<bool()> released = [&] { return done || fs.syncs_waiting() == 0; };
      Status r = co_await testing::WaitFor(reactor, released);
      CO_ASSERT_OK(r);
      fs.HoldSyncs();
    }
    testing::PowerCutOptions cut;
    cut.torn_tail = rng() % 2 == 0;
    cut.seed = rng();
    if (done) {
      fs.ReleaseSyncs();
      CO_ASSERT_OK(result);
      CO_ASSERT_OK(co_await s.Close());
      Status pc = co_await fs.SimulatePowerCut(cut);
      CO_ASSERT_OK(pc);
      model = after;
      auto back = co_await Reopen(fs, dir);
      CO_ASSERT_OK(back);
      ExpectState(*back, model);
    } else {
      ++stats.mid_persist_cuts;
      Status pc = co_await fs.SimulatePowerCut(cut);
      CO_ASSERT_OK(pc);
      fs.ReleaseSyncs();
      std::function<bool()> finished = [&] { return done; };
      CO_ASSERT_OK(co_await testing::WaitFor(reactor, finished));
      EXPECT_FALSE(result.ok()) << "a Persist() cut at a sync reported success";
      PermitUncheckedError(co_await s.Close());
      auto back = co_await Reopen(fs, dir);
      CO_ASSERT_OK(back);
      ExpectBetween(*back, model, after);
      // Continue from what survived.
      model.hard_state = back->hard_state;
      model.snapshot = back->snapshot;
      model.entries = back->entries;
    }
    opened->reset();
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "round " << round;
      co_return;
    }
  }
}

TEST(FileStorageCrash, PowerCutsKeepEveryPersistedWriteAndNeverMixOldAndNew) {
  const uint64_t seed = testing::TestSeed();
  auto reactor = testing::MakeReactor();
  testing::TempDir tmp;
  CrashLoopStats stats;
  reactor->block_on(CrashLoop(*reactor, tmp.path(), seed, stats));
  EXPECT_GT(stats.mid_persist_cuts, 5) << "the loop rarely cut inside a Persist()";
}

}  // namespace
}  // namespace spool::raft
