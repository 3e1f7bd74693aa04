// Random shapes of a benchmark workload: record sizes and record keys. Each is parsed from a
// short spec string (the same text in a workload file and on the command line) and draws from
// a caller-owned generator, so a run is reproducible from its seed.
//
//   sizes: "1024"                 every value 1024 bytes
//          "uniform:100-2000"     uniform in [100, 2000]
//          "normal:1000,200"      normal, mean 1000, stddev 200, rounded and clamped to
//                                 [max(0, mean - 4 stddev), mean + 4 stddev]
//   keys:  "none"                 null keys (the producer's sticky partitioner)
//          "random:N"             uniform over N distinct keys
//          "zipf:N" / "zipf:N:S"  Zipf over N keys with exponent S (default 1.0): key k (1-based)
//                                 has weight 1/k^S
//          "sequential:N"         keys 0, 1, ..., N-1, 0, ... (round-robin, for partition spread)
//
// Parse() returns kInvalidArgument with a message naming the spec and what is wrong. Values are
// immutable after Parse; Next() is const and thread-safe given a per-thread generator.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "common/status.h"

namespace spool::bench {

using Rng = std::mt19937_64;

class SizeDistribution {
 public:
  SizeDistribution() = default;  // fixed 100 bytes
  [[nodiscard]] static StatusOr<SizeDistribution> Parse(std::string_view spec);
  static SizeDistribution Fixed(int64_t bytes);

  int64_t Next(Rng& rng) const;
  int64_t min() const;           // the smallest value Next() can return
  int64_t max() const;           // the largest value Next() can return
  double mean() const;           // the expected value (of the clamped distribution, approximately)
  std::string ToString() const;  // a spec that Parse() reads back to the same distribution

 private:
  enum class Kind { kFixed, kUniform, kNormal };
  Kind kind_ = Kind::kFixed;
  int64_t a_ = 100;  // fixed: the size; uniform: min; normal: mean
  int64_t b_ = 100;  // uniform: max; normal: stddev
};

// Zipf over {1..n} with exponent s > 0 (n < 1 counts as 1; a negative or non-finite s as 1),
// sampled in O(1) expected time (rejection-inversion, so no table of n weights is built; n may be
// large).
class ZipfSampler {
 public:
  ZipfSampler(uint64_t n, double s);
  uint64_t Next(Rng& rng) const;  // in [1, n]
  uint64_t n() const { return n_; }
  double s() const { return s_; }

 private:
  double H(double x) const;         // the antiderivative of h
  double HInverse(double u) const;  // its inverse
  double h(double x) const;         // x^-s

  uint64_t n_;
  double s_;
  // Precomputed constants of the sampler (distribution.cc): H(x1) and H(n + 1/2), the ends of
  // the interval in which the integrated hat function is sampled uniformly.
  double h_x1_ = 0, h_n_ = 0;
};

class KeyDistribution {
 public:
  KeyDistribution() = default;  // none
  [[nodiscard]] static StatusOr<KeyDistribution> Parse(std::string_view spec);

  // The next key's index in [0, key_count()), or nullopt for a null key ("none").
  // "sequential" keeps its position in `counter`, which the caller owns per thread.
  std::optional<uint64_t> Next(Rng& rng, uint64_t& counter) const;
  bool none() const { return kind_ == Kind::kNone; }
  uint64_t key_count() const { return n_; }
  std::string ToString() const;

 private:
  enum class Kind { kNone, kRandom, kZipf, kSequential };
  Kind kind_ = Kind::kNone;
  uint64_t n_ = 0;
  std::optional<ZipfSampler> zipf_;
};

}  // namespace spool::bench
