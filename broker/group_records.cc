// Encoding of `__consumer_offsets` records; the format is documented in broker/GROUPS.md.
// All integers are big-endian; a string is an int16 length then its bytes; a byte string is an
// int32 length then its bytes.
#include "broker/group_records.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace spool::broker {

int32_t GroupPartition(std::string_view group_id, int32_t num_partitions) {
  uint32_t h = 0;  // unsigned arithmetic: Java's int32 wrap-around without UB
  for (char c : group_id) h = h * 31u + static_cast<uint8_t>(c);
  const int32_t hash = static_cast<int32_t>(h);
  const int32_t abs = hash == std::numeric_limits<int32_t>::min() ? 0 : (hash < 0 ? -hash : hash);
  return abs % num_partitions;
}

GroupRecord GroupRecord::Offset(std::string group, std::string topic, int32_t partition,
                                std::optional<OffsetValue> value) {
  GroupRecord r;
  r.kind = Kind::kOffset;
  r.group = std::move(group);
  r.topic = std::move(topic);
  r.partition = partition;
  r.offset = std::move(value);
  return r;
}

GroupRecord GroupRecord::Group(std::string group, std::optional<GroupMetadataValue> value) {
  GroupRecord r;
  r.kind = Kind::kGroup;
  r.group = std::move(group);
  r.metadata = std::move(value);
  return r;
}

