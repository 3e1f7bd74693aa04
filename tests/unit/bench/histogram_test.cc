// Histogram: the bounded-error quantile guarantee against exact quantiles of known
// distributions, exact min/max/mean, merging, and the edges of the range.
#include "bench/engine/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tests/support/test_env.h"

namespace spool::bench {
namespace {

// A quantile as an exact fraction, so the expected rank needs no floating point.
struct Fraction {
  uint64_t num, den;
  double value() const { return static_cast<double>(num) / static_cast<double>(den); }
};

// p50, p90, p99, p99.9, p99.99, and a sweep of 1/1000 steps.
std::vector<Fraction> Quantiles() {
  std::vector<Fraction> qs = {{1, 2}, {9, 10}, {99, 100}, {999, 1000}, {9999, 10000}};
  for (uint64_t i = 1; i < 1000; ++i) qs.push_back({i, 1000});
  return qs;
}

// The exact ceil(q * n)-th smallest of `sorted` (at least the first).
int64_t ExactQuantile(const std::vector<int64_t>& sorted, Fraction q) {
  const uint64_t n = sorted.size();
  const uint64_t rank = std::max<uint64_t>(1, (q.num * n + q.den - 1) / q.den);
  return sorted[rank - 1];
}

// Records `values` and checks every quantile, min, max, mean and count against them.
void CheckAgainstExact(std::vector<int64_t> values) {
  Histogram h;
  unsigned __int128 sum = 0;
  for (int64_t v : values) {
    h.Record(v);
    sum += static_cast<unsigned __int128>(v);
  }
  std::sort(values.begin(), values.end());
  ASSERT_EQ(h.count(), values.size());
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.max(), values.back());
  const double mean = static_cast<double>(static_cast<long double>(sum) / values.size());
  EXPECT_DOUBLE_EQ(h.mean(), mean);
  EXPECT_EQ(h.ValueAtQuantile(0), values.front());
  EXPECT_EQ(h.ValueAtQuantile(1), values.back());
  const double err = h.max_relative_error();
  for (Fraction q : Quantiles()) {
    const int64_t exact = ExactQuantile(values, q);
    const int64_t reported = h.ValueAtQuantile(q.value());
    ASSERT_GE(reported, exact) << "q=" << q.value();
    ASSERT_LE(static_cast<double>(reported), exact + exact * err) << "q=" << q.value();
  }
}

constexpr size_t kSamples = 500'000;

TEST(HistogramTest, DefaultErrorIsOnePart) {
  EXPECT_DOUBLE_EQ(Histogram().max_relative_error(), 1.0 / 1024);
}

TEST(HistogramTest, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0);
  EXPECT_EQ(h.ValueAtQuantile(0.5), 0);
  const LatencySummary s = Summarize(h);
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.p99, 0);
  EXPECT_EQ(s.max, 0);
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  std::vector<int64_t> values;
  for (int64_t v = 0; v < 2048; ++v) {
    h.Record(v);
    values.push_back(v);
  }
  for (Fraction q : Quantiles()) EXPECT_EQ(h.ValueAtQuantile(q.value()), ExactQuantile(values, q));
}

