// Size and key distributions (distribution.h), and the Zipf sampler.
//
// ZipfSampler: rejection-inversion (W. Hormann, G. Derflinger, "Rejection-inversion to generate
// variates from monotone discrete distributions", ACM TOMACS 6(3), 1996). With the weight
// h(x) = x^-s, which is decreasing and convex on x > 0, and its antiderivative
//   H(x) = (x^(1-s) - 1) / (1 - s)      (log x when s = 1),
// integer k >= 2 is given the slice (H(k - 1/2), H(k + 1/2)] of H's range; by convexity that
// slice is at least h(k) long. Integer 1 is given (H(1.5) - h(1), H(1.5)], exactly h(1) long.
// Drawing u uniformly from (H(x1), H(n + 1/2)] (where H(x1) = H(1.5) - 1), taking
// k = round(H^-1(u)) and accepting when u >= H(k + 1/2) - h(k) accepts a piece of length exactly
// h(k) of k's slice, so an accepted k has probability h(k) / sum_j h(j). The rejected pieces are
// small (about s(s+1)/24 k^-(s+2) for slice k), so the expected number of rounds is close to 1
// and no table of n weights is needed.
//
// H and H^-1 are written with expm1/log1p so that they stay accurate as s approaches 1:
//   H(x)    = log(x) * E((1 - s) log x),        E(t) = (e^t - 1) / t,   E(0) = 1
//   H^-1(u) = exp(u * L((1 - s) u)),            L(t) = log(1 + t) / t,  L(0) = 1
#include "bench/engine/distribution.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "absl/strings/str_cat.h"

namespace spool::bench {
namespace {

constexpr int64_t kMaxSize = int64_t{1} << 30;  // 1 GiB: far above any record a broker takes
constexpr uint64_t kMaxKeys = uint64_t{1} << 40;
constexpr double kMaxZipfExponent = 100;

// A whole decimal integer, nothing else.
template <typename T>
bool ParseWhole(std::string_view text, T& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool ParseDouble(std::string_view text, double& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && std::isfinite(out);
}

std::string FormatDouble(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : absl::StrCat(v);
}

// A uniform double in [0, 1) from the top 53 bits of one draw.
double Uniform01(Rng& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// "kind:rest" split at the first colon; rest is empty when there is none.
std::pair<std::string_view, std::string_view> SplitKind(std::string_view spec) {
  const size_t colon = spec.find(':');
  if (colon == std::string_view::npos) return {spec, {}};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

Status BadSize(std::string_view spec, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "bad size spec '", std::string(spec), "': ", std::string(why),
      " (want N, uniform:MIN-MAX or normal:MEAN,STDDEV; sizes in bytes, 0 to ", kMaxSize, ")"));
}

Status BadKeys(std::string_view spec, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "bad key spec '", std::string(spec), "': ", std::string(why),
      " (want none, random:N, zipf:N, zipf:N:S or sequential:N; N from 1 to ", kMaxKeys, ")"));
}

// E(t) = (e^t - 1) / t and L(t) = log(1 + t) / t, continuous at 0.
double ExpRatio(double t) {
  return std::fabs(t) > 1e-8 ? std::expm1(t) / t : 1 + t / 2;
}
double LogRatio(double t) {
  return std::fabs(t) > 1e-8 ? std::log1p(t) / t : 1 - t / 2;
}

// Standard normal density and distribution function.
double Phi(double x) {
  return 0.5 * std::erfc(-x / std::sqrt(2.0));
}
double SmallPhi(double x) {
  return std::exp(-0.5 * x * x) / std::sqrt(2 * std::numbers::pi);
}

}  // namespace

// --- SizeDistribution -----------------------------------------------------------------------

