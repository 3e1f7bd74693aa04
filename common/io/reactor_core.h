// Internal to the I/O layer: the Reactor's private state (the pimpl behind reactor.h) and the
// awaitables its operations are built from. Shared by reactor.cc (loop, scheduling) and
// reactor_ops.cc (the operations). Reactor thread only, except where noted.
#pragma once

#include <atomic>
#include <coroutine>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "common/io/reactor.h"
#include "common/io/reactor_backend.h"

namespace spool::io {
namespace detail {

// An intrusive ring of live spawned coroutine frames; the Reactor holds the sentinel.
struct SpawnLink {
  SpawnLink* prev = this;
  SpawnLink* next = this;
  std::coroutine_handle<> frame;

  SpawnLink() = default;
  SpawnLink(const SpawnLink&) = delete;
  SpawnLink& operator=(const SpawnLink&) = delete;

  void InsertAfter(SpawnLink& head) {
    prev = &head;
    next = head.next;
    head.next->prev = this;
    head.next = this;
  }
  void Unlink() {
    prev->next = next;
    next->prev = prev;
    prev = next = this;
  }
};

}  // namespace detail

struct Reactor::Core {
  explicit Core(std::unique_ptr<detail::IoBackend> b) : backend(std::move(b)) {}

  std::unique_ptr<detail::IoBackend> backend;
  ReactorStats stats;
  bool in_loop = false;
  bool shutting_down = false;

  // schedule()d handles; `running` is the batch of the current turn.
  std::vector<std::coroutine_handle<>> ready;
  std::vector<std::coroutine_handle<>> running;
  // Requests handed back by the backend; `resuming` is the batch being resumed.
  std::vector<detail::IoRequest*> done;
  std::vector<detail::IoRequest*> resuming;

  detail::SpawnLink spawned;

  // Any thread. (std::mutex: see completion_channel.h.)
  std::mutex post_mu;
  std::vector<absl::AnyInvocable<void()>> posted;  // guarded by post_mu
  std::atomic<bool> has_posted{false};
  std::atomic<bool> stop{false};
};

// co_await Submission{reactor, req}: hands `req` to the backend and resumes with req.result.
struct Reactor::Submission {
  Reactor& reactor;
  detail::IoRequest& req;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    req.waiter = h;
    reactor.SubmitRequest(req);
  }
  int64_t await_resume() const noexcept { return req.result; }
};

// co_await Yield{reactor}: resumes on the reactor's next turn.
struct Reactor::Yield {
  Reactor& reactor;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { reactor.schedule(h); }
  void await_resume() const noexcept {}
};

}  // namespace spool::io
