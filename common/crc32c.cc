// CRC-32C: the portable slicing-by-8 path and the run-time choice of implementation. The SSE4.2
// code lives in crc32c_sse42.cc, the only file compiled for that instruction set.
#include "common/crc32c.h"

#include <array>
#include <bit>
#include <cstring>

namespace spool::crc32c {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the slicing-by-8 loop loads words little-endian");

constexpr uint32_t kPolynomial = 0x82F63B78u;  // reflected Castagnoli polynomial

using Tables = std::array<std::array<uint32_t, 256>, 8>;

// tables[k][b] is the CRC register after feeding byte b followed by k zero bytes into a zero
// register, so eight bytes can be folded with eight independent lookups.
constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ ((c & 1u) != 0 ? kPolynomial : 0u);
    t[0][b] = c;
  }
  for (size_t k = 1; k < t.size(); ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xffu];
  }
  return t;
}

constexpr Tables kTables = MakeTables();

inline uint32_t Byte(uint32_t c, uint8_t b) {
  return kTables[0][(c ^ b) & 0xffu] ^ (c >> 8);
}

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

bool CpuHas(bool sse42_only) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // safe even when called before libgcc's own constructor ran
  const bool sse42 = __builtin_cpu_supports("sse4.2");
  return sse42_only ? sse42 : (sse42 && __builtin_cpu_supports("pclmul"));
#else
  (void)sse42_only;
  return false;
#endif
}

ExtendFn BestHardware() {
  return HasHardwareInterleaved() ? &internal::ExtendSse42Pclmul : &internal::ExtendSse42;
}

ExtendFn Choose() {
  return HasHardware() ? BestHardware() : &ExtendSoftware;
}

}  // namespace

bool HasHardware() {
  static const bool has = CpuHas(/*sse42_only=*/true);
  return has;
}

bool HasHardwareInterleaved() {
  static const bool has = CpuHas(/*sse42_only=*/false);
  return has;
}

uint32_t ExtendSoftware(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0) {
    c = Byte(c, *p++);
    --n;
  }
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, sizeof(w));
    w ^= c;
    c = kTables[7][w & 0xffu] ^ kTables[6][(w >> 8) & 0xffu] ^ kTables[5][(w >> 16) & 0xffu] ^
        kTables[4][(w >> 24) & 0xffu] ^ kTables[3][(w >> 32) & 0xffu] ^
        kTables[2][(w >> 40) & 0xffu] ^ kTables[1][(w >> 48) & 0xffu] ^ kTables[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = Byte(c, *p++);
    --n;
  }
  return ~c;
}

uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n) {
  static const ExtendFn fn = BestHardware();
  return fn(crc, data, n);
}

uint32_t ExtendHardwareSerial(uint32_t crc, const void* data, size_t n) {
  return internal::ExtendSse42(crc, data, n);
}

uint32_t Extend(uint32_t crc, const void* data, size_t n) {
  static const ExtendFn fn = Choose();
  return fn(crc, data, n);
}

}  // namespace spool::crc32c
