// The Reactor's loop and scheduling. The operations themselves (open, read, send, ...) are in
// reactor_ops.cc; the backends in uring_backend.cc and posix_backend.cc.
#include "common/io/reactor.h"

#include <time.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/io/reactor_core.h"

namespace spool::io {
namespace {

thread_local Reactor* tls_current = nullptr;

// Sets Reactor::current() for the extent of a loop run, restoring the previous value after.
class CurrentScope {
 public:
  explicit CurrentScope(Reactor* r) : prev_(std::exchange(tls_current, r)) {}
  ~CurrentScope() { tls_current = prev_; }
  CurrentScope(const CurrentScope&) = delete;
  CurrentScope& operator=(const CurrentScope&) = delete;

 private:
  Reactor* prev_;
};

// The coroutine that runs one spawned Task<void>. Its promise links the frame into the
// reactor's list of live spawned frames and unlinks it when the frame goes away, whether the
// task finished (the frame frees itself at final suspend) or the reactor destroyed it.
struct SpawnedTask {
  struct promise_type {
    detail::SpawnLink link;
    promise_type(detail::SpawnLink& head, Task<void>&) {
      link.frame = std::coroutine_handle<promise_type>::from_promise(*this);
      link.InsertAfter(head);
    }
    ~promise_type() { link.Unlink(); }
    SpawnedTask get_return_object() noexcept {
      return SpawnedTask{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

SpawnedTask RunSpawned(detail::SpawnLink& /*head*/, Task<void> task) {
  co_await std::move(task);
}

StatusOr<std::optional<Backend>> BackendFromEnvironment() {
  const char* env = std::getenv("SPOOL_IO_BACKEND");
  if (env == nullptr || *env == '\0') return std::optional<Backend>();
  const std::string_view v(env);
  if (v == "uring") return std::optional<Backend>(Backend::kUring);
  if (v == "posix") return std::optional<Backend>(Backend::kPosix);
  return Status(
      absl::StatusCode::kInvalidArgument,
      absl::StrCat("SPOOL_IO_BACKEND=", std::string(v), ": expected \"uring\" or \"posix\""));
}

void LogFallbackOnce(const Status& why) {
  static std::atomic<bool> logged{false};
  if (logged.exchange(true)) return;
  std::fprintf(stderr,
               "spool: io_uring is not usable (%s); using the posix backend (epoll + blocking "
               "pool). Set SPOOL_IO_BACKEND=uring to make this an error.\n",
               std::string(why.message()).c_str());
}

}  // namespace

namespace detail {

int64_t MonotonicNowNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace detail

std::string_view BackendName(Backend b) {
  switch (b) {
    case Backend::kUring:
      return "uring";
    case Backend::kPosix:
      return "posix";
  }
  return "unknown";
}

StatusOr<std::unique_ptr<Reactor>> Reactor::Create(ReactorOptions options) {
  std::optional<Backend> forced = options.backend;
  if (!forced.has_value()) {
    ASSIGN_OR_RETURN(forced, BackendFromEnvironment());
  }
  if (!forced.has_value() || *forced == Backend::kUring) {
    auto uring = detail::NewUringBackend(options);
    if (uring.ok()) return std::unique_ptr<Reactor>(new Reactor(std::move(uring).value()));
    if (forced.has_value()) {
      return Status(uring.status().code(),
                    absl::StrCat("io_uring backend forced (SPOOL_IO_BACKEND=uring or "
                                 "ReactorOptions::backend) but not usable: ",
                                 uring.status().message()));
    }
    LogFallbackOnce(uring.status());
  }
  ASSIGN_OR_RETURN(auto posix, detail::NewPosixBackend(options));
  return std::unique_ptr<Reactor>(new Reactor(std::move(posix)));
}

Reactor::Reactor(std::unique_ptr<detail::IoBackend> backend)
    : core_(std::make_unique<Core>(std::move(backend))) {}

Reactor::~Reactor() {
  Core& c = *core_;
  c.shutting_down = true;
  // 1. Nothing in the kernel or on a pool thread refers to a request after this.
  c.backend->Shutdown();
  // 2. Spawned tasks that have not finished are destroyed, with everything they own (the whole
  //    chain of awaited tasks). They are not resumed.
  while (c.spawned.next != &c.spawned) c.spawned.next->frame.destroy();
  // 3. Scheduled handles and posted functions are dropped without running.
  c.ready.clear();
  c.done.clear();
  std::vector<absl::AnyInvocable<void()>> posted;
  {
    std::lock_guard<std::mutex> lock(c.post_mu);
    posted.swap(c.posted);
  }
  posted.clear();
}

Backend Reactor::backend() const {
  return core_->backend->kind();
}
const ReactorStats& Reactor::stats() const {
  return core_->stats;
}
Reactor* Reactor::current() {
  return tls_current;
}

void Reactor::schedule(std::coroutine_handle<> h) {
  core_->ready.push_back(h);
}

void Reactor::spawn(Task<void> task) {
  if (core_->shutting_down) return;  // destroyed unstarted
  SpawnedTask s = RunSpawned(core_->spawned, std::move(task));
  schedule(s.handle);
}

void Reactor::post(absl::AnyInvocable<void()> fn) {
  Core& c = *core_;
  {
    std::lock_guard<std::mutex> lock(c.post_mu);
    c.posted.push_back(std::move(fn));
    c.has_posted.store(true);
  }
  c.backend->Wake();
}

void Reactor::stop() {
  core_->stop.store(true);
  core_->backend->Wake();
}

void Reactor::run() {
  CurrentScope scope(this);
  Core& c = *core_;
  if (c.in_loop) {
    std::fprintf(stderr, "spool: Reactor::run/block_on called from inside the loop\n");
    std::abort();
  }
  c.in_loop = true;
  while (!c.stop.load()) Turn(nullptr, true);
  c.stop.store(false);
  c.in_loop = false;
}

void Reactor::RunUntil(const bool& done) {
  CurrentScope scope(this);
  Core& c = *core_;
  if (c.in_loop) {
    std::fprintf(stderr, "spool: Reactor::run/block_on called from inside the loop\n");
    std::abort();
  }
  c.in_loop = true;
  while (!done) Turn(&done, false);
  c.in_loop = false;
}

void Reactor::RunPosted() {
  Core& c = *core_;
  std::vector<absl::AnyInvocable<void()>> fns;
  {
    std::lock_guard<std::mutex> lock(c.post_mu);
    fns.swap(c.posted);
    c.has_posted.store(false);
  }
  for (auto& fn : fns) fn();
}

void Reactor::Turn(const bool* done, bool honour_stop) {
  Core& c = *core_;
  if (c.has_posted.load()) RunPosted();

  // Handles scheduled while these run wait for the next turn, so I/O is never starved.
  c.running.swap(c.ready);
  for (std::coroutine_handle<> h : c.running) h.resume();
  c.running.clear();

  const bool block = c.ready.empty() && !c.has_posted.load() && !(done != nullptr && *done) &&
                     !(honour_stop && c.stop.load());
  c.backend->Poll(block, c.done);
  if (c.done.empty()) return;
  c.stats.reap_batches++;
  c.stats.completions += c.done.size();
  c.resuming.swap(c.done);
  for (detail::IoRequest* req : c.resuming) req->waiter.resume();
  c.resuming.clear();
}

void Reactor::SubmitRequest(detail::IoRequest& req) {
  Core& c = *core_;
  if (c.shutting_down) {
    // The reactor is being destroyed: the request is not started and its waiter never resumes.
    req.result = -ECANCELED;
    return;
  }
  if (tls_current != nullptr && tls_current != this) {
    // A coroutine running on another reactor's loop used this one: it would never be resumed
    // (or be resumed on the wrong thread). Fail loudly instead of hanging.
    std::fprintf(stderr,
                 "spool: an operation of reactor %p was started on the loop of reactor %p; a task "
                 "must only use the reactor that runs it\n",
                 static_cast<void*>(this), static_cast<void*>(tls_current));
    std::abort();
  }
  c.stats.submissions++;
  c.backend->Submit(&req);
}

}  // namespace spool::io
