// HookFileSystem: an io::FileSystem for the log's error tests that forwards every call to a base
// FileSystem, except where a test asks otherwise:
//
//   * FailReads(suffix, err): read_at() of files whose path ends with `suffix` fails with `err`
//     (an ErrnoStatus, so ErrnoOf() gives it), as a disk with a bad sector would;
//   * ShortReads(suffix): read_at() of such files returns half of what it would (at least one
//     byte less), as a file that changed under the reader would;
//   * HoldSyncs(suffix) / ReleaseSyncs(): datasync() of such files parks until released, so a
//     test can run other operations while a sync is in flight, with no sleep;
//   * HoldDirSyncs(skip) / ReleaseSyncs(): sync_dir() calls after the first `skip` park until
//     released. Parked calls have not reached the base, so a FaultFileSystem below can
//     simulate a power cut "during" them;
//   * syncs_on_closed_files(): datasync() calls that resumed after their File had been closed
//     or destroyed. The storage engine must never let that happen; the hooks never touch a
//     closed File, so the test sees the count instead of a use-after-free.
//
// tests/support's FaultFileSystem models power cuts and write errors; this covers reads and
// sync interleavings, which it does not. Header-only, for the storage tests.
//
// Ownership and threading: borrows `reactor` and `base`, which must outlive it and every File
// it opens. Reactor thread only.
#pragma once

#include <cerrno>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/io/event.h"
#include "common/io/file_system.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"

namespace spool::testing {

class HookFileSystem final : public io::FileSystem {
 public:
  HookFileSystem(io::Reactor& reactor, io::FileSystem& base)
      : base_(base), hooks_(std::make_shared<Hooks>(reactor)) {}

  void FailReads(std::string suffix, int err = EIO) {
    hooks_->fail_reads = suffix;
    hooks_->read_errno = err;
  }
  void ShortReads(std::string suffix) { hooks_->short_reads = std::move(suffix); }
  void HoldSyncs(std::string suffix) {
    hooks_->hold_syncs = std::move(suffix);
    hooks_->gate = std::make_shared<io::Event>(hooks_->reactor);
  }
  void HoldDirSyncs(int skip = 0) {
    hooks_->dir_syncs_to_pass = skip;
    hooks_->dir_gate = std::make_shared<io::Event>(hooks_->reactor);
  }
  // Releases every parked datasync() and sync_dir(), and holds no more.
  void ReleaseSyncs() {
    hooks_->hold_syncs.reset();
    if (hooks_->gate != nullptr) std::exchange(hooks_->gate, nullptr)->set();
    if (hooks_->dir_gate != nullptr) std::exchange(hooks_->dir_gate, nullptr)->set();
  }
  void ClearFaults() {
    hooks_->fail_reads.reset();
    hooks_->short_reads.reset();
  }
  int syncs_parked() const { return hooks_->parked; }
  int dir_syncs_parked() const { return hooks_->dir_parked; }
  int syncs_on_closed_files() const { return hooks_->syncs_on_closed; }
  int failed_reads() const { return hooks_->failed_reads; }

  Task<StatusOr<std::unique_ptr<io::File>>> open(std::string path, io::OpenMode mode) override {
    CO_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file, co_await base_.open(path, mode));
    co_return std::unique_ptr<io::File>(new HookFile(std::move(file), std::move(path), hooks_));
  }
  Task<Status> rename(std::string from, std::string to) override {
    return base_.rename(std::move(from), std::move(to));
  }
  Task<Status> unlink(std::string path) override { return base_.unlink(std::move(path)); }
  Task<Status> mkdir(std::string path) override { return base_.mkdir(std::move(path)); }
  Task<Status> rmdir(std::string path) override { return base_.rmdir(std::move(path)); }
  Task<Status> sync_dir(std::string path) override {
    std::shared_ptr<io::Event> gate = hooks_->dir_gate;
    if (gate != nullptr && hooks_->dir_syncs_to_pass > 0) {
      --hooks_->dir_syncs_to_pass;
      gate = nullptr;
    }
    return SyncDir(base_, std::move(path), hooks_, std::move(gate));
  }
  Task<StatusOr<std::vector<std::string>>> list_dir(std::string path) override {
    return base_.list_dir(std::move(path));
  }
  Task<StatusOr<uint64_t>> file_size(std::string path) override {
    return base_.file_size(std::move(path));
  }