TEST(HistogramTest, UniformWithinBound) {
  std::mt19937_64 rng(testing::TestSeed());
  std::uniform_int_distribution<int64_t> dist(0, 1'000'000'000);
  std::vector<int64_t> values(kSamples);
  for (auto& v : values) v = dist(rng);
  CheckAgainstExact(std::move(values));
}

TEST(HistogramTest, ExponentialWithinBound) {
  std::mt19937_64 rng(testing::TestSeed());
  std::exponential_distribution<double> dist(1.0 / 250'000);  // mean 250 us
  std::vector<int64_t> values(kSamples);
  for (auto& v : values) v = static_cast<int64_t>(dist(rng));
  CheckAgainstExact(std::move(values));
}

TEST(HistogramTest, BimodalLongTailWithinBound) {
  // 98% around 200 us, 2% a Pareto tail from 5 ms to seconds: p99 and above sit in the tail.
  std::mt19937_64 rng(testing::TestSeed());
  std::normal_distribution<double> body(200'000, 30'000);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<int64_t> values(kSamples);
  for (auto& v : values) {
    if (u(rng) < 0.98) {
      v = std::max<int64_t>(1, static_cast<int64_t>(body(rng)));
    } else {
      v = static_cast<int64_t>(5e6 / std::pow(1 - u(rng), 1 / 1.2));  // Pareto, alpha 1.2
    }
  }
  CheckAgainstExact(std::move(values));
}

TEST(HistogramTest, EveryPowerOfTwoBoundaryWithinBound) {
  // A value alone would be reported exactly (quantiles are clamped to [min, max]); a large
  // companion exposes the reported upper bound of the value's bucket.
  Histogram h;
  const double err = h.max_relative_error();
  std::vector<int64_t> probes;
  for (int k = 0; k < 40; ++k) {
    const int64_t p = int64_t{1} << k;
    for (int64_t d : {-2, -1, 0, 1, 2, 3}) {
      if (p + d >= 0) probes.push_back(p + d);
    }
  }
  int64_t previous_reported = 0;
  std::sort(probes.begin(), probes.end());
  for (int64_t v : probes) {
    h.Reset();
    h.Record(v);
    h.Record((int64_t{1} << 40) - 1);
    const int64_t r = h.ValueAtQuantile(0.5);
    ASSERT_GE(r, v);
    ASSERT_LE(static_cast<double>(r), v + v * err) << v;
    ASSERT_GE(r, previous_reported) << "reported values must be monotonic in the value";
    previous_reported = r;
  }
}

TEST(HistogramTest, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(testing::TestSeed());
  std::exponential_distribution<double> dist(1.0 / 1e6);
  Histogram all, parts[3];
  for (size_t i = 0; i < 200'000; ++i) {
    const int64_t v = static_cast<int64_t>(dist(rng));
    all.Record(v);
    parts[i % 3].Record(v);
  }
  parts[2].Record(int64_t{1} << 45);  // a clamped one too
  all.Record(int64_t{1} << 45);
  Histogram merged;
  for (const Histogram& p : parts) merged.Merge(p);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.clamped(), 1u);
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (Fraction q : Quantiles()) {
    ASSERT_EQ(merged.ValueAtQuantile(q.value()), all.ValueAtQuantile(q.value())) << q.value();
  }
  Histogram empty;
  merged.Merge(empty);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
}

TEST(HistogramTest, RangeEdgesAndClamping) {
  Histogram h;
  const int64_t top = (int64_t{1} << 40) - 1;
  h.Record(-5);  // counts as 0
  h.Record(0);
  h.Record(top);  // the largest value in range: not clamped
  EXPECT_EQ(h.clamped(), 0u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), top);
  h.Record(top + 1);
  h.Record(INT64_MAX);
  EXPECT_EQ(h.clamped(), 2u);
  EXPECT_EQ(h.count(), 5u);
  EXPECT_EQ(h.max(), top);
  EXPECT_EQ(h.ValueAtQuantile(1), top);
  EXPECT_EQ(h.ValueAtQuantile(0.2), 0);
  EXPECT_EQ(h.ValueAtQuantile(0.4), 0);
  EXPECT_EQ(h.ValueAtQuantile(0.6), top);
  EXPECT_DOUBLE_EQ(h.mean(), 3.0 * top / 5);
}

TEST(HistogramTest, RecordNCountsAndZeroIsNothing) {
  Histogram h;
  h.RecordN(1000, 0);
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0);
  h.RecordN(5000, 99);
  h.RecordN(7, 1);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.min(), 7);
  EXPECT_EQ(h.max(), 5000);
  EXPECT_DOUBLE_EQ(h.mean(), (5000.0 * 99 + 7) / 100);
  EXPECT_EQ(h.ValueAtQuantile(0.01), 7);
  EXPECT_EQ(h.ValueAtQuantile(0.02), 5000);
  h.Reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0);
  h.Record(3);
  EXPECT_EQ(h.min(), 3);
}

TEST(HistogramTest, CoarsePrecisionKeepsItsBound) {
  Histogram h(/*precision_bits=*/3, /*max_value_bits=*/20);
  EXPECT_DOUBLE_EQ(h.max_relative_error(), 0.25);
  std::mt19937_64 rng(testing::TestSeed());
  std::uniform_int_distribution<int64_t> dist(0, (1 << 20) - 1);
  std::vector<int64_t> values(20'000);
  for (auto& v : values) {
    v = dist(rng);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (Fraction q : Quantiles()) {
    const int64_t exact = ExactQuantile(values, q);
    const int64_t r = h.ValueAtQuantile(q.value());
    ASSERT_GE(r, exact);
    ASSERT_LE(static_cast<double>(r), exact * 1.25);
  }
}

TEST(HistogramTest, SummarizePicksTheDocumentedQuantiles) {
  Histogram h;
  for (int64_t v = 1; v <= 100'000; ++v) h.Record(v);
  const LatencySummary s = Summarize(h);
  EXPECT_EQ(s.count, 100'000u);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 100'000);
  EXPECT_EQ(s.p50, h.ValueAtQuantile(0.5));
  EXPECT_EQ(s.p90, h.ValueAtQuantile(0.9));
  EXPECT_EQ(s.p99, h.ValueAtQuantile(0.99));
  EXPECT_EQ(s.p999, h.ValueAtQuantile(0.999));
  EXPECT_EQ(s.p9999, h.ValueAtQuantile(0.9999));
  EXPECT_GE(s.p99, 99'000);
  EXPECT_LE(s.p99, 99'000 + 99'000 / 1024);
  EXPECT_DOUBLE_EQ(s.mean, 50'000.5);
}

}  // namespace
}  // namespace spool::bench
