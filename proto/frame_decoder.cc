#include "proto/frame_decoder.h"

#include <algorithm>
#include <cstring>

namespace spool::proto {

FrameDecoder::FrameDecoder(const FrameLimits& limits, size_t read_ahead)
    : limits_(limits), read_ahead_(std::max<size_t>(read_ahead, kFrameHeaderSize)) {}

std::span<std::byte> FrameDecoder::WritableSpace(size_t min_bytes) {
  if (!error_.ok()) return {};
  const size_t partial = end_ - scan_;
  // What the frame in progress still lacks; its size is only trusted once validated.
  const size_t frame_need = pending_ ? pending_->frame_size : kFrameHeaderSize;
  const size_t lacking = frame_need > partial ? frame_need - partial : 0;
  const size_t required = std::max({min_bytes, lacking, size_t{1}});
  if (capacity_ - end_ < required) {
    // Out of room: make room for what is required, and for read-ahead up to the usual chunk.
    const size_t live = end_ - begin_;
    Reserve(std::max(required, read_ahead_ > live ? read_ahead_ - live : 0));
  }
  return {chunk_.get() + end_, capacity_ - end_};
}

void FrameDecoder::Reserve(size_t free_bytes) {
  if (capacity_ - end_ >= free_bytes) return;
  const size_t live = end_ - begin_;
  if (chunk_ != nullptr && chunk_.use_count() == 1 && capacity_ - live >= free_bytes) {
    // No Frame points into this chunk: slide the unhanded bytes to the front.
    std::memmove(chunk_.get(), chunk_.get() + begin_, live);
  } else {
    // Frames still point into the old chunk (or it is too small): start a new one; the old one
    // lives on for as long as those frames do.
    const size_t capacity = std::max(live + free_bytes, read_ahead_);
    std::shared_ptr<std::byte[]> fresh(new std::byte[capacity]);
    if (live > 0) std::memcpy(fresh.get(), chunk_.get() + begin_, live);
    chunk_ = std::move(fresh);
    capacity_ = capacity;
  }
  scan_ -= begin_;
  end_ -= begin_;
  begin_ = 0;
}

void FrameDecoder::Commit(size_t n) {
  end_ += std::min(n, capacity_ - end_);
  Scan();
}

void FrameDecoder::Feed(std::span<const std::byte> bytes) {
  while (!bytes.empty() && error_.ok()) {
    std::span<std::byte> space = WritableSpace();
    const size_t n = std::min(space.size(), bytes.size());
    std::memcpy(space.data(), bytes.data(), n);
    Commit(n);
    bytes = bytes.subspan(n);
  }
}

void FrameDecoder::Scan() {
  while (error_.ok()) {
    const std::span<const std::byte> rest(chunk_.get() + scan_, end_ - scan_);
    if (!pending_) {
      if (Status s = CheckHeaderPrefix(rest); !s.ok()) {
        error_ = s;
        return;
      }
      if (rest.size() < kFrameHeaderSize) return;
      StatusOr<FrameHeader> header = DecodeFrameHeader(rest, limits_);
      if (!header.ok()) {
        error_ = header.status();
        return;
      }
      pending_ = *header;
    }
    if (rest.size() < pending_->frame_size) return;
    scan_ += pending_->frame_size;
    pending_.reset();
  }
}

StatusOr<std::optional<Frame>> FrameDecoder::Next() {
  if (begin_ == scan_) {
    if (!error_.ok()) return error_;
    return std::nullopt;
  }
  // Complete frames in [begin_, scan_) were validated by Scan(); re-reading the header is cheap.
  const std::span<const std::byte> bytes(chunk_.get() + begin_, scan_ - begin_);
  StatusOr<FrameHeader> header = DecodeFrameHeader(bytes, limits_);
  if (!header.ok()) return header.status();  // unreachable: Scan() validated it
  begin_ += header->frame_size;
  return Frame(*header, bytes.first(header->frame_size), chunk_);
}

}  // namespace spool::proto
