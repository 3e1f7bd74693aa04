// producer/accumulator.h: batches close by size and by linger (time from a ManualClock), flush
// forces them out, sealed batches hold the records in order, retries go back in order with one
// batch in flight, backoff and expiry, and the request size cap.
#include "producer/accumulator.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "log/record/batch_reader.h"

namespace spool::producer {
namespace {

constexpr int64_t kMs = 1'000'000;

struct Fixture {
  explicit Fixture(size_t batch_size = 1000, int64_t linger_ms = 5)
      : config{.batch_size = batch_size, .linger_ns = linger_ms * kMs}, queue(&topic, 3, config) {}

  PartitionQueue::AppendResult Append(const std::string& value, std::vector<int>* done = nullptr,
                                      int64_t reserved = 0) {
    auto bytes = std::as_bytes(std::span<const char>(value.data(), value.size()));
    int64_t size = reserved > 0 ? reserved : static_cast<int64_t>(value.size()) + 36;
    return queue.Append(
        clock.monotonic_ns(), clock.wall_ms(), std::nullopt, bytes, {},
        [done](StatusOr<RecordMetadata> m) {
          if (done != nullptr) done->push_back(m.ok() ? int(m->offset) : -100);
        },
        size, tracker);
  }
  std::vector<std::unique_ptr<ProducerBatch>> Take(size_t max_bytes = 1 << 20) {
    std::vector<std::unique_ptr<ProducerBatch>> out;
    int64_t next = INT64_MAX;
    queue.TakeSendable(clock.monotonic_ns(), max_bytes, &out, &next);
    return out;
  }

