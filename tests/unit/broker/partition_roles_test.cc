// Partition roles (broker/partition.h, broker/REPLICATION.md): what a leadership change does to
// writes in flight and to acks=all waiters, the leader's HW over the ISR, and a follower's
// appends and truncations. A real log in a temp dir on the environment's I/O backend; the
// followers' fetches are played by calling OnReplicaFetch (no second broker).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker/partition.h"
#include "broker/request_timers.h"
#include "gtest/gtest.h"
#include "proto/errors.h"
#include "tests/support/broker_test_util.h"
#include "tests/support/log_test_util.h"

namespace spool::testing {
namespace {

using broker::Partition;
using broker::RequestTimers;
using proto::ErrorCode;

constexpr std::string_view kTopic = "roles";

class PartitionRolesTest : public LogTest {
 protected:
  PartitionRolesTest() : timers_(*reactor_) {}
  ~PartitionRolesTest() override { timers_.Shutdown(); }

  Task<std::shared_ptr<Partition>> OpenPartition(bool follower) {
    Partition::Options o;
    o.topic = std::string(kTopic);
    o.index = 0;
    o.dir = dir_;
    o.follower = follower;
    o.config.min_insync_replicas = 2;
    StatusOr<std::shared_ptr<Partition>> p = co_await Partition::Open(*fs_, clock_, timers_, o);
    EXPECT_TRUE(p.ok()) << p.status();
    co_return p.ok() ? *std::move(p) : nullptr;
  }
  static Partition::LeaderRole Role(int32_t epoch, std::vector<int32_t> isr,
                                    int32_t partition_epoch = 0) {
    Partition::LeaderRole r;
    r.self = 1;
    r.leader_epoch = epoch;
    r.partition_epoch = partition_epoch;
    r.replicas = {1, 2, 3};
    r.isr = std::move(isr);
    return r;
  }
  static ErrorCode CodeOf(const Status& st) { return proto::ErrorFromStatus(st); }

