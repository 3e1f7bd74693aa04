// CRC-32C with the SSE4.2 crc32 instruction. This is the only file CMake compiles with
// -msse4.2 -mpclmul; crc32c.cc calls into it only after checking the CPU at run time. Keep it
// free of inline functions and templates shared with other files, so no SSE4.2 code can leak
// into a function another translation unit also emits.
//
// The crc32 instruction has a latency of about three cycles but can start one per cycle, so a
// single dependent stream runs at a third of the possible rate. ExtendSse42Pclmul() cuts a
// block into three equal lanes, runs them as independent streams, and joins them: running the
// CRC register R over L zero bytes multiplies it by x^(8L) modulo P, which one carry-less
// multiply (PCLMULQDQ) by a precomputed constant followed by one crc32q reduction computes.
#include <cstring>

#include "common/crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#include <wmmintrin.h>

namespace spool::crc32c::internal {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;

// Lane lengths (bytes, multiples of 16). Long lanes amortise the join; shorter ones keep the
// three-way speed-up for buffers of a few hundred bytes to a few KiB.
constexpr size_t kLongLane = 8192;
constexpr size_t kMidLane = 1024;
constexpr size_t kShortLane = 128;

// x^n mod P in the reflected representation (bit i holds the coefficient of x^(31-i)).
constexpr uint32_t XPowModP(uint64_t n) {
  uint32_t v = 0x80000000u;  // x^0
  for (uint64_t i = 0; i < n; ++i) v = (v >> 1) ^ ((v & 1u) != 0 ? kPolynomial : 0u);
  return v;
}

// The carry-less product of two reflected 32-bit values, read as a reflected 64-bit value, is
// A*B*x; crc32q from a zero register then multiplies by x^32 and reduces. So with the constant
// x^(8L-33), Shift() yields R*x^(8L) mod P: the register after L more zero bytes.
constexpr uint32_t ShiftConstant(size_t bytes) {
  return XPowModP(8 * bytes - 33);
}

constexpr uint32_t kLongShift1 = ShiftConstant(kLongLane);
constexpr uint32_t kLongShift2 = ShiftConstant(2 * kLongLane);
constexpr uint32_t kMidShift1 = ShiftConstant(kMidLane);
constexpr uint32_t kMidShift2 = ShiftConstant(2 * kMidLane);
constexpr uint32_t kShortShift1 = ShiftConstant(kShortLane);
constexpr uint32_t kShortShift2 = ShiftConstant(2 * kShortLane);

inline uint64_t Load64(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));
  return w;
}

inline uint64_t Shift(uint64_t reg, uint32_t constant) {
  const __m128i a = _mm_cvtsi32_si128(static_cast<int>(static_cast<uint32_t>(reg)));
  const __m128i b = _mm_cvtsi32_si128(static_cast<int>(constant));
  const auto product = static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_clmulepi64_si128(a, b, 0)));
  return _mm_crc32_u64(0, product);
}

// Feeds 3 * lane bytes at *p into reg, advancing *p.
inline uint64_t ThreeLanes(uint64_t reg, const uint8_t** p, size_t lane, uint32_t shift1,
                           uint32_t shift2) {
  const uint8_t* a = *p;
  const uint8_t* const end = a + lane;
  uint64_t r0 = reg;
  uint64_t r1 = 0;
  uint64_t r2 = 0;
  do {
    r0 = _mm_crc32_u64(r0, Load64(a));
    r1 = _mm_crc32_u64(r1, Load64(a + lane));
    r2 = _mm_crc32_u64(r2, Load64(a + 2 * lane));
    r0 = _mm_crc32_u64(r0, Load64(a + 8));
    r1 = _mm_crc32_u64(r1, Load64(a + lane + 8));
    r2 = _mm_crc32_u64(r2, Load64(a + 2 * lane + 8));
    a += 16;
  } while (a < end);
  *p += 3 * lane;
  return Shift(r0, shift2) ^ Shift(r1, shift1) ^ r2;
}

// Byte steps up to 8-byte alignment, then whole words, then the tail.
inline uint64_t Align(uint64_t reg, const uint8_t** p, size_t* n) {
  while (*n > 0 && (reinterpret_cast<uintptr_t>(*p) & 7u) != 0) {
    reg = _mm_crc32_u8(static_cast<uint32_t>(reg), *(*p)++);
    --*n;
  }
  return reg;
}

inline uint64_t Words(uint64_t reg, const uint8_t** p, size_t* n) {
  while (*n >= 8) {
    reg = _mm_crc32_u64(reg, Load64(*p));
    *p += 8;
    *n -= 8;
  }
  return reg;
}

inline uint64_t Tail(uint64_t reg, const uint8_t* p, size_t n) {
  while (n > 0) {
    reg = _mm_crc32_u8(static_cast<uint32_t>(reg), *p++);
    --n;
  }
  return reg;
}

static_assert(kLongLane % 16 == 0 && kMidLane % 16 == 0 && kShortLane % 16 == 0,
              "ThreeLanes steps 16 bytes");

}  // namespace

uint32_t ExtendSse42(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t reg = static_cast<uint32_t>(~crc);
  reg = Align(reg, &p, &n);
  reg = Words(reg, &p, &n);
  reg = Tail(reg, p, n);
  return ~static_cast<uint32_t>(reg);
}

uint32_t ExtendSse42Pclmul(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t reg = static_cast<uint32_t>(~crc);
  reg = Align(reg, &p, &n);
  while (n >= 3 * kLongLane) {
    reg = ThreeLanes(reg, &p, kLongLane, kLongShift1, kLongShift2);
    n -= 3 * kLongLane;
  }
  while (n >= 3 * kMidLane) {
    reg = ThreeLanes(reg, &p, kMidLane, kMidShift1, kMidShift2);
    n -= 3 * kMidLane;
  }
  while (n >= 3 * kShortLane) {
    reg = ThreeLanes(reg, &p, kShortLane, kShortShift1, kShortShift2);
    n -= 3 * kShortLane;
  }
  reg = Words(reg, &p, &n);
  reg = Tail(reg, p, n);
  return ~static_cast<uint32_t>(reg);
}

}  // namespace spool::crc32c::internal

#else  // not x86-64: HasHardware() is false, these are never called; keep the link whole.

namespace spool::crc32c::internal {
uint32_t ExtendSse42(uint32_t crc, const void* data, size_t n) {
  return ExtendSoftware(crc, data, n);
}
uint32_t ExtendSse42Pclmul(uint32_t crc, const void* data, size_t n) {
  return ExtendSoftware(crc, data, n);
}
}  // namespace spool::crc32c::internal

#endif
