// CRC-32C throughput per implementation: software (slicing-by-8), hardware single stream
// (crc32q), hardware three-lane (crc32q x3 + PCLMULQDQ join), and the dispatched Extend().
// Reported as bytes_per_second; the target for the hardware path is >= 5 GB/s.
#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/crc32c.h"

namespace {

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

std::vector<uint8_t> Buffer(size_t n) {
  std::mt19937_64 rng(42);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

void Run(benchmark::State& state, ExtendFn fn, bool needs_hardware) {
  if (needs_hardware && !spool::crc32c::HasHardware()) {
    state.SkipWithError("no SSE4.2 on this CPU");
    return;
  }
  const auto n = static_cast<size_t>(state.range(0));
  const std::vector<uint8_t> buf = Buffer(n);
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = fn(crc, buf.data(), buf.size());
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}

void BM_Crc32cSoftware(benchmark::State& state) {
  Run(state, &spool::crc32c::ExtendSoftware, false);
}
void BM_Crc32cHardwareSerial(benchmark::State& state) {
  Run(state, &spool::crc32c::ExtendHardwareSerial, true);
}
void BM_Crc32cHardware(benchmark::State& state) {
  Run(state, &spool::crc32c::ExtendHardware, true);
}
void BM_Crc32cExtend(benchmark::State& state) {
  Run(state, &spool::crc32c::Extend, false);
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {64, 512, 4 << 10, 64 << 10, 1 << 20}) b->Arg(n);
}

BENCHMARK(BM_Crc32cSoftware)->Apply(Sizes);
BENCHMARK(BM_Crc32cHardwareSerial)->Apply(Sizes);
BENCHMARK(BM_Crc32cHardware)->Apply(Sizes);
BENCHMARK(BM_Crc32cExtend)->Apply(Sizes);

}  // namespace

BENCHMARK_MAIN();
