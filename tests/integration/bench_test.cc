// `spool bench` end to end against a real spoold: a short run writes a JSON result with every
// documented field (bench/engine/result.h) and a verification that passed; a fixed-rate run never
// sends ahead of its schedule; the correctness check catches an acknowledged record that never
// arrives (injected through RunOptions::inject_lost_sequence: producer 0 marks one sequence
// acknowledged without sending it) and a record of another run; a workload file drives a run;
// `spool bench compare` reads two results.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/engine/runner.h"
#include "cli/commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/broker_process.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using nlohmann::json;
using spool::testing::BrokerProcess;
using spool::testing::BrokerProcessOptions;
using spool::testing::TempDir;
using ::testing::HasSubstr;

struct CliResult {
  int rc = 0;
  std::string out;
  std::string err;
};

class BenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto b = BrokerProcess::Start(BrokerProcessOptions{.data_dir = tmp_.file("data")});
    ASSERT_TRUE(b.ok()) << b.status();
    broker_ = *std::move(b);
    addr_ = broker_->address().ToString();
  }
  CliResult Spool(std::vector<std::string> words) {
    words.push_back("--bootstrap-server");
    words.push_back(addr_);
    std::istringstream in;
    std::ostringstream out, err;
    cli::CommandIo io{in, out, err};
    CliResult r;
    r.rc = cli::RunCli(words, io);
    r.out = out.str();
    r.err = err.str();
    return r;
  }
  static json ReadJson(const std::string& path) {
    std::ifstream in(path);
    return json::parse(in, nullptr, /*allow_exceptions=*/false);
  }

  TempDir tmp_;
  std::unique_ptr<BrokerProcess> broker_;
  std::string addr_;
};

void ExpectLatencyBlock(const json& l, const std::string& what) {
  for (const char* k : {"count", "min", "p50", "p90", "p99", "p99_9", "p99_99", "max", "mean"}) {
    EXPECT_TRUE(l.contains(k) && l[k].is_number()) << what << "." << k;
  }
}

TEST_F(BenchTest, JsonResultHasEveryFieldAndTheRunVerified) {
  const std::string out = tmp_.file("r.json");
  CliResult r = Spool({"bench", "-n", "30000", "-s", "200", "--partitions", "4", "--producers", "2",
                       "--consumers", "2", "--keys", "zipf:100", "--json", out});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  const json j = ReadJson(out);
  ASSERT_FALSE(j.is_discarded()) << "not JSON: " << out;
  EXPECT_EQ(j.value("format", ""), "spool-bench/1");
  for (const char* k : {"cores", "kernel", "io_backend", "build_type", "git_revision", "hostname",
                        "started_at", "bootstrap"}) {
    EXPECT_TRUE(j["environment"].contains(k)) << "environment." << k;
  }
  EXPECT_EQ(j["environment"]["bootstrap"], addr_);
  EXPECT_EQ(j["workload"]["num-records"], 30000);
  EXPECT_EQ(j["workload"]["partitions"], 4);
  EXPECT_EQ(j["workload"]["keys"], "zipf:100");
  const json& res = j["results"];
  for (const char* phase : {"produce", "consume"}) {
    for (const char* k : {"records", "bytes", "seconds", "records_per_s", "mb_per_s"}) {
      EXPECT_TRUE(res[phase].contains(k) && res[phase][k].is_number()) << phase << "." << k;
    }
  }
  EXPECT_EQ(res["produce"]["records"], 30000);
  EXPECT_EQ(res["produce"]["bytes"], 30000 * 200);
  EXPECT_EQ(res["produce"]["errors"], 0);
  EXPECT_TRUE(res["produce"]["errors_by_code"].is_object());
  EXPECT_EQ(res["consume"]["records"], 30000);
  ExpectLatencyBlock(res["publish_latency_ms"], "publish_latency_ms");
  ExpectLatencyBlock(res["end_to_end_latency_ms"], "end_to_end_latency_ms");
  EXPECT_EQ(res["publish_latency_ms"]["count"], 30000);
  EXPECT_EQ(res["end_to_end_latency_ms"]["count"], 30000);
  // Latencies are ordered and positive.
  const json& p = res["publish_latency_ms"];
  EXPECT_GT(p["min"].get<double>(), 0);
  EXPECT_LE(p["p50"].get<double>(), p["p99"].get<double>());
  EXPECT_LE(p["p99"].get<double>(), p["max"].get<double>());
  const json& v = res["verify"];
  EXPECT_EQ(v["checked"], true);
  EXPECT_EQ(v["ok"], true);
  EXPECT_EQ(v["expected"], 30000);
  EXPECT_EQ(v["received"], 30000);
  EXPECT_EQ(v["missing"], 0);
  EXPECT_EQ(v["duplicates"], 0);
  EXPECT_EQ(v["out_of_order"], 0);
  EXPECT_TRUE(j["timeline"].is_array());
  EXPECT_GE(j["timeline"].size(), 1u);
  EXPECT_TRUE(j["limits"].is_null());

  // compare: the same file against itself gives ratios of 1.
  CliResult c = Spool({"bench", "compare", out, out});
  ASSERT_EQ(c.rc, 0) << c.err;
  EXPECT_THAT(c.out, HasSubstr("1.00"));
}

