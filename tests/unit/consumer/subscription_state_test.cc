// The consumer's position and fetch bookkeeping (consumer/subscription_state.h): resets, fetch
// targets, queued data and poll-side collection, seeks that discard prefetched data, stale
// responses, out-of-range handling per policy, errors in order, backoff, a cut first batch.
#include "consumer/subscription_state.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/consumer/consumer_test_util.h"

namespace spool::consumer {
namespace {

using proto::ErrorCode;
using spool::testing::MakeBatch;
using spool::testing::Payload;

constexpr int64_t kBackoffNs = 100'000'000;

const TopicPartition kTp0{"t", 0};
const TopicPartition kTp1{"t", 1};

SubscriptionState Make(OffsetResetPolicy policy = OffsetResetPolicy::kEarliest) {
  return SubscriptionState(SubscriptionOptions{.reset_policy = policy,
                                               .max_partition_fetch_bytes = 1 << 20,
                                               .retry_backoff_ns = kBackoffNs});
}

std::vector<int64_t> Offsets(const ConsumerRecords& records) {
  std::vector<int64_t> out;
  for (const ConsumerRecord& r : records) out.push_back(r.offset);
  return out;
}

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t o = from; o < to; ++o) out.push_back(o);
  return out;
}

// Answers `target` with `batches` (offsets from target.offset, `count` records each).
FetchOutcome Answer(SubscriptionState& s, const FetchTarget& target, int batches, int count,
                    int64_t now = 0) {
  Payload p;
  for (int b = 0; b < batches; ++b) p.Append(MakeBatch(target.offset + b * count, count));
  return s.OnFetchResponse(target, ErrorCode::NONE, target.offset + batches * count, 0, p.span(),
                           p.bytes, now);
}

TEST(SubscriptionStateTest, ResetThenFetchThenCollect) {
  SubscriptionState s = Make();
  s.Assign({kTp0});
  EXPECT_TRUE(s.TakeFetchTargets(0).empty()) << "no position yet";
  ASSERT_TRUE(s.EnsureAllPositionsPending().ok());
  std::vector<ResetTarget> resets = s.TakeResetTargets(0);
  ASSERT_EQ(resets.size(), 1u);
  EXPECT_EQ(resets[0].kind, ResetKind::kEarliest);
  EXPECT_TRUE(s.TakeResetTargets(0).empty()) << "already in flight";
  s.OnResetResolved(resets[0], int64_t{5}, 0);
  EXPECT_EQ(s.Find(kTp0)->position, 5);

  std::vector<FetchTarget> targets = s.TakeFetchTargets(0);
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0].offset, 5);
  EXPECT_EQ(targets[0].max_bytes, 1 << 20);
  EXPECT_TRUE(s.TakeFetchTargets(0).empty()) << "one fetch in flight per partition";
  EXPECT_EQ(Answer(s, targets[0], 2, 3), FetchOutcome::kData);
  EXPECT_GT(s.queued_bytes(), 0u);
  EXPECT_EQ(s.Find(kTp0)->high_watermark, 11);

  // The next fetch starts after the queued data, before poll() consumed anything.
  targets = s.TakeFetchTargets(0);
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0].offset, 11);
  EXPECT_EQ(s.Find(kTp0)->position, 5);

  ConsumerRecords out;
  ASSERT_TRUE(s.Collect(100, &out, 0).ok());
  EXPECT_EQ(Offsets(out), Range(5, 11));
  EXPECT_EQ(s.Find(kTp0)->position, 11);
  EXPECT_EQ(s.queued_bytes(), 0u);
}

TEST(SubscriptionStateTest, CollectHonoursMaxRecordsAcrossCalls) {
  SubscriptionState s = Make();
  s.Assign({kTp0, kTp1});
  ASSERT_TRUE(s.Seek(kTp0, 0).ok());
  ASSERT_TRUE(s.Seek(kTp1, 100).ok());
  for (const FetchTarget& t : s.TakeFetchTargets(0)) {
    EXPECT_EQ(Answer(s, t, 2, 5), FetchOutcome::kData);
  }
  std::vector<int64_t> seen0, seen1;
  for (int i = 0; i < 10; ++i) {
    ConsumerRecords out;
    ASSERT_TRUE(s.Collect(4, &out, 0).ok());
    EXPECT_LE(out.size(), 4u);
    for (const ConsumerRecord& r : out) (r.partition == 0 ? seen0 : seen1).push_back(r.offset);
  }
  EXPECT_EQ(seen0, Range(0, 10));
  EXPECT_EQ(seen1, Range(100, 110));
  EXPECT_EQ(s.Find(kTp0)->position, 10);
  EXPECT_EQ(s.Find(kTp1)->position, 110);
}

