#include "log/checkpoint_file.h"

#include "absl/strings/str_cat.h"
#include "common/byte_order.h"
#include "common/crc32c.h"
#include "log/file_util.h"
#include "log/leader_epoch_cache.h"
#include "log/log_format.h"

namespace spool::log {

namespace {

constexpr size_t kMaxCheckpointSize = kCheckpointPreambleSize + kCheckpointFixedBodySize +
                                      kCheckpointMaxEpochs * kCheckpointEpochEntrySize + 4;

Status Bad(std::string_view why) {
  return absl::DataLossError(absl::StrCat(AbslView(kCheckpointName), ": ", AbslView(why)));
}

}  // namespace

std::vector<std::byte> EncodeCheckpoint(const CheckpointData& data) {
  const size_t body =
      kCheckpointFixedBodySize + data.leader_epochs.size() * kCheckpointEpochEntrySize;
  std::vector<std::byte> out(kCheckpointPreambleSize + body + 4);
  std::byte* p = out.data();
  StoreBigEndian<uint32_t>(p + 0, kCheckpointMagic);
  StoreBigEndian<uint16_t>(p + 4, kCheckpointVersion);
  StoreBigEndian<uint16_t>(p + 6, 0);  // flags
  StoreBigEndian<uint32_t>(p + 8, static_cast<uint32_t>(body));
  p += kCheckpointPreambleSize;
  StoreBigEndian<int64_t>(p + 0, data.recovery_point.value());
  StoreBigEndian<int64_t>(p + 8, data.log_start_offset.value());
  StoreBigEndian<int64_t>(p + 16, data.high_watermark ? data.high_watermark->value() : -1);
  StoreBigEndian<uint32_t>(p + 24, static_cast<uint32_t>(data.leader_epochs.size()));
  p += kCheckpointFixedBodySize;
  for (const LeaderEpochEntry& e : data.leader_epochs) {
    StoreBigEndian<int32_t>(p, e.epoch);
    StoreBigEndian<int64_t>(p + 4, e.start_offset.value());
    p += kCheckpointEpochEntrySize;
  }
  const size_t covered = kCheckpointPreambleSize + body;
  StoreBigEndian<uint32_t>(out.data() + covered, crc32c::Value(out.data(), covered));
  return out;
}

StatusOr<CheckpointData> DecodeCheckpoint(std::span<const std::byte> file) {
  if (file.size() < kCheckpointPreambleSize + kCheckpointFixedBodySize + 4) {
    return Bad(absl::StrCat("file of ", file.size(), " bytes is too short"));
  }
  const std::byte* p = file.data();
  if (LoadBigEndian<uint32_t>(p) != kCheckpointMagic) return Bad("bad magic");
  if (const auto v = LoadBigEndian<uint16_t>(p + 4); v != kCheckpointVersion) {
    return Bad(absl::StrCat("unknown version ", v));
  }
  if ((LoadBigEndian<uint16_t>(p + 6) & kCheckpointMustUnderstandFlags) != 0)
    return Bad("unknown must-understand flags");
  const uint64_t body = LoadBigEndian<uint32_t>(p + 8);
  if (body < kCheckpointFixedBodySize || kCheckpointPreambleSize + body + 4 != file.size()) {
    return Bad(
        absl::StrCat("body length ", body, " does not match a file of ", file.size(), " bytes"));
  }
  const size_t covered = kCheckpointPreambleSize + body;
  if (LoadBigEndian<uint32_t>(p + covered) != crc32c::Value(p, covered)) return Bad("CRC mismatch");
  const std::byte* b = p + kCheckpointPreambleSize;
  CheckpointData data;
  data.recovery_point = Offset(LoadBigEndian<int64_t>(b));
  data.log_start_offset = Offset(LoadBigEndian<int64_t>(b + 8));
  const int64_t hw = LoadBigEndian<int64_t>(b + 16);
  const uint64_t epochs = LoadBigEndian<uint32_t>(b + 24);
  if (data.recovery_point.value() < 0 || data.log_start_offset.value() < 0 || hw < -1) {
    return Bad("negative offset");
  }
  if (hw >= 0) data.high_watermark = Offset(hw);
  // Version 1 readers ignore bytes after the epoch entries (room for compatible additions).
  if (epochs > kCheckpointMaxEpochs ||
      kCheckpointFixedBodySize + epochs * kCheckpointEpochEntrySize > body) {
    return Bad(absl::StrCat(epochs, " leader-epoch entries do not fit the body"));
  }
  const std::byte* e = b + kCheckpointFixedBodySize;
  for (uint64_t i = 0; i < epochs; ++i, e += kCheckpointEpochEntrySize) {
    data.leader_epochs.push_back(
        LeaderEpochEntry{LoadBigEndian<int32_t>(e), Offset(LoadBigEndian<int64_t>(e + 4))});
  }
  if (!LeaderEpochCache::WellOrdered(data.leader_epochs)) {
    return Bad("leader-epoch entries are not in order");
  }
  return data;
}

Task<Status> WriteCheckpoint(io::FileSystem& fs, std::string dir, CheckpointData data) {
  co_return co_await WriteFileAtomically(fs, std::move(dir), std::string(kCheckpointName),
                                         EncodeCheckpoint(data));
}

Task<StatusOr<CheckpointData>> ReadCheckpoint(io::FileSystem& fs, std::string dir) {
  CO_ASSIGN_OR_RETURN(
      std::vector<std::byte> bytes,
      co_await ReadWholeFile(fs, JoinPath(dir, kCheckpointName), kMaxCheckpointSize));
  co_return DecodeCheckpoint(bytes);
}

}  // namespace spool::log
