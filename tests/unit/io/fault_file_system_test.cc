// Tests of the fault-injecting file system (tests/support/fault_file_system.h) over the real
// reactor file system. Registered once per I/O backend. After each simulated power cut the test
// reads what survived through the *base* file system, as a rebooted process would.
#include "tests/support/fault_file_system.h"

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/io/file_system.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::testing {
namespace {

using io::OpenMode;

// gtest's ASSERT_* return from the function, which a coroutine cannot do; these co_return.
#define CO_ASSERT_OK(expr)                         \
  do {                                             \
    const ::absl::Status _s = (expr);              \
    if (!_s.ok()) {                                \
      ADD_FAILURE() << #expr << " failed: " << _s; \
      co_return;                                   \
    }                                              \
  } while (0)
#define CO_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  CO_ASSERT_OK_AND_ASSIGN_IMPL_(SPOOL_CONCAT_(_status_or_, __LINE__), lhs, expr)
#define CO_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)      \
  auto tmp = (expr);                                       \
  if (!tmp.ok()) {                                         \
    ADD_FAILURE() << #expr << " failed: " << tmp.status(); \
    co_return;                                             \
  }                                                        \
  lhs = std::move(tmp).value()
#define CO_ASSERT_TRUE(cond)               \
  do {                                     \
    if (!(cond)) {                         \
      ADD_FAILURE() << "expected: " #cond; \
      co_return;                           \
    }                                      \
  } while (0)

Task<Status> WriteAt(io::File& file, uint64_t offset, std::string data) {
  std::vector<std::byte> buf = ToBytes(data);
  co_return co_await file.write_at(offset, buf);
}

// The whole content of `path` read through `fs`.
Task<StatusOr<std::string>> ReadAll(io::FileSystem& fs, std::string path) {
  CO_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file, co_await fs.open(path, OpenMode::kRead));
  CO_ASSIGN_OR_RETURN(uint64_t size, co_await file->size());
  std::vector<std::byte> buf(size);
  CO_ASSIGN_OR_RETURN(size_t n, co_await file->read_at(0, buf));
  CO_RETURN_IF_ERROR(co_await file->close());
  co_return ToString(std::span<const std::byte>(buf.data(), n));
}

Task<StatusOr<bool>> Exists(io::FileSystem& fs, std::string path) {
  auto size = co_await fs.file_size(path);
  if (size.ok()) co_return true;
  if (absl::IsNotFound(size.status())) co_return false;
  co_return size.status();
}

// Resumes the awaiting coroutine on the reactor's next turn.
struct Yield {
  io::Reactor& reactor;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { reactor.schedule(h); }
  void await_resume() const noexcept {}
};

// Lets the reactor run until `pred` holds; false if it did not within the deadline.
Task<bool> WaitUntil(io::Reactor& reactor, std::function<bool()> pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    co_await Yield{reactor};
  }
  co_return true;
}

Task<void> SyncAndCount(io::File& file, int* done, Status* result) {
  *result = co_await file.datasync();
  ++*done;
}

class FaultFileSystemTest : public ::testing::Test {
 protected:
  FaultFileSystemTest()
      : reactor_(MakeReactor()),
        base_(io::NewReactorFileSystem(*reactor_)),
        fs_(*reactor_, *base_, scratch_.path()) {}

  std::string Path(const std::string& name) const { return root_.file(name); }
  void Run(Task<void> body) { reactor_->block_on(std::move(body)); }

  // Creates `path` through the wrapper with `content`, datasyncs it and syncs its directory, so
  // it is durable by the rules.
  Task<Status> WriteDurable(std::string path, std::string content) {
    CO_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file, co_await fs_.open(path, OpenMode::kCreate));
    CO_RETURN_IF_ERROR(co_await file->truncate(0));
    CO_RETURN_IF_ERROR(co_await WriteAt(*file, 0, content));
    CO_RETURN_IF_ERROR(co_await file->datasync());
    CO_RETURN_IF_ERROR(co_await file->close());
    co_return co_await fs_.sync_dir(std::filesystem::path(path).parent_path().string());
  }
  Task<StatusOr<std::string>> ReadBase(std::string path) { return ReadAll(*base_, path); }
  Task<StatusOr<bool>> ExistsBase(std::string path) { return Exists(*base_, path); }

  TempDir root_;
  TempDir scratch_;
  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::FileSystem> base_;
  FaultFileSystem fs_;
};

// ---- file data ----

