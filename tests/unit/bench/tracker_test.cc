// The benchmark's correctness check (bench/engine/tracker.h) and its pacing (pacer.h): every
// acknowledged record must be seen once, in order per (producer, partition); records of another
// run are foreign; unacknowledged records are indeterminate; the pacer's intended send times stay
// on the schedule however late the caller is (coordinated omission).
#include "bench/engine/tracker.h"

#include <thread>
#include <vector>

#include "bench/engine/pacer.h"
#include "bench/engine/stamp.h"
#include "gtest/gtest.h"

namespace spool::bench {
namespace {

TEST(SequenceSetTest, InsertReportsNewnessAcrossChunks) {
  SequenceSet s;
  for (uint64_t seq :
       {uint64_t{0}, uint64_t{63}, uint64_t{64}, uint64_t{1} << 23, (uint64_t{1} << 32) - 1}) {
    EXPECT_FALSE(s.Contains(seq));
    EXPECT_TRUE(s.Insert(seq)) << seq;
    EXPECT_FALSE(s.Insert(seq)) << seq;
    EXPECT_TRUE(s.Contains(seq));
  }
  EXPECT_FALSE(s.Insert(uint64_t{1} << 32));  // beyond the capacity
}

TEST(SequenceSetTest, CountMissingFromHonoursTheLimit) {
  SequenceSet acked, seen;
  for (uint64_t i = 0; i < 1000; i++) acked.Insert(i);
  for (uint64_t i = 0; i < 1000; i++) {
    if (i != 5 && i != 700 && i != 999) seen.Insert(i);
  }
  EXPECT_EQ(acked.CountMissingFrom(seen, 1000), 3u);
  EXPECT_EQ(acked.CountMissingFrom(seen, 700), 1u);
  EXPECT_EQ(acked.CountMissingFrom(seen, 701), 2u);
  EXPECT_EQ(acked.CountMissingFrom(seen, 0), 0u);
  SequenceSet empty;
  EXPECT_EQ(acked.CountMissingFrom(empty, 1000), 1000u);
  EXPECT_EQ(empty.CountMissingFrom(acked, 1000), 0u);
}

TEST(TrackerTest, MissingDuplicateForeignAndIndeterminate) {
  Tracker t(/*run_id=*/77, /*producers=*/2);
  for (uint64_t s = 0; s < 10; s++) t.MarkAcked(0, s);
  for (uint64_t s = 0; s < 5; s++) t.MarkAcked(1, s);
  for (uint64_t s = 0; s < 10; s++) {
    if (s != 3) {
      EXPECT_TRUE(t.MarkSeen(77, 0, s));
    }
  }
  EXPECT_TRUE(t.MarkSeen(77, 0, 4));                                   // a duplicate
  for (uint64_t s = 0; s < 6; s++) EXPECT_TRUE(t.MarkSeen(77, 1, s));  // 5: sent, never acked
  EXPECT_FALSE(t.MarkSeen(78, 0, 3));  // another run's record does not fill the gap
  EXPECT_FALSE(t.MarkSeen(77, 2, 0));  // no such producer
  const VerifyFigures v = t.Tally({10, 6}, 0);
  EXPECT_TRUE(v.checked);
  EXPECT_EQ(v.expected, 15u);
  EXPECT_EQ(v.received, 15u);  // 9 of producer 0, 6 of producer 1 (one indeterminate)
  EXPECT_EQ(v.missing, 1u);    // producer 0, sequence 3
  EXPECT_EQ(v.duplicates, 1u);
  EXPECT_EQ(v.foreign, 2u);
  EXPECT_FALSE(v.ok());
}

TEST(TrackerTest, AllSeenOnceIsOk) {
  Tracker t(1, 1);
  for (uint64_t s = 0; s < 100; s++) t.MarkAcked(0, s);
  for (uint64_t s = 0; s < 100; s++) t.MarkSeen(1, 0, s);
  EXPECT_TRUE(t.Tally({100}, 0).ok());
  EXPECT_FALSE(t.Tally({100}, 1).ok());  // out of order fails it
}

TEST(TrackerTest, ConcurrentMarksCountEveryRecordOnce) {
  Tracker t(9, 4);
  std::vector<std::thread> threads;
  for (uint32_t p = 0; p < 4; p++) {
    threads.emplace_back([&t, p] {
      for (uint64_t s = 0; s < 200000; s++) t.MarkAcked(p, s);
    });
    threads.emplace_back([&t, p] {
      for (uint64_t s = 0; s < 200000; s++) t.MarkSeen(9, p, s);
    });
  }
  for (auto& th : threads) th.join();
  const VerifyFigures v = t.Tally({200000, 200000, 200000, 200000}, 0);
  EXPECT_EQ(v.expected, 800000u);
  EXPECT_EQ(v.received, 800000u);
  EXPECT_EQ(v.missing, 0u);
  EXPECT_EQ(v.duplicates, 0u);
}

TEST(OrderCheckTest, PerProducerAndPartition) {
  Tracker::OrderCheck o;
  o.Observe(0, 1, 5);
  o.Observe(0, 2, 3);  // another partition: its own order
  o.Observe(1, 1, 0);  // another producer: its own order
  o.Observe(0, 1, 6);
  EXPECT_EQ(o.out_of_order(), 0u);
  o.Observe(0, 1, 6);  // repeated
  o.Observe(0, 2, 1);  // went back
  EXPECT_EQ(o.out_of_order(), 2u);
}

TEST(StampTest, RoundTripAndRejects) {
  std::vector<std::byte> v(kStampSize + 10);
  WriteStamp(v, Stamp{.run_id = 5, .producer = 3, .sequence = 1ull << 40, .send_ns = 123456789});
  std::optional<Stamp> s = ReadStamp(v);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->run_id, 5u);
  EXPECT_EQ(s->producer, 3u);
  EXPECT_EQ(s->sequence, 1ull << 40);
  EXPECT_EQ(s->send_ns, 123456789);
  EXPECT_FALSE(ReadStamp(std::span(v).first(kStampSize - 1)).has_value());
  v[0] = std::byte{0};
  EXPECT_FALSE(ReadStamp(v).has_value());
}

TEST(PacerTest, IntendedTimesStayOnTheScheduleWhenTheCallerIsLate) {
  // The schedule started a second ago: every send is overdue, so Next() returns at once, and
  // returns the due times, not the (later) current time.
  const int64_t start = SteadyNowNs() - 1'000'000'000;
  Pacer p(1000.0, start);  // one send per ms
  for (int k = 0; k < 100; k++) EXPECT_EQ(p.Next(), start + k * 1'000'000) << k;
  EXPECT_TRUE(p.paced());
}

TEST(PacerTest, UnpacedReturnsNow) {
  Pacer p(0, 0);
  const int64_t before = SteadyNowNs();
  const int64_t t = p.Next();
  EXPECT_GE(t, before);
  EXPECT_LE(t, SteadyNowNs());
  EXPECT_FALSE(p.paced());
}

TEST(PacerTest, WaitsUntilTheNextSendIsDue) {
  const int64_t start = SteadyNowNs();
  Pacer p(200.0, start);  // 5 ms apart
  p.Next();
  const int64_t due = p.Next();
  EXPECT_EQ(due, start + 5'000'000);
  // Next() returned no earlier than the spin window before the due time.
  EXPECT_GE(SteadyNowNs(), due - 50'000);
}

}  // namespace
}  // namespace spool::bench