  std::string topic = "events";
  AccumulatorConfig config;
  ManualClock clock;
  FlushTracker tracker;
  PartitionQueue queue;
};

std::vector<std::string> Values(const ProducerBatch& b) {
  std::vector<std::string> out;
  auto reader = record::BatchReader::Open(b.bytes);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return out;
  record::RecordView r;
  for (;;) {
    auto more = reader->Next(&r);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    out.push_back(std::string(record::AsString(*r.value)));
  }
  return out;
}

TEST(AccumulatorTest, ClosesABatchWhenTheNextRecordWouldNotFit) {
  Fixture f(/*batch_size=*/1000);
  std::string value(100, 'x');
  int closed = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = f.Append(value);
    if (i == 0) {
      EXPECT_TRUE(r.new_batch);
    }
    if (r.closed) ++closed;
  }
  EXPECT_GE(closed, 2);
  auto batches = f.Take();
  ASSERT_EQ(batches.size(), static_cast<size_t>(closed));
  size_t records = 0;
  for (const auto& b : batches) {
    EXPECT_LE(b->bytes.size(), 1000u);
    EXPECT_EQ(Values(*b).size(), b->records());
    EXPECT_EQ(b->partition, 3);
    EXPECT_EQ(*b->topic, "events");
    records += b->records();
  }
  // The rest is still open, not sendable until linger or a flush.
  EXPECT_LT(records, 20u);
  int64_t due = INT64_MAX;
  EXPECT_TRUE(f.queue.SealIfDue(f.clock.monotonic_ns(), /*force=*/true, &due));
  auto rest = f.Take();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(records + rest[0]->records(), 20u);
}

TEST(AccumulatorTest, ARecordOverBatchSizeGetsABatchOfItsOwn) {
  Fixture f(/*batch_size=*/100);
  auto r = f.Append(std::string(500, 'y'));
  EXPECT_TRUE(r.new_batch);
  EXPECT_TRUE(r.closed);
  auto batches = f.Take();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(Values(*batches[0]), std::vector<std::string>{std::string(500, 'y')});
}

TEST(AccumulatorTest, LingerClosesAnOpenBatchOnTime) {
  Fixture f(/*batch_size=*/1 << 20, /*linger_ms=*/5);
  f.Append("a");
  f.clock.advance_ms(2);
  f.Append("b");
  int64_t due = INT64_MAX;
  f.clock.advance_ms(2);  // 4 ms after the batch opened
  EXPECT_FALSE(f.queue.SealIfDue(f.clock.monotonic_ns(), false, &due));
  EXPECT_EQ(due, 5 * kMs);
  EXPECT_TRUE(f.Take().empty());
  f.clock.advance_ms(1);
  EXPECT_TRUE(f.queue.SealIfDue(f.clock.monotonic_ns(), false, &due));
  auto batches = f.Take();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(Values(*batches[0]), (std::vector<std::string>{"a", "b"}));
  // Linger counts from the batch's first record: the next batch starts afresh.
  f.Append("c");
  due = INT64_MAX;
  EXPECT_FALSE(f.queue.SealIfDue(f.clock.monotonic_ns(), false, &due));
  EXPECT_EQ(due, f.clock.monotonic_ns() + 5 * kMs);
}

TEST(AccumulatorTest, RecordsKeepTheirOrderAcrossBatchesAndCallbacksGetOffsets) {
  Fixture f(/*batch_size=*/300);
  std::vector<int> done;
  for (int i = 0; i < 30; ++i) f.Append(absl::StrCat("v", i), &done);
  int64_t due = INT64_MAX;
  f.queue.SealIfDue(0, true, &due);
  auto batches = f.Take();
  std::vector<std::string> all;
  int64_t offset = 100;
  for (auto& b : batches) {
    auto v = Values(*b);
    all.insert(all.end(), v.begin(), v.end());
    int64_t n = static_cast<int64_t>(b->records());
    b->Complete(offset, -1);
    offset += n;
  }
  ASSERT_EQ(all.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(all[i], absl::StrCat("v", i));
  ASSERT_EQ(done.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(done[i], 100 + i);
}

TEST(AccumulatorTest, RetriesGoBackInOrderOneInFlight) {
  Fixture f(/*batch_size=*/100);
  for (int i = 0; i < 3; ++i) f.Append(std::string(90, char('a' + i)));  // one batch each
  int64_t due = INT64_MAX;
  f.queue.SealIfDue(0, true, &due);
  auto batches = f.Take();
  ASSERT_EQ(batches.size(), 3u);
  // The request carrying them failed: they come back, in whatever order, and are queued in
  // their original order.
  f.queue.Requeue(std::move(batches[2]));
  f.queue.Requeue(std::move(batches[0]));
  f.queue.Requeue(std::move(batches[1]));
  auto first = f.Take();
  ASSERT_EQ(first.size(), 1u) << "one batch at a time while retrying";
  EXPECT_EQ(Values(*first[0])[0][0], 'a');
  EXPECT_TRUE(f.Take().empty()) << "nothing more while the retried batch is in flight";
  f.queue.OnSendDone(/*delivered=*/true);
  auto rest = f.Take();
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(Values(*rest[0])[0][0], 'b');
  EXPECT_EQ(Values(*rest[1])[0][0], 'c');
}

TEST(AccumulatorTest, BackoffHoldsTheRetriedBatchAndWhatFollows) {
  Fixture f(/*batch_size=*/100);
  f.Append(std::string(90, 'a'));
  f.Append(std::string(90, 'b'));
  int64_t due = INT64_MAX;
  f.queue.SealIfDue(0, true, &due);
  auto batches = f.Take(/*max_bytes=*/1);  // the cap still lets one batch through
  ASSERT_EQ(batches.size(), 1u);
  batches[0]->retry_at_ns = f.clock.monotonic_ns() + 100 * kMs;
  f.queue.Requeue(std::move(batches[0]));
  std::vector<std::unique_ptr<ProducerBatch>> out;
  int64_t next = INT64_MAX;
  f.queue.TakeSendable(f.clock.monotonic_ns(), 1 << 20, &out, &next);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(next, 100 * kMs);
  f.clock.advance_ms(100);
  f.queue.TakeSendable(f.clock.monotonic_ns(), 1 << 20, &out, &next);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Values(*out[0])[0][0], 'a');
}

TEST(AccumulatorTest, RequestSizeCapSplitsBatches) {
  Fixture f(/*batch_size=*/100);
  for (int i = 0; i < 4; ++i) f.Append(std::string(90, 'z'));
  int64_t due = INT64_MAX;
  f.queue.SealIfDue(0, true, &due);
  auto two = f.Take(/*max_bytes=*/2 * 160);
  EXPECT_EQ(two.size(), 2u);
  auto rest = f.Take();
  EXPECT_EQ(rest.size(), 2u);
}

TEST(AccumulatorTest, ExpiredBatchesAreTakenForFailing) {
  Fixture f(/*batch_size=*/100);
  f.Append(std::string(90, 'a'));
  f.clock.advance_ms(10);
  f.Append(std::string(90, 'b'));
  int64_t due = INT64_MAX;
  f.queue.SealIfDue(f.clock.monotonic_ns(), true, &due);
  std::vector<std::unique_ptr<ProducerBatch>> expired;
  int64_t next = INT64_MAX;
  // Delivery timeout 50 ms, now 55 ms: the first batch (created at 0) expired, not the second.
  f.clock.advance_ms(45);
  f.queue.TakeExpired(f.clock.monotonic_ns() - 50 * kMs, 50 * kMs, &expired, &next);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(Values(*expired[0])[0][0], 'a');
  EXPECT_EQ(next, 60 * kMs);
}

TEST(FlushTrackerTest, WaitsOnlyForBatchesBeforeTheSnapshot) {
  FlushTracker t;
  uint64_t a = t.Begin();
  uint64_t snap = t.Snapshot();
  uint64_t b = t.Begin();
  auto soon = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  EXPECT_FALSE(t.WaitBelow(snap, soon));
  t.Done(a);
  EXPECT_TRUE(t.WaitBelow(snap, soon));  // b came after the snapshot
  EXPECT_EQ(t.incomplete(), 1u);
  t.Done(b);
  EXPECT_EQ(t.incomplete(), 0u);
}

}  // namespace
}  // namespace spool::producer
