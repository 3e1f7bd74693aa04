#include "broker/topic_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/byte_order.h"
#include "common/crc32c.h"
#include "log/file_util.h"

namespace spool::broker {

namespace {

// magic "SPTS", version, flags, body length; then the body and a CRC-32C of everything before.
constexpr uint32_t kMagic = 0x53505453;
constexpr uint16_t kVersion = 1;
constexpr size_t kPreambleSize = 12;
constexpr size_t kCrcSize = 4;
constexpr uint64_t kMaxFileSize = 64ull << 20;

Status Bad(const std::string& why) {
  return absl::DataLossError(absl::StrCat(kTopicStateFile, ": ", why));
}

}  // namespace

std::vector<std::byte> EncodeTopicState(const v1::TopicState& state) {
  const std::string body = state.SerializeAsString();
  std::vector<std::byte> out(kPreambleSize + body.size() + kCrcSize);
  std::byte* p = out.data();
  StoreBigEndian<uint32_t>(p, kMagic);
  StoreBigEndian<uint16_t>(p + 4, kVersion);
  StoreBigEndian<uint16_t>(p + 6, 0);
  StoreBigEndian<uint32_t>(p + 8, static_cast<uint32_t>(body.size()));
  std::copy_n(reinterpret_cast<const std::byte*>(body.data()), body.size(), p + kPreambleSize);
  const size_t covered = kPreambleSize + body.size();
  StoreBigEndian<uint32_t>(p + covered, crc32c::Value(p, covered));
  return out;
}

StatusOr<v1::TopicState> DecodeTopicState(std::span<const std::byte> file) {
  if (file.size() < kPreambleSize + kCrcSize) {
    return Bad(absl::StrCat("file of ", file.size(), " bytes is too short"));
  }
  const std::byte* p = file.data();
  if (LoadBigEndian<uint32_t>(p) != kMagic) return Bad("bad magic");
  if (const uint16_t v = LoadBigEndian<uint16_t>(p + 4); v != kVersion) {
    return Bad(absl::StrCat("unknown version ", v));
  }
  if (LoadBigEndian<uint16_t>(p + 6) != 0) return Bad("unknown flags");
  const uint64_t body = LoadBigEndian<uint32_t>(p + 8);
  if (kPreambleSize + body + kCrcSize != file.size()) {
    return Bad(absl::StrCat("body length ", body, " does not match the file size ", file.size()));
  }
  const size_t covered = kPreambleSize + body;
  if (LoadBigEndian<uint32_t>(p + covered) != crc32c::Value(p, covered)) return Bad("CRC mismatch");
  v1::TopicState state;
  if (!state.ParseFromArray(p + kPreambleSize, static_cast<int>(body))) {
    return Bad("body does not parse");
  }
  return state;
}

Task<StatusOr<std::unique_ptr<TopicStore>>> TopicStore::Open(io::FileSystem& fs,
                                                             std::string data_dir) {
  CO_RETURN_IF_ERROR(co_await io::CreateDirs(fs, data_dir));
  v1::TopicState state;
  StatusOr<std::vector<std::byte>> bytes =
      co_await log::ReadWholeFile(fs, absl::StrCat(data_dir, "/", kTopicStateFile), kMaxFileSize);
  if (bytes.ok()) {
    CO_ASSIGN_OR_RETURN(state, DecodeTopicState(*bytes));
  } else if (!absl::IsNotFound(bytes.status())) {
    co_return bytes.status();
  }
  co_return std::unique_ptr<TopicStore>(new TopicStore(fs, std::move(data_dir), std::move(state)));
}

std::vector<v1::TopicRecord> TopicStore::List() const {
  std::vector<v1::TopicRecord> out(state_.topics().begin(), state_.topics().end());
  std::sort(out.begin(), out.end(),
            [](const v1::TopicRecord& a, const v1::TopicRecord& b) { return a.name() < b.name(); });
  return out;
}

std::optional<v1::TopicRecord> TopicStore::Find(const std::string& name) const {
  for (const v1::TopicRecord& t : state_.topics()) {
    if (t.name() == name) return t;
  }
  return std::nullopt;
}

Task<Status> TopicStore::Put(v1::TopicRecord topic) {
  v1::TopicState next = state_;
  bool replaced = false;
  for (v1::TopicRecord& t : *next.mutable_topics()) {
    if (t.name() == topic.name()) {
      t = topic;
      replaced = true;
    }
  }
  if (!replaced) *next.add_topics() = std::move(topic);
  co_return co_await Commit(std::move(next));
}

Task<Status> TopicStore::MarkDeleted(std::string name) {
  v1::TopicState next = state_;
  bool found = false;
  for (v1::TopicRecord& t : *next.mutable_topics()) {
    if (t.name() == name) {
      t.set_deleted(true);
      found = true;
    }
  }
  if (!found) co_return absl::NotFoundError(absl::StrCat("no topic ", name));
  co_return co_await Commit(std::move(next));
}

Task<Status> TopicStore::Remove(std::string name) {
  v1::TopicState next;
  next.set_generation(state_.generation());
  bool found = false;
  for (const v1::TopicRecord& t : state_.topics()) {
    if (t.name() == name) {
      found = true;
    } else {
      *next.add_topics() = t;
    }
  }
  if (!found) co_return Status();
  co_return co_await Commit(std::move(next));
}

Task<Status> TopicStore::Commit(v1::TopicState next) {
  next.set_generation(state_.generation() + 1);
  CO_RETURN_IF_ERROR(
      co_await log::WriteFileAtomically(fs_, dir_, kTopicStateFile, EncodeTopicState(next)));
  state_ = std::move(next);
  co_return Status();
}

}  // namespace spool::broker
