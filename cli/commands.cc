#include "cli/commands.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace spool::cli {
namespace {

std::vector<Command> AllCommands() {
  std::vector<Command> commands;
  AddTopicCommands(commands);
  AddClusterCommands(commands);
  AddProduceCommands(commands);
  AddConsumeCommands(commands);
  AddGroupCommands(commands);
  AddBenchCommands(commands);
  return commands;
}

void PrintOverview(const std::vector<Command>& commands, std::ostream& out) {
  out << "usage: spool <command> [flags]   (spool <command> --help for its flags)\n\n"
         "Spool's command-line tool: topics, produce, consume, groups, cluster state and "
         "benchmarks.\n\n"
         "commands:\n";
  for (const Command& c : commands) {
    std::string left = absl::StrCat("  ", absl::StrJoin(c.path, " "));
    if (left.size() < 22) left.resize(22, ' ');
    out << left << " " << c.summary << "\n";
  }
  out << "\nThe broker is found with --bootstrap-server HOST:PORT, or $SPOOL_BOOTSTRAP_SERVER, "
         "default "
      << kDefaultBootstrap << ".\n";
}

}  // namespace

const std::vector<FlagSpec>& CommonFlags() {
  static const std::vector<FlagSpec> flags = {
      {.name = "bootstrap-server",
       .short_name = 'b',
       .value_name = "HOST:PORT[,...]",
       .help = "brokers to start from ($SPOOL_BOOTSTRAP_SERVER)",
       .default_value = kDefaultBootstrap},
      {.name = "timeout-ms",
       .value_name = "MS",
       .help = "how long to wait for a broker",
       .default_value = "10000"},
  };
  return flags;
}

std::string Bootstrap(const Args& args) {
  if (std::optional<std::string> b = args.get("bootstrap-server")) return *b;
  if (const char* env = std::getenv("SPOOL_BOOTSTRAP_SERVER"); env != nullptr && *env != 0) {
    return env;
  }
  return kDefaultBootstrap;
}

int Fail(CommandIo& io, absl::string_view message) {
  io.err << "spool: " << message << "\n";
  return 1;
}

int RunCli(const std::vector<std::string>& words, CommandIo& io) {
  const std::vector<Command> commands = AllCommands();
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    PrintOverview(commands, io.out);
    return words.empty() ? 2 : 0;
  }
  if (words[0] == "--version") {
    io.out << "spool 0.1.0\n";
    return 0;
  }
  // The longest command path that prefixes the words.
  const Command* best = nullptr;
  for (const Command& c : commands) {
    if (c.path.size() > words.size()) continue;
    bool match = true;
    for (size_t i = 0; i < c.path.size(); i++) match = match && c.path[i] == words[i];
    if (match && (best == nullptr || c.path.size() > best->path.size())) best = &c;
  }
  if (best == nullptr) {
    // A group name alone ("spool topic") lists its subcommands.
    bool group = false;
    for (const Command& c : commands) {
      if (c.path.size() > 1 && c.path[0] == words[0]) {
        if (!group) io.err << "spool " << words[0] << ": pick one of:\n";
        group = true;
        io.err << "  spool " << absl::StrJoin(c.path, " ") << "  " << c.summary << "\n";
      }
    }
    if (!group) io.err << "spool: unknown command '" << words[0] << "' (see spool --help)\n";
    return 2;
  }
  std::vector<FlagSpec> flags = best->flags;
  flags.insert(flags.end(), CommonFlags().begin(), CommonFlags().end());
  const std::vector<std::string> rest(words.begin() + static_cast<long>(best->path.size()),
                                      words.end());
  StatusOr<Args> args = Args::Parse(rest, flags);
  const std::string path = absl::StrJoin(best->path, " ");
  if (!args.ok()) {
    io.err << "spool " << path << ": " << args.status().message() << "\n";
    return 2;
  }
  if (args->help()) {
    io.out << Usage(path, best->synopsis, best->summary, flags);
    return 0;
  }
  return best->run(*args, io);
}

}  // namespace spool::cli
