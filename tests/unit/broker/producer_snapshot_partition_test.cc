// Producer-state snapshots as a Partition takes and drops them (broker/partition.h, "Producer-
// state snapshots"; broker/STATE.md): a retry whose original batch is older than the tail scan
// is still a duplicate after a restart; maintenance snapshots only a durable prefix; a power cut
// during a snapshot write, or with a snapshot above the recovered end, never makes recovery use
// a history the log lost; a truncation or restart below a snapshot deletes it before the log
// regrows; retention deletes snapshots below the log start. A real log in a temp dir behind a
// FaultFileSystem, on the environment's I/O backend.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker/partition.h"
#include "broker/producer_snapshot.h"
#include "broker/request_timers.h"
#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "proto/errors.h"
#include "tests/support/broker_test_util.h"
#include "tests/support/fault_file_system.h"
#include "tests/support/log_test_util.h"
#include "tests/support/record_test_util.h"

namespace spool::testing {
namespace {

using broker::BatchIdentity;
using broker::DedupCheck;
using broker::Partition;
using broker::RequestTimers;
using proto::ErrorCode;

class ProducerSnapshotPartitionTest : public LogTest {
 protected:
  ProducerSnapshotPartitionTest() : timers_(*reactor_), fault_(*reactor_, *fs_, tmp_.file("s")) {}
  ~ProducerSnapshotPartitionTest() override { timers_.Shutdown(); }

  struct Setup {
    bool follower = false;
    int32_t leader_epoch = 0;
    int64_t scan_offsets = 10;  // a short tail: producers older than that need a snapshot
    int64_t interval = 0;       // snapshots only at Close() unless a test asks
    log::LogConfig log;
  };
  Task<std::shared_ptr<Partition>> Open(Setup s) {
    Partition::Options o;
    o.topic = "snap";
    o.dir = dir_;
    o.follower = s.follower;
    o.leader_id = s.follower ? 2 : -1;
    o.leader_epoch = LeaderEpoch(s.leader_epoch);
    o.config.log = s.log;
    o.producer_state_scan_offsets = s.scan_offsets;
    o.producer_snapshot_interval_offsets = s.interval;
    StatusOr<std::shared_ptr<Partition>> p = co_await Partition::Open(fault_, clock_, timers_, o);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) co_return nullptr;
    if (!s.follower) {
      // The broker's own ISR, so the HW follows the durable end.
      Partition::LeaderRole role = Leader(s.leader_epoch);
      Status led = co_await (*p)->BecomeLeader(role);
      EXPECT_TRUE(led.ok()) << led;
    }
    co_return *std::move(p);
  }
  // Appends and waits until it is committed (durable); failures fail the test.
  Task<StatusOr<log::AppendResult>> Produce(Partition& p, std::vector<std::byte> batch) {
    StatusOr<log::AppendResult> r = co_await p.Append(batch);
    if (!r.ok()) co_return r;
    const int64_t deadline = RequestTimers::NowNs() + 10'000'000'000;
    Status committed = co_await p.WaitCommitted(r->last_offset, deadline);
    EXPECT_TRUE(committed.ok()) << committed;
    co_return r;
  }
  Task<StatusOr<log::AppendResult>> ProduceIdempotent(Partition& p, int64_t pid, int32_t sequence,
                                                      int records) {
    std::vector<std::byte> batch = IdempotentBatch(pid, 0, sequence, records);
    co_return co_await Produce(p, batch);
  }
  Task<void> ProducePlain(Partition& p, int batches, int records, size_t value_size = 1) {
    for (int i = 0; i < batches; ++i) {
      std::vector<std::byte> batch =
          MakeBatch(records, 1'700'000'000'000, std::string(value_size, 'v'));
      StatusOr<log::AppendResult> r = co_await Produce(p, batch);
      EXPECT_TRUE(r.ok()) << r.status();
    }
  }
  Task<std::vector<Offset>> Snapshots() {
    StatusOr<std::vector<Offset>> listed = co_await broker::ListProducerSnapshots(fault_, dir_);
    EXPECT_TRUE(listed.ok()) << listed.status();
    co_return listed.ok() ? *listed : std::vector<Offset>{};
  }
  static Partition::LeaderRole Leader(int32_t epoch) {
    Partition::LeaderRole r;
    r.self = 1;
    r.leader_epoch = epoch;
    r.replicas = {1};
    r.isr = {1};
    return r;
  }
  static DedupCheck::Kind KindOf(const Partition& p, BatchIdentity id) {
    return p.producer_state().Check(id).kind;
  }

