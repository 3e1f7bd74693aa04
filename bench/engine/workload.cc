// Workload keys (workload.h): one table for flags and files, the TOML reader, and the checks
// across keys.
//
// toml++ is used header-only with TOML_EXCEPTIONS=0 here, as in broker/broker_config.cc: parse
// errors come back as a parse_result, never as an exception.
#undef TOML_HEADER_ONLY
#define TOML_HEADER_ONLY 1
#undef TOML_SHARED_LIB
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/engine/stamp.h"
#include "bench/engine/workload.h"

namespace spool::bench {
namespace {

constexpr int64_t kDefaultNumRecords = 1'000'000;
constexpr int kI32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

Status Bad(std::string_view key, std::string_view what, std::string_view value) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(key), ": ", std::string(what), ": '", std::string(value), "'"));
}

// A whole decimal integer in [lo, hi], nothing else.
template <typename T>
StatusOr<T> ParseInt(std::string_view key, std::string_view value, T lo, T hi) {
  T out{};
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (value.empty() || ec == std::errc::invalid_argument || end != value.data() + value.size()) {
    return Bad(key, "not an integer", value);
  }
  if (ec != std::errc() || out < lo || out > hi) {
    return Bad(key, absl::StrCat("out of range [", lo, ", ", hi, "]"), value);
  }
  return out;
}

StatusOr<std::string> ParseName(std::string_view key, std::string_view value) {
  if (value.empty()) return Bad(key, "must not be empty", value);
  return std::string(value);
}

// A leading decimal number ("1.5" of "1.5GiB"); the rest is left in `text`.
bool TakeNumber(std::string_view& text, double& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || !std::isfinite(out)) return false;
  text.remove_prefix(static_cast<size_t>(end - text.data()));
  return true;
}

// `number * scale` as an int64 when it is a non-negative whole-enough value that fits.
bool Scale(double number, double scale, int64_t& out) {
  const double v = std::round(number * scale);
  if (!(v >= 0) || v >= 9.2e18) return false;
  out = static_cast<int64_t>(v);
  return true;
}

#define SPOOL_SET_(field, expr)       \
  do {                                \
    auto _v = (expr);                 \
    if (!_v.ok()) return _v.status(); \
    field = *std::move(_v);           \
  } while (0)

// Wraps a parse error of a helper with the key it was for.
template <typename T>
StatusOr<T> ForKey(std::string_view key, StatusOr<T> v) {
  if (v.ok()) return v;
  return absl::InvalidArgumentError(absl::StrCat(std::string(key), ": ", v.status().message()));
}

