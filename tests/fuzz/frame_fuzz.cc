// libFuzzer target: everything a broker or client does to untrusted bytes off a socket before a
// handler sees them. The input is fed to DecodeOneFrameForFuzz (decode frames, parse bodies,
// split payloads) and, separately, to a FrameDecoder in chunks whose sizes come from the input's
// first byte, so partial headers and regrowth are exercised too. Any crash, sanitizer report,
// or a decoder that hands out a frame whose spans leave its bytes is a bug.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>

#include "proto/body.h"
#include "proto/frame_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  (void)spool::proto::DecodeOneFrameForFuzz(bytes);

  if (size == 0) return 0;
  const size_t chunk = 1 + static_cast<size_t>(data[0]) % 64;
  spool::proto::FrameLimits limits{.max_frame_bytes = 1 << 20, .max_body_bytes = 64 << 10};
  spool::proto::FrameDecoder decoder(limits, 256);
  size_t pos = 1;
  while (pos < size) {
    const size_t n = std::min(chunk, size - pos);
    std::span<std::byte> space = decoder.WritableSpace(n);
    if (space.size() < n) break;  // a framing error is pending: nothing more is taken
    std::memcpy(space.data(), data + pos, n);
    decoder.Commit(n);
    pos += n;
    for (;;) {
      auto frame = decoder.Next();
      if (!frame.ok() || !frame->has_value()) break;
      const auto& f = **frame;
      if (f.bytes().size() != f.header().frame_size ||
          f.body().size() + f.payload().size() + spool::proto::kFrameHeaderSize !=
              f.bytes().size()) {
        std::abort();
      }
      (void)spool::proto::ParseFrameBody(f.header(), f.body());
    }
  }
  return 0;
}
