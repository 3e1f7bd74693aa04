// Helpers for tests of the record batch codec.
#pragma once

#include <vector>

#include "gtest/gtest.h"
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

}  // namespace spool::testing
