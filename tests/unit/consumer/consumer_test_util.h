// Helpers for the consumer's unit tests: record batches as a broker would return them in a
// fetch response (built with BatchBuilder, base offset stamped).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_header.h"

namespace spool::testing {

// One batch of `count` records at offsets base..base+count-1; record i has key "k<offset>",
// value "v<offset>" and one header "h" = "<offset>".
inline std::vector<std::byte> MakeBatch(
    int64_t base, int count, record::Compression compression = record::Compression::kNone,
    int64_t timestamp = 1'700'000'000'000) {
  record::BatchBuilder builder(record::BuilderOptions{.compression = compression});
  for (int i = 0; i < count; ++i) {
    const std::string offset = std::to_string(base + i);
    const std::string key = "k" + offset;
    const std::string value = "v" + offset;
    const record::Header header{"h", record::AsBytes(offset)};
    builder.Append(timestamp + i, key, value, std::span<const record::Header>(&header, 1));
  }
  StatusOr<std::vector<std::byte>> batch = builder.Seal();
  EXPECT_TRUE(batch.ok()) << batch.status();
  if (!batch.ok()) return {};
  record::StampBaseOffset(*batch, base);
  return *std::move(batch);
}

// Concatenated batches, held by a shared_ptr like a fetch response's buffer.
struct Payload {
  std::shared_ptr<std::vector<std::byte>> bytes = std::make_shared<std::vector<std::byte>>();
  void Append(const std::vector<std::byte>& batch) {
    bytes->insert(bytes->end(), batch.begin(), batch.end());
  }
  std::span<const std::byte> span() const { return *bytes; }
  std::span<const std::byte> first(size_t n) const { return span().first(n); }
};

}  // namespace spool::testing
