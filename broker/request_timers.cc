#include "broker/request_timers.h"

#include <chrono>
#include <set>
#include <utility>
#include <vector>

namespace spool::broker {

struct RequestTimers::State {
  explicit State(io::Reactor& r) : reactor(r) {}
  io::Reactor& reactor;
  std::multimap<int64_t, Id> by_deadline;
  struct Entry {
    std::multimap<int64_t, Id>::iterator position;
    absl::AnyInvocable<void()> fn;
  };
  std::unordered_map<Id, Entry> entries;
  Id next_id = 1;
  // The targets sleepers are parked for. A new sleeper starts only for a deadline earlier than
  // all of them, so they stay few (usually one).
  std::multiset<int64_t> sleepers;
  bool shut_down = false;
};

RequestTimers::RequestTimers(io::Reactor& reactor) : state_(std::make_shared<State>(reactor)) {}

int64_t RequestTimers::NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

RequestTimers::Id RequestTimers::Arm(int64_t deadline_ns, absl::AnyInvocable<void()> fn) {
  State& s = *state_;
  if (s.shut_down) return kNoTimer;
  const Id id = s.next_id++;
  auto pos = s.by_deadline.emplace(deadline_ns, id);
  s.entries.emplace(id, State::Entry{pos, std::move(fn)});
  if (s.sleepers.empty() || deadline_ns < *s.sleepers.begin()) {
    s.sleepers.insert(deadline_ns);
    s.reactor.spawn(Sleep(state_, deadline_ns));
  }
  return id;
}

void RequestTimers::Cancel(Id id) {
  State& s = *state_;
  auto it = s.entries.find(id);
  if (it == s.entries.end()) return;
  s.by_deadline.erase(it->second.position);
  s.entries.erase(it);
}

void RequestTimers::Shutdown() {
  state_->shut_down = true;
  state_->by_deadline.clear();
  state_->entries.clear();
}

size_t RequestTimers::pending() const {
  return state_->entries.size();
}

void RequestTimers::FireDue(State& s) {
  const int64_t now = NowNs();
  std::vector<absl::AnyInvocable<void()>> due;
  while (!s.by_deadline.empty() && s.by_deadline.begin()->first <= now) {
    const Id id = s.by_deadline.begin()->second;
    s.by_deadline.erase(s.by_deadline.begin());
    auto it = s.entries.find(id);
    due.push_back(std::move(it->second.fn));
    s.entries.erase(it);
  }
  // Callbacks may Arm or Cancel: they run after the maps are consistent again.
  for (auto& fn : due) fn();
}

Task<void> RequestTimers::Sleep(std::shared_ptr<State> state, int64_t target_ns) {
  int64_t target = target_ns;
  while (true) {
    const int64_t wait = target - NowNs();
    if (wait > 0) co_await state->reactor.sleep_for(std::chrono::nanoseconds(wait));
    if (state->shut_down) co_return;
    state->sleepers.erase(state->sleepers.find(target));
    FireDue(*state);
    if (state->shut_down || state->by_deadline.empty()) co_return;
    const int64_t next = state->by_deadline.begin()->first;
    // Another sleeper wakes first and takes over from there.
    if (!state->sleepers.empty() && *state->sleepers.begin() <= next) co_return;
    state->sleepers.insert(next);
    target = next;
  }
}

}  // namespace spool::broker
