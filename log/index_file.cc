#include "log/index_file.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/byte_order.h"
#include "common/crc32c.h"

namespace spool::log {

namespace {

uint32_t IndexCrc(std::span<const std::byte> header, std::span<const std::byte> entries) {
  uint32_t crc = crc32c::Extend(0, header.data(), kIndexCrcPos);
  return crc32c::Extend(crc, entries.data(), entries.size());
}

}  // namespace

std::vector<std::byte> EncodeIndexFile(const IndexFileKind& kind, Offset base,
                                       std::span<const std::byte> entries) {
  std::vector<std::byte> out(kIndexHeaderSize + entries.size());
  std::byte* h = out.data();
  StoreBigEndian<uint32_t>(h + kIndexMagicPos, kind.magic);
  StoreBigEndian<uint16_t>(h + kIndexVersionPos, kIndexVersion);
  StoreBigEndian<uint16_t>(h + kIndexEntrySizePos, kind.entry_size);
  StoreBigEndian<int64_t>(h + kIndexBaseOffsetPos, base.value());
  StoreBigEndian<uint32_t>(h + kIndexEntryCountPos,
                           static_cast<uint32_t>(entries.size() / kind.entry_size));
  StoreBigEndian<uint32_t>(h + kIndexFlagsPos, 0);
  StoreBigEndian<uint32_t>(h + kIndexReservedPos, 0);
  if (!entries.empty()) {
    std::copy(entries.begin(), entries.end(), out.begin() + kIndexHeaderSize);
  }
  StoreBigEndian<uint32_t>(h + kIndexCrcPos,
                           IndexCrc(out, std::span(out).subspan(kIndexHeaderSize)));
  return out;
}

StatusOr<std::span<const std::byte>> DecodeIndexFile(const IndexFileKind& kind, Offset base,
                                                     std::span<const std::byte> file) {
  auto bad = [&](std::string_view why) {
    return absl::DataLossError(
        absl::StrCat(AbslView(kind.what), " of segment ", base.value(), ": ", AbslView(why)));
  };
  if (file.size() < kIndexHeaderSize) {
    return bad(absl::StrCat("file of ", file.size(), " bytes is shorter than its header"));
  }
  const std::byte* h = file.data();
  if (LoadBigEndian<uint32_t>(h + kIndexMagicPos) != kind.magic) return bad("bad magic");
  if (const auto v = LoadBigEndian<uint16_t>(h + kIndexVersionPos); v != kIndexVersion) {
    return bad(absl::StrCat("unknown version ", v));
  }
  if (LoadBigEndian<uint16_t>(h + kIndexEntrySizePos) != kind.entry_size) {
    return bad("wrong entry size");
  }
  if (const auto b = LoadBigEndian<int64_t>(h + kIndexBaseOffsetPos); b != base.value()) {
    return bad(absl::StrCat("header names base offset ", b));
  }
  if ((LoadBigEndian<uint32_t>(h + kIndexFlagsPos) & kMustUnderstandFlagsMask) != 0) {
    return bad("unknown must-understand flags");
  }
  const uint64_t count = LoadBigEndian<uint32_t>(h + kIndexEntryCountPos);
  if (file.size() != kIndexHeaderSize + count * kind.entry_size) {
    return bad(absl::StrCat("file of ", file.size(), " bytes does not hold ", count, " entries"));
  }
  std::span<const std::byte> entries = file.subspan(kIndexHeaderSize);
  if (LoadBigEndian<uint32_t>(h + kIndexCrcPos) != IndexCrc(file, entries)) {
    return bad("CRC mismatch");
  }
  return entries;
}

}  // namespace spool::log
