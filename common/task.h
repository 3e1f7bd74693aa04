// Task<T>: the coroutine type of every asynchronous operation in Spool.
//
// A Task is lazy: calling a coroutine function creates the frame but runs nothing until the Task
// is co_awaited (or handed to Reactor::spawn / Reactor::block_on). The awaiting coroutine is
// resumed by symmetric transfer when the task finishes, so long chains of immediately-completing
// tasks do not grow the stack. A Task owns its frame and destroys it when the Task is destroyed.
//
// Threading: a Task runs on the thread that resumes it; the I/O layer resumes coroutines only on
// their reactor's thread, so code inside a task never needs a lock for reactor-owned state.
// Exceptions are not used in Spool: an exception escaping a coroutine terminates the process.
//
// Compiler pitfall (GCC 12.2): a co_await directly inside an if/while/switch condition, a ?:
// expression or a gtest EXPECT_/ASSERT_ macro is miscompiled (the coroutine body silently never
// runs). Bind the awaited value to a variable first; scripts/check-coroutines (a ctest) enforces
// this. Three more shapes GCC 12.2 gets wrong, found by ASan in the broker and clients (not yet
// caught by the lint): a lambda with captures written as a temporary argument inside a co_await
// expression (its captures are destroyed twice), a prvalue class-type argument to an awaited
// coroutine (`co_await Connect(r, HostPort{...})`: a bad free of its std::string), and a braced
// `{...}` argument in an awaited call ("array used as initializer"). In each case: bind the
// lambda or argument to a named variable first, then co_await.
//
// Lifetime rule for callers: arguments a coroutine takes by reference (spans, string_views) must
// stay alive until the Task completes. Prefer passing owned values (std::string) into coroutines.
#pragma once

#include <coroutine>
#include <cstdlib>
#include <exception>
#include <optional>
#include <utility>

namespace spool {

template <typename T = void>
class Task;

namespace detail {

struct PromiseBase {
  std::coroutine_handle<> continuation = std::noop_coroutine();

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      return h.promise().continuation;
    }
    void await_resume() const noexcept {}
  };

  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }
};

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
 public:
  struct promise_type : detail::PromiseBase {
    std::optional<T> value;
    Task get_return_object() noexcept {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    template <typename U>
    void return_value(U&& v) {
      value.emplace(std::forward<U>(v));
    }
  };

  Task() = default;
  Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (h_) h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  bool valid() const { return static_cast<bool>(h_); }
  bool done() const { return h_ && h_.done(); }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    h_.promise().continuation = awaiting;
    return h_;
  }
  T await_resume() { return std::move(*h_.promise().value); }

  // For drivers (Reactor::block_on, Reactor::spawn): start or inspect the frame directly.
  std::coroutine_handle<promise_type> handle() const { return h_; }
  T take_result() { return std::move(*h_.promise().value); }

 private:
  explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

template <>
class [[nodiscard]] Task<void> {
 public:
  struct promise_type : detail::PromiseBase {
    Task get_return_object() noexcept {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    void return_void() const noexcept {}
  };

  Task() = default;
  Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (h_) h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  bool valid() const { return static_cast<bool>(h_); }
  bool done() const { return h_ && h_.done(); }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    h_.promise().continuation = awaiting;
    return h_;
  }
  void await_resume() const noexcept {}

  std::coroutine_handle<promise_type> handle() const { return h_; }
  void take_result() const noexcept {}

 private:
  explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

}  // namespace spool
