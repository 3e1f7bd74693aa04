// libFuzzer target: the record batch codec on untrusted bytes (a produce payload, a segment file
// being recovered). Each input is tried twice: as it is (so header and CRC checks reject it), and
// with its CRC recomputed (so the varint record decoder, the headers and the decompressors see
// arbitrary bytes behind a valid CRC). Decoding must never crash, read out of bounds, or allocate
// past the configured caps.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "log/record/batch_header.h"
#include "log/record/batch_reader.h"

namespace {

void DecodeAll(std::span<const std::byte> bytes) {
  spool::record::ReaderOptions opts{.max_batch_size = 1 << 20, .max_decompressed_bytes = 4 << 20};
  auto header = spool::record::VerifyBatch(bytes, opts.max_batch_size);
  if (!header.ok()) return;
  auto reader = spool::record::BatchReader::Open(bytes, opts);
  if (!reader.ok()) return;
  spool::record::RecordView record;
  for (int i = 0; i < 100000; i++) {
    auto more = reader->Next(&record);
    if (!more.ok() || !*more) break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  DecodeAll(bytes);
  if (size >= spool::record::kHeaderSize) {
    std::vector<std::byte> fixed(bytes.begin(), bytes.end());
    fixed[spool::record::kMagicPos] = std::byte{2};
    spool::record::StoreCrc(fixed);
    DecodeAll(fixed);
  }
  return 0;
}