TEST_F(FaultFileSystemTest, UnsyncedBytesAreDropped) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK_AND_ASSIGN(auto a, co_await fs_.open(Path("a"), OpenMode::kCreate));
    CO_ASSERT_OK(co_await WriteAt(*a, 0, "durable-"));
    CO_ASSERT_OK(co_await a->datasync());
    CO_ASSERT_OK(co_await WriteAt(*a, 8, "lost"));
    CO_ASSERT_OK_AND_ASSIGN(auto b, co_await fs_.open(Path("b"), OpenMode::kCreate));
    CO_ASSERT_OK(co_await WriteAt(*b, 0, "never synced"));
    CO_ASSERT_OK(co_await fs_.sync_dir(root_.path()));
    // Visible before the cut.
    CO_ASSERT_OK_AND_ASSIGN(std::string before, co_await ReadAll(fs_, Path("a")));
    EXPECT_EQ(before, "durable-lost");

    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string after_a, co_await ReadBase(Path("a")));
    EXPECT_EQ(after_a, "durable-");
    CO_ASSERT_OK_AND_ASSIGN(std::string after_b, co_await ReadBase(Path("b")));
    EXPECT_EQ(after_b, "");
    EXPECT_EQ(fs_.stats().power_cuts, 1u);
  }());
}

TEST_F(FaultFileSystemTest, SyncedBytesAreKeptByteForByte) {
  const uint64_t seed = TestSeed();
  Run([&]() -> Task<void> {
    std::mt19937_64 rng(seed);
    std::vector<std::string> durable(3);
    std::vector<std::unique_ptr<io::File>> files;
    for (int i = 0; i < 3; ++i) {
      CO_ASSERT_OK_AND_ASSIGN(
          auto f, co_await fs_.open(Path(absl::StrCat("f", i)), OpenMode::kCreateExclusive));
      files.push_back(std::move(f));
    }
    CO_ASSERT_OK(co_await fs_.sync_dir(root_.path()));
    std::vector<std::string> written(3);
    for (int step = 0; step < 200; ++step) {
      const size_t i = rng() % 3;
      std::string chunk(1 + rng() % 300, '\0');
      for (char& c : chunk) c = static_cast<char>(rng());
      CO_ASSERT_OK(co_await WriteAt(*files[i], written[i].size(), chunk));
      written[i] += chunk;
      if (rng() % 4 == 0) {
        CO_ASSERT_OK(co_await files[i]->datasync());
        durable[i] = written[i];
      }
    }
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    for (int i = 0; i < 3; ++i) {
      CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadBase(Path(absl::StrCat("f", i))));
      EXPECT_EQ(got.size(), durable[i].size()) << "file " << i;
      EXPECT_TRUE(got == durable[i]) << "file " << i << " differs from its synced bytes";
    }
  }());
}

TEST_F(FaultFileSystemTest, OverwriteBelowSyncedSizeIsReverted) {
  Run([&]() -> Task<void> {
    std::string original(100, '\0');
    for (size_t i = 0; i < original.size(); ++i) original[i] = static_cast<char>('a' + i % 26);
    CO_ASSERT_OK(co_await WriteDurable(Path("seg"), original));
    CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(Path("seg"), OpenMode::kReadWrite));
    CO_ASSERT_OK(co_await WriteAt(*f, 10, std::string(10, 'X')));
    CO_ASSERT_OK(co_await WriteAt(*f, 12, std::string(5, 'Z')));   // over an overwrite
    CO_ASSERT_OK(co_await WriteAt(*f, 90, std::string(40, 'Y')));  // crosses the synced size
    CO_ASSERT_OK_AND_ASSIGN(std::string visible, co_await ReadAll(fs_, Path("seg")));
    EXPECT_EQ(visible.size(), 130u);
    EXPECT_EQ(visible.substr(10, 10), "XXZZZZZXXX");

    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadBase(Path("seg")));
    EXPECT_EQ(got, original);
  }());
}

TEST_F(FaultFileSystemTest, TruncateAfterSyncIsReverted) {
  Run([&]() -> Task<void> {
    const std::string original = std::string(50, 'p') + std::string(50, 'q');
    CO_ASSERT_OK(co_await WriteDurable(Path("shrunk"), original));
    CO_ASSERT_OK(co_await WriteDurable(Path("grown"), original));
    CO_ASSERT_OK(co_await WriteDurable(Path("synced-shrink"), original));

    CO_ASSERT_OK_AND_ASSIGN(auto s, co_await fs_.open(Path("shrunk"), OpenMode::kReadWrite));
    CO_ASSERT_OK(co_await s->truncate(30));
    CO_ASSERT_OK(co_await WriteAt(*s, 30, "new tail that is longer than the old one, by far"));
    CO_ASSERT_OK(co_await s->truncate(20));
    CO_ASSERT_OK(co_await s->truncate(200));

    CO_ASSERT_OK_AND_ASSIGN(auto g, co_await fs_.open(Path("grown"), OpenMode::kReadWrite));
    CO_ASSERT_OK(co_await g->truncate(4096));

    CO_ASSERT_OK_AND_ASSIGN(auto d, co_await fs_.open(Path("synced-shrink"), OpenMode::kReadWrite));
    CO_ASSERT_OK(co_await d->truncate(40));
    CO_ASSERT_OK(co_await d->datasync());
    CO_ASSERT_OK(co_await WriteAt(*d, 40, "unsynced"));

    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string shrunk, co_await ReadBase(Path("shrunk")));
    EXPECT_EQ(shrunk, original);
    CO_ASSERT_OK_AND_ASSIGN(std::string grown, co_await ReadBase(Path("grown")));
    EXPECT_EQ(grown, original);
    CO_ASSERT_OK_AND_ASSIGN(std::string synced, co_await ReadBase(Path("synced-shrink")));
    EXPECT_EQ(synced, original.substr(0, 40));
  }());
}

