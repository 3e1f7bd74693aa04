// ShardSet: one thread per shard, work submitted to a shard runs on that shard's thread,
// on_all reaches every shard, and PartitionShard is stable and spreads partitions.
#include "broker/shard.h"

#include <atomic>
#include <future>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace spool::broker {
namespace {

TEST(ShardSetTest, SubmitToRunsOnTheTargetShard) {
  auto set = ShardSet::Start(3);
  ASSERT_TRUE(set.ok()) << set.status();
  ShardSet& shards = **set;
  ASSERT_EQ(shards.size(), 3);
  EXPECT_EQ(shards.current(), -1);
  std::promise<std::vector<int>> seen;
  shards.post(0, [&shards, &seen] {
    shards.shard(0).reactor->spawn(
        [](ShardSet* s, std::promise<std::vector<int>>* out) -> Task<void> {
          std::vector<int> where;
          for (int i = 0; i < s->size(); i++) {
            const int ran_on =
                co_await s->submit_to<int>(i, [s]() -> Task<int> { co_return s->current(); });
            where.push_back(ran_on);
            where.push_back(s->current());  // back home
          }
          out->set_value(where);
        }(&shards, &seen));
  });
  EXPECT_EQ(seen.get_future().get(), (std::vector<int>{0, 0, 1, 0, 2, 0}));
}

TEST(ShardSetTest, OnAllReachesEveryShard) {
  auto set = ShardSet::Start(4);
  ASSERT_TRUE(set.ok()) << set.status();
  ShardSet& shards = **set;
  std::atomic<int> mask{0};
  std::promise<void> done;
  shards.post(2, [&] {
    shards.shard(2).reactor->spawn(
        [](ShardSet* s, std::atomic<int>* m, std::promise<void>* d) -> Task<void> {
          co_await s->on_all([m](Shard& sh) -> Task<void> {
            m->fetch_or(1 << sh.id);
            co_return;
          });
          d->set_value();
        }(&shards, &mask, &done));
  });
  done.get_future().get();
  EXPECT_EQ(mask.load(), 0b1111);
}

TEST(ShardSetTest, ZeroShardsIsRefused) {
  EXPECT_TRUE(absl::IsInvalidArgument(ShardSet::Start(0).status()));
}

TEST(PartitionShardTest, StableAndSpread) {
  std::vector<int> counts(4);
  for (int p = 0; p < 400; p++) {
    const int s = PartitionShard("events", p, 4);
    ASSERT_GE(s, 0);
    ASSERT_LT(s, 4);
    EXPECT_EQ(s, PartitionShard("events", p, 4));
    counts[static_cast<size_t>(s)]++;
  }
  for (int c : counts) EXPECT_GT(c, 60) << "partitions pile up on one shard";
  EXPECT_EQ(PartitionShard("x", 7, 1), 0);
}

}  // namespace
}  // namespace spool::broker
