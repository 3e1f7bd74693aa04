#include "log/record/varint.h"

#include "absl/strings/str_format.h"

namespace spool::record::internal {

// Only reached for a varint that TryReadUnsigned refused: finds out why, for the message.
Status VarintError(std::span<const std::byte> in, size_t pos, int bits) {
  const size_t max_bytes = (static_cast<size_t>(bits) + 6) / 7;
  const auto last_bits = static_cast<unsigned>(bits - 7 * (static_cast<int>(max_bytes) - 1));
  for (size_t i = 0; i < max_bytes; ++i) {
    if (pos > in.size() || i >= in.size() - pos) {
      return absl::InvalidArgumentError(
          absl::StrFormat("varint at byte %d is truncated (input ends after %d bytes)", pos, i));
    }
    const auto b = static_cast<uint8_t>(in[pos + i]);
    if (i + 1 == max_bytes && (b & 0x80) != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "varint at byte %d is longer than %d bytes (%d-bit limit)", pos, max_bytes, bits));
    }
    if (i + 1 == max_bytes && (b >> last_bits) != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "varint at byte %d overflows %d bits (byte %d is 0x%02x)", pos, bits, i + 1, b));
    }
    if ((b & 0x80) == 0) break;
  }
  return absl::InternalError(absl::StrFormat("varint at byte %d: no error to report", pos));
}

}  // namespace spool::record::internal