// Random writes, truncates, syncs and reopens of one file against an in-memory oracle of its
// current and durable bytes, over several power cuts.
TEST_F(FaultFileSystemTest, RandomMutationsMatchAnOracle) {
  const uint64_t seed = TestSeed();
  Run([&]() -> Task<void> {
    std::mt19937_64 rng(seed);
    const std::string path = Path("oracle");
    CO_ASSERT_OK(co_await WriteDurable(path, ""));
    std::string current;
    std::string durable;
    for (int round = 0; round < 5; ++round) {
      CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(path, OpenMode::kReadWrite));
      for (int op = 0; op < 80; ++op) {
        const int kind = static_cast<int>(rng() % 12);
        if (kind < 7) {
          const uint64_t offset = rng() % (current.size() + 64);
          std::string data(1 + rng() % 200, '\0');
          for (char& c : data) c = static_cast<char>(rng());
          CO_ASSERT_OK(co_await WriteAt(*f, offset, data));
          if (current.size() < offset + data.size()) current.resize(offset + data.size(), '\0');
          current.replace(offset, data.size(), data);
        } else if (kind < 9) {
          const uint64_t size = rng() % (current.size() + 100);
          CO_ASSERT_OK(co_await f->truncate(size));
          current.resize(size, '\0');
        } else if (kind < 11) {
          CO_ASSERT_OK(co_await f->datasync());
          durable = current;
        } else {
          CO_ASSERT_OK(co_await f->close());
          CO_ASSERT_OK_AND_ASSIGN(f, co_await fs_.open(path, OpenMode::kReadWrite));
        }
      }
      CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
      CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadBase(path));
      EXPECT_EQ(got.size(), durable.size()) << "round " << round;
      CO_ASSERT_TRUE(got == durable);
      current = durable;
    }
  }());
}

// ---- directory entries ----

TEST_F(FaultFileSystemTest, DatasyncedFileWithoutDirSyncDisappears) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(Path("new"), OpenMode::kCreateExclusive));
    CO_ASSERT_OK(co_await WriteAt(*f, 0, "synced data, unsynced name"));
    CO_ASSERT_OK(co_await f->datasync());
    CO_ASSERT_OK(co_await f->close());
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(bool exists, co_await ExistsBase(Path("new")));
    EXPECT_FALSE(exists);
    CO_ASSERT_OK_AND_ASSIGN(auto names, co_await base_->list_dir(root_.path()));
    EXPECT_TRUE(names.empty());
  }());
}

TEST_F(FaultFileSystemTest, FailedDirSyncDoesNotMakeTheNameDurable) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(Path("new"), OpenMode::kCreateExclusive));
    CO_ASSERT_OK(co_await f->datasync());
    fs_.FailNextDirSyncs(1);
    Status st = co_await fs_.sync_dir(root_.path());
    EXPECT_EQ(ErrnoOf(st), EIO) << st;
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(bool exists, co_await ExistsBase(Path("new")));
    EXPECT_FALSE(exists);
  }());
}

TEST_F(FaultFileSystemTest, RenameNotDirSyncedIsRevertedWithOldTargetContent) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await WriteDurable(Path("ckpt"), "old checkpoint"));
    CO_ASSERT_OK(co_await WriteDurable(Path("ckpt.tmp"), "new checkpoint"));
    CO_ASSERT_OK(co_await fs_.rename(Path("ckpt.tmp"), Path("ckpt")));
    CO_ASSERT_OK_AND_ASSIGN(std::string visible, co_await ReadAll(fs_, Path("ckpt")));
    EXPECT_EQ(visible, "new checkpoint");
    CO_ASSERT_OK_AND_ASSIGN(bool tmp_visible, co_await Exists(fs_, Path("ckpt.tmp")));
    EXPECT_FALSE(tmp_visible);

    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string ckpt, co_await ReadBase(Path("ckpt")));
    EXPECT_EQ(ckpt, "old checkpoint");
    CO_ASSERT_OK_AND_ASSIGN(std::string tmp, co_await ReadBase(Path("ckpt.tmp")));
    EXPECT_EQ(tmp, "new checkpoint");
  }());
}

