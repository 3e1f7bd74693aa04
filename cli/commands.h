// The `spool` command table. Each command is a function from parsed arguments to an exit code;
// it prints results to `out` and problems to `err` (one clear line, e.g. "spool: cannot reach
// 127.0.0.1:9192: connection refused"). Exit codes: 0 success, 1 the operation failed (an
// unreachable broker, an unknown topic, ...), 2 a usage error.
//
// Commands run in-process (RunCli), so tests can drive the CLI without spawning it.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "cli/args.h"

namespace spool::cli {

inline constexpr char kDefaultBootstrap[] = "127.0.0.1:9192";

struct CommandIo {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

struct Command {
  std::vector<std::string> path;  // {"topic", "create"}
  std::string synopsis;           // "NAME [flags]"
  std::string summary;            // one line for `spool --help`
  std::vector<FlagSpec> flags;    // besides the common --bootstrap-server
  std::function<int(const Args&, CommandIo&)> run;
};

// The flags every networked command takes (--bootstrap-server, --timeout-ms).
const std::vector<FlagSpec>& CommonFlags();
// The bootstrap servers: --bootstrap-server, else $SPOOL_BOOTSTRAP_SERVER, else the default.
std::string Bootstrap(const Args& args);

// Each file adds its commands.
void AddTopicCommands(std::vector<Command>& commands);
void AddClusterCommands(std::vector<Command>& commands);
void AddProduceCommands(std::vector<Command>& commands);
void AddConsumeCommands(std::vector<Command>& commands);
void AddBenchCommands(std::vector<Command>& commands);
void AddGroupCommands(std::vector<Command>& commands);

// Runs `spool <words...>`.
int RunCli(const std::vector<std::string>& words, CommandIo& io);

// Prints "spool: <message>" to io.err and returns 1.
int Fail(CommandIo& io, absl::string_view message);

}  // namespace spool::cli