TEST(SubscriptionStateTest, SeekDiscardsPrefetchedDataAndStaleResponses) {
  SubscriptionState s = Make();
  s.Assign({kTp0});
  ASSERT_TRUE(s.Seek(kTp0, 0).ok());
  FetchTarget first = s.TakeFetchTargets(0).at(0);
  ASSERT_EQ(Answer(s, first, 1, 10), FetchOutcome::kData);
  FetchTarget second = s.TakeFetchTargets(0).at(0);  // in flight at offset 10
  EXPECT_EQ(second.offset, 10);

  ASSERT_TRUE(s.Seek(kTp0, 3).ok());
  EXPECT_EQ(s.queued_bytes(), 0u) << "prefetched data of the old position is gone";
  EXPECT_TRUE(s.TakeFetchTargets(0).empty()) << "waits for the fetch in flight";
  EXPECT_EQ(Answer(s, second, 1, 10), FetchOutcome::kStale);
  ConsumerRecords none;
  ASSERT_TRUE(s.Collect(100, &none, 0).ok());
  EXPECT_TRUE(none.empty());

  FetchTarget third = s.TakeFetchTargets(0).at(0);
  EXPECT_EQ(third.offset, 3);
  Payload p;
  p.Append(MakeBatch(0, 10));  // the broker answers from the batch holding offset 3
  ASSERT_EQ(s.OnFetchResponse(third, ErrorCode::NONE, 10, 0, p.span(), p.bytes, 0),
            FetchOutcome::kData);
  ConsumerRecords out;
  ASSERT_TRUE(s.Collect(100, &out, 0).ok());
  EXPECT_EQ(Offsets(out), Range(3, 10));
}

TEST(SubscriptionStateTest, SeekInTheMiddleOfAPartlyCollectedFetch) {
  SubscriptionState s = Make();
  s.Assign({kTp0});
  ASSERT_TRUE(s.Seek(kTp0, 0).ok());
  ASSERT_EQ(Answer(s, s.TakeFetchTargets(0).at(0), 1, 10), FetchOutcome::kData);
  ConsumerRecords out;
  ASSERT_TRUE(s.Collect(4, &out, 0).ok());
  EXPECT_EQ(Offsets(out), Range(0, 4));
  ASSERT_TRUE(s.Seek(kTp0, 1).ok());
  ConsumerRecords after;
  ASSERT_TRUE(s.Collect(100, &after, 0).ok());
  EXPECT_TRUE(after.empty()) << "the rest of the old fetch must not be returned";
  EXPECT_EQ(s.Find(kTp0)->position, 1);
}

TEST(SubscriptionStateTest, OutOfRangeAppliesTheResetPolicyInOrder) {
  SubscriptionState s = Make(OffsetResetPolicy::kLatest);
  s.Assign({kTp0});
  ASSERT_TRUE(s.Seek(kTp0, 0).ok());
  ASSERT_EQ(Answer(s, s.TakeFetchTargets(0).at(0), 1, 5), FetchOutcome::kData);
  FetchTarget beyond = s.TakeFetchTargets(0).at(0);
  EXPECT_EQ(s.OnFetchResponse(beyond, ErrorCode::OFFSET_OUT_OF_RANGE, -1, -1, {}, nullptr, 0),
            FetchOutcome::kMarker);
  EXPECT_TRUE(s.TakeFetchTargets(0).empty()) << "blocked until poll() handles the marker";
  ConsumerRecords out;
  ASSERT_TRUE(s.Collect(100, &out, 0).ok());
  EXPECT_EQ(Offsets(out), Range(0, 5)) << "data before the marker first";
  EXPECT_FALSE(s.Find(kTp0)->position.has_value());
  std::vector<ResetTarget> resets = s.TakeResetTargets(0);
  ASSERT_EQ(resets.size(), 1u);
  EXPECT_EQ(resets[0].kind, ResetKind::kLatest);
  s.OnResetResolved(resets[0], int64_t{42}, 0);
  EXPECT_EQ(s.TakeFetchTargets(0).at(0).offset, 42);
}

