// The real FileSystem (NewReactorFileSystem, CreateDirs) on the backend SPOOL_IO_BACKEND selects;
// ctest runs this binary once per backend.
#include "common/io/file_system.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/io/event.h"
#include "common/io/reactor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::io {
namespace {

using spool::testing::TempDir;
using spool::testing::ToBytes;
using spool::testing::ToString;
using ::testing::ElementsAre;

class FileSystemTest : public ::testing::Test {
 protected:
  FileSystemTest()
      : reactor_(spool::testing::MakeReactor()), fs_(NewReactorFileSystem(*reactor_)) {}

  template <typename T>
  T Run(Task<T> task) {
    return reactor_->block_on(std::move(task));
  }

  std::unique_ptr<File> MustOpen(const std::string& path, OpenMode mode) {
    auto f = Run(fs_->open(path, mode));
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  void MustWrite(const std::string& path, const std::string& data) {
    auto f = MustOpen(path, OpenMode::kCreate);
    ASSERT_NE(f, nullptr);
    auto bytes = ToBytes(data);
    ASSERT_TRUE(Run(f->write_at(0, bytes)).ok());
    ASSERT_TRUE(Run(f->close()).ok());
  }

  std::string ReadAll(File& f, size_t max = 1 << 16) {
    std::vector<std::byte> buf(max);
    auto n = Run(f.read_at(0, buf));
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? ToString(std::span(buf).first(*n)) : "";
  }

  TempDir dir_;
  std::unique_ptr<Reactor> reactor_;
  std::unique_ptr<FileSystem> fs_;
};

TEST_F(FileSystemTest, RunsOnTheRequestedBackend) {
  if (auto want = spool::testing::RequestedBackend()) {
    EXPECT_EQ(reactor_->backend(), *want);
  }
}

TEST_F(FileSystemTest, WriteThenReadRoundTrip) {
  auto f = MustOpen(dir_.file("a"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  EXPECT_GE(f->native_handle(), 0);
  auto data = ToBytes("hello, spool");
  ASSERT_TRUE(Run(f->write_at(0, data)).ok());
  ASSERT_TRUE(Run(f->datasync()).ok());
  EXPECT_EQ(ReadAll(*f), "hello, spool");
  auto size = Run(f->size());
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, data.size());
  EXPECT_TRUE(Run(f->close()).ok());

  // Reopened read-only, the bytes are still there.
  auto r = MustOpen(dir_.file("a"), OpenMode::kRead);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(ReadAll(*r), "hello, spool");
}

TEST_F(FileSystemTest, WriteAtOffsetExtendsWithZeros) {
  auto f = MustOpen(dir_.file("a"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  auto data = ToBytes("xy");
  ASSERT_TRUE(Run(f->write_at(4, data)).ok());
  EXPECT_EQ(ReadAll(*f), std::string("\0\0\0\0xy", 6));
}

TEST_F(FileSystemTest, ReadPastEndOfFileIsShort) {
  MustWrite(dir_.file("a"), "0123456789");
  auto f = MustOpen(dir_.file("a"), OpenMode::kRead);
  ASSERT_NE(f, nullptr);
  std::vector<std::byte> buf(100);
  auto n = Run(f->read_at(4, buf));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 6u);
  EXPECT_EQ(ToString(std::span(buf).first(6)), "456789");
  auto past = Run(f->read_at(1000, buf));
  ASSERT_TRUE(past.ok()) << past.status();
  EXPECT_EQ(*past, 0u);
}

TEST_F(FileSystemTest, LargeWriteAndReadRoundTrip) {
  std::vector<std::byte> data(8 << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7 + (i >> 12));
  auto f = MustOpen(dir_.file("big"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(Run(f->write_at(0, data)).ok());
  std::vector<std::byte> back(data.size());
  auto n = Run(f->read_at(0, back));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, data.size());
  EXPECT_TRUE(back == data);
}

TEST_F(FileSystemTest, OpenMissingFileIsNotFound) {
  auto f = Run(fs_->open(dir_.file("missing"), OpenMode::kRead));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(ErrnoOf(f.status()), ENOENT);
  EXPECT_TRUE(absl::IsNotFound(f.status())) << f.status();
  EXPECT_THAT(std::string(f.status().message()), ::testing::HasSubstr("missing"));
  auto rw = Run(fs_->open(dir_.file("missing"), OpenMode::kReadWrite));
  EXPECT_EQ(ErrnoOf(rw.status()), ENOENT);
}

TEST_F(FileSystemTest, CreateExclusiveFailsWhenTheFileExists) {
  auto first = MustOpen(dir_.file("x"), OpenMode::kCreateExclusive);
  ASSERT_NE(first, nullptr);
  auto second = Run(fs_->open(dir_.file("x"), OpenMode::kCreateExclusive));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(ErrnoOf(second.status()), EEXIST);
  EXPECT_TRUE(absl::IsAlreadyExists(second.status())) << second.status();
  // kCreate opens the existing file without truncating it.
  auto data = ToBytes("keep");
  ASSERT_TRUE(Run(first->write_at(0, data)).ok());
  auto again = MustOpen(dir_.file("x"), OpenMode::kCreate);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(ReadAll(*again), "keep");
}

TEST_F(FileSystemTest, WriteToReadOnlyFileIsEbadf) {
  MustWrite(dir_.file("ro"), "abc");
  auto f = MustOpen(dir_.file("ro"), OpenMode::kRead);
  ASSERT_NE(f, nullptr);
  auto data = ToBytes("zzz");
  Status st = Run(f->write_at(0, data));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ErrnoOf(st), EBADF) << st;
  EXPECT_EQ(ReadAll(*f), "abc");
}

TEST_F(FileSystemTest, OperationsAfterCloseFail) {
  auto f = MustOpen(dir_.file("c"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(Run(f->close()).ok());
  EXPECT_EQ(f->native_handle(), -1);
  EXPECT_TRUE(absl::IsFailedPrecondition(Run(f->close())));
  std::vector<std::byte> buf(4);
  EXPECT_EQ(ErrnoOf(Run(f->read_at(0, buf)).status()), EBADF);
  EXPECT_EQ(ErrnoOf(Run(f->datasync())), EBADF);
}

TEST_F(FileSystemTest, DestroyingAnOpenFileClosesItsFd) {
  int fd = -1;
  {
    auto f = MustOpen(dir_.file("d"), OpenMode::kCreate);
    ASSERT_NE(f, nullptr);
    fd = f->native_handle();
    ASSERT_GE(::fcntl(fd, F_GETFD), 0);
  }
  errno = 0;
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST_F(FileSystemTest, TruncateShrinksAndGrows) {
  MustWrite(dir_.file("t"), "0123456789");
  auto f = MustOpen(dir_.file("t"), OpenMode::kReadWrite);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(Run(f->truncate(3)).ok());
  EXPECT_EQ(*Run(f->size()), 3u);
  EXPECT_EQ(ReadAll(*f), "012");
  ASSERT_TRUE(Run(f->truncate(6)).ok());
  EXPECT_EQ(ReadAll(*f), std::string("012\0\0\0", 6));
  ASSERT_TRUE(Run(f->datasync()).ok());
}

TEST_F(FileSystemTest, AllocateReservesWithoutChangingSize) {
  MustWrite(dir_.file("p"), "abc");
  auto f = MustOpen(dir_.file("p"), OpenMode::kReadWrite);
  ASSERT_NE(f, nullptr);
  Status st = Run(f->allocate(0, 1 << 20));
  if (absl::IsUnimplemented(st)) GTEST_SKIP() << "file system without fallocate: " << st;
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(*Run(f->size()), 3u);
  struct stat sb;
  ASSERT_EQ(::fstat(f->native_handle(), &sb), 0);
  EXPECT_GE(static_cast<uint64_t>(sb.st_blocks) * 512, uint64_t{1} << 20);
}

TEST_F(FileSystemTest, RenameReplacesTheTarget) {
  MustWrite(dir_.file("old"), "new contents");
  MustWrite(dir_.file("target"), "old contents");
  ASSERT_TRUE(Run(fs_->rename(dir_.file("old"), dir_.file("target"))).ok());
  EXPECT_TRUE(absl::IsNotFound(Run(fs_->file_size(dir_.file("old"))).status()));
  auto f = MustOpen(dir_.file("target"), OpenMode::kRead);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(ReadAll(*f), "new contents");
  Status missing = Run(fs_->rename(dir_.file("nope"), dir_.file("target")));
  EXPECT_EQ(ErrnoOf(missing), ENOENT) << missing;
}

TEST_F(FileSystemTest, UnlinkRemovesTheName) {
  MustWrite(dir_.file("u"), "x");
  ASSERT_TRUE(Run(fs_->unlink(dir_.file("u"))).ok());
  EXPECT_TRUE(absl::IsNotFound(Run(fs_->file_size(dir_.file("u"))).status()));
  Status again = Run(fs_->unlink(dir_.file("u")));
  EXPECT_EQ(ErrnoOf(again), ENOENT) << again;
}

TEST_F(FileSystemTest, FileSizeByPath) {
  MustWrite(dir_.file("s"), "12345");
  auto size = Run(fs_->file_size(dir_.file("s")));
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, 5u);
  auto missing = Run(fs_->file_size(dir_.file("none")));
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_EQ(ErrnoOf(missing.status()), ENOENT);
}

TEST_F(FileSystemTest, MkdirAndRmdir) {
  const std::string d = dir_.file("sub");
  ASSERT_TRUE(Run(fs_->mkdir(d)).ok());
  Status again = Run(fs_->mkdir(d));
  EXPECT_TRUE(absl::IsAlreadyExists(again)) << again;
  EXPECT_EQ(ErrnoOf(again), EEXIST);
  MustWrite(d + "/f", "x");
  EXPECT_EQ(ErrnoOf(Run(fs_->rmdir(d))), ENOTEMPTY);
  ASSERT_TRUE(Run(fs_->unlink(d + "/f")).ok());
  ASSERT_TRUE(Run(fs_->rmdir(d)).ok());
  EXPECT_EQ(ErrnoOf(Run(fs_->rmdir(d))), ENOENT);
  EXPECT_EQ(ErrnoOf(Run(fs_->mkdir(dir_.file("no/such/parent")))), ENOENT);
}

TEST_F(FileSystemTest, ListDirIsSortedWithoutDotEntries) {
  MustWrite(dir_.file("c"), "");
  MustWrite(dir_.file("a"), "");
  MustWrite(dir_.file("b10"), "");
  MustWrite(dir_.file("b2"), "");
  ASSERT_TRUE(Run(fs_->mkdir(dir_.file("d"))).ok());
  auto names = Run(fs_->list_dir(dir_.path()));
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("a", "b10", "b2", "c", "d"));
  auto missing = Run(fs_->list_dir(dir_.file("none")));
  EXPECT_EQ(ErrnoOf(missing.status()), ENOENT);
  auto empty = Run(fs_->list_dir(dir_.file("d")));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(FileSystemTest, SyncDir) {
  MustWrite(dir_.file("f"), "x");
  EXPECT_TRUE(Run(fs_->sync_dir(dir_.path())).ok());
  EXPECT_EQ(ErrnoOf(Run(fs_->sync_dir(dir_.file("none")))), ENOENT);
  EXPECT_EQ(ErrnoOf(Run(fs_->sync_dir(dir_.file("f")))), ENOTDIR);
}

TEST_F(FileSystemTest, CreateDirsMakesEveryMissingParent) {
  const std::string deep = dir_.file("a/b//c/");
  ASSERT_TRUE(Run(CreateDirs(*fs_, deep)).ok());
  struct stat sb;
  ASSERT_EQ(::stat(dir_.file("a/b/c").c_str(), &sb), 0);
  EXPECT_TRUE(S_ISDIR(sb.st_mode));
  // Idempotent, and fine when only some parents exist.
  EXPECT_TRUE(Run(CreateDirs(*fs_, deep)).ok());
  EXPECT_TRUE(Run(CreateDirs(*fs_, dir_.file("a/b/x/y"))).ok());
  ASSERT_EQ(::stat(dir_.file("a/b/x/y").c_str(), &sb), 0);
  // A file in the way is an error.
  MustWrite(dir_.file("file"), "x");
  Status st = Run(CreateDirs(*fs_, dir_.file("file/sub")));
  EXPECT_EQ(ErrnoOf(st), ENOTDIR) << st;
}

// Writes `count` blocks concurrently, each at its own offset, then reads them back concurrently.
Task<void> WriteBlock(File& f, uint64_t offset, std::vector<std::byte> data, int* left, Event* e,
                      int* failures) {
  // Bound to a variable: GCC 12 miscompiles a co_await inside an if condition.
  const Status st = co_await f.write_at(offset, data);
  if (!st.ok()) ++*failures;
  if (--*left == 0) e->set();
}

Task<void> CheckBlock(File& f, uint64_t offset, std::vector<std::byte> want, int* left, Event* e,
                      int* failures) {
  std::vector<std::byte> got(want.size());
  auto n = co_await f.read_at(offset, got);
  if (!n.ok() || *n != want.size() || got != want) ++*failures;
  if (--*left == 0) e->set();
}

Task<void> Wait(Event& e) {
  co_await e.wait();
}

std::vector<std::byte> Block(int i, size_t size) {
  std::vector<std::byte> b(size);
  for (size_t j = 0; j < size; ++j) b[j] = static_cast<std::byte>((i * 31 + j) & 0xff);
  return b;
}

TEST_F(FileSystemTest, ThousandConcurrentWritesThenReads) {
  constexpr int kBlocks = 1000;
  constexpr size_t kSize = 512;
  auto f = MustOpen(dir_.file("many"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  int failures = 0;
  int left = kBlocks;
  Event written(*reactor_);
  for (int i = 0; i < kBlocks; ++i) {
    reactor_->spawn(
        WriteBlock(*f, uint64_t(i) * kSize, Block(i, kSize), &left, &written, &failures));
  }
  Run(Wait(written));
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(*Run(f->size()), kBlocks * kSize);

  left = kBlocks;
  Event checked(*reactor_);
  for (int i = kBlocks - 1; i >= 0; --i) {
    reactor_->spawn(
        CheckBlock(*f, uint64_t(i) * kSize, Block(i, kSize), &left, &checked, &failures));
  }
  Run(Wait(checked));
  EXPECT_EQ(failures, 0);
  EXPECT_GE(reactor_->stats().submissions, 2u * kBlocks);
}

}  // namespace
}  // namespace spool::io
