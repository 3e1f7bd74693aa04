#include "log/log_format.h"

#include <cinttypes>
#include <cstdio>

namespace spool::log {

std::string SegmentStem(Offset base) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020" PRId64, base.value());
  return buf;
}

std::optional<Offset> ParseSegmentName(std::string_view name, std::string_view suffix) {
  if (name.size() != kOffsetDigits + suffix.size()) return std::nullopt;
  if (name.substr(kOffsetDigits) != suffix) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < kOffsetDigits; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (static_cast<uint64_t>(INT64_MAX) - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return Offset(static_cast<int64_t>(v));
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

}  // namespace spool::log
