#include "replication/raft/file_format.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"

namespace spool::raft::file_format {
namespace {

constexpr char kStateMagic[8] = {'S', 'P', 'R', 'F', 'T', 'S', 'T', '1'};
constexpr char kSnapshotMagic[8] = {'S', 'P', 'R', 'F', 'T', 'S', 'N', '1'};
constexpr char kLogMagic[8] = {'S', 'P', 'R', 'F', 'T', 'L', 'G', '1'};

template <typename T>
void Put(std::vector<std::byte>& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<std::byte>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
  }
}

template <typename T>
T Get(std::span<const std::byte> b, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    v |= static_cast<uint64_t>(std::to_integer<uint8_t>(b[at + i])) << (8 * i);
  }
  return static_cast<T>(v);
}

void PutMagic(std::vector<std::byte>& out, const char (&magic)[8]) {
  for (char c : magic) out.push_back(static_cast<std::byte>(c));
}

bool HasMagic(std::span<const std::byte> b, const char (&magic)[8]) {
  return b.size() >= 8 && std::memcmp(b.data(), magic, 8) == 0;
}

void PutCrc(std::vector<std::byte>& out, size_t from) {
  Put<uint32_t>(out, crc32c::Value(out.data() + from, out.size() - from));
}

bool CrcOk(std::span<const std::byte> b, size_t from, size_t to) {
  return Get<uint32_t>(b, to) == crc32c::Value(b.data() + from, to - from);
}

Status Damaged(const char* what, const char* why) {
  return absl::DataLossError(absl::StrCat("raft ", what, ": ", why));
}

}  // namespace

std::vector<std::byte> EncodeState(const HardState& hs) {
  std::vector<std::byte> out;
  PutMagic(out, kStateMagic);
  Put<uint16_t>(out, kVersion);
  Put<uint16_t>(out, 0);  // flags
  Put<uint32_t>(out, hs.vote.value());
  Put<uint64_t>(out, hs.term.value());
  PutCrc(out, 0);
  return out;
}

StatusOr<HardState> DecodeState(std::span<const std::byte> b) {
  if (b.size() != kStateSize) return Damaged("state", "wrong size");
  if (!HasMagic(b, kStateMagic)) return Damaged("state", "bad magic");
  if (!CrcOk(b, 0, kStateSize - 4)) return Damaged("state", "CRC mismatch");
  if (Get<uint16_t>(b, 8) != kVersion || Get<uint16_t>(b, 10) != 0) {
    return Damaged("state", "unknown version or flags");
  }
  return HardState{Term{Get<uint64_t>(b, 16)}, NodeId{Get<uint32_t>(b, 12)}};
}

std::vector<std::byte> EncodeSnapshot(const Snapshot& snap) {
  std::vector<std::byte> out;
  PutMagic(out, kSnapshotMagic);
  Put<uint16_t>(out, kVersion);
  Put<uint16_t>(out, 0);
  Put<uint32_t>(out, static_cast<uint32_t>(snap.meta.voters.size()));
  Put<uint64_t>(out, snap.meta.index.value());
  Put<uint64_t>(out, snap.meta.term.value());
  Put<uint64_t>(out, snap.data.size());
  for (NodeId v : snap.meta.voters) Put<uint32_t>(out, v.value());
  const auto* data = reinterpret_cast<const std::byte*>(snap.data.data());
  out.insert(out.end(), data, data + snap.data.size());
  PutCrc(out, 0);
  return out;
}

StatusOr<Snapshot> DecodeSnapshot(std::span<const std::byte> b) {
  constexpr size_t kFixed = 40;
  if (b.size() < kFixed + 4) return Damaged("snapshot", "too short");
  if (!HasMagic(b, kSnapshotMagic)) return Damaged("snapshot", "bad magic");
  if (!CrcOk(b, 0, b.size() - 4)) return Damaged("snapshot", "CRC mismatch");
  if (Get<uint16_t>(b, 8) != kVersion || Get<uint16_t>(b, 10) != 0) {
    return Damaged("snapshot", "unknown version or flags");
  }
  const uint64_t voters = Get<uint32_t>(b, 12);
  const uint64_t data_size = Get<uint64_t>(b, 32);
  if (voters > 16 || data_size > b.size() || kFixed + 4 * voters + data_size + 4 != b.size()) {
    return Damaged("snapshot", "lengths do not match the file");
  }
  Snapshot s;
  s.meta.index = Index{Get<uint64_t>(b, 16)};
  s.meta.term = Term{Get<uint64_t>(b, 24)};
  for (uint64_t i = 0; i < voters; ++i) {
    s.meta.voters.push_back(NodeId{Get<uint32_t>(b, kFixed + 4 * i)});
  }
  const auto* data = reinterpret_cast<const char*>(b.data() + kFixed + 4 * voters);
  s.data.assign(data, data_size);
  return s;
}