 private:
  struct Hooks {
    explicit Hooks(io::Reactor& r) : reactor(r) {}
    io::Reactor& reactor;
    std::optional<std::string> fail_reads;
    int read_errno = EIO;
    std::optional<std::string> short_reads;
    std::optional<std::string> hold_syncs;
    std::shared_ptr<io::Event> gate;
    int parked = 0;
    std::shared_ptr<io::Event> dir_gate;
    int dir_syncs_to_pass = 0;
    int dir_parked = 0;
    int syncs_on_closed = 0;
    int failed_reads = 0;
  };

  static bool Matches(const std::optional<std::string>& suffix, std::string_view path) {
    return suffix.has_value() && path.ends_with(*suffix);
  }

  static Task<Status> SyncDir(io::FileSystem& base, std::string path, std::shared_ptr<Hooks> hooks,
                              std::shared_ptr<io::Event> gate) {
    if (gate != nullptr) {
      ++hooks->dir_parked;
      co_await gate->wait();
      --hooks->dir_parked;
    }
    co_return co_await base.sync_dir(std::move(path));
  }

  class HookFile final : public io::File {
   public:
    HookFile(std::unique_ptr<io::File> base, std::string path, std::shared_ptr<Hooks> hooks)
        : base_(std::move(base)), path_(std::move(path)), hooks_(std::move(hooks)) {}
    ~HookFile() override { *open_ = false; }

    Task<StatusOr<size_t>> read_at(uint64_t offset, std::span<std::byte> buf) override {
      if (Matches(hooks_->fail_reads, path_)) {
        ++hooks_->failed_reads;
        co_return ErrnoStatus(hooks_->read_errno, "injected read error");
      }
      CO_ASSIGN_OR_RETURN(size_t n, co_await base_->read_at(offset, buf));
      if (n > 0 && Matches(hooks_->short_reads, path_)) n = std::min(n / 2, n - 1);
      co_return n;
    }
    Task<Status> write_at(uint64_t offset, std::span<const std::byte> buf) override {
      return base_->write_at(offset, buf);
    }
    // Not a member coroutine: the frame must not touch `this` after the gate, when the File
    // may be gone.
    Task<Status> datasync() override {
      std::shared_ptr<io::Event> gate;
      if (Matches(hooks_->hold_syncs, path_)) gate = hooks_->gate;
      return Sync(base_.get(), open_, hooks_, std::move(gate));
    }
    Task<Status> allocate(uint64_t offset, uint64_t len) override {
      return base_->allocate(offset, len);
    }
    Task<Status> truncate(uint64_t size) override { return base_->truncate(size); }
    Task<StatusOr<uint64_t>> size() override { return base_->size(); }
    Task<Status> close() override {
      *open_ = false;
      return base_->close();
    }
    int native_handle() const override { return base_->native_handle(); }

   private:
    static Task<Status> Sync(io::File* base, std::shared_ptr<bool> open,
                             std::shared_ptr<Hooks> hooks, std::shared_ptr<io::Event> gate) {
      if (gate != nullptr) {
        ++hooks->parked;
        co_await gate->wait();
        --hooks->parked;
      }
      if (!*open) {
        ++hooks->syncs_on_closed;
        co_return absl::InternalError("datasync() resumed on a File that was closed meanwhile");
      }
      co_return co_await base->datasync();
    }

    std::unique_ptr<io::File> base_;
    std::string path_;
    std::shared_ptr<Hooks> hooks_;
    std::shared_ptr<bool> open_ = std::make_shared<bool>(true);
  };

  io::FileSystem& base_;
  std::shared_ptr<Hooks> hooks_;
};

}  // namespace spool::testing