TEST_F(FaultFileSystemTest, RenameOfUnsyncedNewFileIsRevertedAndTheFileIsLost) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await WriteDurable(Path("ckpt"), "old"));
    CO_ASSERT_OK_AND_ASSIGN(auto t, co_await fs_.open(Path("ckpt.tmp"), OpenMode::kCreate));
    CO_ASSERT_OK(co_await WriteAt(*t, 0, "new"));
    CO_ASSERT_OK(co_await t->datasync());
    CO_ASSERT_OK(co_await t->close());
    CO_ASSERT_OK(co_await fs_.rename(Path("ckpt.tmp"), Path("ckpt")));
    CO_ASSERT_OK(co_await fs_.rename(Path("ckpt"), Path("ckpt2")));  // a chain of renames
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string ckpt, co_await ReadBase(Path("ckpt")));
    EXPECT_EQ(ckpt, "old");
    CO_ASSERT_OK_AND_ASSIGN(bool tmp, co_await ExistsBase(Path("ckpt.tmp")));
    EXPECT_FALSE(tmp);
    CO_ASSERT_OK_AND_ASSIGN(bool ckpt2, co_await ExistsBase(Path("ckpt2")));
    EXPECT_FALSE(ckpt2);
  }());
}

TEST_F(FaultFileSystemTest, DirSyncedRenameSurvives) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await WriteDurable(Path("ckpt"), "old"));
    CO_ASSERT_OK_AND_ASSIGN(auto t, co_await fs_.open(Path("ckpt.tmp"), OpenMode::kCreate));
    CO_ASSERT_OK(co_await WriteAt(*t, 0, "new"));
    CO_ASSERT_OK(co_await t->datasync());
    CO_ASSERT_OK(co_await t->close());
    CO_ASSERT_OK(co_await fs_.rename(Path("ckpt.tmp"), Path("ckpt")));
    CO_ASSERT_OK(co_await fs_.sync_dir(root_.path()));
    // The replaced file was really deleted once the rename became durable.
    CO_ASSERT_OK_AND_ASSIGN(auto scratch, co_await base_->list_dir(scratch_.path()));
    EXPECT_TRUE(scratch.empty());

    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string ckpt, co_await ReadBase(Path("ckpt")));
    EXPECT_EQ(ckpt, "new");
    CO_ASSERT_OK_AND_ASSIGN(bool tmp, co_await ExistsBase(Path("ckpt.tmp")));
    EXPECT_FALSE(tmp);
  }());
}

TEST_F(FaultFileSystemTest, RenameIntoAnotherDirectoryCommitsWithEitherDirectory) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await fs_.mkdir(Path("a")));
    CO_ASSERT_OK(co_await fs_.mkdir(Path("b")));
    CO_ASSERT_OK(co_await fs_.sync_dir(root_.path()));
    CO_ASSERT_OK(co_await WriteDurable(Path("a/f"), "moved"));
    CO_ASSERT_OK(co_await fs_.rename(Path("a/f"), Path("b/g")));
    CO_ASSERT_OK(co_await fs_.sync_dir(Path("b")));
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string g, co_await ReadBase(Path("b/g")));
    EXPECT_EQ(g, "moved");
    CO_ASSERT_OK_AND_ASSIGN(bool f, co_await ExistsBase(Path("a/f")));
    EXPECT_FALSE(f);
  }());
}

TEST_F(FaultFileSystemTest, UnlinkNotDirSyncedIsReverted) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await WriteDurable(Path("00000000000000000000.log"), "segment bytes"));
    CO_ASSERT_OK(co_await fs_.unlink(Path("00000000000000000000.log")));
    CO_ASSERT_OK_AND_ASSIGN(bool visible, co_await Exists(fs_, Path("00000000000000000000.log")));
    EXPECT_FALSE(visible);
    CO_ASSERT_OK_AND_ASSIGN(auto names, co_await fs_.list_dir(root_.path()));
    EXPECT_TRUE(names.empty());

    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadBase(Path("00000000000000000000.log")));
    EXPECT_EQ(got, "segment bytes");
    CO_ASSERT_OK_AND_ASSIGN(auto scratch, co_await base_->list_dir(scratch_.path()));
    EXPECT_TRUE(scratch.empty());
  }());
}

TEST_F(FaultFileSystemTest, DirSyncedUnlinkIsDurable) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await WriteDurable(Path("seg"), "bytes"));
    CO_ASSERT_OK(co_await fs_.unlink(Path("seg")));
    CO_ASSERT_OK(co_await fs_.sync_dir(root_.path()));
    CO_ASSERT_OK_AND_ASSIGN(auto scratch, co_await base_->list_dir(scratch_.path()));
    EXPECT_TRUE(scratch.empty());
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(bool exists, co_await ExistsBase(Path("seg")));
    EXPECT_FALSE(exists);
  }());
}

