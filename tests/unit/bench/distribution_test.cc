// SizeDistribution, KeyDistribution and ZipfSampler: parsing (with the errors' messages),
// bounds, means, and Zipf frequencies against 1/k^s with a tolerance from the sample size.
#include "bench/engine/distribution.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/test_env.h"

namespace spool::bench {
namespace {

using ::testing::HasSubstr;

// Within `sigmas` standard errors of the expected mean of n draws with stddev `sd`.
void ExpectMeanClose(double sample_mean, double expected, double sd, size_t n, double sigmas = 5) {
  EXPECT_NEAR(sample_mean, expected, sigmas * sd / std::sqrt(static_cast<double>(n)) + 1e-9);
}

TEST(SizeDistributionTest, DefaultIsFixed100) {
  SizeDistribution d;
  Rng rng(1);
  EXPECT_EQ(d.Next(rng), 100);
  EXPECT_EQ(d.ToString(), "100");
}

TEST(SizeDistributionTest, Fixed) {
  auto d = SizeDistribution::Parse("1024");
  ASSERT_TRUE(d.ok()) << d.status();
  Rng rng(testing::TestSeed());
  for (int i = 0; i < 100; ++i) ASSERT_EQ(d->Next(rng), 1024);
  EXPECT_EQ(d->min(), 1024);
  EXPECT_EQ(d->max(), 1024);
  EXPECT_EQ(d->mean(), 1024);
  EXPECT_EQ(d->ToString(), "1024");
  EXPECT_EQ(SizeDistribution::Fixed(0).Next(rng), 0);
}

TEST(SizeDistributionTest, UniformWithinBoundsAndMeanClose) {
  auto d = SizeDistribution::Parse("uniform:100-2000");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->min(), 100);
  EXPECT_EQ(d->max(), 2000);
  EXPECT_DOUBLE_EQ(d->mean(), 1050);
  Rng rng(testing::TestSeed());
  constexpr size_t kN = 200'000;
  double sum = 0;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (size_t i = 0; i < kN; ++i) {
    const int64_t v = d->Next(rng);
    ASSERT_GE(v, 100);
    ASSERT_LE(v, 2000);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += static_cast<double>(v);
  }
  EXPECT_EQ(lo, 100);  // each end has probability ~1/1901 per draw
  EXPECT_EQ(hi, 2000);
  ExpectMeanClose(sum / kN, 1050, 1900 / std::sqrt(12.0), kN);
  EXPECT_EQ(d->ToString(), "uniform:100-2000");
}

TEST(SizeDistributionTest, NormalClampedAndMeanClose) {
  Rng rng(testing::TestSeed());
  for (const char* spec : {"normal:1000,200", "normal:100,50"}) {
    auto d = SizeDistribution::Parse(spec);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->ToString(), spec);
    constexpr size_t kN = 200'000;
    double sum = 0, sum_sq = 0;
    for (size_t i = 0; i < kN; ++i) {
      const int64_t v = d->Next(rng);
      ASSERT_GE(v, d->min());
      ASSERT_LE(v, d->max());
      sum += static_cast<double>(v);
      sum_sq += static_cast<double>(v) * static_cast<double>(v);
    }
    const double mean = sum / kN;
    const double sd = std::sqrt(sum_sq / kN - mean * mean);
    ExpectMeanClose(mean, d->mean(), sd, kN);
  }
  auto wide = SizeDistribution::Parse("normal:1000,200");
  EXPECT_EQ(wide->min(), 200);
  EXPECT_EQ(wide->max(), 1800);
  EXPECT_NEAR(wide->mean(), 1000, 1e-6);
  auto truncated = SizeDistribution::Parse("normal:100,50");
  EXPECT_EQ(truncated->min(), 0);
  EXPECT_EQ(truncated->max(), 300);
  EXPECT_GT(truncated->mean(), 100);  // the clamp at 0 lifts the mean
  auto degenerate = SizeDistribution::Parse("normal:64,0");
  ASSERT_TRUE(degenerate.ok());
  EXPECT_EQ(degenerate->Next(rng), 64);
}

TEST(SizeDistributionTest, ParseErrorsNameTheSpec) {
  for (const char* spec :
       {"", "abc", "-5", "1.5", "2000000000", "uniform:5", "uniform:9-3", "uniform:a-b",
        "uniform:", "normal:10", "normal:-1,2", "normal:10,x", "pareto:1", "1024:"}) {
    auto d = SizeDistribution::Parse(spec);
    ASSERT_FALSE(d.ok()) << spec;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(d.status().message()),
                HasSubstr(absl::StrCat("'", std::string(spec), "'")));
  }
  EXPECT_THAT(std::string(SizeDistribution::Parse("uniform:9-3").status().message()),
              HasSubstr("MIN is larger than MAX"));
  EXPECT_THAT(std::string(SizeDistribution::Parse("pareto:1").status().message()),
              HasSubstr("unknown distribution 'pareto'"));
}

TEST(KeyDistributionTest, NoneGivesNullKeys) {
  KeyDistribution d;
  EXPECT_TRUE(d.none());
  Rng rng(1);
  uint64_t counter = 0;
  EXPECT_FALSE(d.Next(rng, counter).has_value());
  auto parsed = KeyDistribution::Parse("none");
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->none());
  EXPECT_EQ(parsed->ToString(), "none");
}