std::vector<std::byte> EncodeLogHeader(const LogHeader& h) {
  std::vector<std::byte> out;
  PutMagic(out, kLogMagic);
  Put<uint16_t>(out, kVersion);
  Put<uint16_t>(out, 0);
  Put<uint64_t>(out, h.base_index.value());
  Put<uint64_t>(out, h.base_term.value());
  PutCrc(out, 0);
  return out;
}

StatusOr<LogHeader> DecodeLogHeader(std::span<const std::byte> b) {
  if (b.size() < kLogHeaderSize) return Damaged("log", "header too short");
  if (!HasMagic(b, kLogMagic)) return Damaged("log", "bad magic");
  if (!CrcOk(b, 0, kLogHeaderSize - 4)) return Damaged("log", "header CRC mismatch");
  if (Get<uint16_t>(b, 8) != kVersion || Get<uint16_t>(b, 10) != 0) {
    return Damaged("log", "unknown version or flags");
  }
  return LogHeader{Index{Get<uint64_t>(b, 12)}, Term{Get<uint64_t>(b, 20)}};
}

void AppendEntryRecord(const Entry& e, std::vector<std::byte>& out) {
  const size_t start = out.size();
  Put<uint32_t>(out, static_cast<uint32_t>(kEntryFixedSize + e.data.size()));
  Put<uint32_t>(out, 0);  // CRC, filled below
  Put<uint8_t>(out, kRecordEntry);
  Put<uint8_t>(out, static_cast<uint8_t>(e.type));
  Put<uint16_t>(out, 0);
  Put<uint64_t>(out, e.term.value());
  Put<uint64_t>(out, e.index.value());
  const auto* data = reinterpret_cast<const std::byte*>(e.data.data());
  out.insert(out.end(), data, data + e.data.size());
  const uint32_t crc =
      crc32c::Value(out.data() + start + kRecordHeaderSize, out.size() - start - kRecordHeaderSize);
  for (size_t i = 0; i < 4; ++i) {
    out[start + 4 + i] = static_cast<std::byte>((crc >> (8 * i)) & 0xff);
  }
}

std::optional<Entry> DecodeEntryRecord(std::span<const std::byte> b, size_t* size) {
  if (b.size() < kRecordHeaderSize) return std::nullopt;
  const uint32_t length = Get<uint32_t>(b, 0);
  if (length < kEntryFixedSize || length > kMaxRecordPayload ||
      length > b.size() - kRecordHeaderSize) {
    return std::nullopt;
  }
  std::span<const std::byte> payload = b.subspan(kRecordHeaderSize, length);
  if (Get<uint32_t>(b, 4) != crc32c::Value(payload)) return std::nullopt;
  if (Get<uint8_t>(payload, 0) != kRecordEntry) return std::nullopt;
  const uint8_t type = Get<uint8_t>(payload, 1);
  if (type != static_cast<uint8_t>(EntryType::kNormal) &&
      type != static_cast<uint8_t>(EntryType::kNoop)) {
    return std::nullopt;
  }
  Entry e;
  e.type = static_cast<EntryType>(type);
  e.term = Term{Get<uint64_t>(payload, 4)};
  e.index = Index{Get<uint64_t>(payload, 12)};
  const auto* data = reinterpret_cast<const char*>(payload.data() + kEntryFixedSize);
  e.data.assign(data, length - kEntryFixedSize);
  *size = kRecordHeaderSize + length;
  return e;
}

}  // namespace spool::raft::file_format