  broker::RequestTimers timers_;
  FaultFileSystem fault_;
};

TEST_F(ProducerSnapshotPartitionTest, ARetryOlderThanTheTailScanIsADuplicateAfterARestart) {
  reactor_->block_on([&]() -> Task<void> {
    const Setup defaults;
    std::shared_ptr<Partition> p = co_await Open(defaults);
    CO_ASSERT_TRUE(p != nullptr);
    CO_ASSERT_OK(co_await ProduceIdempotent(*p, 7, 0, 3));  // 0..2
    CO_ASSERT_OK(co_await ProduceIdempotent(*p, 7, 3, 2));  // 3..4
    co_await ProducePlain(*p, 8, 5);                        // 5..44
    CO_ASSERT_TRUE(p->log_end_offset() == Offset(45));
    CO_ASSERT_OK(co_await p->Close(Status()));
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{Offset(45)});
    }

    // The tail scan (10 offsets) would not see producer 7; the snapshot does.
    p = co_await Open(defaults);
    CO_ASSERT_TRUE(p != nullptr);
    EXPECT_EQ(p->last_producer_snapshot(), Offset(45));
    std::vector<std::byte> retry = IdempotentBatch(7, 0, 3, 2);
    StatusOr<log::AppendResult> again = co_await p->Append(retry);
    CO_ASSERT_OK(again);
    EXPECT_EQ(again->base_offset, Offset(3));
    EXPECT_EQ(again->last_offset, Offset(4));
    EXPECT_EQ(p->log_end_offset(), Offset(45)) << "a duplicate is not written again";
    CO_ASSERT_OK(co_await p->Close(Status()));
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{Offset(45)});
    }

    // Control: without the snapshot the same retry is refused (so the test needs snapshots).
    StatusOr<size_t> dropped = co_await broker::DeleteProducerSnapshotsOutside(
        fault_, dir_, Offset(1'000'000), Offset(1'000'000));
    CO_ASSERT_OK(dropped);
    p = co_await Open(defaults);
    CO_ASSERT_TRUE(p != nullptr);
    EXPECT_FALSE(p->last_producer_snapshot().has_value());
    std::vector<std::byte> retry2 = IdempotentBatch(7, 0, 3, 2);
    StatusOr<log::AppendResult> refused = co_await p->Append(retry2);
    EXPECT_EQ(proto::ErrorFromStatus(refused.status()), ErrorCode::UNKNOWN_PRODUCER_ID)
        << refused.status();
    CO_ASSERT_OK(co_await p->Close(Status()));
  }());
}