TEST(KeyDistributionTest, RandomCoversEveryKey) {
  auto d = KeyDistribution::Parse("random:10");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->key_count(), 10u);
  Rng rng(testing::TestSeed());
  uint64_t counter = 0;
  std::vector<int> seen(10);
  for (int i = 0; i < 10'000; ++i) {
    auto k = d->Next(rng, counter);
    ASSERT_TRUE(k.has_value());
    ASSERT_LT(*k, 10u);
    ++seen[*k];
  }
  for (int c : seen) EXPECT_GT(c, 800);  // expected 1000, sd ~30
  EXPECT_EQ(d->ToString(), "random:10");
}

TEST(KeyDistributionTest, SequentialRoundRobinsWithTheCallersCounter) {
  auto d = KeyDistribution::Parse("sequential:3");
  ASSERT_TRUE(d.ok());
  Rng rng(1);
  uint64_t counter = 0;
  std::vector<uint64_t> keys;
  for (int i = 0; i < 7; ++i) keys.push_back(*d->Next(rng, counter));
  EXPECT_EQ(keys, (std::vector<uint64_t>{0, 1, 2, 0, 1, 2, 0}));
  EXPECT_EQ(counter, 7u);
  EXPECT_EQ(d->ToString(), "sequential:3");
}

// Draws `samples` keys of a zipf:n:s spec and checks each key with a large enough expected
// count against n * p_k within 5 standard deviations of a binomial count.
void CheckZipf(uint64_t n, double s, size_t samples, uint64_t keys_checked) {
  auto d = KeyDistribution::Parse("zipf:" + std::to_string(n) + ":" + std::to_string(s));
  ASSERT_TRUE(d.ok()) << d.status();
  double norm = 0;
  for (uint64_t k = 1; k <= n; ++k) norm += std::pow(static_cast<double>(k), -s);
  Rng rng(testing::TestSeed());
  uint64_t counter = 0;
  std::vector<uint64_t> counts(n);
  for (size_t i = 0; i < samples; ++i) {
    auto k = d->Next(rng, counter);
    ASSERT_TRUE(k.has_value());
    ASSERT_LT(*k, n);
    ++counts[*k];
  }
  for (uint64_t k = 1; k <= std::min(n, keys_checked); ++k) {
    const double p = std::pow(static_cast<double>(k), -s) / norm;
    const double expected = p * samples;
    const double sd = std::sqrt(samples * p * (1 - p));
    EXPECT_NEAR(static_cast<double>(counts[k - 1]), expected, 5 * sd + 1)
        << "zipf:" << n << ":" << s << " key " << k;
  }
}

TEST(ZipfTest, FrequenciesMatchOneOverKToTheS) {
  CheckZipf(100, 1.0, 400'000, 100);
  CheckZipf(1000, 1.2, 400'000, 50);
  CheckZipf(50, 0.5, 400'000, 50);
  CheckZipf(10, 2.5, 200'000, 10);
  CheckZipf(1, 1.0, 1000, 1);
}

TEST(ZipfTest, HugeKeySpaceNeedsNoTable) {
  // n = 10^12: P(key 1) = 1 / H(n) with H(n) ~ ln(n) + gamma + 1/(2n) for s = 1.
  const uint64_t n = 1'000'000'000'000;
  ZipfSampler z(n, 1.0);
  Rng rng(testing::TestSeed());
  constexpr size_t kN = 200'000;
  size_t ones = 0;
  for (size_t i = 0; i < kN; ++i) {
    const uint64_t k = z.Next(rng);
    ASSERT_GE(k, 1u);
    ASSERT_LE(k, n);
    ones += k == 1;
  }
  const double p1 = 1 / (std::log(static_cast<double>(n)) + 0.5772156649);
  EXPECT_NEAR(static_cast<double>(ones), p1 * kN, 5 * std::sqrt(kN * p1 * (1 - p1)));
}

TEST(KeyDistributionTest, ZipfSpecs) {
  auto d = KeyDistribution::Parse("zipf:10");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->key_count(), 10u);
  EXPECT_EQ(d->ToString(), "zipf:10");
  auto e = KeyDistribution::Parse("zipf:10:1.5");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->ToString(), "zipf:10:1.5");
  auto back = KeyDistribution::Parse(e->ToString());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ToString(), "zipf:10:1.5");
}

TEST(KeyDistributionTest, ParseErrorsNameTheSpec) {
  for (const char* spec :
       {"", "zipf", "zipf:", "zipf:0", "zipf:10:0", "zipf:10:-1", "zipf:10:x", "zipf:10:1:2",
        "random", "random:5:2", "random:-3", "sequential:abc", "foo:3", "None"}) {
    auto d = KeyDistribution::Parse(spec);
    ASSERT_FALSE(d.ok()) << spec;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(d.status().message()),
                HasSubstr(absl::StrCat("'", std::string(spec), "'")));
  }
  EXPECT_THAT(std::string(KeyDistribution::Parse("zipf:10:0").status().message()),
              HasSubstr("S must be"));
}

}  // namespace
}  // namespace spool::bench
