// spool bench: the benchmark (bench/engine) from the command line, and `spool bench compare`.
//
//   spool bench [--workload FILE] [workload flags] [--json FILE] [--with-limits] ...
//   spool bench compare A.json B.json
//
// Every workload key (bench/engine/workload.h) is a flag; flags override the workload file.
// Progress lines go to stderr every --progress-ms (not with --quiet or --json); the report goes
// to stdout (to stderr when the JSON goes to stdout: --json -). Exit 1 when the verification
// fails or records failed to send, 2 on a usage error.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "bench/engine/result.h"
#include "bench/engine/runner.h"
#include "bench/engine/workload.h"
#include "cli/commands.h"
#include "nlohmann/json.hpp"

namespace spool::cli {
namespace {

// Workload keys as flags: the flag spelling of a Kafka key turns dots into dashes.
struct KeyFlag {
  const char* key;
  const char* flag;
  char short_name;
  const char* value_name;
  const char* help;
};
constexpr std::array<KeyFlag, 20> kKeyFlags = {{
    {"name", "name", 0, "LABEL", "a label for the report"},
    {"topic", "topic", 't', "NAME", "an existing topic (default: new topics, deleted after)"},
    {"topics", "topics", 0, "N", "new topics"},
    {"partitions", "partitions", 'p', "N", "partitions per new topic"},
    {"producers", "producers", 0, "N", "producer instances (threads)"},
    {"consumers", "consumers", 0, "N", "consumer instances (0: produce only)"},
    {"group", "group", 'g', "ID", "consume through a consumer group"},
    {"record-size", "record-size", 's', "SPEC", "bytes: N, uniform:MIN-MAX, normal:MEAN,SD"},
    {"keys", "keys", 'k', "SPEC", "none, random:N, zipf:N[:S], sequential:N"},
    {"rate", "rate", 'r', "REC/S", "target records/s over all producers (0: max)"},
    {"num-records", "num-records", 'n', "N", "records to produce"},
    {"duration", "duration", 'd', "TIME", "produce for this long (30s, 2m)"},
    {"warmup", "warmup", 0, "TIME", "unmeasured time at the start"},
    {"backlog", "backlog", 0, "BYTES", "produce this much before consumers start (1GiB, all)"},
    {"acks", "acks", 'a', "-1|0|1", "acks"},
    {"linger.ms", "linger-ms", 0, "MS", "linger.ms"},
    {"batch.size", "batch-size", 0, "BYTES", "batch.size"},
    {"compression.type", "compression", 0, "none|lz4|zstd", "compression.type"},
    {"buffer.memory", "buffer-memory", 0, "BYTES", "buffer.memory"},
    {"seed", "seed", 0, "N", "random seed (sizes, keys)"},
}};

std::string FindLimitsScript() {
  if (const char* env = std::getenv("SPOOL_LIMITS"); env != nullptr && *env != 0) return env;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path installed = exe.parent_path() / "../share/spool/limits";
    if (std::filesystem::exists(installed, ec)) return installed.string();
  }
  return SPOOL_SOURCE_DIR "/bench/limits";
}

StatusOr<bench::Limits> MeasureLimits(const std::string& dir, const std::string& size,
                                      std::ostream& err) {
  const std::string script = FindLimitsScript();
  const std::string cmd = absl::StrCat("'", script, "' '", dir, "' '", size, "'");
  err << "measuring the machine's limits on " << dir << " (" << script << ") ...\n";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return ErrnoStatus(errno, absl::StrCat("cannot run ", script));
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
  const int rc = ::pclose(f);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat(script, " failed (status ", rc, ")"));
  }
  return bench::ParseLimits(out);
}

StatusOr<bench::Limits> ReadLimitsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return bench::ParseLimits(text.str());
}

