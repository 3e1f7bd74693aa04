// Helpers for tests of the record batch codec.
#pragma once

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_reader.h"

namespace spool::testing {

// Every record left in `reader`; a decoding error fails the test and ends the list.
inline std::vector<record::RecordView> ReadRecords(record::BatchReader& reader) {
  std::vector<record::RecordView> out;
  record::RecordView view;
  while (true) {
    StatusOr<bool> more = reader.Next(&view);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    out.push_back(view);
  }
  return out;
}

// A batch of `records` records ("k" -> "value") stamped with an idempotent producer's id, epoch
// and base sequence (-1, -1, -1: a plain producer's batch). A sealing error fails the test.
inline std::vector<std::byte> IdempotentBatch(int64_t pid, int16_t epoch, int32_t base_sequence,
                                              int records) {
  record::BatchBuilder builder(record::BuilderOptions{
      .producer_id = pid, .producer_epoch = epoch, .base_sequence = base_sequence});
  for (int i = 0; i < records; ++i) builder.Append(1'700'000'000'000 + i, "k", "value");
  StatusOr<std::vector<std::byte>> sealed = builder.Seal();
  EXPECT_TRUE(sealed.ok()) << sealed.status();
  return sealed.ok() ? *std::move(sealed) : std::vector<std::byte>{};
}

}  // namespace spool::testing
