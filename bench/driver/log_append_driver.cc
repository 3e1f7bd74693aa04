// log_append_driver: measures PartitionLog append throughput with durability, the figure
// bench/README.md compares with `fio --rw=write --bs=1M --fdatasync=1` on the same filesystem.
//
//   log_append_driver --dir DIR [--record-size 1024] [--batch-bytes 65536] [--total-mib 1024]
//                     [--inflight 16] [--flush group|interval] [--segment-mib 1024] [--json]
//                     [--verify]
//
// `inflight` appenders run concurrently on one reactor; each appends a sealed batch, waits until
// it is durable (wait_durable), and goes again, so group commit lets one fdatasync cover the
// batches of several appenders. The figure is bytes of batches made durable per second of wall
// time, from the first append to the last durable acknowledgement. With --verify the driver
// then reopens the closed log (a clean start: no scan) and reads every batch back, checking its
// CRC and that the offsets run without a gap.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/io/file_system.h"
#include "common/io/reactor.h"
#include "common/io/when_all.h"
#include "log/partition_log.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_header.h"

namespace spool {
namespace {

struct Flags {
  std::string dir;
  size_t record_size = 1024;
  size_t batch_bytes = 64 * 1024;
  uint64_t total_mib = 1024;
  int inflight = 16;
  bool interval = false;
  uint64_t segment_mib = 1024;
  bool json = false;
  bool verify = false;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "log_append_driver: %s\nusage: log_append_driver --dir DIR [--record-size N] "
               "[--batch-bytes N] [--total-mib N] [--inflight N] [--flush group|interval] "
               "[--segment-mib N] [--json] [--verify]\n",
               why);
  std::exit(2);
}

Flags Parse(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--dir") {
      f.dir = next();
    } else if (a == "--record-size") {
      f.record_size = std::stoul(next());
    } else if (a == "--batch-bytes") {
      f.batch_bytes = std::stoul(next());
    } else if (a == "--total-mib") {
      f.total_mib = std::stoull(next());
    } else if (a == "--inflight") {
      f.inflight = std::stoi(next());
    } else if (a == "--flush") {
      std::string p = next();
      if (p != "group" && p != "interval") Usage("--flush is group or interval");
      f.interval = p == "interval";
    } else if (a == "--segment-mib") {
      f.segment_mib = std::stoull(next());
    } else if (a == "--json") {
      f.json = true;
    } else if (a == "--verify") {
      f.verify = true;
    } else {
      Usage(("unknown flag " + a).c_str());
    }
  }
  if (f.dir.empty()) Usage("--dir is required");
  if (f.inflight < 1 || f.record_size == 0 || f.batch_bytes < f.record_size) Usage("bad sizes");
  return f;
}

StatusOr<std::vector<std::byte>> MakeBatch(const Flags& f) {
  std::mt19937_64 rng(42);
  std::vector<std::byte> value(f.record_size);
  for (auto& b : value) b = static_cast<std::byte>(rng());
  record::BatchBuilder builder;
  const int64_t now = SystemClock::Get().wall_ms();
  // Fill up to batch_bytes of record payload (the batch adds its headers on top).
  for (size_t payload = 0; payload + f.record_size <= f.batch_bytes; payload += f.record_size) {
    builder.Append(now, std::nullopt, std::span<const std::byte>(value));
  }
  return builder.Seal();
}

struct Run {
  uint64_t bytes = 0;
  uint64_t batches = 0;
  Status error;
};

Task<void> Appender(log::PartitionLog& plog, std::vector<std::byte> batch, uint64_t budget,
                    Run& run) {
  while (run.error.ok() && run.bytes < budget) {
    auto appended = co_await plog.append(batch);
    if (!appended.ok()) {
      run.error = appended.status();
      co_return;
    }
    if (Status st = co_await plog.wait_durable(appended->last_offset); !st.ok()) {
      run.error = st;
      co_return;
    }
    run.bytes += batch.size();
    run.batches += 1;
  }
}

// Reopens the log in `dir`, reads it end to end and checks every batch. Returns batches read.
Task<StatusOr<uint64_t>> Verify(io::FileSystem& fs, const std::string& dir,
                                const log::LogConfig& config) {
  CO_ASSIGN_OR_RETURN(auto plog,
                      co_await log::PartitionLog::Open(fs, SystemClock::Get(), dir, config));
  uint64_t batches = 0;
  Offset next = plog->log_start_offset();
  while (next < plog->log_end_offset()) {
    CO_ASSIGN_OR_RETURN(log::ReadResult r,
                        co_await plog->read(next, 4 << 20, plog->log_end_offset()));
    CO_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, co_await log::PartitionLog::ReadAll(r));
    std::span<const std::byte> rest(bytes);
    while (!rest.empty()) {
      CO_ASSIGN_OR_RETURN(record::BatchHeader h, record::VerifyBatch(rest));
      if (h.base_offset != next.value()) {
        co_return absl::DataLossError("offsets do not run without a gap");
      }
      next = Offset(h.last_offset() + 1);
      rest = rest.subspan(h.total_size());
      ++batches;
    }
  }
  CO_RETURN_IF_ERROR(co_await plog->close());
  co_return batches;
}

