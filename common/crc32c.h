// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by Kafka's RecordBatch v2 and
// iSCSI (RFC 3720). Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run
// time) and a table-driven software path otherwise. Thread-safe.
//
// Values are the standard, conditioned CRC (initial register ~0, final xor ~0): Value("123456789")
// is 0xE3069283. Extend() chains: Extend(Value(a), b) == Value(a followed by b).
//
// Hardware path: with SSE4.2 and PCLMULQDQ, buffers are split into three lanes that run through
// the crc32 instruction in parallel (its latency is three times its issue rate) and are joined
// with one carry-less multiply per lane; with SSE4.2 alone a single crc32q stream is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace spool::crc32c {

// Extends `crc` (the value returned for the bytes before) with `data`. Start from 0.
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(const void* data, size_t n) {
  return Extend(0, data, n);
}
inline uint32_t Value(std::span<const std::byte> s) {
  return Extend(0, s.data(), s.size());
}

// For tests and benchmarks: each path directly. ExtendHardware() must only be called when
// HasHardware() is true.
bool HasHardware();
uint32_t ExtendSoftware(uint32_t crc, const void* data, size_t n);
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n);

// For tests and benchmarks: the single-stream crc32q path (what ExtendHardware() uses when the
// CPU lacks PCLMULQDQ). Same precondition as ExtendHardware().
uint32_t ExtendHardwareSerial(uint32_t crc, const void* data, size_t n);
// True when ExtendHardware() uses the three-lane path (SSE4.2 and PCLMULQDQ).
bool HasHardwareInterleaved();

namespace internal {
// Defined in crc32c_sse42.cc, the only file compiled with -msse4.2 -mpclmul. Call them only
// after the CPU checks above.
uint32_t ExtendSse42(uint32_t crc, const void* data, size_t n);
uint32_t ExtendSse42Pclmul(uint32_t crc, const void* data, size_t n);
}  // namespace internal

}  // namespace spool::crc32c