StatusOr<SizeDistribution> SizeDistribution::Parse(std::string_view spec) {
  const auto [kind, rest] = SplitKind(spec);
  SizeDistribution d;
  if (rest.empty() && spec.find(':') == std::string_view::npos) {
    int64_t bytes = 0;
    if (!ParseWhole(spec, bytes)) return BadSize(spec, "not a whole number of bytes");
    if (bytes < 0 || bytes > kMaxSize) return BadSize(spec, "size out of range");
    return Fixed(bytes);
  }
  if (kind == "uniform") {
    const size_t dash = rest.find('-');
    if (dash == std::string_view::npos) return BadSize(spec, "uniform needs MIN-MAX");
    int64_t lo = 0, hi = 0;
    if (!ParseWhole(rest.substr(0, dash), lo) || !ParseWhole(rest.substr(dash + 1), hi)) {
      return BadSize(spec, "MIN and MAX must be whole numbers of bytes");
    }
    if (lo < 0 || hi > kMaxSize) return BadSize(spec, "size out of range");
    if (lo > hi) return BadSize(spec, "MIN is larger than MAX");
    d.kind_ = Kind::kUniform;
    d.a_ = lo;
    d.b_ = hi;
    return d;
  }
  if (kind == "normal") {
    const size_t comma = rest.find(',');
    if (comma == std::string_view::npos) return BadSize(spec, "normal needs MEAN,STDDEV");
    int64_t mean = 0, stddev = 0;
    if (!ParseWhole(rest.substr(0, comma), mean) || !ParseWhole(rest.substr(comma + 1), stddev)) {
      return BadSize(spec, "MEAN and STDDEV must be whole numbers of bytes");
    }
    if (mean < 0 || stddev < 0) return BadSize(spec, "MEAN and STDDEV must not be negative");
    if (mean > kMaxSize || stddev > kMaxSize / 4 || mean + 4 * stddev > kMaxSize) {
      return BadSize(spec, "MEAN + 4 STDDEV out of range");
    }
    d.kind_ = Kind::kNormal;
    d.a_ = mean;
    d.b_ = stddev;
    return d;
  }
  return BadSize(spec, absl::StrCat("unknown distribution '", std::string(kind), "'"));
}

SizeDistribution SizeDistribution::Fixed(int64_t bytes) {
  SizeDistribution d;
  d.kind_ = Kind::kFixed;
  d.a_ = d.b_ = std::clamp<int64_t>(bytes, 0, kMaxSize);
  return d;
}

int64_t SizeDistribution::Next(Rng& rng) const {
  switch (kind_) {
    case Kind::kFixed:
      return a_;
    case Kind::kUniform:
      return std::uniform_int_distribution<int64_t>(a_, b_)(rng);
    case Kind::kNormal: {
      if (b_ == 0) return a_;
      std::normal_distribution<double> normal(static_cast<double>(a_), static_cast<double>(b_));
      return std::clamp<int64_t>(std::llround(normal(rng)), min(), max());
    }
  }
  return a_;
}

int64_t SizeDistribution::min() const {
  switch (kind_) {
    case Kind::kFixed:
    case Kind::kUniform:
      return a_;
    case Kind::kNormal:
      return std::max<int64_t>(0, a_ - 4 * b_);
  }
  return a_;
}

int64_t SizeDistribution::max() const {
  switch (kind_) {
    case Kind::kFixed:
      return a_;
    case Kind::kUniform:
      return b_;
    case Kind::kNormal:
      return a_ + 4 * b_;
  }
  return a_;
}

double SizeDistribution::mean() const {
  switch (kind_) {
    case Kind::kFixed:
      return static_cast<double>(a_);
    case Kind::kUniform:
      return (static_cast<double>(a_) + static_cast<double>(b_)) / 2;
    case Kind::kNormal: {
      if (b_ == 0) return static_cast<double>(a_);
      // E[clamp(X, lo, hi)] for X ~ N(mu, sigma^2) (rounding to integers ignored).
      const double mu = static_cast<double>(a_), sigma = static_cast<double>(b_);
      const double lo = static_cast<double>(min()), hi = static_cast<double>(max());
      const double alpha = (lo - mu) / sigma, beta = (hi - mu) / sigma;
      return lo * Phi(alpha) + hi * (1 - Phi(beta)) + mu * (Phi(beta) - Phi(alpha)) +
             sigma * (SmallPhi(alpha) - SmallPhi(beta));
    }
  }
  return static_cast<double>(a_);
}

std::string SizeDistribution::ToString() const {
  switch (kind_) {
    case Kind::kFixed:
      return absl::StrCat(a_);
    case Kind::kUniform:
      return absl::StrCat("uniform:", a_, "-", b_);
    case Kind::kNormal:
      return absl::StrCat("normal:", a_, ",", b_);
  }
  return absl::StrCat(a_);
}

