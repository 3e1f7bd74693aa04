// Shards: the broker's reactor threads (ARCHITECTURE.md §3, shard per core).
//
// Each shard is one thread running one io::Reactor, with a FileSystem bound to that reactor. A
// shard owns the connections it accepted and the partitions hashed to it (PartitionShard()); a
// partition is touched only on its shard's thread. Work for another shard goes through
// submit_to(), a message to that reactor, never a lock.
//
// Lifetime and threading: ShardSet::Start() creates the threads and waits until every reactor is
// up. stop() (any thread) makes every loop return; the destructor stops and joins. Work running
// on a shard when it stops is dropped, so the broker first stops its listeners and connections
// and closes its partitions (which it does through submit_to) before the ShardSet goes.
// size(), shard() and current() may be called from any thread once Start() has returned.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "common/io/cross_reactor.h"
#include "common/io/file_system.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"

namespace spool::broker {

struct Shard {
  int id = 0;
  io::Reactor* reactor = nullptr;
  io::FileSystem* fs = nullptr;
};

class ShardSet {
 public:
  // Starts `count` (>= 1) shard threads, named "spool-shard-N".
  static StatusOr<std::unique_ptr<ShardSet>> Start(int count, io::ReactorOptions options = {});
  ~ShardSet();
  ShardSet(const ShardSet&) = delete;
  ShardSet& operator=(const ShardSet&) = delete;

  int size() const { return static_cast<int>(views_.size()); }
  Shard& shard(int i) { return views_[static_cast<size_t>(i)]; }
  // The shard whose thread is calling, or -1 off every shard thread.
  int current() const;

  // Runs fn() on shard `i` and resumes the caller (on its own shard) with the result.
  template <typename T>
  Task<T> submit_to(int i, absl::AnyInvocable<Task<T>()> fn) {
    return io::RunOn<T>(*shard(i).reactor, std::move(fn));
  }
  // Runs fn(shard) on every shard at once and completes when all have. From a shard thread.
  Task<void> on_all(absl::AnyInvocable<Task<void>(Shard&)> fn);

  // Posts fn to shard `i` without waiting. Any thread.
  void post(int i, absl::AnyInvocable<void()> fn) { shard(i).reactor->post(std::move(fn)); }
  // Runs fn on shard `i` and blocks the calling thread until it has run (directly when called
  // on shard `i` itself). For teardown, where the caller may not be a shard thread; a shard
  // thread that calls it for another shard stalls its own reactor meanwhile.
  void run_and_wait(int i, absl::AnyInvocable<void()> fn);

  // Makes every shard's loop return (the threads end). Any thread; idempotent.
  void stop();

 private:
  struct Thread;
  struct Teardown;
  ShardSet();
  std::vector<std::unique_ptr<Thread>> shards_;
  std::vector<Shard> views_;  // shards_[i]->shard, copied once the thread is up
  std::shared_ptr<Teardown> teardown_;
};

// The shard that owns partition `partition` of `topic` among `shard_count` shards: a stable
// hash, so a partition stays on its shard across restarts with the same shard count.
int PartitionShard(std::string_view topic, int32_t partition, int shard_count);

}  // namespace spool::broker