namespace {

class Writer {
 public:
  void I16(int16_t v) { Int(static_cast<uint16_t>(v), 2); }
  void I32(int32_t v) { Int(static_cast<uint32_t>(v), 4); }
  void I64(int64_t v) { Int(static_cast<uint64_t>(v), 8); }
  // Strings longer than int16 allow are cut (group ids, topics and member ids are far shorter;
  // the handlers refuse longer ones before they get here).
  void Str(std::string_view s) {
    const size_t n = std::min<size_t>(s.size(), std::numeric_limits<int16_t>::max());
    I16(static_cast<int16_t>(n));
    out_.append(s.data(), n);
  }
  void Bytes(std::string_view s) {
    I32(static_cast<int32_t>(s.size()));
    out_.append(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  void Int(uint64_t v, int width) {
    for (int i = width - 1; i >= 0; i--) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::byte> b) : b_(b) {}
  bool I16(int16_t* v) { return Int(v, 2); }
  bool I32(int32_t* v) { return Int(v, 4); }
  bool I64(int64_t* v) { return Int(v, 8); }
  bool Str(std::string* s) {
    int16_t n = 0;
    if (!I16(&n) || n < 0) return false;
    return Take(static_cast<size_t>(n), s);
  }
  bool Bytes(std::string* s) {
    int32_t n = 0;
    if (!I32(&n) || n < 0) return false;
    return Take(static_cast<size_t>(n), s);
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  template <typename T>
  bool Int(T* v, size_t width) {
    if (b_.size() - pos_ < width) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < width; i++) x = (x << 8) | static_cast<uint8_t>(b_[pos_ + i]);
    pos_ += width;
    *v = static_cast<T>(x);
    return true;
  }
  bool Take(size_t n, std::string* s) {
    if (b_.size() - pos_ < n) return false;
    s->assign(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  std::span<const std::byte> b_;
  size_t pos_ = 0;
};

Status Bad(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("__consumer_offsets record: ", std::string(what)));
}

}  // namespace

std::string EncodeRecordKey(const GroupRecord& record) {
  Writer w;
  if (record.kind == GroupRecord::Kind::kOffset) {
    w.I16(kOffsetKeyVersion);
    w.Str(record.group);
    w.Str(record.topic);
    w.I32(record.partition);
  } else {
    w.I16(kGroupKeyVersion);
    w.Str(record.group);
  }
  return w.Take();
}

std::optional<std::string> EncodeRecordValue(const GroupRecord& record) {
  Writer w;
  if (record.kind == GroupRecord::Kind::kOffset) {
    if (!record.offset) return std::nullopt;
    const OffsetValue& v = *record.offset;
    w.I16(kOffsetValueVersion);
    w.I64(v.offset);
    w.I32(v.leader_epoch);
    w.Str(v.metadata);
    w.I64(v.commit_timestamp_ms);
    return w.Take();
  }
  if (!record.metadata) return std::nullopt;
  const GroupMetadataValue& g = *record.metadata;
  w.I16(kGroupValueVersion);
  w.Str(g.protocol_type);
  w.I32(g.generation);
  w.Str(g.protocol);
  w.Str(g.leader);
  w.I64(g.state_timestamp_ms);
  w.I32(static_cast<int32_t>(g.members.size()));
  for (const MemberRecord& m : g.members) {
    w.Str(m.member_id);
    w.Str(m.instance_id);
    w.Str(m.client_id);
    w.Str(m.client_host);
    w.I32(m.rebalance_timeout_ms);
    w.I32(m.session_timeout_ms);
    w.Bytes(m.subscription);
    w.Bytes(m.assignment);
  }
  return w.Take();
}

StatusOr<GroupRecord> DecodeRecord(std::span<const std::byte> key,
                                   std::optional<std::span<const std::byte>> value) {
  Reader k(key);
  int16_t key_version = 0;
  if (!k.I16(&key_version)) return Bad("key shorter than its version");
  GroupRecord r;
  if (key_version == kOffsetKeyVersion || key_version == 0) {
    r.kind = GroupRecord::Kind::kOffset;
    if (!k.Str(&r.group) || !k.Str(&r.topic) || !k.I32(&r.partition) || !k.done()) {
      return Bad("bad offset commit key");
    }
  } else if (key_version == kGroupKeyVersion) {
    r.kind = GroupRecord::Kind::kGroup;
    if (!k.Str(&r.group) || !k.done()) return Bad("bad group metadata key");
  } else {
    return absl::UnimplementedError(
        absl::StrCat("__consumer_offsets record: unknown key version ", key_version));
  }
  if (!value.has_value()) return r;  // tombstone
  Reader v(*value);
  int16_t value_version = 0;
  if (!v.I16(&value_version)) return Bad("value shorter than its version");
  if (r.kind == GroupRecord::Kind::kOffset) {
    if (value_version != kOffsetValueVersion) {
      return Bad(absl::StrCat("unknown offset commit value version ", value_version));
    }
    OffsetValue o;
    if (!v.I64(&o.offset) || !v.I32(&o.leader_epoch) || !v.Str(&o.metadata) ||
        !v.I64(&o.commit_timestamp_ms) || !v.done()) {
      return Bad("bad offset commit value");
    }
    r.offset = std::move(o);
    return r;
  }
  if (value_version != kGroupValueVersion) {
    return Bad(absl::StrCat("unknown group metadata value version ", value_version));
  }
  GroupMetadataValue g;
  int32_t count = 0;
  if (!v.Str(&g.protocol_type) || !v.I32(&g.generation) || !v.Str(&g.protocol) ||
      !v.Str(&g.leader) || !v.I64(&g.state_timestamp_ms) || !v.I32(&count) || count < 0) {
    return Bad("bad group metadata value");
  }
  for (int32_t i = 0; i < count; i++) {
    MemberRecord m;
    if (!v.Str(&m.member_id) || !v.Str(&m.instance_id) || !v.Str(&m.client_id) ||
        !v.Str(&m.client_host) || !v.I32(&m.rebalance_timeout_ms) ||
        !v.I32(&m.session_timeout_ms) || !v.Bytes(&m.subscription) || !v.Bytes(&m.assignment)) {
      return Bad(absl::StrCat("bad group metadata member ", i));
    }
    g.members.push_back(std::move(m));
  }
  if (!v.done()) return Bad("bytes after the group metadata value");
  r.metadata = std::move(g);
  return r;
}

}  // namespace spool::broker
