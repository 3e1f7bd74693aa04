#include "log/record/compression.h"

#include <lz4frame.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <limits>
#include <memory>

#include "absl/strings/str_format.h"

namespace spool::record {
namespace {

constexpr int kZstdDefaultLevel = 3;  // Kafka's default compression.zstd.level
// zstd windows: 2^22 covers what common producers write (level 3 streams use 2^21); never
// allow more than 2^27, zstd's own default limit.
constexpr int kZstdMinWindowLog = 22;
constexpr int kZstdMaxWindowLog = 27;
// First output buffer when the frame gives no size: a typical ratio times the input.
constexpr size_t kInitialOutput = 64 << 10;
constexpr size_t kTypicalRatio = 4;

// A never-null pointer for empty inputs: codecs may reject a null source even with size 0.
const std::byte kEmpty[1] = {};
const void* DataOrEmpty(std::span<const std::byte> s) {
  return s.empty() ? static_cast<const void*>(kEmpty) : s.data();
}

// The output of one decompression: appended to *out, grown on demand, and never more than
// max_bytes + 1 bytes, the one extra byte being how an overflow shows without decoding further.
class BoundedOutput {
 public:
  // `size_hint` only sizes the first buffer (capped by max_bytes); it is never trusted beyond.
  BoundedOutput(std::vector<std::byte>* out, size_t max_bytes, size_t size_hint)
      : out_(out),
        base_(out->size()),
        max_(max_bytes),
        limit_(max_bytes == std::numeric_limits<size_t>::max() ? max_bytes : max_bytes + 1),
        initial_(std::max<size_t>(size_hint, 1)) {}
  ~BoundedOutput() {
    if (!finished_) out_->resize(base_);  // every error leaves *out as it was
  }
  BoundedOutput(const BoundedOutput&) = delete;
  BoundedOutput& operator=(const BoundedOutput&) = delete;

  // Writable room after what was produced; empty only once the limit is reached.
  std::span<std::byte> Room() {
    size_t capacity = out_->size() - base_;
    if (produced_ == capacity && capacity < limit_) {
      const size_t grown = capacity == 0 ? initial_ : std::max(capacity * 2, kInitialOutput);
      capacity = std::min(limit_, std::max(grown, capacity + 1));
      out_->reserve(base_ + capacity);  // exactly: resize alone may double past the limit
      out_->resize(base_ + capacity);
    }
    return std::span<std::byte>(*out_).subspan(base_ + produced_, capacity - produced_);
  }
  void Commit(size_t n) { produced_ += n; }
  bool exceeded() const { return produced_ > max_; }
  void Finish() {
    out_->resize(base_ + produced_);
    finished_ = true;
  }

 private:
  std::vector<std::byte>* out_;
  size_t base_;
  size_t max_;
  size_t limit_;
  size_t initial_;
  size_t produced_ = 0;
  bool finished_ = false;
};

size_t GuessSize(size_t input_size) {
  return std::max(kInitialOutput, kTypicalRatio * input_size);
}

Status TooLarge(Compression c, size_t max_bytes) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s frame decompresses to more than %d bytes (the configured maximum)",
                      CompressionName(c), max_bytes));
}

Status Corrupt(Compression c, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s frame is corrupt: %s", CompressionName(c), why));
}

Status CompressLz4(std::span<const std::byte> in, std::vector<std::byte>* out, int level) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
  prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
  prefs.compressionLevel = level;
  const size_t bound = LZ4F_compressFrameBound(in.size(), &prefs);
  const size_t base = out->size();
  out->resize(base + bound);
  const size_t n =
      LZ4F_compressFrame(out->data() + base, bound, DataOrEmpty(in), in.size(), &prefs);
  if (LZ4F_isError(n)) {
    out->resize(base);
    return absl::InternalError(absl::StrFormat("lz4 compression failed: %s", LZ4F_getErrorName(n)));
  }
  out->resize(base + n);
  return absl::OkStatus();
}

Status DecompressLz4(std::span<const std::byte> in, size_t max_bytes, std::vector<std::byte>* out) {
  LZ4F_dctx* raw = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) {
    return absl::ResourceExhaustedError("cannot create an lz4 decompression context");
  }
  const std::unique_ptr<LZ4F_dctx, decltype(&LZ4F_freeDecompressionContext)> dctx(
      raw, &LZ4F_freeDecompressionContext);
  BoundedOutput output(out, max_bytes, GuessSize(in.size()));
  size_t consumed = 0;
  while (true) {
    const std::span<std::byte> room = output.Room();
    size_t dst_size = room.size();
    size_t src_size = in.size() - consumed;
    const size_t hint = LZ4F_decompress(dctx.get(), room.data(), &dst_size,
                                        DataOrEmpty(in.subspan(consumed)), &src_size, nullptr);
    if (LZ4F_isError(hint)) return Corrupt(Compression::kLz4, LZ4F_getErrorName(hint));
    consumed += src_size;
    output.Commit(dst_size);
    if (output.exceeded()) return TooLarge(Compression::kLz4, max_bytes);
    if (hint == 0) break;  // the frame is complete
    if (src_size == 0 && dst_size == 0) {
      return Corrupt(Compression::kLz4, consumed == in.size() ? "truncated" : "decoder stalled");
    }
  }
  if (consumed != in.size()) {
    return Corrupt(Compression::kLz4,
                   absl::StrFormat("%d bytes after the end of the frame", in.size() - consumed));
  }
  output.Finish();
  return absl::OkStatus();
}

