#include "tests/support/log_test_util.h"

#include <cstdlib>

#include "log/record/batch_builder.h"
#include "log/record/batch_header.h"

namespace spool::testing {

LogTest::LogTest()
    : reactor_(MakeReactor()), fs_(io::NewReactorFileSystem(*reactor_)), dir_(tmp_.file("p")) {}

Task<std::unique_ptr<log::PartitionLog>> LogTest::OpenLog(log::LogConfig config) {
  auto opened = co_await log::PartitionLog::Open(*fs_, clock_, dir_, config);
  EXPECT_TRUE(opened.ok()) << opened.status();
  if (!opened.ok()) co_return nullptr;
  co_return std::move(opened).value();
}

std::vector<std::byte> RandomBatch(std::mt19937_64& rng, int max_records, size_t max_value,
                                   int64_t timestamp_ms) {
  record::BatchBuilder builder;
  const int n = 1 + static_cast<int>(rng() % static_cast<uint64_t>(max_records));
  std::vector<std::byte> key(8);
  std::vector<std::byte> value;
  for (int i = 0; i < n; ++i) {
    for (auto& b : key) b = static_cast<std::byte>(rng());
    value.resize(rng() % (max_value + 1));
    for (auto& b : value) b = static_cast<std::byte>(rng());
    builder.Append(timestamp_ms + i, std::span<const std::byte>(key),
                   std::span<const std::byte>(value));
  }
  auto sealed = builder.Seal();
  if (!sealed.ok()) std::abort();  // the builder only fails on misuse
  return std::move(sealed).value();
}

Task<StatusOr<std::vector<std::byte>>> ReadWholeLog(log::PartitionLog& log, size_t chunk) {
  std::vector<std::byte> out;
  Offset next = log.log_start_offset();
  const Offset end = log.visible_end_offset();
  while (next < end) {
    CO_ASSIGN_OR_RETURN(log::ReadResult r, co_await log.read(next, chunk, end));
    if (r.slices.empty() || r.next_offset <= next) {
      co_return absl::InternalError("read made no progress");
    }
    CO_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, co_await log::PartitionLog::ReadAll(r));
    out.insert(out.end(), bytes.begin(), bytes.end());
    next = r.next_offset;
  }
  co_return out;
}

std::vector<std::pair<size_t, size_t>> SplitBatches(std::span<const std::byte> bytes) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    auto h = record::ParseHeader(bytes.subspan(pos));
    if (!h.ok() || pos + h->total_size() > bytes.size()) break;
    out.emplace_back(pos, h->total_size());
    pos += h->total_size();
  }
  return out;
}

Task<Status> WaitFor(io::Reactor& reactor, std::function<bool()> pred,
                     std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) {
      co_return absl::DeadlineExceededError("condition not reached before the deadline");
    }
    co_await reactor.sleep_for(std::chrono::microseconds(200));
  }
  co_return absl::OkStatus();
}

}  // namespace spool::testing
