// Helpers for tests of the partition log: random batches, reading a whole log back, and a
// bounded wait for a condition on the reactor (no sleeps as synchronisation: the wait polls a
// predicate between reactor turns and fails at its deadline).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/file_system.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"
#include "gtest/gtest.h"
#include "log/partition_log.h"
#include "tests/support/test_env.h"

namespace spool::testing {

inline const Status& StatusOf(const Status& s) {
  return s;
}
template <typename T>
const Status& StatusOf(const StatusOr<T>& s) {
  return s.status();
}

// The fixture of the partition log's tests: a reactor on the backend the environment selects, the
// real file system over it, a fresh partition directory and a manual clock.
class LogTest : public ::testing::Test {
 protected:
  LogTest();
  // Opens the log in dir_; a failure fails the test and yields nullptr.
  Task<std::unique_ptr<log::PartitionLog>> OpenLog(log::LogConfig config);

  TempDir tmp_;
  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::FileSystem> fs_;
  std::string dir_;
  ManualClock clock_;
};

// A sealed batch of 1..max_records records with random keys/values (value sizes up to
// max_value bytes), timestamps starting at `timestamp_ms`.
std::vector<std::byte> RandomBatch(std::mt19937_64& rng, int max_records, size_t max_value,
                                   int64_t timestamp_ms);

// Every batch from log_start_offset() to visible_end_offset(), as one byte string, read in
// chunks of `chunk` bytes.
Task<StatusOr<std::vector<std::byte>>> ReadWholeLog(log::PartitionLog& log, size_t chunk = 1 << 20);

// Byte ranges of the batches in `bytes` (a concatenation of whole batches): {position, size}.
std::vector<std::pair<size_t, size_t>> SplitBatches(std::span<const std::byte> bytes);

// Completes OK when pred() holds, checking between reactor turns; kDeadlineExceeded after
// `deadline`.
Task<Status> WaitFor(io::Reactor& reactor, std::function<bool()> pred,
                     std::chrono::milliseconds deadline = std::chrono::seconds(10));

}  // namespace spool::testing

// GoogleTest's ASSERT_* expand to `return`, which a coroutine cannot use. These fail the test and
// leave the coroutine instead.
#define CO_ASSERT_TRUE(cond)                               \
  do {                                                     \
    if (!(cond)) {                                         \
      ADD_FAILURE() << "CO_ASSERT_TRUE(" #cond ") failed"; \
      co_return;                                           \
    }                                                      \
  } while (0)
#define CO_ASSERT_OK(expr)                                                      \
  do {                                                                          \
    auto&& spool_result_ = (expr);                                              \
    if (!spool_result_.ok()) {                                                  \
      ADD_FAILURE() << #expr ": " << ::spool::testing::StatusOf(spool_result_); \
      co_return;                                                                \
    }                                                                           \
  } while (0)