TEST_F(FaultFileSystemTest, MkdirNotDirSyncedIsRevertedWithItsContents) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await fs_.mkdir(Path("kept")));
    CO_ASSERT_OK(co_await fs_.sync_dir(root_.path()));
    CO_ASSERT_OK(co_await fs_.mkdir(Path("lost")));
    CO_ASSERT_OK(co_await WriteDurable(Path("lost/f"), "inside an unsynced directory"));
    CO_ASSERT_OK(co_await WriteDurable(Path("kept/f"), "inside a synced directory"));
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(bool lost, co_await ExistsBase(Path("lost")));
    EXPECT_FALSE(lost);
    CO_ASSERT_OK_AND_ASSIGN(std::string kept, co_await ReadBase(Path("kept/f")));
    EXPECT_EQ(kept, "inside a synced directory");
  }());
}

TEST_F(FaultFileSystemTest, CreateDirsThroughTheWrapperIsDurable) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await io::CreateDirs(fs_, Path("topic-0/sub")));
    CO_ASSERT_OK(co_await WriteDurable(Path("topic-0/sub/f"), "x"));
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadBase(Path("topic-0/sub/f")));
    EXPECT_EQ(got, "x");
  }());
}

TEST_F(FaultFileSystemTest, DirectoryRenameNotDirSyncedIsRevertedWithItsContents) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await fs_.mkdir(Path("topic-0")));
    CO_ASSERT_OK(co_await fs_.sync_dir(root_.path()));
    CO_ASSERT_OK(co_await WriteDurable(Path("topic-0/seg"), "data"));
    CO_ASSERT_OK(co_await fs_.rename(Path("topic-0"), Path("topic-0.deleted")));
    // Syncing the renamed directory makes its own entries durable, not its new name.
    CO_ASSERT_OK(co_await WriteDurable(Path("topic-0.deleted/new"), "synced inside"));
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string seg, co_await ReadBase(Path("topic-0/seg")));
    EXPECT_EQ(seg, "data");
    CO_ASSERT_OK_AND_ASSIGN(std::string created, co_await ReadBase(Path("topic-0/new")));
    EXPECT_EQ(created, "synced inside");
    CO_ASSERT_OK_AND_ASSIGN(auto names, co_await base_->list_dir(Path("topic-0")));
    EXPECT_EQ(names, (std::vector<std::string>{"new", "seg"}));
    CO_ASSERT_OK_AND_ASSIGN(bool renamed, co_await ExistsBase(Path("topic-0.deleted")));
    EXPECT_FALSE(renamed);
  }());
}

TEST_F(FaultFileSystemTest, RmdirNotDirSyncedIsReverted) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await fs_.mkdir(Path("d")));
    CO_ASSERT_OK(co_await fs_.mkdir(Path("gone")));
    CO_ASSERT_OK(co_await fs_.sync_dir(root_.path()));
    CO_ASSERT_OK(co_await fs_.rmdir(Path("gone")));
    CO_ASSERT_OK(co_await fs_.sync_dir(root_.path()));
    CO_ASSERT_OK(co_await fs_.rmdir(Path("d")));
    CO_ASSERT_OK_AND_ASSIGN(bool visible, co_await Exists(fs_, Path("d")));
    EXPECT_FALSE(visible);
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(auto names, co_await base_->list_dir(root_.path()));
    EXPECT_EQ(names, std::vector<std::string>{"d"});
  }());
}

Task<void> UnlinkAndCount(io::FileSystem& fs, std::string path, int* done, Status* result) {
  *result = co_await fs.unlink(path);
  ++*done;
}

TEST_F(FaultFileSystemTest, ConcurrentUnlinksAreAllReverted) {
  Run([&]() -> Task<void> {
    constexpr int kFiles = 8;
    for (int i = 0; i < kFiles; ++i) {
      CO_ASSERT_OK(co_await WriteDurable(Path(absl::StrCat("s", i)), absl::StrCat("segment ", i)));
    }
    int done = 0;
    std::vector<Status> results(kFiles, absl::UnknownError("not run"));
    for (int i = 0; i < kFiles; ++i) {
      reactor_->spawn(UnlinkAndCount(fs_, Path(absl::StrCat("s", i)), &done, &results[i]));
    }
    const bool finished = co_await WaitUntil(*reactor_, [&] { return done == kFiles; });
    CO_ASSERT_TRUE(finished);
    for (const Status& st : results) EXPECT_TRUE(st.ok()) << st;
    CO_ASSERT_OK_AND_ASSIGN(auto visible, co_await fs_.list_dir(root_.path()));
    EXPECT_TRUE(visible.empty());
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    for (int i = 0; i < kFiles; ++i) {
      CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadBase(Path(absl::StrCat("s", i))));
      EXPECT_EQ(got, absl::StrCat("segment ", i));
    }
  }());
}

