// Big-endian loads and stores for fixed-width fields: the RecordBatch header (Kafka's integers
// are all big-endian), Spool's index, checkpoint and marker files, and the wire frame header.
// Unaligned access is fine: every access goes through memcpy.
// Pure functions, thread-safe.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace spool {

template <typename T>
requires std::is_integral_v<T>
constexpr T ByteSwapIfLittle(T v) {
  if constexpr (std::endian::native == std::endian::big || sizeof(T) == 1) {
    return v;
  } else {
    using U = std::make_unsigned_t<T>;
    auto u = static_cast<U>(v);
    if constexpr (sizeof(T) == 2) u = static_cast<U>(__builtin_bswap16(u));
    if constexpr (sizeof(T) == 4) u = static_cast<U>(__builtin_bswap32(u));
    if constexpr (sizeof(T) == 8) u = static_cast<U>(__builtin_bswap64(u));
    return static_cast<T>(u);
  }
}

// Reads a big-endian T at p (sizeof(T) bytes must be readable).
template <typename T>
requires std::is_integral_v<T> T LoadBigEndian(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return ByteSwapIfLittle(v);
}

// Writes v big-endian at p (sizeof(T) bytes must be writable).
template <typename T>
requires std::is_integral_v<T>
void StoreBigEndian(std::byte* p, T v) {
  v = ByteSwapIfLittle(v);
  std::memcpy(p, &v, sizeof(T));
}

}  // namespace spool
