// RunOn: run a piece of work on another reactor and get its result back on this one.
//
// ARCHITECTURE.md §3: a partition is touched by exactly one reactor, so work for a partition that
// another reactor owns is a message to that reactor, not a lock. RunOn is that message:
//
//   StatusOr<AppendResult> r = co_await io::RunOn<StatusOr<AppendResult>>(
//       *owner, [p, batch]() -> Task<StatusOr<AppendResult>> { co_return co_await p->append(batch);
//       });
//
// `fn` is moved to the target reactor and called there; the Task it returns runs there to
// completion; then the caller is resumed on its own reactor (the one running it when RunOn was
// awaited) with the result. When the target is the caller's own reactor, fn runs inline.
//
// Threading: call from a coroutine running on a reactor thread. Whatever `fn` captures is used on
// the target thread while the caller is suspended: capture owned values or objects the target
// reactor owns, never the caller reactor's state. The result is moved across threads once.
//
// Lifetime: both reactors must keep running until the call completes. A reactor that is
// destroyed with a RunOn in flight drops it (the target drops the work, or the origin drops the
// resumption); shut a process down by first stopping the work that calls RunOn.
#pragma once

#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "common/io/reactor.h"
#include "common/task.h"

namespace spool::io {

namespace detail {

template <typename T>
struct RunOnAwaiter {
  Reactor* target;
  Reactor* origin;
  absl::AnyInvocable<Task<T>()> fn;
  std::optional<T> result;

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> caller) {
    target->post([this, caller]() mutable { target->spawn(Run(this, caller)); });
  }
  T await_resume() { return std::move(*result); }

  static Task<void> Run(RunOnAwaiter* self, std::coroutine_handle<> caller) {
    Task<T> work = self->fn();
    self->result.emplace(co_await std::move(work));
    self->origin->post([caller]() { caller.resume(); });
  }
};

template <>
struct RunOnAwaiter<void> {
  Reactor* target;
  Reactor* origin;
  absl::AnyInvocable<Task<void>()> fn;

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> caller) {
    target->post([this, caller]() mutable { target->spawn(Run(this, caller)); });
  }
  void await_resume() const noexcept {}

  static Task<void> Run(RunOnAwaiter* self, std::coroutine_handle<> caller) {
    Task<void> work = self->fn();
    co_await std::move(work);
    self->origin->post([caller]() { caller.resume(); });
  }
};

}  // namespace detail

template <typename T>
Task<T> RunOn(Reactor& target, absl::AnyInvocable<Task<T>()> fn) {
  Reactor* origin = Reactor::current();
  if (origin == nullptr) {
    // Not on a reactor thread: there is nowhere to resume the caller. A programming error.
    std::fprintf(stderr, "spool: io::RunOn awaited off a reactor thread\n");
    std::abort();
  }
  if (origin == &target) {
    Task<T> work = fn();
    co_return co_await std::move(work);
  }
  detail::RunOnAwaiter<T> awaiter{&target, origin, std::move(fn)};
  if constexpr (std::is_void_v<T>) {
    co_await awaiter;
  } else {
    co_return co_await awaiter;
  }
}

}  // namespace spool::io