TEST_F(ProducerSnapshotPartitionTest,
       MaintenanceSnapshotsOnlyADurablePrefixAndAPowerCutMidWriteIsHarmless) {
  reactor_->block_on([&]() -> Task<void> {
    Setup setup;
    setup.interval = 20;
    std::shared_ptr<Partition> p = co_await Open(setup);
    CO_ASSERT_TRUE(p != nullptr);
    CO_ASSERT_OK(co_await ProduceIdempotent(*p, 7, 0, 3));  // 0..2
    co_await ProducePlain(*p, 5, 5);                        // 3..27
    CO_ASSERT_OK(co_await p->RunRetention());
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{Offset(28)});
    }
    EXPECT_EQ(p->last_producer_snapshot(), Offset(28));

    // Grown by 20 more (durable) and one more whose fdatasync is held: the snapshot is of the
    // durable prefix, at 48, not at the log end 49. (Its own fdatasync waits at the gate too:
    // release both once both are parked.)
    co_await ProducePlain(*p, 4, 5);  // 28..47
    fault_.HoldSyncs();
    std::vector<std::byte> pending = MakeBatch(1);  // 48
    CO_ASSERT_OK(co_await p->Append(pending));
    std::function<bool()> parked = [this] { return fault_.syncs_waiting() == 1; };
    CO_ASSERT_OK(co_await WaitFor(*reactor_, parked));
    {
      bool done = false;
      Status result;
      reactor_->spawn([](std::shared_ptr<Partition> p, bool* done, Status* out) -> Task<void> {
        *out = co_await p->RunRetention();
        *done = true;
      }(p, &done, &result));
      std::function<bool()> both = [this] { return fault_.syncs_waiting() == 2; };
      CO_ASSERT_OK(co_await WaitFor(*reactor_, both));
      EXPECT_EQ(p->log_end_offset(), Offset(49));
      fault_.ReleaseSyncs();
      std::function<bool()> finished = [&done] { return done; };
      CO_ASSERT_OK(co_await WaitFor(*reactor_, finished));
      CO_ASSERT_OK(result);
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, (std::vector<Offset>{Offset(28), Offset(48)}));
    }
    const int64_t deadline = RequestTimers::NowNs() + 10'000'000'000;
    CO_ASSERT_OK(co_await p->WaitCommitted(Offset(48), deadline));
    co_await ProducePlain(*p, 4, 5);  // 49..68: due again

    // Durable now: the snapshot at 69 is due. Cut the power while its temp file's fdatasync is
    // held (written, not renamed).
    fault_.HoldSyncs();
    bool done = false;
    Status snapshot_result;
    reactor_->spawn([](std::shared_ptr<Partition> p, bool* done, Status* out) -> Task<void> {
      *out = co_await p->RunRetention();
      *done = true;
    }(p, &done, &snapshot_result));
    CO_ASSERT_OK(co_await WaitFor(*reactor_, parked));
    CO_ASSERT_OK(co_await fault_.SimulatePowerCut());
    fault_.ReleaseSyncs();
    std::function<bool()> finished = [&done] { return done; };
    CO_ASSERT_OK(co_await WaitFor(*reactor_, finished));
    EXPECT_FALSE(snapshot_result.ok());
    p.reset();  // the crashed process

    p = co_await Open(setup);
    CO_ASSERT_TRUE(p != nullptr);
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, (std::vector<Offset>{Offset(28), Offset(48)}));
    }
    EXPECT_EQ(p->last_producer_snapshot(), Offset(48));
    EXPECT_EQ(p->log_end_offset(), Offset(69));
    const DedupCheck dup = p->producer_state().Check(BatchIdentity{7, 0, 0, 2});
    EXPECT_EQ(dup.kind, DedupCheck::kDuplicate);
    EXPECT_EQ(dup.base_offset, Offset(0));
    EXPECT_EQ(KindOf(*p, BatchIdentity{7, 0, 3, 3}), DedupCheck::kAppend);
    CO_ASSERT_OK(co_await p->Close(Status()));
  }());
}

