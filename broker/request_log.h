// Broker log lines for rejected requests and background failures, rate-limited so a client that
// sends garbage in a loop cannot flood stderr: at most one line per `kLogIntervalMs` per kind,
// the next line saying how many were suppressed. Format: "level component key=value ...".
//
// Thread-safe (atomics); any shard may call.
#pragma once

#include <string_view>

namespace spool::broker {

enum class LogKind {
  kRejectedRequest,  // a request answered with an error response or a per-partition error
  kStorage,          // a storage failure (append, fdatasync, retention, close)
  kCount
};

// Writes "warn broker <message>" to stderr unless a line of this kind was written in the last
// second.
void LogRateLimited(LogKind kind, std::string_view message);

// Unthrottled, for rare events (start-up, shutdown, topic changes): "info broker <message>".
void LogInfo(std::string_view message);

}  // namespace spool::broker
