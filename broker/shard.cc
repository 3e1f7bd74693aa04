#include "broker/shard.h"

#include <pthread.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/io/when_all.h"

namespace spool::broker {
namespace {

thread_local int current_shard = -1;

}  // namespace

// Reactors are destroyed only once every shard's loop has returned and stop() has been called on
// all of them: another shard (or stop()) may still be inside post()/stop() of a reactor whose own
// loop already returned, and those calls touch the reactor after its loop ends.
struct ShardSet::Teardown {
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;        // shard loops not yet returned
  bool released = false;  // set by ~ShardSet after stop()
};

struct ShardSet::Thread {
  Shard shard;
  std::unique_ptr<io::Reactor> reactor;
  std::unique_ptr<io::FileSystem> fs;
  std::thread thread;
};

ShardSet::ShardSet() : teardown_(std::make_shared<Teardown>()) {}

StatusOr<std::unique_ptr<ShardSet>> ShardSet::Start(int count, io::ReactorOptions options) {
  if (count < 1) return absl::InvalidArgumentError("a broker needs at least one shard");
  std::unique_ptr<ShardSet> set(new ShardSet());
  for (int i = 0; i < count; i++) {
    auto t = std::make_unique<Thread>();
    Thread* raw = t.get();
    std::promise<Status> ready;
    std::future<Status> started = ready.get_future();
    std::shared_ptr<Teardown> teardown = set->teardown_;
    raw->thread = std::thread([raw, i, options, teardown, ready = std::move(ready)]() mutable {
      const std::string name = absl::StrCat("spool-shard-", i);
      pthread_setname_np(pthread_self(), name.c_str());
      StatusOr<std::unique_ptr<io::Reactor>> r = io::Reactor::Create(options);
      if (!r.ok()) {
        ready.set_value(r.status());
        return;
      }
      raw->reactor = *std::move(r);
      raw->fs = io::NewReactorFileSystem(*raw->reactor);
      raw->shard = Shard{i, raw->reactor.get(), raw->fs.get()};
      current_shard = i;
      {
        std::lock_guard lock(teardown->mu);
        teardown->running++;
      }
      ready.set_value(absl::OkStatus());
      raw->reactor->run();
      {
        std::unique_lock lock(teardown->mu);
        teardown->running--;
        teardown->cv.notify_all();
        teardown->cv.wait(lock, [&] { return teardown->released && teardown->running == 0; });
      }
      // Destroyed on the thread that ran them, after every loop has ended.
      raw->fs.reset();
      raw->reactor.reset();
    });
    Status st = started.get();
    set->shards_.push_back(std::move(t));
    if (!st.ok()) return st;  // the destructor joins the threads started so far
    set->views_.push_back(raw->shard);
  }
  return set;
}

ShardSet::~ShardSet() {
  stop();
  {
    std::lock_guard lock(teardown_->mu);
    teardown_->released = true;
    teardown_->cv.notify_all();
  }
  for (auto& t : shards_) {
    if (t->thread.joinable()) t->thread.join();
  }
}

int ShardSet::current() const {
  return current_shard;
}

void ShardSet::run_and_wait(int i, absl::AnyInvocable<void()> fn) {
  if (current() == i) {
    fn();
    return;
  }
  std::promise<void> done;
  post(i, [&fn, &done] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

void ShardSet::stop() {
  for (Shard& s : views_) s.reactor->stop();
}

Task<void> ShardSet::on_all(absl::AnyInvocable<Task<void>(Shard&)> fn) {
  // fn is shared by the calls, each on its own shard; it must be safe to call concurrently.
  auto shared = std::make_shared<absl::AnyInvocable<Task<void>(Shard&)>>(std::move(fn));
  std::vector<Task<void>> calls;
  calls.reserve(shards_.size());
  for (int i = 0; i < size(); i++) {
    calls.push_back(
        submit_to<void>(i, [shared, s = &shard(i)]() -> Task<void> { co_await (*shared)(*s); }));
  }
  co_await io::WhenAll(*io::Reactor::current(), std::move(calls));
}

int PartitionShard(std::string_view topic, int32_t partition, int shard_count) {
  // FNV-1a over the topic name, then the partition number mixed in (splitmix64 finaliser).
  uint64_t h = 1469598103934665603ull;
  for (char c : topic) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  h ^= static_cast<uint64_t>(static_cast<uint32_t>(partition)) + 0x9e3779b97f4a7c15ull;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return static_cast<int>(h % static_cast<uint64_t>(shard_count));
}

}  // namespace spool::broker
