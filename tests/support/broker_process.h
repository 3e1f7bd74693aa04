// BrokerProcess: a real `spoold` child process on loopback for integration tests.
//
// Start() runs the spoold binary (path from $SPOOLD_PATH, which ctest sets, else "spoold" next to
// the test binary's build tree) with a temporary or given data dir, `--listen 127.0.0.1:0` (or
// the port of an earlier run, for restarts) and `--ready-file`, and waits (with a deadline, never
// a sleep as synchronisation: the ready file is polled with short waits) until the broker has
// written its listening address. The ready file's first line is the client listener (the
// controller listener for `--roles controller`); with the controller role a second line
// "controller host:port" names the controller listener (controller_address()). stdout/stderr of run
// n go to <data_dir>.spoold.<n>.log (beside the data dir, so it survives the data dir's deletion),
// printed by tests on failure (log_tail()). The child gets PR_SET_PDEATHSIG=SIGKILL, so a crashed
// test leaves no broker behind.
//
// Threading: one test thread (the one that calls Start; the death signal follows that thread).
// The destructor kills the process (SIGKILL) if it still runs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/io/socket.h"
#include "common/status.h"

namespace spool::testing {

struct BrokerProcessOptions {
  std::string data_dir;  // required: the broker's data directory (kept across restarts)
  int reactors = 2;
  std::vector<std::string> extra_args;  // e.g. {"--set", "auto.create.topics.enable=true"}
  std::chrono::milliseconds start_timeout{30000};
};

class BrokerProcess {
 public:
  static StatusOr<std::unique_ptr<BrokerProcess>> Start(BrokerProcessOptions options);
  // Starts the process without waiting for it to be ready (nodes that need each other, e.g.
  // combined broker+controller voters); WaitReady() then waits as Start() does.
  static StatusOr<std::unique_ptr<BrokerProcess>> Launch(BrokerProcessOptions options);
  Status WaitReady();
  ~BrokerProcess();

  io::HostPort address() const { return {"127.0.0.1", port_}; }
  uint16_t port() const { return port_; }
  // The controller listener (127.0.0.1), when the process has the controller role (the
  // default); port 0 otherwise.
  io::HostPort controller_address() const { return {"127.0.0.1", controller_port_}; }
  uint16_t controller_port() const { return controller_port_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // SIGTERM, then waits (deadline) for exit. OK only for exit status 0.
  Status Terminate(std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));
  // SIGKILL and reap.
  void Kill();
  // SIGSTOP / SIGCONT.
  void Pause();
  void Resume();
  // Starts it again on the same data dir and the same port (after Terminate or Kill).
  Status Restart();

  // The last `lines` lines of the broker's log, for failure messages.
  std::string log_tail(int lines = 40) const;
  // The whole log of the current (or last) run.
  std::string log() const;
  const std::string& log_path() const { return log_path_; }
  // The exit code of the last run that ended through Terminate() (-1: killed by a signal).
  int last_exit_code() const { return last_exit_code_; }

 private:
  explicit BrokerProcess(BrokerProcessOptions options) : options_(std::move(options)) {}
  Status Spawn(uint16_t port);
  // Reaps the child if it has exited (non-blocking); true when it has.
  bool Reap(int* exit_code);

  BrokerProcessOptions options_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  uint16_t controller_port_ = 0;
  int runs_ = 0;
  std::string log_path_;
  int last_exit_code_ = 0;
  bool wait_ready_ = true;
};

// The spoold binary: $SPOOLD_PATH, else <dir of this test binary>/../broker/spoold.
std::string SpooldPath();

// Runs spoold with `args` to completion (for --help, bad flags, ...), output captured.
struct ProcessResult {
  int exit_code = 0;   // -1: killed by a signal (or by us at the timeout)
  std::string output;  // stdout and stderr, interleaved
};
StatusOr<ProcessResult> RunSpoold(const std::vector<std::string>& args,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace spool::testing
