// One-line event logs of the broker process: `level component key=value ...` on stderr.
//
// A line is one event (a listener bound, a connection refused, a framing error, recovery
// finished, shutdown), never one per request. Values with spaces or quotes are quoted. Each line
// goes out in one write(2), so lines from several shard threads do not interleave.
// Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace spool::broker {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// A value for a key=value pair: as is when it is a plain token, else in double quotes with
// quotes and backslashes escaped.
std::string LogValue(std::string_view value);

// Writes "<level> <component> <fields>\n" to stderr. `fields` is the key=value text (build it
// with absl::StrCat and LogValue()). Debug lines are written only when SPOOL_LOG_DEBUG is set.
void LogEvent(LogLevel level, std::string_view component, std::string_view fields);

}  // namespace spool::broker
