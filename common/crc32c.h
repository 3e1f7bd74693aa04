// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by Kafka's RecordBatch v2 and
// iSCSI (RFC 3720). Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run
// time) and a table-driven software path otherwise. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace spool::crc32c {

// Extends `crc` (the value returned for the bytes before) with `data`. Start from 0.
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::span<const std::byte> s) { return Extend(0, s.data(), s.size()); }

// For tests and benchmarks: each path directly. Hardware() must only be called when
// HasHardware() is true.
bool HasHardware();
uint32_t ExtendSoftware(uint32_t crc, const void* data, size_t n);
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n);

}  // namespace spool::crc32c
