// RecordBatch codec throughput: building (Append + Seal) and reading (Open, which checks the
// CRC and decompresses, + Next over every record) ~64 KiB batches of 100 B and 1 KiB records,
// per codec. items_per_second is records/s; bytes_per_second counts record values.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_reader.h"
#include "log/record/compression.h"

namespace {

using spool::record::BatchBuilder;
using spool::record::BatchReader;
using spool::record::BuilderOptions;
using spool::record::Compression;
using spool::record::RecordView;

constexpr size_t kBatchBytes = 64 << 10;
constexpr size_t kKeyBytes = 16;

// Values that compress somewhat, like real payloads: words from a small vocabulary.
std::vector<std::string> Values(size_t value_bytes, size_t count) {
  static const char* const kWords[] = {"spool ",  "kafka ", "record ", "batch ",     "offset ",
                                       "leader ", "epoch ", "42 ",     "partition ", "segment "};
  std::mt19937_64 rng(7);
  std::vector<std::string> out(count);
  for (std::string& v : out) {
    while (v.size() < value_bytes) v += kWords[rng() % 10];
    v.resize(value_bytes);
  }
  return out;
}

size_t RecordsPerBatch(size_t value_bytes) {
  return kBatchBytes / (value_bytes + kKeyBytes + 8);
}

void BM_Build(benchmark::State& state) {
  const auto value_bytes = static_cast<size_t>(state.range(0));
  const auto codec = static_cast<Compression>(state.range(1));
  const size_t n = RecordsPerBatch(value_bytes);
  const std::vector<std::string> values = Values(value_bytes, n);
  const std::string key(kKeyBytes, 'k');
  BuilderOptions opts;
  opts.compression = codec;
  BatchBuilder builder(opts);
  size_t batch_bytes = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < n; ++i) builder.Append(1'700'000'000'000 + i, key, values[i]);
    auto batch = builder.Seal();
    if (!batch.ok()) {
      state.SkipWithError(std::string(batch.status().message()).c_str());
      return;
    }
    batch_bytes = batch->size();
    benchmark::DoNotOptimize(batch->data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n * value_bytes));
  state.counters["batch_bytes"] = static_cast<double>(batch_bytes);
  state.SetLabel(std::string(spool::record::CompressionName(codec)));
}

void BM_Read(benchmark::State& state) {
  const auto value_bytes = static_cast<size_t>(state.range(0));
  const auto codec = static_cast<Compression>(state.range(1));
  const size_t n = RecordsPerBatch(value_bytes);
  const std::vector<std::string> values = Values(value_bytes, n);
  BuilderOptions opts;
  opts.compression = codec;
  BatchBuilder builder(opts);
  for (size_t i = 0; i < n; ++i)
    builder.Append(1'700'000'000'000 + i, std::string(16, 'k'), values[i]);
  auto batch = builder.Seal();
  if (!batch.ok()) {
    state.SkipWithError(std::string(batch.status().message()).c_str());
    return;
  }
  for (auto _ : state) {
    auto reader = BatchReader::Open(*batch);
    if (!reader.ok()) {
      state.SkipWithError(std::string(reader.status().message()).c_str());
      return;
    }
    RecordView record;
    size_t bytes = 0;
    while (true) {
      auto more = reader->Next(&record);
      if (!more.ok() || !*more) break;
      bytes += record.value->size();
    }
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n * value_bytes));
  state.counters["batch_bytes"] = static_cast<double>(batch->size());
  state.SetLabel(std::string(spool::record::CompressionName(codec)));
}

void Args(benchmark::internal::Benchmark* b) {
  for (int64_t value : {100, 1024}) {
    for (Compression c : {Compression::kNone, Compression::kLz4, Compression::kZstd}) {
      b->Args({value, static_cast<int64_t>(c)});
    }
  }
  b->ArgNames({"value_bytes", "codec"});
}

BENCHMARK(BM_Build)->Apply(Args);
BENCHMARK(BM_Read)->Apply(Args);

}  // namespace

BENCHMARK_MAIN();