TEST_F(ProducerSnapshotPartitionTest, ATruncationBelowASnapshotDeletesItBeforeTheLogRegrows) {
  reactor_->block_on([&]() -> Task<void> {
    Setup leader;
    leader.scan_offsets = 1000;  // the whole log when there is no snapshot
    std::shared_ptr<Partition> p = co_await Open(leader);
    CO_ASSERT_TRUE(p != nullptr);
    CO_ASSERT_OK(co_await ProduceIdempotent(*p, 7, 0, 3));  // 0..2
    CO_ASSERT_OK(co_await ProduceIdempotent(*p, 7, 3, 3));  // 3..5
    co_await ProducePlain(*p, 1, 4);                        // 6..9
    CO_ASSERT_OK(co_await p->Close(Status()));
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{Offset(10)});
    }

    // As a follower: the new leader's log diverges at 3. The snapshot at 10 goes with the cut.
    Setup follower = leader;
    follower.follower = true;
    p = co_await Open(follower);
    CO_ASSERT_TRUE(p != nullptr);
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{Offset(10)}) << "inside the log: kept";
    }
    CO_ASSERT_OK(co_await p->TruncateTo(Offset(3), 0));
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{});
    }
    // The log regrows past 10 with another history: producer 7's batch at 3 is one record.
    std::vector<std::byte> other = Stamped(IdempotentBatch(7, 0, 3, 1), 3, 0);
    CO_ASSERT_OK(co_await p->AppendFromLeader(other, 0));
    std::vector<std::byte> plain = Stamped(MakeBatch(10), 4, 0);
    CO_ASSERT_OK(co_await p->AppendFromLeader(plain, 0));
    CO_ASSERT_OK(co_await p->log().wait_durable(Offset(13)));
    Partition::LeaderRole role = Leader(1);
    CO_ASSERT_OK(co_await p->BecomeLeader(role));
    // Right for the new history; the stale snapshot would call {3..5} a duplicate at 3.
    EXPECT_EQ(KindOf(*p, BatchIdentity{7, 0, 3, 5}), DedupCheck::kOutOfOrder);
    const DedupCheck dup = p->producer_state().Check(BatchIdentity{7, 0, 3, 3});
    EXPECT_EQ(dup.kind, DedupCheck::kDuplicate);
    EXPECT_EQ(dup.base_offset, Offset(3));
    CO_ASSERT_OK(co_await p->Close(Status()));
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{Offset(14)});
    }

    // Reopened as leader: the snapshot at 14 gives the same answers.
    leader.leader_epoch = 1;
    p = co_await Open(leader);
    CO_ASSERT_TRUE(p != nullptr);
    EXPECT_EQ(p->last_producer_snapshot(), Offset(14));
    EXPECT_EQ(KindOf(*p, BatchIdentity{7, 0, 3, 5}), DedupCheck::kOutOfOrder);
    EXPECT_EQ(KindOf(*p, BatchIdentity{7, 0, 3, 3}), DedupCheck::kDuplicate);
    CO_ASSERT_OK(co_await p->Close(Status()));

    // A follower restarting its log above its end drops every snapshot.
    follower.leader_epoch = 1;
    p = co_await Open(follower);
    CO_ASSERT_TRUE(p != nullptr);
    CO_ASSERT_OK(co_await p->RestartAt(Offset(100), 1));
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{});
    }
    CO_ASSERT_OK(co_await p->Close(Status()));
    {
      // A follower without a loaded table writes none at close.
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{});
    }
  }());
}

