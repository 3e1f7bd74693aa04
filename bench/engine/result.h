// BenchResult: every figure of one `spool bench` run, its workload and its environment, and the
// three ways out: the human report, the JSON result file (--json FILE), and `spool bench
// compare A.json B.json`.
//
// JSON result format (version 1; kept true by tests/unit/bench/result_test.cc):
//   { "format": "spool-bench/1",
//     "workload": { every Workload key (WorkloadKeys()) with a value SetKey() reads back:
//                   distributions as specs, duration and warmup as "30s" / "1500ms", backlog
//                   as bytes or "all", other numbers as numbers, unset optionals (topic,
//                   group, ...) as null },
//     "environment": { "cores", "kernel", "io_backend", "build_type", "git_revision",
//                      "hostname", "started_at" (UTC, ISO 8601), "bootstrap" },
//     "limits": { "fsync_write_mb_s", "buffered_write_mb_s", "direct_write_mb_s",
//                 "loopback_mb_s" } or null  (bench/limits' figures, --with-limits; a figure
//                 bench/limits could not measure is absent),
//     "results": {
//       "produce": { "records", "bytes", "seconds", "records_per_s", "mb_per_s", "errors",
//                    "errors_by_code": { "NOT_LEADER_OR_FOLLOWER": 3, ... } },
//       "consume": { "records", "bytes", "seconds", "records_per_s", "mb_per_s" },
//       "publish_latency_ms":    { "count", "min", "p50", "p90", "p99", "p99_9", "p99_99",
//                                  "max", "mean" },
//       "end_to_end_latency_ms": { the same },
//       "verify": { "checked", "ok", "expected", "received", "missing", "duplicates",
//                   "out_of_order", "foreign" },
//       "ratios": { "produce_mb_s_vs_fsync_write", "consume_mb_s_vs_loopback" }
//                 (only with limits; a ratio whose limit is absent is null)
//     },
//     "timeline": [ { "t_s", "produce_records_per_s", "produce_mb_per_s",
//                     "consume_records_per_s", "publish_p99_ms", "end_to_end_p99_ms" }, ... ] }
// MB are 10^6 bytes; latencies are milliseconds (doubles) in JSON, nanoseconds in the structs.
// Only the measured part of the run counts (after the warm-up).
//
// Pure value types; no threads. ReadResultFile/WriteResultFile do file I/O.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench/engine/histogram.h"
#include "bench/engine/workload.h"
#include "common/status.h"
#include "nlohmann/json_fwd.hpp"

namespace spool::bench {

struct RateFigures {
  uint64_t records = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double records_per_s() const { return seconds > 0 ? records / seconds : 0; }
  double mb_per_s() const { return seconds > 0 ? bytes / seconds / 1e6 : 0; }
};

struct VerifyFigures {
  bool checked = false;  // false when nothing was consumed (produce-only)
  uint64_t expected = 0;
  uint64_t received = 0;  // distinct records that arrived
  uint64_t missing = 0;
  uint64_t duplicates = 0;
  uint64_t out_of_order = 0;
  uint64_t foreign = 0;  // records without a valid stamp of this run
  bool ok() const {
    return !checked || (missing == 0 && duplicates == 0 && out_of_order == 0 && foreign == 0);
  }
};

struct IntervalSample {
  double t_s = 0;  // seconds since the start of the run
  double produce_records_per_s = 0;
  double produce_mb_per_s = 0;
  double consume_records_per_s = 0;
  double publish_p99_ms = 0;
  double end_to_end_p99_ms = 0;
};

struct Environment {
  int cores = 0;
  std::string kernel;      // uname -r
  std::string io_backend;  // $SPOOL_IO_BACKEND, else "uring" (the broker's default)
  std::string build_type;  // CMAKE_BUILD_TYPE of this binary
  std::string git_revision;
  std::string hostname;
  std::string started_at;  // UTC, ISO 8601
  std::string bootstrap;
};

// Fills everything but bootstrap from this process and machine.
Environment DetectEnvironment();

// The machine limits bench/limits measured (MB/s); absent figures are missing from the map.
struct Limits {
  std::map<std::string, double> figures;  // "fsync_write_mb_s" -> 470.2, ...
};
// Parses bench/limits' output ({"limits":{...}}); kInvalidArgument when it is not that form.
[[nodiscard]] StatusOr<Limits> ParseLimits(std::string_view json_text);

struct BenchResult {
  Workload workload;
  Environment environment;
  std::optional<Limits> limits;
  RateFigures produce;
  uint64_t produce_errors = 0;
  std::map<std::string, uint64_t> errors_by_code;  // ErrorName -> count
  RateFigures consume;
  LatencySummary publish_latency;
  LatencySummary end_to_end_latency;
  VerifyFigures verify;
  std::vector<IntervalSample> timeline;
};

nlohmann::json ToJson(const BenchResult& result);
// The human report: rates, latency table (p50 ... max in ms), errors, verification, and each
// rate as a ratio of its limit when limits are present.
void PrintReport(const BenchResult& result, std::ostream& out);

[[nodiscard]] Status WriteResultFile(const BenchResult& result, const std::string& path);
// Reads a result file; kInvalidArgument naming the file when it is not JSON or lacks "format":
// "spool-bench/1".
[[nodiscard]] StatusOr<nlohmann::json> ReadResultFile(const std::string& path);

// `spool bench compare`: a table of every figure under "results" (and "limits") present in both,
// with B / A and whether that is better or worse (higher rates are better, lower latencies and
// error counts are better), preceded by the workload keys that differ.
std::string CompareResults(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace spool::bench
