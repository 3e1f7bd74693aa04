// BenchResult: the JSON result format of result.h field by field, ParseLimits on bench/limits'
// output, result files, the human report, CompareResults, and DetectEnvironment.
#include "bench/engine/result.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "tests/support/test_env.h"

namespace spool::bench {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kLimitsOutput =
    R"({"limits":{"dir":"/tmp","fsync_write_mb_s":470.2,"buffered_write_mb_s":4000.1,)"
    R"("direct_write_mb_s":null,"loopback_mb_s":4394.0}})";

LatencySummary Latency(int64_t base_ns) {
  return LatencySummary{.count = 1000,
                        .min = base_ns / 10,
                        .p50 = base_ns,
                        .p90 = 2 * base_ns,
                        .p99 = 5 * base_ns,
                        .p999 = 10 * base_ns,
                        .p9999 = 20 * base_ns,
                        .max = 40 * base_ns,
                        .mean = 1.5 * static_cast<double>(base_ns)};
}

BenchResult Sample() {
  BenchResult r;
  r.workload.partitions = 4;
  r.workload.duration_ms = 30'000;
  r.workload.warmup_ms = 1'500;
  r.workload.seed = 7;
  r.environment = DetectEnvironment();
  r.environment.bootstrap = "127.0.0.1:9092";
  r.produce = RateFigures{.records = 1'000'000, .bytes = 1'024'000'000, .seconds = 2};
  r.produce_errors = 3;
  r.errors_by_code = {{"NOT_LEADER_OR_FOLLOWER", 3}};
  r.consume = RateFigures{.records = 1'000'000, .bytes = 1'024'000'000, .seconds = 4};
  r.publish_latency = Latency(1'234'567);  // 1.23 ms
  r.end_to_end_latency = Latency(51'234);  // 0.0512 ms
  r.verify = VerifyFigures{.checked = true, .expected = 1'000'000, .received = 1'000'000};
  r.timeline = {IntervalSample{.t_s = 1,
                               .produce_records_per_s = 500'000,
                               .produce_mb_per_s = 512,
                               .consume_records_per_s = 250'000,
                               .publish_p99_ms = 6.1,
                               .end_to_end_p99_ms = 0.3}};
  return r;
}

const json& At(const json& j, const std::string& path) {
  const json* node = &j;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('/', start);
    const std::string key = path.substr(start, dot - start);
    EXPECT_TRUE(node->is_object() && node->contains(key)) << "missing " << path;
    if (!node->is_object() || !node->contains(key)) {
      static const json kNull;
      return kNull;
    }
    node = &(*node)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *node;
}

TEST(ResultJsonTest, EveryDocumentedFieldWithItsType) {
  BenchResult r = Sample();
  r.limits = *ParseLimits(kLimitsOutput);
  const json j = ToJson(r);
  EXPECT_EQ(At(j, "format"), "spool-bench/1");
  for (std::string_view key : WorkloadKeys()) {
    EXPECT_TRUE(At(j, "workload").contains(std::string(key))) << key;
  }
  EXPECT_EQ(At(j, "workload").size(), WorkloadKeys().size());
  for (const char* key : {"kernel", "io_backend", "build_type", "git_revision", "hostname",
                          "started_at", "bootstrap"}) {
    EXPECT_TRUE(At(j, std::string("environment/") + key).is_string()) << key;
  }
  EXPECT_TRUE(At(j, "environment/cores").is_number_integer());
  EXPECT_EQ(At(j, "environment/bootstrap"), "127.0.0.1:9092");
  EXPECT_DOUBLE_EQ(At(j, "limits/fsync_write_mb_s").get<double>(), 470.2);
  EXPECT_FALSE(At(j, "limits").contains("direct_write_mb_s"));  // null in bench/limits: absent
  for (const char* side : {"produce", "consume"}) {
    const std::string p = std::string("results/") + side + "/";
    EXPECT_TRUE(At(j, p + "records").is_number_unsigned()) << side;
    EXPECT_TRUE(At(j, p + "bytes").is_number_unsigned()) << side;
    EXPECT_TRUE(At(j, p + "seconds").is_number()) << side;
    EXPECT_TRUE(At(j, p + "records_per_s").is_number()) << side;
    EXPECT_TRUE(At(j, p + "mb_per_s").is_number()) << side;
  }
  EXPECT_DOUBLE_EQ(At(j, "results/produce/records_per_s").get<double>(), 500'000);
  EXPECT_DOUBLE_EQ(At(j, "results/produce/mb_per_s").get<double>(), 512);
  EXPECT_DOUBLE_EQ(At(j, "results/consume/mb_per_s").get<double>(), 256);
  EXPECT_EQ(At(j, "results/produce/errors"), 3);
  EXPECT_EQ(At(j, "results/produce/errors_by_code/NOT_LEADER_OR_FOLLOWER"), 3);
  for (const char* which : {"publish_latency_ms", "end_to_end_latency_ms"}) {
    const std::string p = std::string("results/") + which + "/";
    EXPECT_TRUE(At(j, p + "count").is_number_unsigned()) << which;
    for (const char* f : {"min", "p50", "p90", "p99", "p99_9", "p99_99", "max", "mean"}) {
      EXPECT_TRUE(At(j, p + f).is_number_float()) << which << "." << f;
    }
  }
  EXPECT_DOUBLE_EQ(At(j, "results/publish_latency_ms/p50").get<double>(), 1.234567);
  EXPECT_DOUBLE_EQ(At(j, "results/publish_latency_ms/p99_99").get<double>(), 20 * 1.234567);
  EXPECT_DOUBLE_EQ(At(j, "results/end_to_end_latency_ms/mean").get<double>(), 1.5 * 0.051234);
  EXPECT_EQ(At(j, "results/verify/checked"), true);
  EXPECT_EQ(At(j, "results/verify/ok"), true);
  for (const char* f :
       {"expected", "received", "missing", "duplicates", "out_of_order", "foreign"}) {
    EXPECT_TRUE(At(j, std::string("results/verify/") + f).is_number_unsigned()) << f;
  }
  EXPECT_NEAR(At(j, "results/ratios/produce_mb_s_vs_fsync_write").get<double>(), 512 / 470.2,
              1e-12);
  EXPECT_NEAR(At(j, "results/ratios/consume_mb_s_vs_loopback").get<double>(), 256 / 4394.0, 1e-12);
  ASSERT_TRUE(At(j, "timeline").is_array());
  ASSERT_EQ(At(j, "timeline").size(), 1u);
  for (const char* f : {"t_s", "produce_records_per_s", "produce_mb_per_s", "consume_records_per_s",
                        "publish_p99_ms", "end_to_end_p99_ms"}) {
    EXPECT_TRUE(At(j, "timeline")[0].contains(f)) << f;
    EXPECT_TRUE(At(j, "timeline")[0][f].is_number()) << f;
  }
}

TEST(ResultJsonTest, WithoutLimitsTheyAreNullAndRatiosAbsent) {
  const json j = ToJson(Sample());
  EXPECT_TRUE(At(j, "limits").is_null());
  EXPECT_FALSE(At(j, "results").contains("ratios"));
  BenchResult r = Sample();
  r.limits = Limits{.figures = {{"fsync_write_mb_s", 400}}};  // no loopback figure
  const json k = ToJson(r);
  EXPECT_TRUE(At(k, "results/ratios/consume_mb_s_vs_loopback").is_null());
  EXPECT_DOUBLE_EQ(At(k, "results/ratios/produce_mb_s_vs_fsync_write").get<double>(), 1.28);
}

TEST(ResultJsonTest, FailedVerifyIsNotOk) {
  BenchResult r = Sample();
  r.verify.missing = 1;
  r.verify.received = 999'999;
  EXPECT_EQ(At(ToJson(r), "results/verify/ok"), false);
  r.verify = VerifyFigures{};  // produce-only: nothing checked, nothing failed
  EXPECT_EQ(At(ToJson(r), "results/verify/checked"), false);
  EXPECT_EQ(At(ToJson(r), "results/verify/ok"), true);
}

TEST(ResultJsonTest, WorkloadValuesReadBackThroughSetKey) {
  BenchResult r = Sample();
  r.workload.record_size = *SizeDistribution::Parse("normal:1000,100");
  r.workload.keys = *KeyDistribution::Parse("zipf:100:1.3");
  r.workload.group = "g";
  r.workload.rate = 12'345.5;
  r.workload.backlog_bytes = 1 << 20;
  const json j = At(ToJson(r), "workload");
  Workload back;
  for (std::string_view key : WorkloadKeys()) {
    const json& v = j[std::string(key)];
    if (v.is_null()) continue;
    const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
    ASSERT_TRUE(SetKey(back, key, text).ok()) << key << " = " << text;
  }
  BenchResult again = Sample();
  again.workload = back;
  EXPECT_EQ(At(ToJson(again), "workload"), j);
  EXPECT_EQ(j["duration"], "30s");
  EXPECT_EQ(j["warmup"], "1500ms");
  r.workload.backlog_bytes = kBacklogAll;
  EXPECT_EQ(At(ToJson(r), "workload/backlog"), "all");
}

TEST(LimitsTest, ParsesBenchLimitsOutput) {
  auto limits = ParseLimits(kLimitsOutput);
  ASSERT_TRUE(limits.ok()) << limits.status();
  EXPECT_EQ(limits->figures.size(), 3u);
  EXPECT_DOUBLE_EQ(limits->figures.at("fsync_write_mb_s"), 470.2);
  EXPECT_DOUBLE_EQ(limits->figures.at("buffered_write_mb_s"), 4000.1);
  EXPECT_DOUBLE_EQ(limits->figures.at("loopback_mb_s"), 4394.0);
  EXPECT_EQ(limits->figures.count("direct_write_mb_s"), 0u);
  EXPECT_EQ(limits->figures.count("dir"), 0u);
  EXPECT_TRUE(ParseLimits(std::string(kLimitsOutput) + "\n").ok());
}

TEST(LimitsTest, RejectsOtherForms) {
  for (std::string_view text : {"", "not json", "{}", "[1]", R"({"limits":5})",
                                R"({"limits":{"fsync_write_mb_s":"fast"}})"}) {
    auto limits = ParseLimits(text);
    ASSERT_FALSE(limits.ok()) << text;
    EXPECT_EQ(limits.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ResultFileTest, WriteThenRead) {
  testing::TempDir dir;
  const std::string path = dir.file("r.json");
  const BenchResult r = Sample();
  ASSERT_TRUE(WriteResultFile(r, path).ok());
  auto j = ReadResultFile(path);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, ToJson(r));
  EXPECT_EQ((*j)["results"]["produce"]["records"], 1'000'000);
  auto bad_dir = WriteResultFile(Sample(), dir.file("no/such/dir/r.json"));
  EXPECT_EQ(bad_dir.code(), absl::StatusCode::kNotFound);
}

TEST(ResultFileTest, ReadErrorsNameTheFile) {
  testing::TempDir dir;
  const std::string garbage = dir.file("garbage.json");
  std::ofstream(garbage) << "{ not json";
  auto a = ReadResultFile(garbage);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr(garbage));
  const std::string other = dir.file("other.json");
  std::ofstream(other) << R"({"format": "something-else/2"})";
  auto b = ReadResultFile(other);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()), HasSubstr(other));
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("spool-bench/1"));
  auto c = ReadResultFile(dir.file("missing.json"));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
}

TEST(ReportTest, PrintsRatesLatenciesErrorsAndVerification) {
  BenchResult r = Sample();
  r.limits = *ParseLimits(kLimitsOutput);
  std::ostringstream out;
  PrintReport(r, out);
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("1,000,000"));
  EXPECT_THAT(text, HasSubstr("500,000"));
  EXPECT_THAT(text, HasSubstr("512.0"));
  EXPECT_THAT(text, HasSubstr("1.09x of fsync'd write"));  // 512 / 470.2
  EXPECT_THAT(text, HasSubstr("p99.99"));
  // 3 significant digits in ms: 1.234567 ms -> 1.23, 0.051234 ms -> 0.0512, 24.69 -> 24.7.
  EXPECT_THAT(text, HasSubstr(" 1.23 "));
  EXPECT_THAT(text, HasSubstr(" 0.0512 "));
  EXPECT_THAT(text, HasSubstr(" 24.7 "));
  EXPECT_THAT(text, HasSubstr("NOT_LEADER_OR_FOLLOWER 3"));
  EXPECT_THAT(text, HasSubstr("verify: ok"));
  EXPECT_THAT(text, HasSubstr("limits (MB/s): buffered write 4000.1, fsync'd write 470.2"));
  // The latency rows line up under their header.
  std::istringstream lines(text);
  std::string line, header, publish;
  while (std::getline(lines, line)) {
    if (line.find("latency ms") != std::string::npos) header = line;
    if (line.find("  publish") == 0) publish = line;
  }
  ASSERT_FALSE(header.empty());
  ASSERT_FALSE(publish.empty());
  EXPECT_EQ(header.size(), publish.size());
  EXPECT_EQ(header.find("mean") + 4, header.size());

  r.verify.missing = 2;
  std::ostringstream failed;
  PrintReport(r, failed);
  EXPECT_THAT(failed.str(), HasSubstr("verify: FAILED"));
  EXPECT_THAT(failed.str(), HasSubstr("2 missing"));
  EXPECT_THAT(failed.str(), Not(HasSubstr("verify: ok")));
}

TEST(CompareTest, RatiosAndMarks) {
  BenchResult a = Sample(), b = Sample();
  b.workload.partitions = 32;
  b.produce.bytes = a.produce.bytes * 3 / 2;          // mb/s 1.5x: better
  b.publish_latency.p99 = a.publish_latency.p99 * 2;  // latency 2x: worse
  b.produce_errors = 0;                               // fewer errors: better
  const std::string table = CompareResults(ToJson(a), ToJson(b));
  std::istringstream lines(table);
  std::string first;
  std::getline(lines, first);
  EXPECT_EQ(first, "workload differs: partitions 4 -> 32");
  auto row = [&](const std::string& figure) {
    std::istringstream in(table);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(figure + " ", 0) == 0) return line;
    }
    return std::string("(no row for ") + figure + ")";
  };
  EXPECT_THAT(row("produce.mb_per_s"), HasSubstr("1.500  better"));
  EXPECT_THAT(row("produce.records_per_s"), HasSubstr("1.000  same"));
  EXPECT_THAT(row("publish_latency_ms.p99"), HasSubstr("2.000  worse"));
  EXPECT_THAT(row("publish_latency_ms.p50"), HasSubstr("same"));
  EXPECT_THAT(row("produce.errors"), HasSubstr("0.000  better"));
  EXPECT_THAT(row("produce.bytes"), Not(HasSubstr("better")));  // a count, not a figure of merit
  EXPECT_THAT(row("produce.bytes"), HasSubstr("1.500"));
  EXPECT_THAT(row("verify.ok"), HasSubstr("same"));
  EXPECT_THAT(table, Not(HasSubstr("limits.")));  // neither has limits

  a.limits = Limits{.figures = {{"fsync_write_mb_s", 400}}};
  b.limits = Limits{.figures = {{"fsync_write_mb_s", 200}, {"loopback_mb_s", 1000}}};
  const std::string with_limits = CompareResults(ToJson(a), ToJson(b));
  EXPECT_THAT(with_limits, HasSubstr("limits.fsync_write_mb_s"));
  EXPECT_THAT(with_limits, Not(HasSubstr("limits.loopback_mb_s")));  // only in B
  EXPECT_THAT(with_limits, HasSubstr("ratios.produce_mb_s_vs_fsync_write"));
}

TEST(EnvironmentTest, DetectsThisMachineAndBuild) {
  unsetenv("SPOOL_IO_BACKEND");
  Environment e = DetectEnvironment();
  EXPECT_GE(e.cores, 1);
  EXPECT_FALSE(e.kernel.empty());
  EXPECT_EQ(e.io_backend, "uring");
  EXPECT_FALSE(e.build_type.empty());
  EXPECT_FALSE(e.git_revision.empty());
  EXPECT_FALSE(e.hostname.empty());
  EXPECT_TRUE(std::regex_match(e.started_at, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << e.started_at;
  EXPECT_TRUE(e.bootstrap.empty());
  setenv("SPOOL_IO_BACKEND", "posix", 1);
  EXPECT_EQ(DetectEnvironment().io_backend, "posix");
  unsetenv("SPOOL_IO_BACKEND");
}

}  // namespace
}  // namespace spool::bench
