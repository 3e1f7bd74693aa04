#include "log/record/record.h"

#include "log/record/varint.h"

namespace spool::record {

HeaderList::Iterator::Iterator(std::span<const std::byte> bytes, uint32_t count)
    : bytes_(bytes), left_(count) {
  if (left_ > 0) Decode();
}

void HeaderList::Iterator::Advance() {
  if (left_ == 0) return;
  if (--left_ > 0) Decode();
}

// The bytes were validated when the record was read; should they still be malformed (a
// HeaderList built by hand), iteration stops instead of reading out of bounds.
void HeaderList::Iterator::Decode() {
  int32_t key_length;
  if (!TryReadVarint(bytes_, &pos_, &key_length) || key_length < 0 ||
      static_cast<size_t>(key_length) > bytes_.size() - pos_) {
    left_ = 0;
    return;
  }
  current_.key = AsString(bytes_.subspan(pos_, static_cast<size_t>(key_length)));
  pos_ += static_cast<size_t>(key_length);
  int32_t value_length;
  if (!TryReadVarint(bytes_, &pos_, &value_length) || value_length < -1 ||
      (value_length > 0 && static_cast<size_t>(value_length) > bytes_.size() - pos_)) {
    left_ = 0;
    return;
  }
  if (value_length < 0) {
    current_.value = std::nullopt;
  } else {
    current_.value = bytes_.subspan(pos_, static_cast<size_t>(value_length));
    pos_ += static_cast<size_t>(value_length);
  }
}

}  // namespace spool::record
