// The benchmark's own overhead on its hot paths: Histogram::Record (called once per
// acknowledged and once per consumed record) and the stamp written into and read from every
// record's value. Reported as items_per_second.
#include <cstdint>
#include <random>
#include <vector>

#include "bench/engine/histogram.h"
#include "bench/engine/stamp.h"
#include "benchmark/benchmark.h"

namespace {

void BM_HistogramRecord(benchmark::State& state) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(13.0, 1.0);  // ~0.5 ms median, in ns
  std::vector<int64_t> values(1 << 16);
  for (auto& v : values) v = static_cast<int64_t>(latency(rng));
  spool::bench::Histogram h;
  size_t i = 0;
  for (auto _ : state) {
    h.Record(values[i++ & (values.size() - 1)]);
  }
  benchmark::DoNotOptimize(h.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramRecord);

void BM_HistogramP99(benchmark::State& state) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(13.0, 1.0);
  spool::bench::Histogram h;
  for (int i = 0; i < 1'000'000; i++) h.Record(static_cast<int64_t>(latency(rng)));
  for (auto _ : state) benchmark::DoNotOptimize(h.ValueAtQuantile(0.99));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramP99);

void BM_StampWriteRead(benchmark::State& state) {
  std::vector<std::byte> value(1024);
  uint64_t seq = 0;
  for (auto _ : state) {
    spool::bench::WriteStamp(value, {.run_id = 7, .producer = 1, .sequence = seq++, .send_ns = 5});
    benchmark::DoNotOptimize(spool::bench::ReadStamp(value));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StampWriteRead);

}  // namespace

BENCHMARK_MAIN();