TEST_F(BenchTest, WithLimitsMeasuresTheMachineAndPrintsRatios) {
  // bench/limits (fio, iperf3) on a small file, found from the build's source tree.
  const std::string out = tmp_.file("limits.json");
  CliResult r = Spool({"bench", "-n", "2000", "-s", "1024", "--partitions", "2", "--with-limits",
                       "--limits-dir", tmp_.path(), "--limits-size", "8m", "--json", out});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  const json j = ReadJson(out);
  ASSERT_TRUE(j["limits"].is_object()) << j.dump();
  EXPECT_GT(j["limits"].value("fsync_write_mb_s", 0.0), 0);
  EXPECT_GT(j["limits"].value("buffered_write_mb_s", 0.0), 0);
  ASSERT_TRUE(j["results"].contains("ratios"));
  const double ratio = j["results"]["ratios"].value("produce_mb_s_vs_fsync_write", 0.0);
  EXPECT_NEAR(ratio,
              j["results"]["produce"]["mb_per_s"].get<double>() /
                  j["limits"]["fsync_write_mb_s"].get<double>(),
              1e-6);
  EXPECT_THAT(r.out, HasSubstr("fsync"));  // the report prints the ratio beside its limit
}

TEST_F(BenchTest, FixedRateNeverRunsAheadOfItsSchedule) {
  const std::string out = tmp_.file("rate.json");
  CliResult r = Spool({"bench", "--rate", "4000", "--duration", "1500ms", "-s", "100",
                       "--partitions", "2", "--json", out});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  const json j = ReadJson(out);
  const double produced = j["results"]["produce"]["records"].get<double>();
  // 4000/s for 1.5 s is 6000 records due; none is sent before it is due, none due later.
  EXPECT_LE(produced, 6000);
  EXPECT_GE(produced, 1000);  // and it did run (generous: the machine may be loaded)
  EXPECT_EQ(j["results"]["verify"]["ok"], true);
}

TEST_F(BenchTest, VerificationCatchesAnAcknowledgedRecordThatNeverArrives) {
  bench::Workload w;
  ASSERT_TRUE(bench::SetKey(w, "num-records", "5000").ok());
  ASSERT_TRUE(bench::SetKey(w, "record-size", "64").ok());
  ASSERT_TRUE(bench::SetKey(w, "partitions", "2").ok());
  bench::RunOptions o;
  o.bootstrap = addr_;
  o.idle_timeout = std::chrono::milliseconds(1500);  // the lost record never comes
  o.inject_lost_sequence = 1234;
  StatusOr<bench::BenchResult> r = bench::RunWorkload(w, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->verify.ok());
  EXPECT_EQ(r->verify.missing, 1u);
  EXPECT_EQ(r->verify.expected, 5000u);
  EXPECT_EQ(r->verify.received, 4999u);
  EXPECT_EQ(r->verify.duplicates, 0u);
}

TEST_F(BenchTest, AnExistingTopicIsReadFromItsEndSoEarlierRecordsDoNotCount) {
  // The second run's consumers start at the partitions' ends, so the first run's records (same
  // stamp format, another run id) are never read: nothing foreign, exactly this run's records.
  CliResult c = Spool({"topic", "create", "shared", "--partitions", "2"});
  ASSERT_EQ(c.rc, 0) << c.err;
  CliResult before = Spool({"bench", "-t", "shared", "-n", "2000", "-s", "64"});
  ASSERT_EQ(before.rc, 0) << before.out << before.err;
  CliResult again = Spool({"bench", "-t", "shared", "-n", "2000", "-s", "64", "--json", "-"});
  ASSERT_EQ(again.rc, 0) << again.out << again.err;
  const json j = json::parse(again.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << again.out;
  EXPECT_EQ(j["results"]["verify"]["foreign"], 0);
  EXPECT_EQ(j["results"]["verify"]["received"], 2000);
}

TEST_F(BenchTest, WorkloadFileDrivesTheRunAndFlagsOverrideIt) {
  const std::string wl = tmp_.file("w.toml");
  {
    std::ofstream f(wl);
    f << "name = \"file\"\npartitions = 3\nnum-records = 1000\nrecord-size = \"uniform:40-400\"\n"
         "producers = 2\n";
  }
  const std::string out = tmp_.file("w.json");
  CliResult r = Spool({"bench", "--workload", wl, "-n", "2500", "--json", out});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  const json j = ReadJson(out);
  EXPECT_EQ(j["workload"]["name"], "file");
  EXPECT_EQ(j["workload"]["partitions"], 3);
  EXPECT_EQ(j["workload"]["num-records"], 2500);  // the flag wins
  EXPECT_EQ(j["results"]["verify"]["received"], 2500);
  const double bytes = j["results"]["produce"]["bytes"].get<double>();
  EXPECT_GE(bytes, 2500 * 40);
  EXPECT_LE(bytes, 2500 * 400);

  std::ofstream(tmp_.file("bad.toml")) << "partitons = 3\n";
  CliResult bad = Spool({"bench", "--workload", tmp_.file("bad.toml")});
  EXPECT_EQ(bad.rc, 2);
  EXPECT_THAT(bad.err, HasSubstr("bad.toml:1"));
  EXPECT_THAT(bad.err, HasSubstr("partitons"));
}

}  // namespace
}  // namespace spool
