// BenchResult out (result.h): the JSON result (format spool-bench/1), the human report, result
// files, bench/limits' figures, and `spool bench compare`.
//
// nlohmann::json is used without exceptions: parsing with allow_exceptions = false (a
// "discarded" value on error), every member read behind a type check, and dump() replacing
// invalid UTF-8 rather than throwing.
#include "bench/engine/result.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace spool::bench {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "spool-bench/1";

std::string DurationText(int64_t ms) {
  return ms % 1000 == 0 ? absl::StrCat(ms / 1000, "s") : absl::StrCat(ms, "ms");
}

template <typename T>
json OrNull(const std::optional<T>& v) {
  return v.has_value() ? json(*v) : json(nullptr);
}

// Every key of WorkloadKeys() with a value SetKey() reads back (durations as "30s"/"500ms").
json WorkloadJson(const Workload& w) {
  json j = json::object();
  j["name"] = w.name;
  j["topic"] = OrNull(w.topic);
  j["topics"] = w.topics;
  j["partitions"] = w.partitions;
  j["producers"] = w.producers;
  j["consumers"] = w.consumers;
  j["group"] = OrNull(w.group);
  j["record-size"] = w.record_size.ToString();
  j["keys"] = w.keys.ToString();
  j["rate"] = w.rate;
  j["num-records"] = OrNull(w.num_records);
  j["duration"] = w.duration_ms.has_value() ? json(DurationText(*w.duration_ms)) : json(nullptr);
  j["warmup"] = DurationText(w.warmup_ms);
  j["backlog"] = w.backlog_bytes == kBacklogAll ? json("all") : json(w.backlog_bytes);
  j["acks"] = w.acks;
  j["linger.ms"] = w.linger_ms;
  j["batch.size"] = w.batch_size;
  j["compression.type"] = w.compression;
  j["buffer.memory"] = w.buffer_memory;
  j["seed"] = OrNull(w.seed);
  return j;
}

