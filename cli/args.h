// Command-line parsing for `spool`: one small grammar for every subcommand.
//
//   spool <command> [<subcommand>] [positional...] [--flag value | --flag=value | -f value |
//   --switch]
//
// Each command declares its flags (FlagSpec); anything else is an error naming the flag, so a
// typo never silently does something else. `--help` / `-h` anywhere prints the command's usage.
// Pure value types; single-threaded.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace spool::cli {

struct FlagSpec {
  std::string name;         // "bootstrap-server" (used as --bootstrap-server)
  char short_name = 0;      // 'b' for -b, 0 for none
  bool takes_value = true;  // false: a switch (--verbose)
  std::string value_name;   // shown in the usage ("HOST:PORT")
  std::string help;
  std::string default_value;  // shown in the usage; empty for none
};

class Args {
 public:
  // Parses argv[0..argc) (the words after the command path). kInvalidArgument for an unknown
  // flag, a missing value, or a value given to a switch.
  static StatusOr<Args> Parse(const std::vector<std::string>& words,
                              const std::vector<FlagSpec>& flags);

  const std::vector<std::string>& positional() const { return positional_; }
  bool help() const { return help_; }
  bool has(std::string_view name) const;
  // The last value given for a flag, or nullopt.
  std::optional<std::string> get(std::string_view name) const;
  std::string get_or(std::string_view name, std::string fallback) const;
  // Every value given for a repeatable flag, in order.
  std::vector<std::string> all(std::string_view name) const;
  // get() parsed as an integer; kInvalidArgument naming the flag when it is not one.
  StatusOr<int64_t> get_int(std::string_view name, int64_t fallback) const;

 private:
  std::vector<std::string> positional_;
  std::multimap<std::string, std::string, std::less<>> values_;
  bool help_ = false;
};

// The usage block of a command: "usage: spool <path> <synopsis>", the summary, then the flags.
std::string Usage(std::string_view path, std::string_view synopsis, std::string_view summary,
                  const std::vector<FlagSpec>& flags);

}  // namespace spool::cli
