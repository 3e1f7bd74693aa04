// StrongInt<Tag, T>: an integer that does not mix with integers of another tag, for values that
// get mixed up (a log offset vs a byte position in a file, a term vs an epoch).
//
//   using Offset = StrongInt<struct OffsetTag, int64_t>;
//   Offset o{5}; o + 1; o.value();
//
// Arithmetic with a plain integer keeps the tag; two values of the same tag can be compared and
// subtracted (giving the raw difference). No implicit conversion either way.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>

namespace spool {

template <typename Tag, typename T>
class StrongInt {
 public:
  using value_type = T;
  constexpr StrongInt() = default;
  constexpr explicit StrongInt(T v) : v_(v) {}
  constexpr T value() const { return v_; }

  constexpr auto operator<=>(const StrongInt&) const = default;
  constexpr StrongInt operator+(T d) const { return StrongInt(v_ + d); }
  constexpr StrongInt operator-(T d) const { return StrongInt(v_ - d); }
  constexpr T operator-(StrongInt o) const { return v_ - o.v_; }
  constexpr StrongInt& operator+=(T d) {
    v_ += d;
    return *this;
  }
  constexpr StrongInt& operator++() {
    ++v_;
    return *this;
  }
  friend std::ostream& operator<<(std::ostream& os, StrongInt s) { return os << s.v_; }
  template <typename H>
  friend H AbslHashValue(H h, StrongInt s) {
    return H::combine(std::move(h), s.v_);
  }

 private:
  T v_{};
};

// A record's position in a partition log.
using Offset = StrongInt<struct OffsetTag, int64_t>;
// A byte position inside one file.
using FilePos = StrongInt<struct FilePosTag, uint64_t>;
// The epoch of a partition's leader, stamped in every batch.
using LeaderEpoch = StrongInt<struct LeaderEpochTag, int32_t>;

}  // namespace spool

template <typename Tag, typename T>
struct std::hash<spool::StrongInt<Tag, T>> {
  size_t operator()(spool::StrongInt<Tag, T> s) const { return std::hash<T>{}(s.value()); }
};
