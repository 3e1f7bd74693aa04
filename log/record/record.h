// The record types shared by BatchBuilder (input) and BatchReader (output).
//
// A record inside a v2 batch (all varints zigzag LEB128, see varint.h):
//   length varint            bytes of the record after this field
//   attributes int8          unused by Kafka, kept as read
//   timestampDelta varlong   timestamp - batch baseTimestamp
//   offsetDelta varint       offset - batch baseOffset
//   keyLength varint         -1 = null key
//   key bytes
//   valueLength varint       -1 = null value
//   value bytes
//   headerCount varint
//   headers: headerKeyLength varint (never null), key (UTF-8, not checked), headerValueLength
//            varint (-1 = null), value
//
// Everything here is a view: spans and string_views point into memory owned elsewhere (the
// caller's buffers for Append(), the batch or the reader's decompressed buffer for a
// RecordView). Views are plain values; they are as thread-safe as the memory they point at.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace spool::record {

inline std::span<const std::byte> AsBytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}
inline std::string_view AsString(std::span<const std::byte> b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

struct Header {
  std::string_view key;
  std::optional<std::span<const std::byte>> value;  // nullopt = null value
};

// The headers of one record as read from a batch: a zero-copy, already-validated run of header
// bytes, decoded lazily as it is iterated. Yields Header values whose spans point into the batch.
class HeaderList {
 public:
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Header;
    using difference_type = std::ptrdiff_t;
    using pointer = const Header*;
    using reference = const Header&;

    Iterator() = default;
    const Header& operator*() const { return current_; }
    const Header* operator->() const { return &current_; }
    Iterator& operator++() {
      Advance();
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      Advance();
      return before;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) { return a.left_ == b.left_; }

   private:
    friend class HeaderList;
    Iterator(std::span<const std::byte> bytes, uint32_t count);
    void Advance();
    void Decode();

    std::span<const std::byte> bytes_;
    size_t pos_ = 0;
    uint32_t left_ = 0;  // headers not yet passed, the current one included
    Header current_;
  };

  HeaderList() = default;
  // `bytes` must hold `count` well-formed headers (BatchReader validates them first).
  HeaderList(std::span<const std::byte> bytes, uint32_t count) : bytes_(bytes), count_(count) {}

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  Iterator begin() const { return Iterator(bytes_, count_); }
  Iterator end() const { return Iterator(); }
  std::vector<Header> ToVector() const { return std::vector<Header>(begin(), end()); }
  // The encoded headers (after headerCount), as they sit in the batch.
  std::span<const std::byte> bytes() const { return bytes_; }

 private:
  std::span<const std::byte> bytes_;
  uint32_t count_ = 0;
};

// One record read from a batch. Valid while the batch bytes (uncompressed batches) or the
// BatchReader (compressed batches) that produced it are alive.
struct RecordView {
  int64_t offset = 0;     // batch baseOffset + offset_delta
  int64_t timestamp = 0;  // baseTimestamp + delta; maxTimestamp for log-append-time batches
  int32_t offset_delta = 0;
  int8_t attributes = 0;
  std::optional<std::span<const std::byte>> key;    // nullopt = null key
  std::optional<std::span<const std::byte>> value;  // nullopt = null value
  HeaderList headers;
};

}  // namespace spool::record
