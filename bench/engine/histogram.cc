// Histogram bucket layout (see histogram.h): with p = precision_bits and a value v clamped to
// [0, 2^max_value_bits), let s = max(0, bit_width(v) - p). Then v >> s has at most p bits, and
//
//   index(v) = (s << (p - 1)) + (v >> s)
//
// For s = 0 (v < 2^p) the index is v itself (exact counts). For s >= 1, v >> s lies in
// [2^(p-1), 2^p), so each power-of-two range [2^(s+p-1), 2^(s+p)) owns 2^(p-1) consecutive
// indexes, each covering 2^s values: a width of 2^-(p-1) of the range's lower bound. The index
// is monotonic in v, so cumulative counts over indexes are cumulative counts over values.
#include "bench/engine/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace spool::bench {
namespace {

constexpr int kMinPrecisionBits = 1;
constexpr int kMaxPrecisionBits = 20;
constexpr int kMaxValueBits = 62;

// ceil(q * n) for q in [0, 1], without the rounding error of the product pushing an exact
// integer (0.07 * 100 = 7.000000000000001) up to the next one. At least 1.
uint64_t RankOf(double q, uint64_t n) {
  const long double x = static_cast<long double>(q) * static_cast<long double>(n);
  const long double nearest = std::nearbyint(x);
  long double rank =
      std::fabs(x - nearest) <= 1e-9L * std::max<long double>(1, x) ? nearest : std::ceil(x);
  rank = std::clamp<long double>(rank, 1, static_cast<long double>(n));
  return static_cast<uint64_t>(rank);
}

}  // namespace

Histogram::Histogram(int precision_bits, int max_value_bits)
    : precision_bits_(std::clamp(precision_bits, kMinPrecisionBits, kMaxPrecisionBits)),
      max_value_bits_(std::clamp(max_value_bits, precision_bits_, kMaxValueBits)) {
  // The largest index is that of the top value: s = max_value_bits - p, v >> s = 2^p - 1.
  const size_t buckets =
      (static_cast<size_t>(max_value_bits_ - precision_bits_) << (precision_bits_ - 1)) +
      (size_t{1} << precision_bits_);
  counts_.assign(buckets, 0);
  top_ = (int64_t{1} << max_value_bits_) - 1;
  low_mask_ = (uint64_t{1} << precision_bits_) - 1;
}

size_t Histogram::IndexOf(int64_t value) const {
  const uint64_t v = static_cast<uint64_t>(value);  // already clamped to [0, top_]
  const int s = std::bit_width(v | low_mask_) - precision_bits_;
  return (static_cast<size_t>(s) << (precision_bits_ - 1)) + static_cast<size_t>(v >> s);
}

int64_t Histogram::UpperBoundOf(size_t index) const {
  // index = (s << (p-1)) + m with m in [2^(p-1), 2^p) for s >= 1, or m = index < 2^p for s = 0.
  const size_t high = index >> (precision_bits_ - 1);
  const int s = high == 0 ? 0 : static_cast<int>(high) - 1;
  const uint64_t m = index - (static_cast<size_t>(s) << (precision_bits_ - 1));
  const uint64_t lo = m << s;
  return static_cast<int64_t>(lo + ((uint64_t{1} << s) - 1));
}

void Histogram::RecordN(int64_t value, uint64_t count) {
  if (count == 0) return;
  clamped_ += value > top_ ? count : 0;
  const int64_t v = std::clamp<int64_t>(value, 0, top_);
  counts_[IndexOf(v)] += count;
  count_ += count;
  sum_ += static_cast<unsigned __int128>(v) * count;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  if (other.precision_bits_ == precision_bits_ && other.max_value_bits_ == max_value_bits_) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  } else {
    // Not the documented use; kept correct to this histogram's resolution rather than undefined.
    for (size_t i = 0; i < other.counts_.size(); ++i) {
      if (other.counts_[i] != 0) {
        counts_[IndexOf(std::min(other.UpperBoundOf(i), top_))] += other.counts_[i];
      }
    }
  }
  count_ += other.count_;
  clamped_ += other.clamped_;
  sum_ += other.sum_;
  min_ = std::min(min_, std::min(other.min_, top_));
  max_ = std::max(max_, std::min(other.max_, top_));
}

void Histogram::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  clamped_ = 0;
  min_ = std::numeric_limits<int64_t>::max();
  max_ = 0;
  sum_ = 0;
}

int64_t Histogram::min() const {
  return count_ == 0 ? 0 : min_;
}

int64_t Histogram::max() const {
  return count_ == 0 ? 0 : max_;
}

double Histogram::mean() const {
  if (count_ == 0) return 0;
  return static_cast<double>(static_cast<long double>(sum_) / static_cast<long double>(count_));
}

int64_t Histogram::ValueAtQuantile(double q) const {
  if (count_ == 0) return 0;
  if (!(q > 0)) return min_;  // also NaN
  if (q >= 1) return max_;
  const uint64_t rank = RankOf(q, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(UpperBoundOf(i), min_, max_);
  }
  return max_;  // unreachable: the counts add up to count_
}

double Histogram::max_relative_error() const {
  return std::ldexp(1.0, -(precision_bits_ - 1));
}

LatencySummary Summarize(const Histogram& h) {
  return LatencySummary{.count = h.count(),
                        .min = h.min(),
                        .p50 = h.ValueAtQuantile(0.5),
                        .p90 = h.ValueAtQuantile(0.9),
                        .p99 = h.ValueAtQuantile(0.99),
                        .p999 = h.ValueAtQuantile(0.999),
                        .p9999 = h.ValueAtQuantile(0.9999),
                        .max = h.max(),
                        .mean = h.mean()};
}

}  // namespace spool::bench
