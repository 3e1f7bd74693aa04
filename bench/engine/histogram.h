// Histogram: an HDR-style log-linear histogram of non-negative integer values (the benchmark
// records latencies in nanoseconds), with a bounded relative error and a fixed memory size.
//
// Values below 2^precision_bits are counted exactly. Above that, each power-of-two range
// [2^k, 2^(k+1)) is split into 2^(precision_bits-1) equal buckets, each 2^-(precision_bits-1) of
// the range's lower bound wide, and a value is reported as the upper bound (the largest value) of
// its bucket, never above max(). Guarantee: for every quantile q, the reported value r and the
// exact quantile v of the recorded values (the ceil(q * count)-th smallest) satisfy
//   v <= r <= v + v * max_relative_error().
// With the default precision_bits = 11, max_relative_error() = 1/1024 (< 0.1%); the default
// range is [0, 2^40) ns (about 18 minutes); values above it are counted as the top value
// 2^max_value_bits - 1 (in min, max and mean too) and reported by clamped().
// precision_bits is clamped to [1, 20], max_value_bits to [precision_bits, 62].
//
// Memory: (max_value_bits + 2 - precision_bits) * 2^(precision_bits-1) * 8 bytes (~248 KiB by
// default), allocated once by the constructor; Record/RecordN never allocate and branch only on
// count == 0 (values are clamped with min/max). Not thread-safe: one histogram per thread, merged
// afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace spool::bench {

class Histogram {
 public:
  explicit Histogram(int precision_bits = 11, int max_value_bits = 40);

  // Counts `value` (negative values count as 0, values >= 2^max_value_bits as the top value).
  void Record(int64_t value) { RecordN(value, 1); }
  void RecordN(int64_t value, uint64_t count);
  // Adds every count of `other`, which must have the same precision and range.
  void Merge(const Histogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  uint64_t clamped() const { return clamped_; }
  int64_t min() const;  // exact; 0 when empty
  int64_t max() const;  // exact (clamped values count as the top of the range); 0 when empty
  double mean() const;  // exact: the sum of the recorded values / count; 0 when empty
  // The smallest reported value r such that at least ceil(q * count) recorded values are <= r,
  // for q in [0, 1] (q = 1 gives max(); q = 0 gives min()). 0 when empty.
  int64_t ValueAtQuantile(double q) const;
  double max_relative_error() const;

 private:
  size_t IndexOf(int64_t value) const;
  int64_t UpperBoundOf(size_t index) const;

  int precision_bits_;
  int max_value_bits_;
  int64_t top_ = 0;        // 2^max_value_bits - 1, the largest value counted as itself
  uint64_t low_mask_ = 0;  // 2^precision_bits - 1
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t clamped_ = 0;
  int64_t min_ = std::numeric_limits<int64_t>::max();
  int64_t max_ = 0;
  unsigned __int128 sum_ = 0;  // exact: 2^62 * 2^64 fits
};

// The figures a report prints for one latency, in nanoseconds.
struct LatencySummary {
  uint64_t count = 0;
  int64_t min = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, p9999 = 0, max = 0;
  double mean = 0;
};
LatencySummary Summarize(const Histogram& h);

}  // namespace spool::bench
