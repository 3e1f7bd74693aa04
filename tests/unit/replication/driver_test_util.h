// Shared harness of the Raft driver tests (raft_driver_test, quorum_controller_test): the
// timing constants, a list state machine, a reactor on its own thread with calls into it, and a
// polling wait with a deadline. Test-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/str_cat.h"
#include "common/io/file_system.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"
#include "replication/raft/driver.h"
#include "tests/support/test_env.h"

namespace spool::raft::test {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Short timeouts keep the tests quick; ThreadSanitizer slows everything down several times.
#if defined(__SANITIZE_THREAD__)
constexpr int64_t kSlowdown = 4;
#else
constexpr int64_t kSlowdown = 1;
#endif
constexpr int64_t kElectionNs = 150'000'000 * kSlowdown;
constexpr milliseconds kElection{150 * kSlowdown};
constexpr milliseconds kCallTimeout{20'000};

// ---- a state machine: the list of applied (index, data) ----

class ListSm final : public StateMachine {
 public:
  using Item = std::pair<uint64_t, std::string>;

  Status Apply(Index index, std::string_view data) override {
    if (!items_.empty() && index.value() <= items_.back().first) {
      return absl::InternalError(
          absl::StrCat("applied ", index.value(), " after ", items_.back().first));
    }
    items_.emplace_back(index.value(), std::string(data));
    return absl::OkStatus();
  }
  std::string Snapshot() override {
    std::string out;
    for (const Item& it : items_) {
      Put(out, it.first);
      Put(out, it.second.size());
      out += it.second;
    }
    return out;
  }
  Status Restore(std::string_view image) override {
    std::vector<Item> items;
    while (!image.empty()) {
      uint64_t index = 0;
      uint64_t size = 0;
      if (!Get(image, &index) || !Get(image, &size) || size > image.size()) {
        return absl::DataLossError("bad image");
      }
      items.emplace_back(index, std::string(image.substr(0, size)));
      image.remove_prefix(size);
    }
    items_ = std::move(items);
    return absl::OkStatus();
  }
  const std::vector<Item>& items() const { return items_; }

 private:
  static void Put(std::string& out, uint64_t v) {
    char b[8];
    std::memcpy(b, &v, 8);
    out.append(b, 8);
  }
  static bool Get(std::string_view& in, uint64_t* v) {
    if (in.size() < 8) return false;
    std::memcpy(v, in.data(), 8);
    in.remove_prefix(8);
    return true;
  }
  std::vector<Item> items_;
};

// ---- one reactor on its own thread ----

// Runs the coroutine `fn` returns on `reactor` from another thread; the future resolves with
// its result.
template <typename T>
Task<void> RunAndFulfil(std::shared_ptr<absl::AnyInvocable<Task<T>()>> fn,
                        std::shared_ptr<std::promise<T>> p) {
  Task<T> t = (*fn)();
  T v = co_await std::move(t);
  p->set_value(std::move(v));
}
template <typename T>
std::future<T> SpawnOn(io::Reactor& reactor, absl::AnyInvocable<Task<T>()> fn) {
  auto p = std::make_shared<std::promise<T>>();
  std::future<T> f = p->get_future();
  auto holder = std::make_shared<absl::AnyInvocable<Task<T>()>>(std::move(fn));
  reactor.post([&reactor, holder, p]() { reactor.spawn(RunAndFulfil<T>(holder, p)); });
  return f;
}
// The same, waited for; nullopt if it did not finish within `timeout`.
template <typename T>
std::optional<T> CallOn(io::Reactor& reactor, absl::AnyInvocable<Task<T>()> fn,
                        milliseconds timeout = kCallTimeout) {
  std::future<T> f = SpawnOn<T>(reactor, std::move(fn));
  if (f.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return f.get();
}
// Runs `fn` on `reactor`'s thread; nullopt if it did not run within `timeout`.
template <typename F>
auto DoOn(io::Reactor& reactor, F fn, milliseconds timeout = kCallTimeout)
    -> std::optional<decltype(fn())> {
  using T = decltype(fn());
  auto p = std::make_shared<std::promise<T>>();
  std::future<T> f = p->get_future();
  reactor.post([p, fn = std::move(fn)]() mutable { p->set_value(fn()); });
  if (f.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return f.get();
}

class Host {
 public:
  Host() {
    std::promise<void> ready;
    std::future<void> f = ready.get_future();
    std::shared_future<void> release = release_.get_future().share();
    thread_ = std::thread([this, &ready, release] {
      std::unique_ptr<io::Reactor> r = spool::testing::MakeReactor();
      fs_ = io::NewReactorFileSystem(*r);
      reactor_ = r.get();
      ready.set_value();
      r->run();
      // stop() may still be inside its wake-up of this reactor: destroy it only once it returned.
      release.wait();
      fs_.reset();
      r.reset();
    });
    f.wait();
  }
  ~Host() {
    reactor_->stop();
    release_.set_value();
    thread_.join();
  }
  io::Reactor& reactor() { return *reactor_; }
  io::FileSystem& fs() { return *fs_; }

  // Runs `fn` on the reactor thread; nullopt if it did not finish within `timeout`.
  template <typename F>
  auto Do(F fn, milliseconds timeout = kCallTimeout) -> std::optional<decltype(fn())> {
    return DoOn(*reactor_, std::move(fn), timeout);
  }

  // Runs the coroutine `fn` returns on the reactor; the future resolves with its result.
  template <typename T>
  std::future<T> Spawn(absl::AnyInvocable<Task<T>()> fn) {
    return SpawnOn<T>(*reactor_, std::move(fn));
  }
  template <typename T>
  std::optional<T> Call(absl::AnyInvocable<Task<T>()> fn, milliseconds timeout = kCallTimeout) {
    return CallOn<T>(*reactor_, std::move(fn), timeout);
  }

 private:
  std::promise<void> release_;
  std::thread thread_;
  io::Reactor* reactor_ = nullptr;
  std::unique_ptr<io::FileSystem> fs_;
};

// Polls `cond` (every 2 ms) until it holds or `timeout` passes.
inline bool PollUntil(const std::function<bool()>& cond, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
}

inline Task<void> ProposeInto(RaftDriver* d, std::string data, StatusOr<Index>* out) {
  StatusOr<Index> r = co_await d->Propose(std::move(data));
  *out = std::move(r);
}

}  // namespace spool::raft::test