TEST_F(ProducerSnapshotPartitionTest, ASnapshotAboveTheRecoveredEndIsNeverUsed) {
  reactor_->block_on([&]() -> Task<void> {
    Setup setup;
    setup.scan_offsets = 1000;
    setup.interval = 1;
    std::shared_ptr<Partition> p = co_await Open(setup);
    CO_ASSERT_TRUE(p != nullptr);
    CO_ASSERT_OK(co_await ProduceIdempotent(*p, 7, 0, 2));  // 0..1, durable
    CO_ASSERT_OK(co_await p->RunRetention());
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{Offset(2)});
    }
    // 2..3 written, its fdatasync held: maintenance takes no snapshot of it.
    fault_.HoldSyncs();
    std::vector<std::byte> lost = IdempotentBatch(7, 0, 2, 2);
    CO_ASSERT_OK(co_await p->Append(lost));
    std::function<bool()> parked = [this] { return fault_.syncs_waiting() == 1; };
    CO_ASSERT_OK(co_await WaitFor(*reactor_, parked));
    CO_ASSERT_OK(co_await p->RunRetention());
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{Offset(2)});
    }
    // A snapshot of that lost history at 4 (what a careless writer would have left), then the
    // power cut: the log keeps 0..1 only.
    broker::ProducerStateTable ghost = p->producer_state();
    CO_ASSERT_OK(co_await fault_.SimulatePowerCut());
    fault_.ReleaseSyncs();
    std::function<bool()> pump_done = [&p] { return !p->pump_running(); };
    CO_ASSERT_OK(co_await WaitFor(*reactor_, pump_done));
    p.reset();
    CO_ASSERT_OK(co_await broker::WriteProducerSnapshot(fault_, dir_, Offset(4), ghost));

    // A follower opens: the snapshot above its recovered end is deleted at once, although a
    // follower loads no table, because its log is about to regrow past 4.
    Setup follower = setup;
    follower.follower = true;
    p = co_await Open(follower);
    CO_ASSERT_TRUE(p != nullptr);
    EXPECT_EQ(p->log_end_offset(), Offset(2));
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{Offset(2)});
    }
    std::vector<std::byte> other = Stamped(IdempotentBatch(7, 0, 2, 3), 2, 0);  // 2..4
    CO_ASSERT_OK(co_await p->AppendFromLeader(other, 0));
    CO_ASSERT_OK(co_await p->log().wait_durable(Offset(4)));
    Partition::LeaderRole role = Leader(1);
    CO_ASSERT_OK(co_await p->BecomeLeader(role));
    EXPECT_EQ(KindOf(*p, BatchIdentity{7, 0, 2, 3}), DedupCheck::kOutOfOrder);
    EXPECT_EQ(KindOf(*p, BatchIdentity{7, 0, 2, 4}), DedupCheck::kDuplicate);
    EXPECT_EQ(KindOf(*p, BatchIdentity{7, 0, 5, 5}), DedupCheck::kAppend);
    CO_ASSERT_OK(co_await p->Close(Status()));
  }());
}

TEST_F(ProducerSnapshotPartitionTest, RetentionDeletesSnapshotsBelowTheLogStart) {
  reactor_->block_on([&]() -> Task<void> {
    Setup setup;
    setup.log.segment_bytes = 1024;
    std::shared_ptr<Partition> p = co_await Open(setup);
    CO_ASSERT_TRUE(p != nullptr);
    CO_ASSERT_OK(co_await ProduceIdempotent(*p, 7, 0, 2));  // 0..1
    co_await ProducePlain(*p, 1, 1);                        // 2
    CO_ASSERT_OK(co_await p->Close(Status()));
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{Offset(3)});
    }

    // Everything sealed goes (retention.bytes of 1); snapshots then follow rolls.
    setup.log.retention_bytes = 1;
    setup.interval = 1'000'000;
    p = co_await Open(setup);
    CO_ASSERT_TRUE(p != nullptr);
    co_await ProducePlain(*p, 12, 1, 300);
    CO_ASSERT_TRUE(p->log().stats().segments > 2);
    CO_ASSERT_OK(co_await p->RunRetention());
    const Offset start = p->log_start_offset();
    const Offset end = p->log_end_offset();
    EXPECT_GT(start, Offset(3));
    {
      const std::vector<Offset> snapshots = co_await Snapshots();
      EXPECT_EQ(snapshots, std::vector<Offset>{end}) << "below the start: deleted";
    }
    EXPECT_EQ(p->producer_state().Find(7), nullptr) << "its batches are gone";
    CO_ASSERT_OK(co_await p->Close(Status()));
    p = co_await Open(setup);
    CO_ASSERT_TRUE(p != nullptr);
    EXPECT_EQ(p->last_producer_snapshot(), end);
    EXPECT_EQ(p->producer_state().Find(7), nullptr);
    CO_ASSERT_OK(co_await p->Close(Status()));
  }());
}

}  // namespace
}  // namespace spool::testing
