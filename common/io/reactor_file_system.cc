// The real FileSystem: every call goes through a Reactor (io_uring or the posix backend).
//
// A ReactorFile owns its fd. close() closes it through the reactor; destroying a File that was
// not closed closes the fd synchronously with close(2) on the calling thread. That is the one
// blocking call in this file, and it is cheap: Linux close() does not write data back (that is
// what datasync() is for), so it only drops a reference.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/io/file_system.h"
#include "common/io/reactor.h"

namespace spool::io {
namespace {

int OpenFlags(OpenMode mode) {
  switch (mode) {
    case OpenMode::kRead:
      return O_RDONLY | O_CLOEXEC;
    case OpenMode::kReadWrite:
      return O_RDWR | O_CLOEXEC;
    case OpenMode::kCreate:
      return O_RDWR | O_CREAT | O_CLOEXEC;
    case OpenMode::kCreateExclusive:
      return O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC;
  }
  return O_RDONLY | O_CLOEXEC;
}

// The reactor names an fd in its errors; a File knows the path. Keeps the code and the payloads
// (the errno) of `st`.
Status WithPath(Status st, const std::string& path) {
  if (st.ok()) return st;
  Status out(st.code(), absl::StrCat(st.message(), " [", path, "]"));
  st.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

class ReactorFile final : public File {
 public:
  ReactorFile(Reactor& reactor, int fd, std::string path)
      : reactor_(reactor), fd_(fd), path_(std::move(path)) {}
  ~ReactorFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  ReactorFile(const ReactorFile&) = delete;
  ReactorFile& operator=(const ReactorFile&) = delete;

  Task<StatusOr<size_t>> read_at(uint64_t offset, std::span<std::byte> buf) override {
    auto n = co_await reactor_.read(fd_, buf, offset);
    if (!n.ok()) co_return WithPath(n.status(), path_);
    co_return *n;
  }

  Task<Status> write_at(uint64_t offset, std::span<const std::byte> buf) override {
    co_return WithPath(co_await reactor_.write(fd_, buf, offset), path_);
  }

  Task<Status> datasync() override { co_return WithPath(co_await reactor_.fdatasync(fd_), path_); }

  Task<Status> allocate(uint64_t offset, uint64_t len) override {
    co_return WithPath(co_await reactor_.fallocate(fd_, FALLOC_FL_KEEP_SIZE, offset, len), path_);
  }

  Task<Status> truncate(uint64_t size) override {
    co_return WithPath(co_await reactor_.ftruncate(fd_, size), path_);
  }

  Task<StatusOr<uint64_t>> size() override {
    auto n = co_await reactor_.file_size(fd_);
    if (!n.ok()) co_return WithPath(n.status(), path_);
    co_return *n;
  }

  Task<Status> close() override {
    if (fd_ < 0) {
      co_return Status(absl::StatusCode::kFailedPrecondition,
                       absl::StrCat("close ", path_, ": already closed"));
    }
    // The descriptor is released whatever close() reports, so forget it first.
    const int fd = std::exchange(fd_, -1);
    co_return WithPath(co_await reactor_.close(fd), path_);
  }

  int native_handle() const override { return fd_; }

 private:
  Reactor& reactor_;
  int fd_;
  const std::string path_;
};

class ReactorFileSystem final : public FileSystem {
 public:
  explicit ReactorFileSystem(Reactor& reactor) : reactor_(reactor) {}

  Task<StatusOr<std::unique_ptr<File>>> open(std::string path, OpenMode mode) override {
    auto fd = co_await reactor_.open(path, OpenFlags(mode), 0644);
    if (!fd.ok()) co_return fd.status();
    co_return std::unique_ptr<File>(new ReactorFile(reactor_, *fd, std::move(path)));
  }

  Task<Status> rename(std::string from, std::string to) override {
    co_return co_await reactor_.rename(std::move(from), std::move(to));
  }

  Task<Status> unlink(std::string path) override {
    co_return co_await reactor_.unlink(std::move(path));
  }

  Task<Status> mkdir(std::string path) override {
    co_return co_await reactor_.mkdir(std::move(path), 0755);
  }

  Task<Status> rmdir(std::string path) override {
    co_return co_await reactor_.rmdir(std::move(path));
  }

  Task<Status> sync_dir(std::string path) override {
    auto fd = co_await reactor_.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (!fd.ok()) co_return fd.status();
    Status synced = WithPath(co_await reactor_.fsync(*fd), path);
    Status closed = WithPath(co_await reactor_.close(*fd), path);
    co_return synced.ok() ? closed : synced;
  }

  Task<StatusOr<std::vector<std::string>>> list_dir(std::string path) override {
    auto names = co_await reactor_.list_dir(std::move(path));
    if (names.ok()) std::sort(names->begin(), names->end());
    co_return names;
  }

  Task<StatusOr<uint64_t>> file_size(std::string path) override {
    co_return co_await reactor_.file_size_at(std::move(path));
  }

 private:
  Reactor& reactor_;
};

// "a/b//c/" -> {"a", "a/b", "a/b/c"}; "/x/y" -> {"/x", "/x/y"}.
std::vector<std::string> Prefixes(const std::string& path) {
  std::vector<std::string> out;
  std::string cur = path.starts_with('/') ? "/" : "";
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    const size_t j = path.find('/', i);
    const size_t end = j == std::string::npos ? path.size() : j;
    if (end > i) {
      if (!cur.empty() && cur.back() != '/') cur += '/';
      cur.append(path, i, end - i);
      out.push_back(cur);
    }
    i = end;
  }
  return out;
}

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::unique_ptr<FileSystem> NewReactorFileSystem(Reactor& reactor) {
  return std::make_unique<ReactorFileSystem>(reactor);
}

Task<Status> CreateDirs(FileSystem& fs, std::string path) {
  for (const std::string& dir : Prefixes(path)) {
    Status st = co_await fs.mkdir(dir);
    if (st.ok()) {
      CO_RETURN_IF_ERROR(co_await fs.sync_dir(Parent(dir)));
      continue;
    }
    if (absl::IsAlreadyExists(st)) continue;
    // An existing ancestor we may not write to (EACCES, EROFS) is fine: only missing ones matter.
    if (auto existing = co_await fs.file_size(dir); existing.ok()) continue;
    co_return st;
  }
  co_return absl::OkStatus();
}

}  // namespace spool::io