  broker::RequestTimers timers_;
};

TEST_F(PartitionRolesTest, TheHighWatermarkIsTheIsrMinimumAndAcksAllWaitsForIt) {
  reactor_->block_on([&]() -> Task<void> {
    std::shared_ptr<Partition> p = co_await OpenPartition(true);
    CO_ASSERT_TRUE(p != nullptr);
    Partition::LeaderRole role = Role(1, {1, 2, 3});
    CO_ASSERT_OK(co_await p->BecomeLeader(role));
    std::vector<std::byte> batch = MakeBatch(4);
    StatusOr<log::AppendResult> r = co_await p->Append(batch);
    CO_ASSERT_OK(r);
    CO_ASSERT_OK(co_await p->log().wait_durable(r->last_offset));
    EXPECT_EQ(p->high_watermark().value(), 0) << "followers not heard from hold it";
    p->OnReplicaFetch(2, Offset(4), RequestTimers::NowNs());
    EXPECT_EQ(p->high_watermark().value(), 0) << "follower 3 is in the ISR too";
    p->OnReplicaFetch(3, Offset(2), RequestTimers::NowNs());
    EXPECT_EQ(p->high_watermark().value(), 2);
    p->OnReplicaFetch(3, Offset(4), RequestTimers::NowNs());
    EXPECT_EQ(p->high_watermark().value(), 4);
    const int64_t deadline = RequestTimers::NowNs() + 5'000'000'000;
    CO_ASSERT_OK(co_await p->WaitCommitted(r->last_offset, deadline, p->term()));
    CO_ASSERT_OK(co_await p->Close(Status()));
  }());
}

TEST_F(PartitionRolesTest, LosingLeadershipFailsAcksAllAndAFollowersHwNeverAcksAnOldWrite) {
  reactor_->block_on([&]() -> Task<void> {
    std::shared_ptr<Partition> p = co_await OpenPartition(true);
    CO_ASSERT_TRUE(p != nullptr);
    Partition::LeaderRole role = Role(1, {1, 2});
    CO_ASSERT_OK(co_await p->BecomeLeader(role));
    const uint64_t term = p->term();
    std::vector<std::byte> batch = MakeBatch(1);
    StatusOr<log::AppendResult> r = co_await p->Append(batch);
    CO_ASSERT_OK(r);
    // A waiter parked on the leader fails when the leadership moves.
    const int64_t deadline = RequestTimers::NowNs() + 5'000'000'000;
    bool done = false;
    Status waited;
    reactor_->spawn([](std::shared_ptr<Partition> p, Offset last, int64_t deadline, uint64_t term,
                       bool* done, Status* out) -> Task<void> {
      *out = co_await p->WaitCommitted(last, deadline, term);
      *done = true;
    }(p, r->last_offset, deadline, term, &done, &waited));
    std::function<bool()> parked = [p] { return p->commit_waiters() == 1; };
    CO_ASSERT_OK(co_await WaitFor(*reactor_, parked));
    CO_ASSERT_OK(co_await p->BecomeFollower(2, 2));
    std::function<bool()> finished = [&done] { return done; };
    CO_ASSERT_OK(co_await WaitFor(*reactor_, finished));
    EXPECT_EQ(CodeOf(waited), ErrorCode::NOT_LEADER_OR_FOLLOWER) << waited;
    // The new leader's log did not have it: the follower cuts it, then replicates other
    // records to that offset and beyond, and its HW passes the old offset. A waiter of the old
    // term is refused, never answered OK.
    CO_ASSERT_OK(co_await p->TruncateTo(Offset(0), 2));
    std::vector<std::byte> other = Stamped(MakeBatch(3, 1'700'000'000'100, "other"), 0, 2);
    StatusOr<log::AppendResult> replicated = co_await p->AppendFromLeader(other, 2);
    CO_ASSERT_OK(replicated);
    CO_ASSERT_OK(co_await p->log().wait_durable(replicated->last_offset));
    p->SetFollowerHighWatermark(Offset(3));
    EXPECT_EQ(p->high_watermark().value(), 3);
    Status late = co_await p->WaitCommitted(r->last_offset, deadline, term);
    EXPECT_EQ(CodeOf(late), ErrorCode::NOT_LEADER_OR_FOLLOWER) << late;
    // And produce on a follower is refused.
    std::vector<std::byte> more = MakeBatch(1);
    StatusOr<log::AppendResult> refused = co_await p->Append(more);
    EXPECT_EQ(CodeOf(refused.status()), ErrorCode::NOT_LEADER_OR_FOLLOWER);
    CO_ASSERT_OK(co_await p->Close(Status()));
  }());
}

TEST_F(PartitionRolesTest, MinInsyncReplicasAdmissionAndAShrinkFailsTheWaiters) {
  reactor_->block_on([&]() -> Task<void> {
    std::shared_ptr<Partition> p = co_await OpenPartition(true);
    CO_ASSERT_TRUE(p != nullptr);
    Partition::LeaderRole alone = Role(1, {1});
    CO_ASSERT_OK(co_await p->BecomeLeader(alone));
    EXPECT_EQ(CodeOf(p->CheckAcksAll()), ErrorCode::NOT_ENOUGH_REPLICAS);
    Partition::LeaderRole two = Role(1, {1, 2}, 1);
    CO_ASSERT_OK(co_await p->BecomeLeader(two));
    CO_ASSERT_OK(p->CheckAcksAll());
    std::vector<std::byte> batch = MakeBatch(1);
    StatusOr<log::AppendResult> r = co_await p->Append(batch);
    CO_ASSERT_OK(r);
    bool done = false;
    Status waited;
    const int64_t deadline = RequestTimers::NowNs() + 5'000'000'000;
    reactor_->spawn([](std::shared_ptr<Partition> p, Offset last, int64_t deadline, uint64_t term,
                       bool* done, Status* out) -> Task<void> {
      *out = co_await p->WaitCommitted(last, deadline, term);
      *done = true;
    }(p, r->last_offset, deadline, p->term(), &done, &waited));
    std::function<bool()> parked = [p] { return p->commit_waiters() == 1; };
    CO_ASSERT_OK(co_await WaitFor(*reactor_, parked));
    // A late answer with an older partition epoch changes nothing; the shrink to 1 fails it.
    Partition::LeaderRole stale = Role(1, {1}, 0);
    CO_ASSERT_OK(co_await p->BecomeLeader(stale));
    EXPECT_EQ(p->commit_waiters(), 1u);
    Partition::LeaderRole shrunk = Role(1, {1}, 2);
    CO_ASSERT_OK(co_await p->BecomeLeader(shrunk));
    std::function<bool()> finished = [&done] { return done; };
    CO_ASSERT_OK(co_await WaitFor(*reactor_, finished));
    EXPECT_EQ(CodeOf(waited), ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND) << waited;
    CO_ASSERT_OK(co_await p->Close(Status()));
  }());
}

}  // namespace
}  // namespace spool::testing
