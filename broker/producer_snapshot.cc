#include "broker/producer_snapshot.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/byte_order.h"
#include "common/crc32c.h"
#include "log/file_util.h"
#include "log/log_format.h"

namespace spool::broker {

namespace {

using log::AbslView;

Status Bad(std::string_view why) {
  return absl::DataLossError(absl::StrCat("producer snapshot: ", AbslView(why)));
}

constexpr uint8_t kEvictedFlag = 0x01;

}  // namespace

std::string ProducerSnapshotName(Offset offset) {
  return absl::StrCat(log::SegmentStem(offset), AbslView(kProducerSnapshotSuffix));
}

std::optional<Offset> ParseProducerSnapshotName(std::string_view name) {
  return log::ParseSegmentName(name, kProducerSnapshotSuffix);
}

std::vector<std::byte> EncodeProducerSnapshot(Offset offset, const ProducerStateTable& table) {
  size_t body = kProducerSnapshotFixedBodySize;
  for (const auto& [id, entry] : table.entries()) {
    body += kProducerSnapshotProducerSize + entry.batches.size() * kProducerSnapshotBatchSize;
  }
  std::vector<std::byte> out(kProducerSnapshotPreambleSize + body + 4);
  std::byte* p = out.data();
  StoreBigEndian<uint32_t>(p + 0, kProducerSnapshotMagic);
  StoreBigEndian<uint16_t>(p + 4, kProducerSnapshotVersion);
  StoreBigEndian<uint16_t>(p + 6, 0);  // flags
  StoreBigEndian<uint32_t>(p + 8, static_cast<uint32_t>(body));
  p += kProducerSnapshotPreambleSize;
  StoreBigEndian<int64_t>(p + 0, offset.value());
  StoreBigEndian<uint32_t>(p + 8, static_cast<uint32_t>(table.size()));
  p += kProducerSnapshotFixedBodySize;
  for (const auto& [id, entry] : table.entries()) {
    StoreBigEndian<int64_t>(p + 0, id);
    StoreBigEndian<int16_t>(p + 8, entry.epoch);
    p[10] = std::byte{entry.evicted ? kEvictedFlag : uint8_t{0}};
    p[11] = std::byte{static_cast<uint8_t>(entry.batches.size())};
    p += kProducerSnapshotProducerSize;
    for (const ProducerBatchEntry& b : entry.batches) {
      StoreBigEndian<int32_t>(p + 0, b.base_sequence);
      StoreBigEndian<int32_t>(p + 4, b.last_sequence);
      StoreBigEndian<int64_t>(p + 8, b.base_offset.value());
      StoreBigEndian<int64_t>(p + 16, b.last_offset.value());
      p += kProducerSnapshotBatchSize;
    }
  }
  const size_t covered = kProducerSnapshotPreambleSize + body;
  StoreBigEndian<uint32_t>(out.data() + covered, crc32c::Value(out.data(), covered));
  return out;
}

StatusOr<ProducerSnapshot> DecodeProducerSnapshot(std::span<const std::byte> file) {
  if (file.size() < kProducerSnapshotPreambleSize + kProducerSnapshotFixedBodySize + 4) {
    return Bad(absl::StrCat("file of ", file.size(), " bytes is too short"));
  }
  const std::byte* p = file.data();
  if (LoadBigEndian<uint32_t>(p) != kProducerSnapshotMagic) return Bad("bad magic");
  if (const auto v = LoadBigEndian<uint16_t>(p + 4); v != kProducerSnapshotVersion) {
    return Bad(absl::StrCat("unknown version ", v));
  }
  if ((LoadBigEndian<uint16_t>(p + 6) & kProducerSnapshotMustUnderstandFlags) != 0) {
    return Bad("unknown must-understand flags");
  }
  const uint64_t body = LoadBigEndian<uint32_t>(p + 8);
  if (body < kProducerSnapshotFixedBodySize ||
      kProducerSnapshotPreambleSize + body + 4 != file.size()) {
    return Bad(
        absl::StrCat("body length ", body, " does not match a file of ", file.size(), " bytes"));
  }
  const size_t covered = kProducerSnapshotPreambleSize + body;
  if (LoadBigEndian<uint32_t>(p + covered) != crc32c::Value(p, covered)) return Bad("CRC mismatch");

  std::span<const std::byte> rest = file.subspan(kProducerSnapshotPreambleSize, body);
  ProducerSnapshot out;
  out.offset = Offset(LoadBigEndian<int64_t>(rest.data()));
  const uint64_t count = LoadBigEndian<uint32_t>(rest.data() + 8);
  if (out.offset.value() < 0) return Bad("negative offset");
  rest = rest.subspan(kProducerSnapshotFixedBodySize);
  int64_t previous_id = -1;
  for (uint64_t i = 0; i < count; ++i) {
    if (rest.size() < kProducerSnapshotProducerSize) return Bad("producer entries overrun");
    const int64_t id = LoadBigEndian<int64_t>(rest.data());
    ProducerEntry entry;
    entry.epoch = LoadBigEndian<int16_t>(rest.data() + 8);
    const auto flags = static_cast<uint8_t>(rest[10]);
    const auto batches = static_cast<size_t>(rest[11]);
    if (id <= previous_id) return Bad("producer ids not increasing");
    if ((flags & ~kEvictedFlag) != 0) return Bad("unknown producer flags");
    if (batches == 0 || batches > kMaxCachedBatches) {
      return Bad(absl::StrCat("producer ", id, " has ", batches, " batches"));
    }
    entry.evicted = (flags & kEvictedFlag) != 0;
    rest = rest.subspan(kProducerSnapshotProducerSize);
    if (rest.size() < batches * kProducerSnapshotBatchSize) return Bad("batch entries overrun");
    Offset floor(0);
    for (size_t b = 0; b < batches; ++b) {
      const std::byte* e = rest.data() + b * kProducerSnapshotBatchSize;
      ProducerBatchEntry batch{LoadBigEndian<int32_t>(e), LoadBigEndian<int32_t>(e + 4),
                               Offset(LoadBigEndian<int64_t>(e + 8)),
                               Offset(LoadBigEndian<int64_t>(e + 16))};
      if (batch.base_sequence < 0 || batch.last_sequence < 0) return Bad("negative sequence");
      if (batch.base_offset < floor || batch.last_offset < batch.base_offset ||
          batch.last_offset >= out.offset) {
        return Bad(absl::StrCat("producer ", id, " has a batch at offsets out of order"));
      }
      floor = Offset(batch.last_offset.value() + 1);
      entry.batches.push_back(batch);
    }
    rest = rest.subspan(batches * kProducerSnapshotBatchSize);
    out.table.Restore(id, std::move(entry));
    previous_id = id;
  }
  if (!rest.empty()) return Bad(absl::StrCat(rest.size(), " bytes after the producer entries"));
  return out;
}

Task<Status> WriteProducerSnapshot(io::FileSystem& fs, std::string dir, Offset offset,
                                   const ProducerStateTable& table) {
  std::vector<std::byte> bytes = EncodeProducerSnapshot(offset, table);
  if (bytes.size() > kProducerSnapshotMaxSize) {
    // A reader would refuse it: better no snapshot (the load reads the log's tail).
    co_return absl::ResourceExhaustedError(absl::StrCat("producer snapshot of ", table.size(),
                                                        " producers is ", bytes.size(),
                                                        " bytes, more than a snapshot may hold"));
  }
  co_return co_await log::WriteFileAtomically(fs, std::move(dir), ProducerSnapshotName(offset),
                                              std::move(bytes));
}

Task<StatusOr<std::vector<Offset>>> ListProducerSnapshots(io::FileSystem& fs, std::string dir) {
  CO_ASSIGN_OR_RETURN(std::vector<std::string> names, co_await fs.list_dir(dir));
  std::vector<Offset> out;
  for (const std::string& name : names) {
    if (std::optional<Offset> offset = ParseProducerSnapshotName(name)) out.push_back(*offset);
  }
  std::sort(out.begin(), out.end());
  co_return out;
}

Task<StatusOr<ProducerSnapshot>> ReadProducerSnapshot(io::FileSystem& fs, std::string dir,
                                                      Offset offset) {
  const std::string name = ProducerSnapshotName(offset);
  CO_ASSIGN_OR_RETURN(
      std::vector<std::byte> bytes,
      co_await log::ReadWholeFile(fs, log::JoinPath(dir, name), kProducerSnapshotMaxSize));
  StatusOr<ProducerSnapshot> snapshot = DecodeProducerSnapshot(bytes);
  if (snapshot.ok() && snapshot->offset != offset) {
    co_return Bad(absl::StrCat(name, " holds the state at offset ", snapshot->offset.value()));
  }
  co_return snapshot;
}

Task<Status> DeleteProducerSnapshot(io::FileSystem& fs, std::string dir, Offset offset) {
  Status st = co_await fs.unlink(log::JoinPath(dir, ProducerSnapshotName(offset)));
  if (absl::IsNotFound(st)) st = Status();
  co_return st;
}

Task<StatusOr<size_t>> DeleteProducerSnapshotsOutside(io::FileSystem& fs, std::string dir,
                                                      Offset low, Offset high) {
  CO_ASSIGN_OR_RETURN(std::vector<std::string> names, co_await fs.list_dir(dir));
  const std::string tmp_suffix =
      absl::StrCat(AbslView(kProducerSnapshotSuffix), AbslView(log::kTmpSuffix));
  size_t deleted = 0;
  bool changed = false;
  for (const std::string& name : names) {
    const std::optional<Offset> offset = ParseProducerSnapshotName(name);
    const bool stale = offset.has_value() && (*offset < low || *offset > high);
    const bool leftover = std::string_view(name).ends_with(tmp_suffix);
    if (!stale && !leftover) continue;
    Status st = co_await fs.unlink(log::JoinPath(dir, name));
    if (absl::IsNotFound(st)) continue;
    CO_RETURN_IF_ERROR(st);
    changed = true;
    if (stale) ++deleted;
  }
  if (changed) CO_RETURN_IF_ERROR(co_await fs.sync_dir(dir));
  co_return deleted;
}

Task<Status> KeepNewestProducerSnapshots(io::FileSystem& fs, std::string dir, size_t keep) {
  CO_ASSIGN_OR_RETURN(std::vector<Offset> offsets, co_await ListProducerSnapshots(fs, dir));
  if (offsets.size() <= keep) co_return Status();
  const size_t old = offsets.size() - keep;
  for (size_t i = 0; i < old; ++i) {
    CO_RETURN_IF_ERROR(co_await DeleteProducerSnapshot(fs, dir, offsets[i]));
  }
  co_return Status();
}

}  // namespace spool::broker