int Bench(const Args& args, CommandIo& io) {
  if (!args.positional().empty()) {
    io.err << "spool bench: unexpected argument '" << args.positional()[0]
           << "' (did you mean spool bench compare?)\n";
    return 2;
  }
  StatusOr<bench::Workload> w = bench::Workload{};
  // A workload that does not parse or does not make sense is a usage error (exit 2).
  auto usage = [&io](absl::string_view message) {
    io.err << "spool bench: " << message << "\n";
    return 2;
  };
  if (std::optional<std::string> file = args.get("workload")) w = bench::LoadWorkloadFile(*file);
  if (!w.ok()) return usage(w.status().message());
  for (const KeyFlag& k : kKeyFlags) {
    if (std::optional<std::string> v = args.get(k.flag)) {
      if (Status st = bench::SetKey(*w, k.key, *v); !st.ok()) return usage(st.message());
    }
  }
  if (args.has("produce-only")) w->consumers = 0;
  if (Status st = bench::Validate(*w); !st.ok()) return usage(st.message());

  StatusOr<int64_t> progress = args.get_int("progress-ms", 1000);
  if (!progress.ok()) return Fail(io, progress.status().message());
  const std::optional<std::string> json = args.get("json");
  const bool json_stdout = json && *json == "-";
  std::ostream& report = json_stdout ? io.err : io.out;

  bench::RunOptions o;
  o.bootstrap = Bootstrap(args);
  o.progress_interval = std::chrono::milliseconds(std::max<int64_t>(*progress, 50));
  if (!args.has("quiet") && !json) o.progress = &io.err;
  if (std::optional<std::string> lf = args.get("limits-file")) {
    StatusOr<bench::Limits> limits = ReadLimitsFile(*lf);
    if (!limits.ok()) return Fail(io, limits.status().message());
    o.limits = *limits;
  } else if (args.has("with-limits")) {
    const char* tmp = std::getenv("TMPDIR");
    StatusOr<bench::Limits> limits =
        MeasureLimits(args.get_or("limits-dir", tmp != nullptr ? tmp : "/tmp"),
                      args.get_or("limits-size", "1g"), io.err);
    if (!limits.ok()) return Fail(io, limits.status().message());
    o.limits = *limits;
  }

  StatusOr<bench::BenchResult> r = bench::RunWorkload(*w, o);
  if (!r.ok()) return Fail(io, r.status().message());
  bench::PrintReport(*r, report);
  if (json_stdout) {
    io.out << bench::ToJson(*r).dump(2) << "\n";
  } else if (json) {
    if (Status st = bench::WriteResultFile(*r, *json); !st.ok()) return Fail(io, st.message());
  }
  if (!r->verify.ok()) {
    return Fail(io, absl::StrCat("verification FAILED: ", r->verify.missing, " missing, ",
                                 r->verify.duplicates, " duplicates, ", r->verify.out_of_order,
                                 " out of order, ", r->verify.foreign, " foreign"));
  }
  if (r->produce_errors > 0) {
    return Fail(io, absl::StrCat(r->produce_errors, " records failed to send"));
  }
  return 0;
}

int Compare(const Args& args, CommandIo& io) {
  if (args.positional().size() != 2) {
    io.err << "spool bench compare: give two result files (spool bench --json FILE)\n";
    return 2;
  }
  StatusOr<nlohmann::json> a = bench::ReadResultFile(args.positional()[0]);
  if (!a.ok()) return Fail(io, a.status().message());
  StatusOr<nlohmann::json> b = bench::ReadResultFile(args.positional()[1]);
  if (!b.ok()) return Fail(io, b.status().message());
  io.out << bench::CompareResults(*a, *b);
  return 0;
}

std::vector<FlagSpec> BenchFlags() {
  std::vector<FlagSpec> flags;
  flags.push_back({.name = "workload",
                   .short_name = 'w',
                   .value_name = "FILE",
                   .help = "a TOML workload file (flags override it)"});
  for (const KeyFlag& k : kKeyFlags) {
    flags.push_back(
        {.name = k.flag, .short_name = k.short_name, .value_name = k.value_name, .help = k.help});
  }
  flags.push_back({.name = "produce-only", .takes_value = false, .help = "same as --consumers 0"});
  flags.push_back(
      {.name = "json", .value_name = "FILE", .help = "write the result as JSON (- for stdout)"});
  flags.push_back({.name = "with-limits",
                   .takes_value = false,
                   .help = "measure the machine's limits first (bench/limits) and print ratios"});
  flags.push_back({.name = "limits-dir",
                   .value_name = "DIR",
                   .help = "filesystem for the limits (the broker's data dir's)",
                   .default_value = "$TMPDIR or /tmp"});
  flags.push_back({.name = "limits-size",
                   .value_name = "SIZE",
                   .help = "fio file size for the limits",
                   .default_value = "1g"});
  flags.push_back({.name = "limits-file",
                   .value_name = "FILE",
                   .help = "limits measured earlier (bench/limits output)"});
  flags.push_back({.name = "progress-ms",
                   .value_name = "MS",
                   .help = "progress line interval",
                   .default_value = "1000"});
  flags.push_back(
      {.name = "quiet", .short_name = 'q', .takes_value = false, .help = "no progress lines"});
  return flags;
}

}  // namespace

void AddBenchCommands(std::vector<Command>& commands) {
  commands.push_back(Command{.path = {"bench"},
                             .synopsis = "[--workload FILE] [flags]",
                             .summary = "run a benchmark: produce, consume, verify, report",
                             .flags = BenchFlags(),
                             .run = Bench});
  commands.push_back(Command{.path = {"bench", "compare"},
                             .synopsis = "A.json B.json",
                             .summary = "compare two benchmark results (B / A)",
                             .flags = {},
                             .run = Compare});
}

}  // namespace spool::cli