// --- ZipfSampler ----------------------------------------------------------------------------

ZipfSampler::ZipfSampler(uint64_t n, double s)
    : n_(std::max<uint64_t>(n, 1)), s_(std::isfinite(s) && s >= 0 ? s : 1.0) {
  h_x1_ = H(1.5) - 1;  // h(1) = 1
  h_n_ = H(static_cast<double>(n_) + 0.5);
}

double ZipfSampler::H(double x) const {
  const double log_x = std::log(x);
  return log_x * ExpRatio((1 - s_) * log_x);
}

double ZipfSampler::HInverse(double u) const {
  return std::exp(u * LogRatio((1 - s_) * u));
}

double ZipfSampler::h(double x) const {
  return std::exp(-s_ * std::log(x));
}

uint64_t ZipfSampler::Next(Rng& rng) const {
  const double n = static_cast<double>(n_);
  while (true) {
    // u in (H(x1), H(n + 1/2)]: 1 - Uniform01 is in (0, 1].
    const double u = h_x1_ + (1 - Uniform01(rng)) * (h_n_ - h_x1_);
    const double x = HInverse(u);
    const double k = std::clamp(std::floor(x + 0.5), 1.0, n);
    if (u >= H(k + 0.5) - h(k)) return static_cast<uint64_t>(k);
  }
}

// --- KeyDistribution ------------------------------------------------------------------------

StatusOr<KeyDistribution> KeyDistribution::Parse(std::string_view spec) {
  KeyDistribution d;
  if (spec == "none") return d;
  const auto [kind, rest] = SplitKind(spec);
  if (kind != "random" && kind != "zipf" && kind != "sequential") {
    return BadKeys(spec, absl::StrCat("unknown distribution '", std::string(kind), "'"));
  }
  std::vector<std::string_view> parts;
  for (std::string_view left = rest;;) {
    const size_t colon = left.find(':');
    parts.push_back(left.substr(0, colon));
    if (colon == std::string_view::npos) break;
    left.remove_prefix(colon + 1);
  }
  const size_t max_parts = kind == "zipf" ? 2 : 1;
  if (rest.empty() || parts.size() > max_parts) {
    return BadKeys(spec,
                   absl::StrCat(std::string(kind), " needs ", kind == "zipf" ? "N or N:S" : "N"));
  }
  uint64_t n = 0;
  if (!ParseWhole(parts[0], n) || n < 1 || n > kMaxKeys) {
    return BadKeys(spec, "N must be a whole number of keys in range");
  }
  d.n_ = n;
  if (kind == "random") {
    d.kind_ = Kind::kRandom;
  } else if (kind == "sequential") {
    d.kind_ = Kind::kSequential;
  } else {
    double s = 1.0;
    if (parts.size() == 2 && (!ParseDouble(parts[1], s) || s <= 0 || s > kMaxZipfExponent)) {
      return BadKeys(spec, absl::StrCat("S must be a number in (0, ", kMaxZipfExponent, "]"));
    }
    d.kind_ = Kind::kZipf;
    d.zipf_.emplace(n, s);
  }
  return d;
}

std::optional<uint64_t> KeyDistribution::Next(Rng& rng, uint64_t& counter) const {
  switch (kind_) {
    case Kind::kNone:
      return std::nullopt;
    case Kind::kRandom:
      return std::uniform_int_distribution<uint64_t>(0, n_ - 1)(rng);
    case Kind::kZipf:
      return zipf_->Next(rng) - 1;
    case Kind::kSequential:
      return counter++ % n_;
  }
  return std::nullopt;
}

std::string KeyDistribution::ToString() const {
  switch (kind_) {
    case Kind::kNone:
      return "none";
    case Kind::kRandom:
      return absl::StrCat("random:", n_);
    case Kind::kZipf:
      if (zipf_->s() == 1.0) return absl::StrCat("zipf:", n_);
      return absl::StrCat("zipf:", n_, ":", FormatDouble(zipf_->s()));
    case Kind::kSequential:
      return absl::StrCat("sequential:", n_);
  }
  return "none";
}

}  // namespace spool::bench