double Ms(int64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

json LatencyJson(const LatencySummary& l) {
  return json{{"count", l.count},      {"min", Ms(l.min)}, {"p50", Ms(l.p50)},
              {"p90", Ms(l.p90)},      {"p99", Ms(l.p99)}, {"p99_9", Ms(l.p999)},
              {"p99_99", Ms(l.p9999)}, {"max", Ms(l.max)}, {"mean", l.mean / 1e6}};
}

json RateJson(const RateFigures& r) {
  return json{{"records", r.records},
              {"bytes", r.bytes},
              {"seconds", r.seconds},
              {"records_per_s", r.records_per_s()},
              {"mb_per_s", r.mb_per_s()}};
}

// value / limit, or nullopt when the limit is absent or zero.
std::optional<double> Ratio(double value, const std::optional<Limits>& limits,
                            const std::string& figure) {
  if (!limits.has_value()) return std::nullopt;
  const auto it = limits->figures.find(figure);
  if (it == limits->figures.end() || !(it->second > 0)) return std::nullopt;
  return value / it->second;
}

// --- formatting for people ------------------------------------------------------------------

// An unsigned integer with thousands separators: 1,234,567.
std::string Grouped(uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string Printf(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

// Milliseconds with 3 significant digits (0.0512, 0.512, 5.12, 51.2, 512), whole above 1000.
std::string LatencyText(int64_t ns) {
  const double ms = Ms(ns);
  if (ms <= 0) return "0";
  const int magnitude = static_cast<int>(std::floor(std::log10(ms)));
  const int decimals = std::clamp(2 - magnitude, 0, 6);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, ms);
  return buf;
}

std::string Pad(std::string s, size_t width, bool left_align = false) {
  if (s.size() >= width) return s;
  return left_align ? s + std::string(width - s.size(), ' ')
                    : std::string(width - s.size(), ' ') + s;
}

std::string RateLine(const char* what, const RateFigures& r, std::optional<double> ratio,
                     const char* limit_name) {
  std::string line = absl::StrCat(
      "  ", Pad(what, 10, true), Pad(Grouped(r.records), 14), Pad(Printf("%.3f", r.seconds), 10),
      Pad(Grouped(static_cast<uint64_t>(std::llround(r.records_per_s()))), 14),
      Pad(Printf("%.1f", r.mb_per_s()), 10));
  if (ratio.has_value()) absl::StrAppend(&line, "   ", Printf("%.2fx", *ratio), " ", limit_name);
  return line;
}

std::string LatencyLine(const char* what, const LatencySummary& l) {
  std::string line = absl::StrCat("  ", Pad(what, 12, true), Pad(Grouped(l.count), 12));
  for (int64_t v : {l.min, l.p50, l.p90, l.p99, l.p999, l.p9999, l.max}) {
    absl::StrAppend(&line, Pad(LatencyText(v), 9));
  }
  absl::StrAppend(&line, Pad(LatencyText(std::llround(l.mean)), 9));
  return line;
}

std::string WorkloadLine(const Workload& w) {
  std::string line = absl::StrCat(
      "spool bench '", w.name, "': ",
      w.topic.has_value() ? absl::StrCat("topic ", *w.topic)
                          : absl::StrCat(w.topics, w.topics == 1 ? " topic" : " topics", " x ",
                                         w.partitions, " partitions"),
      ", ", w.producers, w.producers == 1 ? " producer, " : " producers, ", w.consumers,
      w.consumers == 1 ? " consumer" : " consumers");
  if (w.group.has_value()) absl::StrAppend(&line, " in group ", *w.group);
  absl::StrAppend(&line, ", record-size ", w.record_size.ToString(), ", keys ", w.keys.ToString(),
                  ", rate ", w.rate > 0 ? Printf("%.0f/s", w.rate) : std::string("max"), ", acks ",
                  w.acks == -1 ? std::string("all") : absl::StrCat(w.acks));
  if (w.compression != "none") absl::StrAppend(&line, ", ", w.compression);
  if (w.num_records.has_value()) absl::StrAppend(&line, ", ", Grouped(*w.num_records), " records");
  if (w.duration_ms.has_value()) absl::StrAppend(&line, ", ", DurationText(*w.duration_ms));
  return line;
}

std::string VerifyLine(const VerifyFigures& v) {
  if (!v.checked) return "  verify: not checked (nothing consumed)";
  if (v.ok()) {
    return absl::StrCat("  verify: ok: ", Grouped(v.received),
                        " records, each once and in order per partition");
  }
  return absl::StrCat("  verify: FAILED: expected ", Grouped(v.expected), ", received ",
                      Grouped(v.received), ": ", Grouped(v.missing), " missing, ",
                      Grouped(v.duplicates), " duplicates, ", Grouped(v.out_of_order),
                      " out of order, ", Grouped(v.foreign), " foreign");
}

// A person's name for one of bench/limits' figures.
std::string LimitLabel(const std::string& figure) {
  if (figure == "fsync_write_mb_s") return "fsync'd write";
  if (figure == "buffered_write_mb_s") return "buffered write";
  if (figure == "direct_write_mb_s") return "O_DIRECT write";
  if (figure == "loopback_mb_s") return "loopback";
  return figure;
}

// --- compare --------------------------------------------------------------------------------

enum class Better { kHigher, kLower, kNeither };

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

Better DirectionOf(const std::string& path) {
  if (path.find("latency_ms.") != std::string::npos) {
    return EndsWith(path, ".count") ? Better::kNeither : Better::kLower;
  }
  if (EndsWith(path, "records_per_s") || EndsWith(path, "mb_per_s") ||
      StartsWith(path, "ratios.") || StartsWith(path, "limits.") || path == "verify.ok") {
    return Better::kHigher;
  }
  if (path == "produce.errors" || StartsWith(path, "produce.errors_by_code.") ||
      path == "verify.missing" || path == "verify.duplicates" || path == "verify.out_of_order" ||
      path == "verify.foreign") {
    return Better::kLower;
  }
  return Better::kNeither;
}

// Numeric and boolean leaves of `j` (arrays skipped), by dotted path.
void Leaves(const json& j, const std::string& prefix, std::map<std::string, double>& out) {
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : absl::StrCat(prefix, ".", it.key());
    if (it->is_object()) {
      Leaves(*it, path, out);
    } else if (it->is_number()) {
      out[path] = it->get<double>();
    } else if (it->is_boolean()) {
      out[path] = it->get<bool>() ? 1 : 0;
    }
  }
}

std::string NumberText(double v) {
  if (std::fabs(v) < 1e15 && v == std::floor(v)) return Printf("%.0f", v);
  return Printf(std::fabs(v) >= 1000 ? "%.1f" : "%.4g", v);
}

const json& Member(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string ValueText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

StatusOr<Limits> ParseLimits(std::string_view json_text) {
  const json j = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError("bench/limits output is not JSON");
  const json& limits = Member(j, "limits");
  if (!limits.is_object()) {
    return absl::InvalidArgumentError("bench/limits output has no \"limits\" object");
  }
  Limits out;
  for (auto it = limits.begin(); it != limits.end(); ++it) {
    if (it->is_number()) {
      out.figures[it.key()] = it->get<double>();
    } else if (EndsWith(it.key(), "_mb_s") && !it->is_null()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bench/limits figure '", it.key(), "' is not a number or null"));
    }  // other members ("dir") describe the measurement; null figures were not measured
  }
  return out;
}

nlohmann::json ToJson(const BenchResult& r) {
  json j = json::object();
  j["format"] = kFormat;
  j["workload"] = WorkloadJson(r.workload);
  const Environment& e = r.environment;
  j["environment"] = json{{"cores", e.cores},
                          {"kernel", e.kernel},
                          {"io_backend", e.io_backend},
                          {"build_type", e.build_type},
                          {"git_revision", e.git_revision},
                          {"hostname", e.hostname},
                          {"started_at", e.started_at},
                          {"bootstrap", e.bootstrap}};
  if (r.limits.has_value()) {
    json limits = json::object();
    for (const auto& [name, value] : r.limits->figures) limits[name] = value;
    j["limits"] = std::move(limits);
  } else {
    j["limits"] = nullptr;
  }
  json results = json::object();
  results["produce"] = RateJson(r.produce);
  results["produce"]["errors"] = r.produce_errors;
  json by_code = json::object();
  for (const auto& [code, n] : r.errors_by_code) by_code[code] = n;
  results["produce"]["errors_by_code"] = std::move(by_code);
  results["consume"] = RateJson(r.consume);
  results["publish_latency_ms"] = LatencyJson(r.publish_latency);
  results["end_to_end_latency_ms"] = LatencyJson(r.end_to_end_latency);
  const VerifyFigures& v = r.verify;
  results["verify"] =
      json{{"checked", v.checked},           {"ok", v.ok()},         {"expected", v.expected},
           {"received", v.received},         {"missing", v.missing}, {"duplicates", v.duplicates},
           {"out_of_order", v.out_of_order}, {"foreign", v.foreign}};
  if (r.limits.has_value()) {
    results["ratios"] = json{{"produce_mb_s_vs_fsync_write",
                              OrNull(Ratio(r.produce.mb_per_s(), r.limits, "fsync_write_mb_s"))},
                             {"consume_mb_s_vs_loopback",
                              OrNull(Ratio(r.consume.mb_per_s(), r.limits, "loopback_mb_s"))}};
  }
  j["results"] = std::move(results);
  json timeline = json::array();
  for (const IntervalSample& s : r.timeline) {
    timeline.push_back(json{{"t_s", s.t_s},
                            {"produce_records_per_s", s.produce_records_per_s},
                            {"produce_mb_per_s", s.produce_mb_per_s},
                            {"consume_records_per_s", s.consume_records_per_s},
                            {"publish_p99_ms", s.publish_p99_ms},
                            {"end_to_end_p99_ms", s.end_to_end_p99_ms}});
  }
  j["timeline"] = std::move(timeline);
  return j;
}

void PrintReport(const BenchResult& r, std::ostream& out) {
  out << WorkloadLine(r.workload) << "\n";
  out << "  " << Pad("", 10) << Pad("records", 14) << Pad("seconds", 10) << Pad("records/s", 14)
      << Pad("MB/s", 10) << "\n";
  out << RateLine("produce", r.produce, Ratio(r.produce.mb_per_s(), r.limits, "fsync_write_mb_s"),
                  "of fsync'd write")
      << "\n";
  if (r.workload.consumers > 0 || r.consume.records > 0) {
    out << RateLine("consume", r.consume, Ratio(r.consume.mb_per_s(), r.limits, "loopback_mb_s"),
                    "of loopback")
        << "\n";
  }
  out << "\n  " << Pad("latency ms", 12, true) << Pad("count", 12);
  for (const char* h : {"min", "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"}) {
    out << Pad(h, 9);
  }
  out << "\n" << LatencyLine("publish", r.publish_latency) << "\n";
  if (r.end_to_end_latency.count > 0 || r.workload.consumers > 0) {
    out << LatencyLine("end-to-end", r.end_to_end_latency) << "\n";
  }
  out << "\n  errors: ";
  if (r.produce_errors == 0 && r.errors_by_code.empty()) {
    out << "none";
  } else {
    out << Grouped(r.produce_errors);
    const char* sep = " (";
    for (const auto& [code, n] : r.errors_by_code) {
      out << sep << code << " " << Grouped(n);
      sep = ", ";
    }
    if (!r.errors_by_code.empty()) out << ")";
  }
  out << "\n" << VerifyLine(r.verify) << "\n";
  if (r.limits.has_value() && !r.limits->figures.empty()) {
    out << "  limits (MB/s):";
    const char* sep = " ";
    for (const auto& [name, value] : r.limits->figures) {
      out << sep << LimitLabel(name) << " " << Printf("%.1f", value);
      sep = ", ";
    }
    out << "\n";
  }
  const Environment& e = r.environment;
  out << "  env: " << e.cores << " cores, kernel " << e.kernel << ", " << e.io_backend << ", "
      << e.build_type << ", git " << e.git_revision << ", started " << e.started_at << "\n";
}

Status WriteResultFile(const BenchResult& result, const std::string& path) {
  const std::string text =
      ToJson(result).dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return ErrnoStatus(errno, absl::StrCat("create result file ", tmp));
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const int write_errno = errno;
  if (std::fclose(f) != 0 || !written) {
    const int err = written ? errno : write_errno;
    std::remove(tmp.c_str());
    return ErrnoStatus(err, absl::StrCat("write result file ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return ErrnoStatus(err, absl::StrCat("rename result file to ", path));
  }
  return Status();
}

StatusOr<nlohmann::json> ReadResultFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoStatus(errno, absl::StrCat("open result file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": not JSON"));
  const json& format = Member(j, "format");
  if (!format.is_string() || format.get<std::string>() != kFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a spool bench result (want \"format\": \"", kFormat, "\")"));
  }
  return j;
}

std::string CompareResults(const nlohmann::json& a, const nlohmann::json& b) {
  std::ostringstream out;
  const json& wa = Member(a, "workload");
  const json& wb = Member(b, "workload");
  for (std::string_view key : WorkloadKeys()) {
    const json& va = Member(wa, std::string(key).c_str());
    const json& vb = Member(wb, std::string(key).c_str());
    if (va != vb)
      out << "workload differs: " << key << " " << ValueText(va) << " -> " << ValueText(vb) << "\n";
  }
  std::map<std::string, double> fa, fb;
  Leaves(Member(a, "results"), "", fa);
  Leaves(Member(b, "results"), "", fb);
  Leaves(Member(a, "limits"), "limits", fa);
  Leaves(Member(b, "limits"), "limits", fb);
  size_t width = 6;
  for (const auto& [path, value] : fa) {
    if (fb.count(path) != 0) width = std::max(width, path.size());
  }
  out << Pad("figure", width, true) << Pad("A", 16) << Pad("B", 16) << Pad("B/A", 10) << "\n";
  for (const auto& [path, va] : fa) {
    const auto it = fb.find(path);
    if (it == fb.end()) continue;
    const double vb = it->second;
    const std::string ratio = va != 0 ? Printf("%.3f", vb / va) : std::string("-");
    const Better better = DirectionOf(path);
    std::string mark;
    if (ratio == "1.000" || va == vb) {
      mark = "same";
    } else if (better != Better::kNeither) {
      mark = (vb > va) == (better == Better::kHigher) ? "better" : "worse";
    }
    out << Pad(path, width, true) << Pad(NumberText(va), 16) << Pad(NumberText(vb), 16)
        << Pad(ratio, 10) << (mark.empty() ? "" : "  ") << mark << "\n";
  }
  return out.str();
}

}  // namespace spool::bench
