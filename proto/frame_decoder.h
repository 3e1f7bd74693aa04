// FrameDecoder: turns the bytes of one TCP connection, in whatever chunks they arrive, into
// whole frames, without copying a frame's payload out of the receive buffer.
//
//   FrameDecoder d(limits);
//   for (;;) {
//     std::span<std::byte> space = d.WritableSpace();
//     size_t n = recv(fd, space);          // the kernel writes straight into the buffer
//     d.Commit(n);
//     while (true) {
//       ASSIGN_OR_RETURN(std::optional<Frame> f, d.Next());  // error: close the connection
//       if (!f) break;
//       Handle(*std::move(f));            // f->payload() points into the receive buffer
//     }
//   }
//
// Limits: a frame's size is validated (FrameLimits, frame.h) as soon as its 20-byte header is
// in, and the magic, version and flags as soon as each of those bytes is in, before the buffer is
// grown for that frame. Errors are sticky: after one, Next() keeps returning it (frames that
// were complete before the bad one are still handed out first).
//
// Ownership and copies: the decoder owns its buffer chunks. A Frame shares ownership of the
// chunk it lies in, so its spans stay valid for as long as the Frame lives, whatever the decoder
// does next. Bytes of a frame handed out are never copied or moved. Bytes of a frame not yet
// complete may be moved once when the decoder compacts or regrows its buffer (bounded by what
// has arrived of that frame); call Next() until it returns nullopt before asking for more space
// so complete frames are handed out, not moved.
//
// Threading: a decoder is used by one thread (one reactor) at a time. Frames may be moved to
// and destroyed on other threads (the shared ownership is atomic).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "common/status.h"
#include "proto/frame.h"

namespace spool::proto {

// One received frame: the header plus spans into the receive buffer for body and payload.
class Frame {
 public:
  Frame(const FrameHeader& header, std::span<const std::byte> bytes,
        std::shared_ptr<const std::byte[]> owner)
      : header_(header), bytes_(bytes), owner_(std::move(owner)) {}

  const FrameHeader& header() const { return header_; }
  // The whole frame as it came off the wire, header included.
  std::span<const std::byte> bytes() const { return bytes_; }
  std::span<const std::byte> body() const {
    return bytes_.subspan(kFrameHeaderSize, header_.body_size);
  }
  std::span<const std::byte> payload() const {
    return bytes_.subspan(kFrameHeaderSize + header_.body_size);
  }

 private:
  FrameHeader header_;
  std::span<const std::byte> bytes_;
  std::shared_ptr<const std::byte[]> owner_;  // keeps bytes_ alive
};

class FrameDecoder {
 public:
  // `read_ahead` is how much free space WritableSpace() offers at least (more than the frame in
  // progress needs, so one recv can bring several small frames).
  explicit FrameDecoder(const FrameLimits& limits = {}, size_t read_ahead = 64 * 1024);
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  // Free space at the end of the buffer to receive into: at least max(min_bytes, what the frame
  // in progress still lacks) unless a framing error is pending (then it may be empty). Valid
  // until the next call on the decoder.
  std::span<std::byte> WritableSpace(size_t min_bytes = 1);
  // Marks the first `n` bytes of the last WritableSpace() as received, and validates the
  // headers that are now (partly) in.
  void Commit(size_t n);
  // Copies `bytes` in (WritableSpace + Commit in a loop). For callers whose bytes are already in
  // memory (tests, fuzzing); a copying path, so not the broker's receive path.
  void Feed(std::span<const std::byte> bytes);

  // The next complete frame, nullopt when more bytes are needed, or the framing error.
  [[nodiscard]] StatusOr<std::optional<Frame>> Next();

  // Bytes received but not yet handed out as frames (a partial frame, or frames not yet taken).
  size_t buffered_bytes() const { return end_ - begin_; }
  // True when no partial frame is pending: a connection closed here ended cleanly.
  bool at_frame_boundary() const { return end_ == begin_ && error_.ok(); }

 private:
  void Scan();
  void Reserve(size_t free_bytes);

  FrameLimits limits_;
  size_t read_ahead_;
  std::shared_ptr<std::byte[]> chunk_;
  size_t capacity_ = 0;
  size_t begin_ = 0;                    // first byte not handed out
  size_t scan_ = 0;                     // frames in [begin_, scan_) are complete and validated
  size_t end_ = 0;                      // first free byte
  std::optional<FrameHeader> pending_;  // validated header of the frame at scan_, if known
  Status error_;
};

}  // namespace spool::proto
