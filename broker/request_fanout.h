// FanOut: runs one piece of work per owning shard for the items of a request, all shards at
// once, and completes when every shard is done. Items are the flattened (topic, partition)
// entries of a request; `owner[i]` is the shard of item i.
//
// Ordering: the hops are started in shard order from the calling shard's ready queue (FIFO) and
// each lands in its target's post queue (FIFO), so two requests fanned out one after the other
// from one shard reach every target shard in that order. Produce relies on this.
//
// Threading: call from a shard thread; `work(shard, items)` runs on `shard`'s thread and must
// only touch what that shard owns (plus whatever the caller keeps alive until FanOut returns).
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "broker/shard.h"
#include "common/io/when_all.h"
#include "common/task.h"

namespace spool::broker {

template <typename Work>  // Task<void>(int shard, std::vector<size_t> items)
Task<void> FanOut(ShardSet& shards, const std::vector<int>& owner, Work work) {
  std::vector<std::vector<size_t>> by_shard(static_cast<size_t>(shards.size()));
  for (size_t i = 0; i < owner.size(); i++) {
    if (owner[i] >= 0) by_shard[static_cast<size_t>(owner[i])].push_back(i);
  }
  auto shared = std::make_shared<Work>(std::move(work));
  std::vector<Task<void>> hops;
  for (int s = 0; s < shards.size(); s++) {
    if (by_shard[static_cast<size_t>(s)].empty()) continue;
    hops.push_back(shards.submit_to<void>(
        s, [shared, s, items = std::move(by_shard[static_cast<size_t>(s)])]() mutable {
          return (*shared)(s, std::move(items));
        }));
  }
  if (hops.empty()) co_return;
  co_await io::WhenAll(*io::Reactor::current(), std::move(hops));
}

}  // namespace spool::broker
