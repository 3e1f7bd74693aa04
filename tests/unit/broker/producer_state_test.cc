// The idempotent producer's dedup table (broker/producer_state.h): one test per rule.
#include "broker/producer_state.h"

#include <limits>
#include <random>

#include "gtest/gtest.h"
#include "tests/support/test_env.h"

namespace spool::broker {
namespace {

constexpr int32_t kMax = std::numeric_limits<int32_t>::max();

BatchIdentity Batch(int64_t pid, int16_t epoch, int32_t base, int32_t records) {
  return BatchIdentity{pid, epoch, base, AddToSequence(base, records - 1)};
}

// Checks, expects kAppend, and records at `offset` (one offset per record).
void Append(ProducerStateTable& t, const BatchIdentity& b, int64_t offset) {
  ASSERT_EQ(t.Check(b).kind, DedupCheck::kAppend);
  const int64_t records = int64_t{b.last_sequence} - b.base_sequence + 1;
  t.Record(b, Offset(offset), Offset(offset + (records > 0 ? records : 1) - 1));
}

TEST(SequenceTest, WrapsAtInt32Max) {
  EXPECT_EQ(NextSequence(0), 1);
  EXPECT_EQ(NextSequence(kMax), 0);
  EXPECT_EQ(AddToSequence(kMax, 0), kMax);
  EXPECT_EQ(AddToSequence(kMax, 1), 0);
  EXPECT_EQ(AddToSequence(kMax - 2, 5), 2);
}

TEST(ProducerStateTest, NonIdempotentBatchesAlwaysAppend) {
  ProducerStateTable t;
  BatchIdentity plain;  // producer id -1
  EXPECT_EQ(t.Check(plain).kind, DedupCheck::kAppend);
  t.Record(plain, Offset(0), Offset(3));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.Check(plain).kind, DedupCheck::kAppend);
}

TEST(ProducerStateTest, NewProducerMustStartAtZero) {
  ProducerStateTable t;
  EXPECT_EQ(t.Check(Batch(7, 0, 0, 3)).kind, DedupCheck::kAppend);
  EXPECT_EQ(t.Check(Batch(7, 0, 5, 3)).kind, DedupCheck::kUnknownProducer);
}

TEST(ProducerStateTest, NextBatchMustFollowTheLastSequence) {
  ProducerStateTable t;
  Append(t, Batch(7, 0, 0, 3), 0);  // sequences 0..2
  EXPECT_EQ(t.Check(Batch(7, 0, 3, 2)).kind, DedupCheck::kAppend);
  EXPECT_EQ(t.Check(Batch(7, 0, 4, 2)).kind, DedupCheck::kOutOfOrder);  // a gap
  EXPECT_EQ(t.Check(Batch(7, 0, 1, 2)).kind, DedupCheck::kOutOfOrder);  // overlaps, not equal
  Append(t, Batch(7, 0, 3, 2), 10);
  EXPECT_EQ(t.Check(Batch(7, 0, 5, 1)).kind, DedupCheck::kAppend);
}

TEST(ProducerStateTest, DuplicateAnswersTheOriginalOffsets) {
  ProducerStateTable t;
  Append(t, Batch(7, 0, 0, 3), 100);  // offsets 100..102
  Append(t, Batch(7, 0, 3, 2), 200);  // 200..201
  DedupCheck first = t.Check(Batch(7, 0, 0, 3));
  EXPECT_EQ(first.kind, DedupCheck::kDuplicate);
  EXPECT_EQ(first.base_offset, Offset(100));
  EXPECT_EQ(first.last_offset, Offset(102));
  DedupCheck second = t.Check(Batch(7, 0, 3, 2));
  EXPECT_EQ(second.kind, DedupCheck::kDuplicate);
  EXPECT_EQ(second.base_offset, Offset(200));
  EXPECT_EQ(second.last_offset, Offset(201));
}

TEST(ProducerStateTest, OnlyTheLastFiveBatchesAreDeduplicated) {
  ProducerStateTable t;
  for (int i = 0; i < 7; ++i) Append(t, Batch(7, 0, i, 1), i);
  ASSERT_NE(t.Find(7), nullptr);
  EXPECT_EQ(t.Find(7)->batches.size(), kMaxCachedBatches);
  // Sequences 2..6 are remembered; 0 and 1 fell out of the window.
  for (int i = 2; i < 7; ++i) {
    DedupCheck c = t.Check(Batch(7, 0, i, 1));
    EXPECT_EQ(c.kind, DedupCheck::kDuplicate) << i;
    EXPECT_EQ(c.base_offset, Offset(i));
  }
  EXPECT_EQ(t.Check(Batch(7, 0, 1, 1)).kind, DedupCheck::kOutOfOrder);
  EXPECT_EQ(t.Check(Batch(7, 0, 0, 1)).kind, DedupCheck::kOutOfOrder);
  EXPECT_EQ(t.Check(Batch(7, 0, 7, 1)).kind, DedupCheck::kAppend);
}

TEST(ProducerStateTest, SequencesWrapFromInt32MaxToZero) {
  ProducerStateTable t;
  // Rebuild a producer near the end of the sequence space (a long-lived producer).
  record::BatchHeader h;
  h.base_offset = 0;
  h.producer_id = 9;
  h.producer_epoch = 2;
  h.base_sequence = kMax - 1;
  h.last_offset_delta = 1;  // sequences kMax-1, kMax
  t.Apply(h);
  EXPECT_EQ(t.Check(Batch(9, 2, 0, 4)).kind, DedupCheck::kAppend);
  EXPECT_EQ(t.Check(Batch(9, 2, 1, 4)).kind, DedupCheck::kOutOfOrder);
  // A batch that itself crosses the wrap.
  BatchIdentity crossing = Batch(9, 2, 0, 1);
  Append(t, crossing, 2);
  BatchIdentity wrapping = Batch(9, 2, 1, 3);
  Append(t, wrapping, 3);
  EXPECT_EQ(t.Check(Batch(9, 2, 4, 1)).kind, DedupCheck::kAppend);
  // And a batch whose own sequences wrap: base kMax, 3 records -> last 1.
  ProducerStateTable u;
  h.base_sequence = kMax - 2;
  h.last_offset_delta = 1;  // kMax-2, kMax-1
  u.Apply(h);
  BatchIdentity across = Batch(9, 2, kMax, 3);
  EXPECT_EQ(across.last_sequence, 1);
  Append(u, across, 2);
  EXPECT_EQ(u.Check(across).kind, DedupCheck::kDuplicate);
  EXPECT_EQ(u.Check(Batch(9, 2, 2, 1)).kind, DedupCheck::kAppend);
}

TEST(ProducerStateTest, EpochRules) {
  ProducerStateTable t;
  Append(t, Batch(7, 3, 0, 2), 0);
  Append(t, Batch(7, 3, 2, 2), 2);
  EXPECT_EQ(t.Check(Batch(7, 2, 4, 1)).kind, DedupCheck::kInvalidEpoch);
  EXPECT_EQ(t.Check(Batch(7, 2, 0, 2)).kind, DedupCheck::kInvalidEpoch);
  // A newer epoch must restart at 0, and then replaces the old epoch's batches.
  EXPECT_EQ(t.Check(Batch(7, 4, 4, 1)).kind, DedupCheck::kOutOfOrder);
  Append(t, Batch(7, 4, 0, 1), 4);
  EXPECT_EQ(t.Find(7)->epoch, 4);
  EXPECT_EQ(t.Find(7)->batches.size(), 1u);
  EXPECT_EQ(t.Check(Batch(7, 3, 2, 2)).kind, DedupCheck::kInvalidEpoch);
  EXPECT_EQ(t.Check(Batch(7, 4, 1, 1)).kind, DedupCheck::kAppend);
}

TEST(ProducerStateTest, ProducersAreIndependent) {
  ProducerStateTable t;
  Append(t, Batch(1, 0, 0, 1), 0);
  Append(t, Batch(2, 0, 0, 1), 1);
  EXPECT_EQ(t.Check(Batch(1, 0, 1, 1)).kind, DedupCheck::kAppend);
  DedupCheck dup = t.Check(Batch(2, 0, 0, 1));
  EXPECT_EQ(dup.kind, DedupCheck::kDuplicate);
  EXPECT_EQ(dup.base_offset, Offset(1));
}

TEST(ProducerStateTest, ForgetUndoesAFailedAppend) {
  ProducerStateTable t;
  Append(t, Batch(7, 0, 0, 2), 0);
  BatchIdentity failed = Batch(7, 0, 2, 2);
  Append(t, failed, 2);
  t.Forget(failed, Offset(2));
  // The retry of the failed batch is appended again, not answered as a duplicate.
  EXPECT_EQ(t.Check(failed).kind, DedupCheck::kAppend);
  // Forgetting a producer's only batch forgets the producer.
  BatchIdentity only = Batch(8, 0, 0, 1);
  Append(t, only, 4);
  t.Forget(only, Offset(4));
  EXPECT_EQ(t.Find(8), nullptr);
  EXPECT_EQ(t.Check(only).kind, DedupCheck::kAppend);
}

TEST(ProducerStateTest, TruncateToDropsEntriesAtOrAboveTheEnd) {
  ProducerStateTable t;
  Append(t, Batch(7, 0, 0, 2), 0);  // 0..1
  Append(t, Batch(7, 0, 2, 2), 2);  // 2..3
  Append(t, Batch(8, 0, 0, 1), 4);  // producer 8 only above the cut
  Append(t, Batch(7, 0, 4, 1), 5);
  EXPECT_TRUE(t.TruncateTo(Offset(2)));
  EXPECT_EQ(t.Find(8), nullptr);
  ASSERT_NE(t.Find(7), nullptr);
  EXPECT_EQ(t.Find(7)->batches.size(), 1u);
  EXPECT_EQ(t.Check(Batch(7, 0, 2, 2)).kind, DedupCheck::kAppend);  // resent after the cut
  EXPECT_EQ(t.Check(Batch(7, 0, 0, 2)).kind, DedupCheck::kDuplicate);
}

TEST(ProducerStateTest, TruncateBelowTheWindowSaysRebuild) {
  ProducerStateTable t;
  for (int i = 0; i < 8; ++i) Append(t, Batch(7, 0, i, 1), i);  // window: 3..7
  EXPECT_TRUE(t.TruncateTo(Offset(5)));                         // 3, 4 stay
  EXPECT_FALSE(t.TruncateTo(Offset(3)));  // nothing cached left, but 0..2 are in the log
  EXPECT_EQ(t.Find(7), nullptr);
}

TEST(ProducerStateTest, RemoveBelowDropsProducersWhoseBatchesAreGone) {
  ProducerStateTable t;
  Append(t, Batch(1, 0, 0, 1), 0);
  Append(t, Batch(2, 0, 0, 1), 1);
  Append(t, Batch(2, 0, 1, 1), 5);
  t.RemoveBelow(Offset(2));
  EXPECT_EQ(t.Find(1), nullptr);
  EXPECT_EQ(t.Check(Batch(1, 0, 1, 1)).kind, DedupCheck::kUnknownProducer);
  ASSERT_NE(t.Find(2), nullptr);
  EXPECT_EQ(t.Find(2)->batches.size(), 1u);
  EXPECT_EQ(t.Check(Batch(2, 0, 2, 1)).kind, DedupCheck::kAppend);
}

TEST(ProducerStateTest, ApplyRebuildsWhatRecordBuilt) {
  // Random producers appending in random order; a table rebuilt from the headers answers every
  // check like the table built by Check+Record.
  std::mt19937_64 rng(spool::testing::TestSeed());
  ProducerStateTable live;
  ProducerStateTable rebuilt;
  std::vector<int32_t> next(4, 0);
  std::vector<int16_t> epoch(4, 0);
  int64_t offset = 0;
  for (int i = 0; i < 300; ++i) {
    const int p = static_cast<int>(rng() % 4);
    if (rng() % 50 == 0) {
      ++epoch[p];
      next[p] = 0;
    }
    const int32_t records = static_cast<int32_t>(1 + rng() % 4);
    BatchIdentity b = Batch(100 + p, epoch[p], next[p], records);
    ASSERT_EQ(live.Check(b).kind, DedupCheck::kAppend);
    live.Record(b, Offset(offset), Offset(offset + records - 1));
    record::BatchHeader h;
    h.base_offset = offset;
    h.producer_id = b.producer_id;
    h.producer_epoch = b.producer_epoch;
    h.base_sequence = b.base_sequence;
    h.last_offset_delta = records - 1;
    rebuilt.Apply(h);
    offset += records;
    next[p] = AddToSequence(next[p], records);
  }
  ASSERT_EQ(live.size(), rebuilt.size());
  for (int p = 0; p < 4; ++p) {
    const ProducerEntry* a = live.Find(100 + p);
    const ProducerEntry* b = rebuilt.Find(100 + p);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(a->epoch, b->epoch);
    ASSERT_EQ(a->batches.size(), b->batches.size());
    for (size_t i = 0; i < a->batches.size(); ++i) {
      EXPECT_EQ(a->batches[i].base_sequence, b->batches[i].base_sequence);
      EXPECT_EQ(a->batches[i].base_offset, b->batches[i].base_offset);
      EXPECT_EQ(a->batches[i].last_offset, b->batches[i].last_offset);
    }
  }
}

TEST(ProducerStateTest, ApplyIgnoresControlAndOlderEpochBatches) {
  ProducerStateTable t;
  record::BatchHeader h;
  h.producer_id = 5;
  h.producer_epoch = 2;
  h.base_sequence = 0;
  t.Apply(h);
  h.base_offset = 1;
  h.producer_epoch = 1;
  h.base_sequence = 1;
  t.Apply(h);  // older epoch: ignored
  EXPECT_EQ(t.Find(5)->batches.size(), 1u);
  h.producer_epoch = 2;
  h.attributes = record::kControlBit;
  t.Apply(h);
  EXPECT_EQ(t.Find(5)->batches.size(), 1u);
  EXPECT_EQ(t.Find(5)->epoch, 2);
}

}  // namespace
}  // namespace spool::broker