TEST(SubscriptionStateTest, OutOfRangeWithPolicyNoneIsAnErrorAfterTheDataBeforeIt) {
  SubscriptionState s = Make(OffsetResetPolicy::kNone);
  s.Assign({kTp0});
  EXPECT_EQ(s.EnsurePositionPending(kTp0).code(), absl::StatusCode::kOutOfRange);
  ASSERT_TRUE(s.Seek(kTp0, 0).ok());
  ASSERT_EQ(Answer(s, s.TakeFetchTargets(0).at(0), 1, 5), FetchOutcome::kData);
  FetchTarget beyond = s.TakeFetchTargets(0).at(0);
  ASSERT_EQ(s.OnFetchResponse(beyond, ErrorCode::OFFSET_OUT_OF_RANGE, 3, 0, {}, nullptr, 0),
            FetchOutcome::kMarker);
  ConsumerRecords out;
  ASSERT_TRUE(s.Collect(100, &out, 0).ok());
  EXPECT_EQ(out.size(), 5u);
  ConsumerRecords next;
  Status st = s.Collect(100, &next, 1000);
  EXPECT_EQ(st.code(), absl::StatusCode::kOutOfRange) << st;
  EXPECT_EQ(s.Find(kTp0)->position, 5);
  // Fetched again from the position after the backoff (the error then repeats, as in Kafka).
  EXPECT_TRUE(s.TakeFetchTargets(1000).empty());
  std::vector<FetchTarget> again = s.TakeFetchTargets(1000 + kBackoffNs);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].offset, 5);
}

TEST(SubscriptionStateTest, RetriableErrorsBackOff) {
  SubscriptionState s = Make();
  s.Assign({kTp0});
  ASSERT_TRUE(s.Seek(kTp0, 7).ok());
  for (ErrorCode code : {ErrorCode::NOT_LEADER_OR_FOLLOWER, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                         ErrorCode::LEADER_NOT_AVAILABLE}) {
    SCOPED_TRACE(proto::ErrorName(code));
    FetchTarget t = s.TakeFetchTargets(0).at(0);
    EXPECT_EQ(s.OnFetchResponse(t, code, -1, -1, {}, nullptr, 0), FetchOutcome::kRetry);
    EXPECT_TRUE(s.TakeFetchTargets(kBackoffNs - 1).empty());
    EXPECT_EQ(s.NextRetryNs(0), kBackoffNs);
    ASSERT_EQ(s.TakeFetchTargets(kBackoffNs).size(), 1u);
    s.OnFetchFailed(t, -kBackoffNs);  // a broken connection: retry at once here
    EXPECT_EQ(s.Find(kTp0)->position, 7);
  }
  ConsumerRecords out;
  EXPECT_TRUE(s.Collect(10, &out, 0).ok());
  EXPECT_TRUE(out.empty());
}

TEST(SubscriptionStateTest, CutFirstBatchGrowsTheNextFetch) {
  SubscriptionState s = Make();
  s.Assign({kTp0});
  ASSERT_TRUE(s.Seek(kTp0, 0).ok());
  FetchTarget t = s.TakeFetchTargets(0).at(0);
  Payload p;
  std::vector<std::byte> big = MakeBatch(0, 100);
  p.Append(big);
  EXPECT_EQ(s.OnFetchResponse(t, ErrorCode::NONE, 100, 0, p.first(64), p.bytes, 0),
            FetchOutcome::kGrow);
  FetchTarget bigger = s.TakeFetchTargets(0).at(0);
  EXPECT_EQ(bigger.offset, 0);
  EXPECT_EQ(bigger.max_bytes, std::max<int32_t>(1 << 20, static_cast<int32_t>(big.size())));
}

TEST(SubscriptionStateTest, CorruptBatchReportsAfterTheGoodRecordsAndKeepsThePosition) {
  SubscriptionState s = Make();
  s.Assign({kTp0});
  ASSERT_TRUE(s.Seek(kTp0, 0).ok());
  FetchTarget t = s.TakeFetchTargets(0).at(0);
  Payload p;
  const std::vector<std::byte> good = MakeBatch(0, 4);
  p.Append(good);
  p.Append(MakeBatch(4, 4));
  (*p.bytes)[good.size() + record::kHeaderSize + 1] ^= std::byte{1};
  ASSERT_EQ(s.OnFetchResponse(t, ErrorCode::NONE, 8, 0, p.span(), p.bytes, 0), FetchOutcome::kData);
  ASSERT_EQ(Answer(s, s.TakeFetchTargets(0).at(0), 1, 2), FetchOutcome::kData);  // at 8
  ConsumerRecords out;
  ASSERT_TRUE(s.Collect(100, &out, 0).ok());
  EXPECT_EQ(Offsets(out), Range(0, 4));
  ConsumerRecords next;
  Status st = s.Collect(100, &next, 0);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_TRUE(next.empty());
  EXPECT_EQ(s.Find(kTp0)->position, 4);
  EXPECT_EQ(s.queued_bytes(), 0u) << "data fetched past the bad batch is dropped";
  std::vector<FetchTarget> again = s.TakeFetchTargets(kBackoffNs);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].offset, 4);
  // seek() past the bad batch skips it.
  ASSERT_TRUE(s.Seek(kTp0, 8).ok());
}

