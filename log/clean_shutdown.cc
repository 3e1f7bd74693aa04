#include "log/clean_shutdown.h"

#include "absl/strings/str_cat.h"
#include "common/byte_order.h"
#include "common/crc32c.h"
#include "log/file_util.h"
#include "log/log_format.h"

namespace spool::log {

namespace {
constexpr size_t kCrcPos = kCleanShutdownSize - 4;
}  // namespace

std::vector<std::byte> EncodeCleanShutdown(const CleanShutdownMarker& marker) {
  std::vector<std::byte> out(kCleanShutdownSize);
  std::byte* p = out.data();
  StoreBigEndian<uint32_t>(p + 0, kCleanShutdownMagic);
  StoreBigEndian<uint16_t>(p + 4, kCleanShutdownVersion);
  StoreBigEndian<uint16_t>(p + 6, 0);  // flags
  StoreBigEndian<int64_t>(p + 8, marker.log_end_offset.value());
  StoreBigEndian<int64_t>(p + 16, marker.active_segment_base.value());
  StoreBigEndian<uint64_t>(p + 24, marker.active_segment_size);
  StoreBigEndian<uint32_t>(p + kCrcPos, crc32c::Value(p, kCrcPos));
  return out;
}

StatusOr<CleanShutdownMarker> DecodeCleanShutdown(std::span<const std::byte> file) {
  auto bad = [](std::string_view why) {
    return absl::DataLossError(absl::StrCat(AbslView(kCleanShutdownName), ": ", AbslView(why)));
  };
  if (file.size() != kCleanShutdownSize) {
    return bad(absl::StrCat("file of ", file.size(), " bytes, expected ", kCleanShutdownSize));
  }
  const std::byte* p = file.data();
  if (LoadBigEndian<uint32_t>(p) != kCleanShutdownMagic) return bad("bad magic");
  if (LoadBigEndian<uint16_t>(p + 4) != kCleanShutdownVersion) return bad("unknown version");
  if ((LoadBigEndian<uint16_t>(p + 6) & kCheckpointMustUnderstandFlags) != 0) {
    return bad("unknown must-understand flags");
  }
  if (LoadBigEndian<uint32_t>(p + kCrcPos) != crc32c::Value(p, kCrcPos)) return bad("CRC mismatch");
  CleanShutdownMarker m;
  m.log_end_offset = Offset(LoadBigEndian<int64_t>(p + 8));
  m.active_segment_base = Offset(LoadBigEndian<int64_t>(p + 16));
  m.active_segment_size = LoadBigEndian<uint64_t>(p + 24);
  if (m.log_end_offset.value() < 0 || m.active_segment_base.value() < 0 ||
      m.active_segment_base > m.log_end_offset) {
    return bad("inconsistent offsets");
  }
  return m;
}

Task<Status> WriteCleanShutdown(io::FileSystem& fs, std::string dir, CleanShutdownMarker marker) {
  CO_ASSIGN_OR_RETURN(
      std::unique_ptr<io::File> file,
      co_await WriteWholeFile(fs, JoinPath(dir, kCleanShutdownName), EncodeCleanShutdown(marker)));
  Status st = co_await file->datasync();
  co_return co_await CloseFile(std::move(file), st);
}

Task<StatusOr<CleanShutdownMarker>> ReadCleanShutdown(io::FileSystem& fs, std::string dir) {
  CO_ASSIGN_OR_RETURN(std::vector<std::byte> bytes,
                      co_await ReadWholeFile(fs, JoinPath(dir, kCleanShutdownName), 4096));
  co_return DecodeCleanShutdown(bytes);
}

}  // namespace spool::log
