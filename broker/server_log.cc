#include "broker/server_log.h"

#include <unistd.h>

#include <cstdlib>

namespace spool::broker {
namespace {

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

bool DebugEnabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("SPOOL_LOG_DEBUG");
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  return enabled;
}

}  // namespace

std::string LogValue(std::string_view value) {
  bool plain = !value.empty();
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '\\' || c == '=' || c == '\n' || c == '\t') {
      plain = false;
      break;
    }
  }
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

void LogEvent(LogLevel level, std::string_view component, std::string_view fields) {
  if (level == LogLevel::kDebug && !DebugEnabled()) return;
  std::string line;
  const std::string_view name = LevelName(level);
  line.reserve(name.size() + component.size() + fields.size() + 3);
  line.append(name);
  line.push_back(' ');
  line.append(component);
  line.push_back(' ');
  line.append(fields);
  line.push_back('\n');
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) return;  // stderr is gone: nothing better to do with a log line
    done += static_cast<size_t>(n);
  }
}

}  // namespace spool::broker