TEST(SubscriptionStateTest, MalformedResponseIsAnErrorInOrder) {
  SubscriptionState s = Make();
  s.Assign({kTp0});
  ASSERT_TRUE(s.Seek(kTp0, 0).ok());
  FetchTarget t = s.TakeFetchTargets(0).at(0);
  Payload p;
  p.Append(MakeBatch(0, 3));
  std::vector<std::byte> bad = MakeBatch(3, 3);
  bad[record::kMagicPos] = std::byte{9};
  p.Append(bad);
  // The whole first batch is data; the next fetch starts at the bad one and meets it alone.
  ASSERT_EQ(s.OnFetchResponse(t, ErrorCode::NONE, 6, 0, p.span(), p.bytes, 0), FetchOutcome::kData);
  FetchTarget next = s.TakeFetchTargets(0).at(0);
  EXPECT_EQ(next.offset, 3);
  Payload only_bad;
  only_bad.Append(bad);
  EXPECT_EQ(s.OnFetchResponse(next, ErrorCode::NONE, 6, 0, only_bad.span(), only_bad.bytes, 0),
            FetchOutcome::kMarker);
  ConsumerRecords out;
  ASSERT_TRUE(s.Collect(100, &out, 0).ok());
  EXPECT_EQ(Offsets(out), Range(0, 3));
  ConsumerRecords none;
  Status st = s.Collect(100, &none, 0);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_EQ(s.Find(kTp0)->position, 3);
}

TEST(SubscriptionStateTest, NonRetriableErrorIsQueuedAsAMarker) {
  SubscriptionState s = Make();
  s.Assign({kTp0});
  ASSERT_TRUE(s.Seek(kTp0, 0).ok());
  FetchTarget t = s.TakeFetchTargets(0).at(0);
  EXPECT_EQ(s.OnFetchResponse(t, ErrorCode::INVALID_REQUEST, -1, -1, {}, nullptr, 0),
            FetchOutcome::kMarker);
  ConsumerRecords out;
  Status st = s.Collect(100, &out, 0);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(proto::ErrorFromStatus(st), ErrorCode::INVALID_REQUEST) << st;
}

TEST(SubscriptionStateTest, ReassignKeepsPositionsOfPartitionsThatStay) {
  SubscriptionState s = Make();
  s.Assign({kTp0, kTp1});
  ASSERT_TRUE(s.Seek(kTp0, 10).ok());
  ASSERT_TRUE(s.Seek(kTp1, 20).ok());
  std::vector<FetchTarget> targets = s.TakeFetchTargets(0);
  ASSERT_EQ(targets.size(), 2u);
  for (const FetchTarget& t : targets) ASSERT_EQ(Answer(s, t, 1, 3), FetchOutcome::kData);
  s.Assign({kTp1, kTp1});
  EXPECT_EQ(s.Assignment(), std::vector<TopicPartition>{kTp1});
  EXPECT_EQ(s.Find(kTp1)->position, 20);
  EXPECT_FALSE(s.IsAssigned(kTp0));
  EXPECT_EQ(s.Seek(kTp0, 1).code(), absl::StatusCode::kFailedPrecondition);
  ConsumerRecords out;
  ASSERT_TRUE(s.Collect(100, &out, 0).ok());
  EXPECT_EQ(Offsets(out), Range(20, 23));

  // Re-adding a partition starts it afresh: an old fetch's answer does not leak into it.
  s.Assign({kTp0, kTp1});
  EXPECT_FALSE(s.Find(kTp0)->position.has_value());
  ASSERT_TRUE(s.Seek(kTp0, 0).ok());
  FetchTarget fresh =
      s.TakeFetchTargets(0, [](const TopicPartition& tp) { return tp == kTp0; }).at(0);
  EXPECT_EQ(Answer(s, targets[0], 1, 3), FetchOutcome::kStale);
  EXPECT_EQ(s.Find(kTp0)->fetch_in_flight_gen, fresh.generation) << "still in flight";
}

TEST(SubscriptionStateTest, StaleResetAnswersAreIgnored) {
  SubscriptionState s = Make();
  s.Assign({kTp0});
  ASSERT_TRUE(s.RequestReset(kTp0, ResetKind::kLatest).ok());
  ResetTarget old = s.TakeResetTargets(0).at(0);
  ASSERT_TRUE(s.Seek(kTp0, 3).ok());
  s.OnResetResolved(old, int64_t{99}, 0);
  EXPECT_EQ(s.Find(kTp0)->position, 3);
  ASSERT_TRUE(s.RequestReset(kTp0, ResetKind::kEarliest).ok());
  ResetTarget failing = s.TakeResetTargets(0).at(0);
  s.OnResetResolved(failing, absl::UnavailableError("down"), 0);
  EXPECT_TRUE(s.TakeResetTargets(0).empty());
  EXPECT_EQ(s.TakeResetTargets(kBackoffNs).size(), 1u);
  EXPECT_TRUE(s.AnyResetPending());
}

}  // namespace
}  // namespace spool::consumer
