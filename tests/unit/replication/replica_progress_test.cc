// ReplicaProgress (replication/partition/replica_progress.h): the leader's follower
// bookkeeping, driven with virtual time.
#include "replication/partition/replica_progress.h"

#include <gtest/gtest.h>

namespace spool::replication {
namespace {

constexpr int64_t kSec = 1'000'000'000;

ReplicaProgress Make(std::vector<int32_t> isr, int32_t min_isr = 1, int64_t epoch_start = 0) {
  ReplicaProgress::Options o;
  o.self = 1;
  o.replicas = {1, 2, 3};
  o.isr = std::move(isr);
  o.min_insync_replicas = min_isr;
  o.epoch_start_offset = epoch_start;
  o.now_ns = 100 * kSec;
  return ReplicaProgress(std::move(o));
}

TEST(ReplicaProgressTest, HighWatermarkIsTheMinimumOverTheIsr) {
  ReplicaProgress p = Make({1, 2, 3});
  // Followers not heard from in this leadership hold the HW.
  EXPECT_EQ(p.HighWatermark(50), std::nullopt);
  p.OnFetch(2, 40, 50, 101 * kSec);
  EXPECT_EQ(p.HighWatermark(50), std::nullopt);
  p.OnFetch(3, 30, 50, 101 * kSec);
  EXPECT_EQ(p.HighWatermark(50), 30);
  p.OnFetch(3, 50, 50, 102 * kSec);
  EXPECT_EQ(p.HighWatermark(50), 40);
  // The leader's own (durable) end bounds it too.
  EXPECT_EQ(p.HighWatermark(35), 35);
}

TEST(ReplicaProgressTest, FollowersOutsideTheIsrDoNotHoldTheHighWatermark) {
  ReplicaProgress p = Make({1, 2});
  p.OnFetch(2, 50, 50, 101 * kSec);
  p.OnFetch(3, 0, 50, 101 * kSec);
  EXPECT_EQ(p.HighWatermark(50), 50);
}

TEST(ReplicaProgressTest, NoHighWatermarkBelowMinInsyncReplicas) {
  ReplicaProgress p = Make({1}, /*min_isr=*/2);
  EXPECT_EQ(p.HighWatermark(50), std::nullopt);
  p.SetIsr({1, 2});
  p.OnFetch(2, 20, 50, 101 * kSec);
  EXPECT_EQ(p.HighWatermark(50), 20);
}

TEST(ReplicaProgressTest, PendingAdditionCountsAndPendingRemovalStillCounts) {
  ReplicaProgress p = Make({1, 2});
  p.OnFetch(2, 50, 50, 101 * kSec);
  p.OnFetch(3, 10, 50, 101 * kSec);
  EXPECT_EQ(p.HighWatermark(50), 50);
  // Adding 3: it counts from the moment the change is asked.
  p.SetPending(std::vector<int32_t>{1, 2, 3});
  EXPECT_EQ(p.HighWatermark(50), 10);
  p.SetIsr({1, 2, 3});
  EXPECT_FALSE(p.pending().has_value());
  // Removing 2: it keeps counting until the removal commits.
  p.OnFetch(3, 50, 50, 102 * kSec);
  p.OnFetch(2, 45, 50, 102 * kSec);
  p.SetPending(std::vector<int32_t>{1, 3});
  EXPECT_EQ(p.HighWatermark(50), 45);
  p.SetIsr({1, 3});
  EXPECT_EQ(p.HighWatermark(50), 50);
}

TEST(ReplicaProgressTest, LaggingAfterTheLagTimeWithoutCatchingUp) {
  ReplicaProgress p = Make({1, 2, 3});
  const int64_t lag = 10 * kSec;
  // ISR members get the lag time from the start of the leadership.
  EXPECT_TRUE(p.Lagging(109 * kSec, lag, 50).empty());
  p.OnFetch(2, 50, 50, 105 * kSec);  // caught up at 105
  p.OnFetch(3, 10, 50, 105 * kSec);  // behind
  EXPECT_EQ(p.Lagging(111 * kSec, lag, 50), std::vector<int32_t>{3});
  // 2 is at the leader's end: never lagging, however long ago it fetched.
  EXPECT_EQ(p.Lagging(200 * kSec, lag, 50), std::vector<int32_t>{3});
  // 2 behind a moving leader but reaching, at each fetch, the end of the previous fetch: it
  // counts as caught up at the previous fetch's time (Kafka's rule): 105, then 120.
  p.OnFetch(2, 60, 80, 120 * kSec);
  EXPECT_EQ(p.Lagging(114 * kSec, lag, 80), std::vector<int32_t>{3});
  EXPECT_EQ(p.Lagging(116 * kSec, lag, 80), (std::vector<int32_t>{2, 3}));
  p.OnFetch(2, 80, 90, 125 * kSec);
  EXPECT_EQ(p.Lagging(129 * kSec, lag, 90), std::vector<int32_t>{3});
  EXPECT_EQ(p.Lagging(131 * kSec, lag, 90), (std::vector<int32_t>{2, 3}));
}

TEST(ReplicaProgressTest, ReadyToJoinNeedsTheHighWatermarkAndTheEpochStart) {
  ReplicaProgress p = Make({1, 2}, 1, /*epoch_start=*/40);
  p.OnFetch(2, 60, 60, 101 * kSec);
  p.OnFetch(3, 30, 60, 101 * kSec);
  const int64_t now = 103 * kSec, lag = 10 * kSec;
  EXPECT_TRUE(p.ReadyToJoin(30, now, lag).empty());  // below the epoch start
  p.OnFetch(3, 45, 60, 102 * kSec);
  EXPECT_TRUE(p.ReadyToJoin(50, now, lag).empty());  // below the HW
  EXPECT_EQ(p.ReadyToJoin(45, now, lag), std::vector<int32_t>{3});
  // A follower that stopped fetching (killed) keeps its offset but is not joining.
  EXPECT_TRUE(p.ReadyToJoin(45, 113 * kSec, lag).empty());
  p.SetIsr({1, 2, 3});
  EXPECT_TRUE(p.ReadyToJoin(45, now, lag).empty());
}

TEST(ReplicaProgressTest, NonReplicasAreIgnored) {
  ReplicaProgress p = Make({1, 2, 3});
  p.OnFetch(9, 50, 50, 101 * kSec);
  EXPECT_EQ(p.FollowerEnd(9), -1);
  EXPECT_EQ(p.HighWatermark(50), std::nullopt);
}

}  // namespace
}  // namespace spool::replication
