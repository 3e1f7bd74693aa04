// Varints of Kafka's record format: zigzag-encoded, then LEB128 (7 bits a byte, least
// significant group first, high bit = more bytes follow), exactly Protobuf's sint32 / sint64.
// Kafka calls the 32-bit form "varint" and the 64-bit form "varlong".
//
// Decoding is strict: a 32-bit varint longer than 5 bytes, or whose 5th byte carries bits past
// bit 31, is an overflow; likewise more than 10 bytes, or a 10th byte above 1, for 64 bits. An
// input that ends inside a varint is truncated. Both are kInvalidArgument. Encodings padded with
// 0x80 continuation bytes (non-minimal, within the length limit) are accepted, as Kafka does.
//
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/status.h"

namespace spool::record {

inline constexpr size_t kMaxVarintSize = 5;    // int32
inline constexpr size_t kMaxVarlongSize = 10;  // int64

constexpr uint32_t ZigZagEncode32(int32_t v) {
  return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31);
}
constexpr uint64_t ZigZagEncode64(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
constexpr int32_t ZigZagDecode32(uint32_t u) {
  return static_cast<int32_t>((u >> 1) ^ (0u - (u & 1u)));
}
constexpr int64_t ZigZagDecode64(uint64_t u) {
  return static_cast<int64_t>((u >> 1) ^ (uint64_t{0} - (u & 1u)));
}

// Bytes the encoding of v takes.
constexpr size_t UnsignedVarintSize(uint64_t u) {
  size_t n = 1;
  while (u >= 0x80) {
    u >>= 7;
    ++n;
  }
  return n;
}
constexpr size_t VarintSize(int32_t v) {
  return UnsignedVarintSize(ZigZagEncode32(v));
}
constexpr size_t VarlongSize(int64_t v) {
  return UnsignedVarintSize(ZigZagEncode64(v));
}

// Writes the encoding of v at out (VarintSize(v) / VarlongSize(v) bytes must be writable) and
// returns the position after it.
inline std::byte* EncodeUnsignedVarint(uint64_t u, std::byte* out) {
  while (u >= 0x80) {
    *out++ = static_cast<std::byte>((u & 0x7f) | 0x80);
    u >>= 7;
  }
  *out++ = static_cast<std::byte>(u);
  return out;
}
inline std::byte* EncodeVarint(int32_t v, std::byte* out) {
  return EncodeUnsignedVarint(ZigZagEncode32(v), out);
}
inline std::byte* EncodeVarlong(int64_t v, std::byte* out) {
  return EncodeUnsignedVarint(ZigZagEncode64(v), out);
}

namespace internal {

// Unsigned LEB128 of at most kBits bits. The last allowed byte may carry only the bits that
// are left (32: 4 bits, 64: 1 bit); a continuation bit there is a varint that is too long.
template <int kBits>
inline bool TryReadUnsigned(std::span<const std::byte> in, size_t* pos, uint64_t* out) {
  constexpr size_t kMaxBytes = (kBits + 6) / 7;
  constexpr unsigned kLastBits = kBits - 7 * (kMaxBytes - 1);
  if (*pos > in.size()) return false;
  const size_t avail = in.size() - *pos;
  const std::byte* p = in.data() + *pos;
  uint64_t value = 0;
  for (size_t i = 0; i < kMaxBytes && i < avail; ++i) {
    const auto b = static_cast<uint64_t>(p[i]);
    if (i + 1 == kMaxBytes && (b >> kLastBits) != 0) return false;
    value |= (b & 0x7f) << (7 * i);
    if (b < 0x80) {
      *pos += i + 1;
      *out = value;
      return true;
    }
  }
  return false;
}

// The error for a varint at `pos` that TryReadUnsigned<bits> refused.
[[nodiscard]] Status VarintError(std::span<const std::byte> in, size_t pos, int bits);

}  // namespace internal

// Status-free decoding for hot loops: decodes the varint at in[*pos], advances *pos past it and
// returns true; returns false (leaving *pos) when it is truncated or overflows.
[[nodiscard]] inline bool TryReadVarint(std::span<const std::byte> in, size_t* pos, int32_t* out) {
  uint64_t u;
  if (!internal::TryReadUnsigned<32>(in, pos, &u)) return false;
  *out = ZigZagDecode32(static_cast<uint32_t>(u));
  return true;
}
[[nodiscard]] inline bool TryReadVarlong(std::span<const std::byte> in, size_t* pos, int64_t* out) {
  uint64_t u;
  if (!internal::TryReadUnsigned<64>(in, pos, &u)) return false;
  *out = ZigZagDecode64(u);
  return true;
}

// The same with a Status: on error *pos is unchanged and the message names the byte position
// and the reason.
[[nodiscard]] inline StatusOr<int32_t> ReadVarint(std::span<const std::byte> in, size_t* pos) {
  int32_t v;
  if (TryReadVarint(in, pos, &v)) return v;
  return internal::VarintError(in, *pos, 32);
}
[[nodiscard]] inline StatusOr<int64_t> ReadVarlong(std::span<const std::byte> in, size_t* pos) {
  int64_t v;
  if (TryReadVarlong(in, pos, &v)) return v;
  return internal::VarintError(in, *pos, 64);
}

}  // namespace spool::record
