// WhenAll: runs several Task<void>s concurrently on one reactor and completes when all have.
// Each task is spawned on `reactor` (so they interleave at their suspension points); the
// awaiting coroutine resumes after the last one finishes. Reactor thread only.
#pragma once

#include <memory>
#include <vector>

#include "common/io/event.h"
#include "common/io/reactor.h"
#include "common/task.h"

namespace spool::io {

inline Task<void> WhenAll(Reactor& reactor, std::vector<Task<void>> tasks) {
  struct State {
    explicit State(Reactor& r) : done(r) {}
    size_t left = 0;
    Event done;
  };
  auto state = std::make_shared<State>(reactor);
  state->left = tasks.size();
  if (state->left == 0) co_return;
  for (auto& t : tasks) {
    reactor.spawn([](Task<void> task, std::shared_ptr<State> s) -> Task<void> {
      co_await std::move(task);
      if (--s->left == 0) s->done.set();
    }(std::move(t), state));
  }
  co_await state->done.wait();
}

}  // namespace spool::io