// Byte surgery through the base (as corruption tests do) is seen by the wrapper as durable.
TEST_F(FaultFileSystemTest, FilesMadeThroughTheBaseCountAsDurable) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await fs_.mkdir(Path("d")));
    CO_ASSERT_OK(co_await fs_.sync_dir(root_.path()));
    CO_ASSERT_OK_AND_ASSIGN(auto planted, co_await base_->open(Path("d/f"), OpenMode::kCreate));
    CO_ASSERT_OK(co_await WriteAt(*planted, 0, "planted"));
    CO_ASSERT_OK(co_await planted->close());
    CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(Path("d/f"), OpenMode::kReadWrite));
    CO_ASSERT_OK(co_await WriteAt(*f, 7, " and lost"));
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadBase(Path("d/f")));
    EXPECT_EQ(got, "planted");
  }());
}

TEST_F(FaultFileSystemTest, ListDirHidesAScratchDirectoryInside) {
  FaultFileSystem inner(*reactor_, *base_, Path(".fault-scratch"));
  Run([&]() -> Task<void> {
    CO_ASSERT_OK_AND_ASSIGN(auto f, co_await inner.open(Path("a"), OpenMode::kCreate));
    CO_ASSERT_OK(co_await f->close());
    CO_ASSERT_OK(co_await inner.sync_dir(root_.path()));
    CO_ASSERT_OK(co_await inner.unlink(Path("a")));  // the scratch directory is made now
    CO_ASSERT_OK_AND_ASSIGN(auto base_names, co_await base_->list_dir(root_.path()));
    EXPECT_EQ(base_names, std::vector<std::string>{".fault-scratch"});
    CO_ASSERT_OK_AND_ASSIGN(auto names, co_await inner.list_dir(root_.path()));
    EXPECT_TRUE(names.empty());
    CO_ASSERT_OK(co_await inner.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(auto after, co_await inner.list_dir(root_.path()));
    EXPECT_EQ(after, std::vector<std::string>{"a"});
  }());
}

TEST_F(FaultFileSystemTest, NamespaceErrorsCarryErrno) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await fs_.mkdir(Path("dir")));
    CO_ASSERT_OK(co_await WriteDurable(Path("dir/f"), "x"));
    Status st = co_await fs_.rename(Path("missing"), Path("x"));
    EXPECT_EQ(ErrnoOf(st), ENOENT) << st;
    st = co_await fs_.unlink(Path("missing"));
    EXPECT_EQ(ErrnoOf(st), ENOENT) << st;
    st = co_await fs_.unlink(Path("dir"));
    EXPECT_EQ(ErrnoOf(st), EISDIR) << st;
    st = co_await fs_.mkdir(Path("dir"));
    EXPECT_EQ(ErrnoOf(st), EEXIST) << st;
    st = co_await fs_.rmdir(Path("dir"));
    EXPECT_EQ(ErrnoOf(st), ENOTEMPTY) << st;
    CO_ASSERT_OK(co_await fs_.mkdir(Path("other")));
    st = co_await fs_.rename(Path("other"), Path("dir"));
    EXPECT_EQ(ErrnoOf(st), ENOTEMPTY) << st;
    st = co_await fs_.rename(Path("dir/f"), Path("other"));
    EXPECT_EQ(ErrnoOf(st), EISDIR) << st;
    auto opened = co_await fs_.open(Path("missing"), OpenMode::kReadWrite);
    EXPECT_EQ(ErrnoOf(opened.status()), ENOENT) << opened.status();
    opened = co_await fs_.open(Path("dir/f"), OpenMode::kCreateExclusive);
    EXPECT_EQ(ErrnoOf(opened.status()), EEXIST) << opened.status();
    // Nothing above changed what is on disk.
    CO_ASSERT_OK_AND_ASSIGN(std::string f, co_await ReadAll(fs_, Path("dir/f")));
    EXPECT_EQ(f, "x");
  }());
}

// ---- power cut and open files ----

TEST_F(FaultFileSystemTest, FilesAreInvalidAfterAPowerCut) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await WriteDurable(Path("a"), "abc"));
    CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(Path("a"), OpenMode::kReadWrite));
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    std::vector<std::byte> buf(3);
    // (Results are bound before they are checked: GCC 12 miscompiles co_await in a condition.)
    const Status read = (co_await f->read_at(0, buf)).status();
    EXPECT_TRUE(absl::IsFailedPrecondition(read)) << read;
    const Status write = co_await WriteAt(*f, 0, "x");
    EXPECT_TRUE(absl::IsFailedPrecondition(write)) << write;
    const Status sync = co_await f->datasync();
    EXPECT_TRUE(absl::IsFailedPrecondition(sync)) << sync;
    const Status truncate = co_await f->truncate(0);
    EXPECT_TRUE(absl::IsFailedPrecondition(truncate)) << truncate;
    const Status size = (co_await f->size()).status();
    EXPECT_TRUE(absl::IsFailedPrecondition(size)) << size;
    const Status close = co_await f->close();
    EXPECT_TRUE(absl::IsFailedPrecondition(close)) << close;
    // "Reboot": reopen through the wrapper and carry on.
    CO_ASSERT_OK_AND_ASSIGN(auto g, co_await fs_.open(Path("a"), OpenMode::kReadWrite));
    CO_ASSERT_OK(co_await WriteAt(*g, 3, "def"));
    CO_ASSERT_OK(co_await g->datasync());
    CO_ASSERT_OK(co_await g->close());
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadBase(Path("a")));
    EXPECT_EQ(got, "abcdef");
    EXPECT_EQ(fs_.stats().power_cuts, 2u);
  }());
}