Status Apply(Workload& w, std::string_view key, std::string_view v) {
  if (key == "name") {
    SPOOL_SET_(w.name, ParseName(key, v));
  } else if (key == "topic") {
    SPOOL_SET_(w.topic, ParseName(key, v));
  } else if (key == "topics") {
    SPOOL_SET_(w.topics, ParseInt<int>(key, v, 1, 10'000));
  } else if (key == "partitions") {
    SPOOL_SET_(w.partitions, ParseInt<int>(key, v, 1, 100'000));
  } else if (key == "producers") {
    SPOOL_SET_(w.producers, ParseInt<int>(key, v, 1, 1024));
  } else if (key == "consumers") {
    SPOOL_SET_(w.consumers, ParseInt<int>(key, v, 0, 1024));
  } else if (key == "group") {
    SPOOL_SET_(w.group, ParseName(key, v));
  } else if (key == "record-size") {
    SPOOL_SET_(w.record_size, ForKey(key, SizeDistribution::Parse(v)));
  } else if (key == "keys") {
    SPOOL_SET_(w.keys, ForKey(key, KeyDistribution::Parse(v)));
  } else if (key == "rate") {
    if (v == "max") {
      w.rate = 0;
      return Status();
    }
    std::string_view rest = v;
    double rate = 0;
    if (!TakeNumber(rest, rate) || !rest.empty()) return Bad(key, "not a number", v);
    if (rate < 0) return Bad(key, "must not be negative (0 or max: as fast as possible)", v);
    w.rate = rate;
  } else if (key == "num-records") {
    SPOOL_SET_(w.num_records, ParseInt<int64_t>(key, v, 1, kI64Max));
  } else if (key == "duration") {
    SPOOL_SET_(w.duration_ms, ForKey(key, ParseDurationMs(v)));
    if (*w.duration_ms <= 0) return Bad(key, "must be positive", v);
  } else if (key == "warmup") {
    SPOOL_SET_(w.warmup_ms, ForKey(key, ParseDurationMs(v)));
  } else if (key == "backlog") {
    if (v == "all") {
      w.backlog_bytes = kBacklogAll;
      return Status();
    }
    SPOOL_SET_(w.backlog_bytes, ForKey(key, ParseBytes(v)));
  } else if (key == "acks") {
    if (v == "all" || v == "-1") {
      w.acks = -1;
    } else if (v == "0" || v == "1") {
      w.acks = v == "1" ? 1 : 0;
    } else {
      return Bad(key, "want -1, all, 0 or 1", v);
    }
  } else if (key == "linger.ms" || key == "linger-ms") {
    SPOOL_SET_(w.linger_ms, ParseInt<int>(key, v, 0, 3'600'000));
  } else if (key == "batch.size" || key == "batch-size") {
    int64_t bytes = 0;
    SPOOL_SET_(bytes, ForKey(key, ParseBytes(v)));
    if (bytes < 1 || bytes > kI32Max) return Bad(key, "out of range [1, 2147483647]", v);
    w.batch_size = static_cast<int>(bytes);
  } else if (key == "compression.type" || key == "compression") {
    if (v != "none" && v != "lz4" && v != "zstd") return Bad(key, "want none, lz4 or zstd", v);
    w.compression = std::string(v);
  } else if (key == "buffer.memory" || key == "buffer-memory") {
    SPOOL_SET_(w.buffer_memory, ForKey(key, ParseBytes(v)));
    if (w.buffer_memory < 1) return Bad(key, "must be positive", v);
  } else if (key == "seed") {
    SPOOL_SET_(w.seed, ParseInt<uint64_t>(key, v, 0, std::numeric_limits<uint64_t>::max()));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown key '", std::string(key), "'"));
  }
  return Status();
}

#undef SPOOL_SET_

std::string FormatDouble(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : absl::StrCat(v);
}

// One leaf of the TOML document: its dotted key, the text SetKey parses, and its line.
struct Entry {
  std::string key;
  const toml::node* node;
  uint32_t line;
};

void Collect(const toml::table& table, const std::string& prefix, std::vector<Entry>& out) {
  for (const auto& [k, node] : table) {
    std::string key =
        prefix.empty() ? std::string(k.str()) : absl::StrCat(prefix, ".", std::string(k.str()));
    if (const auto* sub = node.as_table()) {
      Collect(*sub, key, out);
      continue;
    }
    const uint32_t line =
        node.source().begin.line != 0 ? node.source().begin.line : k.source().begin.line;
    out.push_back(Entry{std::move(key), &node, line});
  }
}

StatusOr<std::string> ValueText(const std::string& key, const toml::node& node) {
  if (const auto* s = node.as_string()) return std::string(s->get());
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* f = node.as_floating_point()) return FormatDouble(f->get());
  if (const auto* b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  const char* type = node.is_array() ? "an array" : "a date or time";
  return absl::InvalidArgumentError(
      absl::StrCat(key, ": wrong type: want a string or a number, not ", type));
}

}  // namespace

Status SetKey(Workload& w, std::string_view key, std::string_view value) {
  return Apply(w, Trim(key), Trim(value));
}

const std::vector<std::string_view>& WorkloadKeys() {
  static const std::vector<std::string_view> keys = {
      "name",        "topic",      "topics",           "partitions",    "producers",
      "consumers",   "group",      "record-size",      "keys",          "rate",
      "num-records", "duration",   "warmup",           "backlog",       "acks",
      "linger.ms",   "batch.size", "compression.type", "buffer.memory", "seed"};
  return keys;
}

StatusOr<Workload> ParseWorkload(std::string_view toml_text, std::string_view source) {
  toml::parse_result parsed = toml::parse(toml_text, source);
  if (!parsed) {
    const toml::parse_error& err = parsed.error();
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ":", err.source().begin.line,
                     ": TOML syntax error: ", std::string(err.description())));
  }
  std::vector<Entry> entries;
  Collect(parsed.table(), "", entries);
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.line < b.line; });
  Workload w;
  for (const Entry& e : entries) {
    StatusOr<std::string> text = ValueText(e.key, *e.node);
    Status st = text.ok() ? SetKey(w, e.key, *text) : text.status();
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(source), ":", e.line, ": ", st.message()));
    }
  }
  return w;
}

