// spool: the command-line tool. Everything is in spool_cli (cli/commands.h); this is main().
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // `spool consume | head` ends with EPIPE, not a signal
  std::vector<std::string> words(argv + 1, argv + argc);
  spool::cli::CommandIo io{std::cin, std::cout, std::cerr};
  const int rc = spool::cli::RunCli(words, io);
  std::cout.flush();
  return rc;
}