TEST_F(FaultFileSystemTest, TornTailKeepsAPrefixOfTheUnsyncedBytes) {
  const uint64_t seed = TestSeed();
  Run([&]() -> Task<void> {
    constexpr int kFiles = 20;
    std::vector<std::string> written(kFiles);
    std::mt19937_64 rng(seed);
    for (int i = 0; i < kFiles; ++i) {
      const std::string path = Path(absl::StrCat("t", i));
      std::string synced(1 + rng() % 100, static_cast<char>('a' + i));
      CO_ASSERT_OK(co_await WriteDurable(path, synced));
      CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(path, OpenMode::kReadWrite));
      std::string tail(1000, '\0');
      for (char& c : tail) c = static_cast<char>(rng());
      CO_ASSERT_OK(co_await WriteAt(*f, synced.size(), tail));
      CO_ASSERT_OK(co_await WriteAt(*f, 0, "!"));  // below the synced size: always undone
      CO_ASSERT_OK(co_await f->close());
      written[i] = synced + tail;
    }
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut({.torn_tail = true, .seed = seed}));
    int partial = 0;
    for (int i = 0; i < kFiles; ++i) {
      CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadBase(Path(absl::StrCat("t", i))));
      const size_t synced = written[i].size() - 1000;
      EXPECT_GE(got.size(), synced) << i;
      EXPECT_LE(got.size(), written[i].size()) << i;
      EXPECT_TRUE(got == written[i].substr(0, got.size())) << i;
      if (got.size() > synced && got.size() < written[i].size()) ++partial;
    }
    // Each length is uniform in [0, 1000]; twenty files all at an end point is (2/1001)^20.
    EXPECT_GT(partial, 0);
  }());
}

// ---- error injection ----

TEST_F(FaultFileSystemTest, FailNextWritesReturnsTheErrnoAndWritesNothing) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(Path("a"), OpenMode::kCreate));
    fs_.FailNextWrites(2);
    Status st = co_await WriteAt(*f, 0, "first");
    EXPECT_EQ(ErrnoOf(st), EIO) << st;
    EXPECT_TRUE(absl::IsDataLoss(st)) << st;
    st = co_await WriteAt(*f, 0, "second");
    EXPECT_EQ(ErrnoOf(st), EIO) << st;
    CO_ASSERT_OK(co_await WriteAt(*f, 0, "third"));
    fs_.FailNextWrites(1, EROFS);
    st = co_await WriteAt(*f, 5, "fourth");
    EXPECT_EQ(ErrnoOf(st), EROFS) << st;
    fs_.FailNextWrites(5);
    fs_.ClearFaults();
    CO_ASSERT_OK(co_await WriteAt(*f, 5, "!"));
    CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadAll(fs_, Path("a")));
    EXPECT_EQ(got, "third!");
    EXPECT_EQ(fs_.stats().injected_errors, 3u);
    EXPECT_EQ(fs_.stats().writes, 2u);
  }());
}

TEST_F(FaultFileSystemTest, WriteBudgetReturnsEnospcAndWritesNothing) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(Path("a"), OpenMode::kCreate));
    fs_.SetWriteBudget(10);
    CO_ASSERT_OK(co_await WriteAt(*f, 0, "123456"));
    Status st = co_await WriteAt(*f, 6, "78901");
    EXPECT_EQ(ErrnoOf(st), ENOSPC) << st;
    EXPECT_TRUE(absl::IsResourceExhausted(st)) << st;
    CO_ASSERT_OK_AND_ASSIGN(uint64_t size, co_await f->size());
    EXPECT_EQ(size, 6u);
    CO_ASSERT_OK(co_await WriteAt(*f, 6, "7890"));  // exactly what is left
    st = co_await WriteAt(*f, 10, "x");
    EXPECT_EQ(ErrnoOf(st), ENOSPC) << st;
    fs_.ClearWriteBudget();
    CO_ASSERT_OK(co_await WriteAt(*f, 10, std::string(100, 'y')));
    CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadAll(fs_, Path("a")));
    EXPECT_EQ(got, absl::StrCat("1234567890", std::string(100, 'y')));
  }());
}

