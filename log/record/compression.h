// Compression of a RecordBatch's records section (everything after recordsCount), codec chosen
// by attributes bits 0-2 (Kafka's numbering, see Compression in batch_header.h).
//
// Supported: kNone, kLz4 and kZstd. kGzip and kSnappy are recognised but not implemented
// (kUnimplemented). Framing follows Kafka so the bytes interoperate:
//   - kLz4 (codec 3): one LZ4 *frame* (magic 0x184D2204), written with independent 64 KiB
//     blocks and no content size or checksums (the batch CRC already covers the bytes). Any
//     valid LZ4 frame is accepted when decompressing.
//   - kZstd (codec 4): one standard zstd frame (magic 0xFD2FB528), level 3 unless told.
// In both, exactly one frame: bytes after its end are an error.
//
// Decompression never trusts a size written in the frame. It streams into a buffer grown on
// demand and fails as soon as the output would exceed `max_bytes`, so a small batch cannot
// expand without limit (a "decompression bomb"); zstd's window is capped too, so a frame cannot
// make the decoder reserve a huge window either.
//
// Pure functions, thread-safe (each call uses its own codec context).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "log/record/batch_header.h"

namespace spool::record {

// True for kNone, kLz4, kZstd.
[[nodiscard]] bool IsSupported(Compression c);

// "none", "gzip", "snappy", "lz4", "zstd", or "unknown".
std::string_view CompressionName(Compression c);

// OK when the 3 attribute bits name a supported codec; kUnimplemented for gzip and snappy,
// kInvalidArgument for 5..7.
[[nodiscard]] Status CheckSupported(Compression c);

// Appends the compressed form of `in` to *out (kNone appends `in` as is). `level` 0 means the
// codec's default (lz4: fast mode; zstd: 3). Errors: CheckSupported(), or kInternal if the
// codec fails.
[[nodiscard]] Status Compress(Compression c, std::span<const std::byte> in,
                              std::vector<std::byte>* out, int level = 0);

// Appends the decompressed form of `in` (one frame) to *out, producing at most `max_bytes`.
// Errors (*out keeps its previous size on every error):
//   - kInvalidArgument "... exceeds max_bytes" when the output would grow past max_bytes;
//   - kInvalidArgument for a corrupt or truncated frame, or bytes after the frame;
//   - CheckSupported() for codecs that are not available.
// kNone copies `in`, subject to the same limit.
[[nodiscard]] Status Decompress(Compression c, std::span<const std::byte> in, size_t max_bytes,
                                std::vector<std::byte>* out);

}  // namespace spool::record