Status CompressZstd(std::span<const std::byte> in, std::vector<std::byte>* out, int level) {
  const size_t bound = ZSTD_compressBound(in.size());
  const size_t base = out->size();
  out->resize(base + bound);
  const size_t n = ZSTD_compress(out->data() + base, bound, DataOrEmpty(in), in.size(),
                                 level == 0 ? kZstdDefaultLevel : level);
  if (ZSTD_isError(n)) {
    out->resize(base);
    return absl::InternalError(
        absl::StrFormat("zstd compression failed: %s", ZSTD_getErrorName(n)));
  }
  out->resize(base + n);
  return absl::OkStatus();
}

int ZstdWindowLogMax(size_t max_bytes) {
  const int needed = max_bytes <= 1 ? 0 : static_cast<int>(std::bit_width(max_bytes - 1));
  return std::clamp(needed, kZstdMinWindowLog, kZstdMaxWindowLog);
}

Status DecompressZstd(std::span<const std::byte> in, size_t max_bytes,
                      std::vector<std::byte>* out) {
  const std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(),
                                                                  &ZSTD_freeDCtx);
  if (dctx == nullptr) return absl::ResourceExhaustedError("cannot create a zstd context");
  const size_t set =
      ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, ZstdWindowLogMax(max_bytes));
  if (ZSTD_isError(set)) {
    return absl::InternalError(
        absl::StrFormat("zstd: cannot cap the window: %s", ZSTD_getErrorName(set)));
  }
  // zstd frames usually state their content size: a hint for the first buffer, no more.
  const unsigned long long stated = ZSTD_getFrameContentSize(DataOrEmpty(in), in.size());
  const bool known = stated != ZSTD_CONTENTSIZE_UNKNOWN && stated != ZSTD_CONTENTSIZE_ERROR;
  BoundedOutput output(out, max_bytes,
                       known ? static_cast<size_t>(std::min<unsigned long long>(
                                   stated, std::numeric_limits<size_t>::max()))
                             : GuessSize(in.size()));
  ZSTD_inBuffer src{DataOrEmpty(in), in.size(), 0};
  while (true) {
    const std::span<std::byte> room = output.Room();
    ZSTD_outBuffer dst{room.data(), room.size(), 0};
    const size_t before = src.pos;
    const size_t ret = ZSTD_decompressStream(dctx.get(), &dst, &src);
    if (ZSTD_isError(ret)) return Corrupt(Compression::kZstd, ZSTD_getErrorName(ret));
    output.Commit(dst.pos);
    if (output.exceeded()) return TooLarge(Compression::kZstd, max_bytes);
    if (ret == 0) break;  // the frame is complete and flushed
    if (src.pos == before && dst.pos == 0) {
      return Corrupt(Compression::kZstd, src.pos == src.size ? "truncated" : "decoder stalled");
    }
  }
  if (src.pos != src.size) {
    return Corrupt(Compression::kZstd,
                   absl::StrFormat("%d bytes after the end of the frame", src.size - src.pos));
  }
  output.Finish();
  return absl::OkStatus();
}

}  // namespace

bool IsSupported(Compression c) {
  return CheckSupported(c).ok();
}

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

Status CheckSupported(Compression c) {
  switch (c) {
    case Compression::kNone:
    case Compression::kLz4:
    case Compression::kZstd:
      return absl::OkStatus();
    case Compression::kGzip:
    case Compression::kSnappy:
      return absl::UnimplementedError(
          absl::StrFormat("compression codec %s is not supported", CompressionName(c)));
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown compression codec %d", static_cast<int>(c)));
}

Status Compress(Compression c, std::span<const std::byte> in, std::vector<std::byte>* out,
                int level) {
  switch (c) {
    case Compression::kNone:
      out->insert(out->end(), in.begin(), in.end());
      return absl::OkStatus();
    case Compression::kLz4:
      return CompressLz4(in, out, level);
    case Compression::kZstd:
      return CompressZstd(in, out, level);
    case Compression::kGzip:
    case Compression::kSnappy:
      break;
  }
  return CheckSupported(c);
}

Status Decompress(Compression c, std::span<const std::byte> in, size_t max_bytes,
                  std::vector<std::byte>* out) {
  switch (c) {
    case Compression::kNone:
      if (in.size() > max_bytes) return TooLarge(c, max_bytes);
      out->insert(out->end(), in.begin(), in.end());
      return absl::OkStatus();
    case Compression::kLz4:
      return DecompressLz4(in, max_bytes, out);
    case Compression::kZstd:
      return DecompressZstd(in, max_bytes, out);
    case Compression::kGzip:
    case Compression::kSnappy:
      break;
  }
  return CheckSupported(c);
}

}  // namespace spool::record