Task<int> Main(io::Reactor& reactor, const Flags& f) {
  auto fs = io::NewReactorFileSystem(reactor);
  log::LogConfig config;
  config.segment_bytes = f.segment_mib << 20;
  config.max_message_bytes = static_cast<uint32_t>(f.batch_bytes + (1 << 20));
  config.flush_policy = f.interval ? log::FlushPolicy::kInterval : log::FlushPolicy::kGroupCommit;
  const std::string dir = f.dir + "/bench-0";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (Status st = co_await io::CreateDirs(*fs, f.dir); !st.ok() && !absl::IsAlreadyExists(st)) {
    std::fprintf(stderr, "create %s: %s\n", f.dir.c_str(), st.ToString().c_str());
    co_return 1;
  }
  auto opened = co_await log::PartitionLog::Open(*fs, SystemClock::Get(), dir, config);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    co_return 1;
  }
  auto& plog = **opened;
  auto batch = MakeBatch(f);
  if (!batch.ok()) {
    std::fprintf(stderr, "batch: %s\n", batch.status().ToString().c_str());
    co_return 1;
  }
  const uint64_t budget = f.total_mib << 20;
  Run run;
  std::vector<Task<void>> appenders;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < f.inflight; ++i) appenders.push_back(Appender(plog, *batch, budget, run));
  co_await io::WhenAll(reactor, std::move(appenders));
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto stats = plog.stats();
  Status closed = co_await plog.close();
  if (!run.error.ok() || !closed.ok()) {
    std::fprintf(stderr, "failed: %s %s\n", run.error.ToString().c_str(),
                 closed.ToString().c_str());
    co_return 1;
  }
  const double mbps = static_cast<double>(run.bytes) / secs / 1e6;
  const double per_sync =
      stats.fdatasyncs ? static_cast<double>(run.batches) / static_cast<double>(stats.fdatasyncs)
                       : 0.0;
  if (f.json) {
    std::printf(
        "{\"bench\":\"log_append\",\"backend\":\"%s\",\"flush\":\"%s\",\"record_size\":%zu,"
        "\"batch_bytes\":%zu,\"inflight\":%d,\"bytes\":%llu,\"seconds\":%.3f,"
        "\"mb_per_s\":%.1f,\"fdatasyncs\":%llu,\"batches_per_sync\":%.2f}\n",
        std::string(io::BackendName(reactor.backend())).c_str(), f.interval ? "interval" : "group",
        f.record_size, batch->size(), f.inflight, static_cast<unsigned long long>(run.bytes), secs,
        mbps, static_cast<unsigned long long>(stats.fdatasyncs), per_sync);
  } else {
    std::printf(
        "log append (%s, %s flush, %zu B records in %zu B batches, %d in flight): %.1f MB/s, "
        "%llu fdatasyncs, %.2f batches per sync\n",
        std::string(io::BackendName(reactor.backend())).c_str(),
        f.interval ? "interval" : "group-commit", f.record_size, batch->size(), f.inflight, mbps,
        static_cast<unsigned long long>(stats.fdatasyncs), per_sync);
  }
  if (f.verify) {
    const auto verify_start = std::chrono::steady_clock::now();
    auto verified = co_await Verify(*fs, dir, config);
    if (!verified.ok() || *verified != run.batches) {
      std::fprintf(stderr, "verify failed: %s (%llu of %llu batches)\n",
                   verified.status().ToString().c_str(),
                   static_cast<unsigned long long>(verified.ok() ? *verified : 0),
                   static_cast<unsigned long long>(run.batches));
      co_return 1;
    }
    std::printf(
        "reopened and read back %llu batches, every CRC checked, in %.2f s\n",
        static_cast<unsigned long long>(*verified),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - verify_start).count());
  }
  std::filesystem::remove_all(dir, ec);
  co_return 0;
}

}  // namespace
}  // namespace spool

int main(int argc, char** argv) {
  spool::Flags flags = spool::Parse(argc, argv);
  auto reactor = spool::io::Reactor::Create();
  if (!reactor.ok()) {
    std::fprintf(stderr, "reactor: %s\n", reactor.status().ToString().c_str());
    return 1;
  }
  return (*reactor)->block_on(spool::Main(**reactor, flags));
}