StatusOr<Workload> LoadWorkloadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoStatus(errno, absl::StrCat("open workload file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return ErrnoStatus(errno, absl::StrCat("read workload file ", path));
  return ParseWorkload(text.str(), path);
}

Status Validate(Workload& w) {
  auto invalid = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  if (w.topic.has_value() && w.topics != 1) {
    return invalid("topic '", *w.topic, "' names one existing topic, but topics is ", w.topics,
                   " (leave topics at 1 or unset topic)");
  }
  if (!w.num_records.has_value() && !w.duration_ms.has_value()) {
    w.num_records = kDefaultNumRecords;
  }
  if (w.consumers > 0 && w.record_size.min() < static_cast<int64_t>(kStampSize)) {
    return invalid("record-size '", w.record_size.ToString(), "' can be as small as ",
                   w.record_size.min(), " bytes, but consumers verify a ", kStampSize,
                   "-byte stamp at the start of every record (use sizes >= ", kStampSize,
                   ", or consumers = 0 to produce only)");
  }
  if (w.group.has_value() && w.consumers == 0) {
    return invalid("group '", *w.group, "' needs consumers > 0");
  }
  if (!w.group.has_value() && !w.topic.has_value() &&
      static_cast<int64_t>(w.consumers) > static_cast<int64_t>(w.topics) * w.partitions) {
    return invalid("consumers (", w.consumers, ") is more than the ",
                   static_cast<int64_t>(w.topics) * w.partitions,
                   " partitions to split between them (some would read nothing)");
  }
  if (w.backlog_bytes > 0 && w.consumers == 0) {
    return invalid("backlog (", w.backlog_bytes, " bytes) needs consumers > 0");
  }
  if (w.batch_size > w.buffer_memory) {
    return invalid("batch.size (", w.batch_size, ") is larger than buffer.memory (",
                   w.buffer_memory, ")");
  }
  return Status();
}

StatusOr<int64_t> ParseDurationMs(std::string_view text) {
  const std::string_view original = text;
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat("not a duration: '", std::string(original),
                                                   "' (want e.g. 30s, 250ms, 2m, 1h or seconds)"));
  };
  text = Trim(text);
  double number = 0;
  if (!TakeNumber(text, number)) return bad();
  double scale = 0;
  if (text.empty() || text == "s") {
    scale = 1000;
  } else if (text == "ms") {
    scale = 1;
  } else if (text == "m") {
    scale = 60'000;
  } else if (text == "h") {
    scale = 3'600'000;
  } else {
    return bad();
  }
  int64_t ms = 0;
  if (!Scale(number, scale, ms)) return bad();
  return ms;
}

StatusOr<int64_t> ParseBytes(std::string_view text) {
  const std::string_view original = text;
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("not a byte count: '", std::string(original),
                     "' (want e.g. 1GiB, 512MiB, 64KiB, 1GB, 1MB, 1kB or bytes)"));
  };
  text = Trim(text);
  double number = 0;
  if (!TakeNumber(text, number)) return bad();
  static constexpr std::pair<std::string_view, double> kUnits[] = {{"", 1},
                                                                   {"B", 1},
                                                                   {"kB", 1e3},
                                                                   {"KB", 1e3},
                                                                   {"MB", 1e6},
                                                                   {"GB", 1e9},
                                                                   {"TB", 1e12},
                                                                   {"KiB", 1024.0},
                                                                   {"MiB", 1048576.0},
                                                                   {"GiB", 1073741824.0},
                                                                   {"TiB", 1099511627776.0}};
  for (const auto& [unit, scale] : kUnits) {
    if (text != unit) continue;
    int64_t bytes = 0;
    if (!Scale(number, scale, bytes)) return bad();
    return bytes;
  }
  return bad();
}

}  // namespace spool::bench
