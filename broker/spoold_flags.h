// The command line of `spoold` (broker/README.md lists every flag): parsed into a finished
// BrokerConfig, so main() only starts things and the parsing is unit-tested.
//
// Precedence, later winning: built-in defaults, --config FILE (wherever it appears), the --set
// key=value flags in order, then the dedicated flags (--data-dir, --listen, --node-id,
// --roles, --controller-listen, --reactors, --ready-file). Flags take their value as the next
// argument or after '='. Pure functions apart from reading the config file and $HOME; main thread.
#pragma once

#include <string>

#include "broker/broker_config.h"
#include "common/status.h"

namespace spool::broker {

// The version spoold reports; kept equal to project(VERSION) in the top CMakeLists.txt.
inline constexpr char kSpooldVersion[] = "0.1.0";

struct SpooldFlags {
  bool help = false;     // --help: print SpooldUsage() and exit 0
  bool version = false;  // --version
  BrokerConfig config;   // finished (FinishConfig) unless help or version is set
};

// kInvalidArgument with a message naming the flag or key for anything wrong: an unknown flag, a
// missing value, a bad value, an unreadable or invalid config file.
[[nodiscard]] StatusOr<SpooldFlags> ParseSpooldFlags(int argc, const char* const* argv);

// The --help text.
std::string SpooldUsage();

}  // namespace spool::broker