TEST_F(FaultFileSystemTest, FailedSyncMakesNothingDurable) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await WriteDurable(Path("a"), "kept"));
    CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(Path("a"), OpenMode::kReadWrite));
    CO_ASSERT_OK(co_await WriteAt(*f, 4, "-lost"));
    const uint64_t syncs = fs_.sync_count();
    fs_.FailNextSyncs(1);
    Status st = co_await f->datasync();
    EXPECT_EQ(ErrnoOf(st), EIO) << st;
    EXPECT_EQ(fs_.sync_count(), syncs);
    fs_.FailNextSyncs(1, ENOSPC);
    st = co_await f->datasync();
    EXPECT_EQ(ErrnoOf(st), ENOSPC) << st;
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadBase(Path("a")));
    EXPECT_EQ(got, "kept");
  }());
}

// ---- the sync gate ----

TEST_F(FaultFileSystemTest, HeldSyncsCompleteOnlyAfterRelease) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(Path("log"), OpenMode::kCreate));
    fs_.HoldSyncs();
    EXPECT_TRUE(fs_.syncs_held());
    int done = 0;
    std::vector<Status> results(3, absl::UnknownError("not run"));
    for (int i = 0; i < 3; ++i) {
      CO_ASSERT_OK(co_await WriteAt(*f, 10 * i, std::string(10, static_cast<char>('a' + i))));
      reactor_->spawn(SyncAndCount(*f, &done, &results[i]));
    }
    const bool parked = co_await WaitUntil(*reactor_, [&] { return fs_.syncs_waiting() == 3; });
    CO_ASSERT_TRUE(parked);
    // Writes still go through while syncs are held; nothing has synced.
    CO_ASSERT_OK(co_await WriteAt(*f, 30, "more"));
    EXPECT_EQ(done, 0);
    EXPECT_EQ(fs_.sync_count(), 0u);

    fs_.ReleaseSyncs();
    EXPECT_FALSE(fs_.syncs_held());
    const bool finished = co_await WaitUntil(*reactor_, [&] { return done == 3; });
    CO_ASSERT_TRUE(finished);
    EXPECT_EQ(fs_.sync_count(), 3u);
    EXPECT_EQ(fs_.syncs_waiting(), 0);
    for (const Status& st : results) EXPECT_TRUE(st.ok()) << st;
  }());
}

// A datasync() covers what completed before it was called, not what was written while it waited.
TEST_F(FaultFileSystemTest, HeldSyncDoesNotCoverLaterWrites) {
  Run([&]() -> Task<void> {
    const std::string original(100, 'o');
    CO_ASSERT_OK(co_await WriteDurable(Path("log"), original));
    CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(Path("log"), OpenMode::kReadWrite));
    CO_ASSERT_OK(co_await WriteAt(*f, 0, "before"));
    CO_ASSERT_OK(co_await WriteAt(*f, 100, "appended-before"));
    fs_.HoldSyncs();
    int done = 0;
    Status result = absl::UnknownError("not run");
    reactor_->spawn(SyncAndCount(*f, &done, &result));
    const bool parked = co_await WaitUntil(*reactor_, [&] { return fs_.syncs_waiting() == 1; });
    CO_ASSERT_TRUE(parked);
    CO_ASSERT_OK(co_await WriteAt(*f, 50, "after"));
    CO_ASSERT_OK(co_await WriteAt(*f, 115, "appended-after"));
    CO_ASSERT_OK(co_await f->truncate(110));
    fs_.ReleaseSyncs();
    const bool finished = co_await WaitUntil(*reactor_, [&] { return done == 1; });
    CO_ASSERT_TRUE(finished);
    CO_ASSERT_OK(result);

    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadBase(Path("log")));
    EXPECT_EQ(got, absl::StrCat("before", original.substr(6), "appended-before"));
  }());
}

TEST_F(FaultFileSystemTest, PowerCutFailsParkedSyncs) {
  Run([&]() -> Task<void> {
    CO_ASSERT_OK(co_await WriteDurable(Path("log"), "durable"));
    CO_ASSERT_OK_AND_ASSIGN(auto f, co_await fs_.open(Path("log"), OpenMode::kReadWrite));
    CO_ASSERT_OK(co_await WriteAt(*f, 7, "-pending"));
    fs_.HoldSyncs();
    int done = 0;
    Status result = absl::UnknownError("not run");
    reactor_->spawn(SyncAndCount(*f, &done, &result));
    const bool parked = co_await WaitUntil(*reactor_, [&] { return fs_.syncs_waiting() == 1; });
    CO_ASSERT_TRUE(parked);
    CO_ASSERT_OK(co_await fs_.SimulatePowerCut());
    const bool finished = co_await WaitUntil(*reactor_, [&] { return done == 1; });
    CO_ASSERT_TRUE(finished);
    EXPECT_TRUE(absl::IsFailedPrecondition(result)) << result;
    EXPECT_TRUE(fs_.syncs_held());  // the gate stays closed for syncs after the reboot
    fs_.ReleaseSyncs();
    CO_ASSERT_OK_AND_ASSIGN(std::string got, co_await ReadBase(Path("log")));
    EXPECT_EQ(got, "durable");
  }());
}

}  // namespace
}  // namespace spool::testing
