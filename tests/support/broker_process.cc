#include "tests/support/broker_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>

#include "absl/strings/str_cat.h"

namespace spool::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;
// How often a wait for the child (its ready file, its exit) looks again.
constexpr auto kPollInterval = std::chrono::milliseconds(5);

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The port of a "host:port" line (1..65535), or nothing.
std::optional<uint16_t> ParsePortOfLine(const std::string& line) {
  const size_t colon = line.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  unsigned value = 0;
  const char* begin = line.data() + colon + 1;
  const char* end = line.data() + line.size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || value == 0 || value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

// Exit code of a waitpid status; -1 for a signal.
int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return -1;
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::StrCat("status ", status);
}

// fork + execv with stdout and stderr to `log_path` (appended). Everything the child does
// between fork and exec is async-signal-safe.
StatusOr<pid_t> SpawnChild(const std::vector<std::string>& args, const std::string& log_path) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", log_path));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(log_fd);
    return ErrnoStatus(err, "fork");
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the test died before the prctl
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  return pid;
}

}  // namespace

std::string SpooldPath() {
  if (const char* p = std::getenv("SPOOLD_PATH"); p != nullptr && *p != '\0') return p;
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "spoold";
  return (self.parent_path().parent_path() / "broker" / "spoold").string();
}

StatusOr<std::unique_ptr<BrokerProcess>> BrokerProcess::Start(BrokerProcessOptions options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("BrokerProcess: no data_dir");
  std::unique_ptr<BrokerProcess> p(new BrokerProcess(std::move(options)));
  RETURN_IF_ERROR(p->Spawn(0));
  return p;
}

BrokerProcess::~BrokerProcess() {
  if (running()) Kill();
}

Status BrokerProcess::Spawn(uint16_t port) {
  runs_++;
  log_path_ = absl::StrCat(options_.data_dir, ".spoold.", runs_, ".log");
  const std::string ready = absl::StrCat(options_.data_dir, ".ready");
  ::unlink(ready.c_str());
  std::vector<std::string> args = {SpooldPath(),
                                   "--data-dir",
                                   options_.data_dir,
                                   "--listen",
                                   absl::StrCat("127.0.0.1:", port),
                                   "--reactors",
                                   std::to_string(options_.reactors),
                                   "--ready-file",
                                   ready};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  ASSIGN_OR_RETURN(pid_, SpawnChild(args, log_path_));
  if (!wait_ready_) return Status();
  return WaitReady();
}

StatusOr<std::unique_ptr<BrokerProcess>> BrokerProcess::Launch(BrokerProcessOptions options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("BrokerProcess: no data_dir");
  std::unique_ptr<BrokerProcess> p(new BrokerProcess(std::move(options)));
  p->wait_ready_ = false;
  Status st = p->Spawn(0);
  p->wait_ready_ = true;
  RETURN_IF_ERROR(st);
  return p;
}

Status BrokerProcess::WaitReady() {
  const std::string ready = absl::StrCat(options_.data_dir, ".ready");
  const auto deadline = SteadyClock::now() + options_.start_timeout;
  for (;;) {
    const std::string text = ReadWholeFile(ready);  // written by rename: whole or absent
    if (!text.empty() && text.back() == '\n') {
      // Line 1: the client listener (the controller's for a controller-only process); then
      // "controller host:port" when the process has the controller role.
      const size_t eol = text.find('\n');
      std::optional<uint16_t> port = ParsePortOfLine(text.substr(0, eol));
      std::optional<uint16_t> controller_port;
      constexpr std::string_view kController = "controller ";
      const std::string rest = text.substr(eol + 1);
      if (!rest.empty()) {
        if (rest.compare(0, kController.size(), kController) == 0) {
          controller_port = ParsePortOfLine(
              rest.substr(kController.size(), rest.size() - 1 - kController.size()));
        }
        if (!controller_port) port.reset();
      }
      if (!port) {
        Kill();
        return absl::InternalError(absl::StrCat("bad ready file: '", text, "'"));
      }
      port_ = *port;
      controller_port_ = controller_port.value_or(0);
      return Status();
    }
    int code = 0;
    if (Reap(&code)) {
      return absl::InternalError(
          absl::StrCat("spoold exited during start-up (code ", code, "); log:\n", log_tail()));
    }
    if (SteadyClock::now() > deadline) {
      Kill();
      return absl::DeadlineExceededError(absl::StrCat(
          "spoold not ready within ", options_.start_timeout.count(), " ms; log:\n", log_tail()));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

bool BrokerProcess::Reap(int* exit_code) {
  if (pid_ <= 0) return true;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    *exit_code = r == pid_ ? ExitCodeOf(status) : -1;
    pid_ = -1;
    return true;
  }
  return false;
}

Status BrokerProcess::Terminate(std::chrono::milliseconds timeout) {
  if (!running()) return absl::FailedPreconditionError("spoold is not running");
  ::kill(pid_, SIGTERM);
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      last_exit_code_ = ExitCodeOf(status);
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status();
      return absl::InternalError(
          absl::StrCat("spoold ", DescribeStatus(status), " after SIGTERM; log:\n", log_tail()));
    }
    if (r < 0 && errno != EINTR) {
      pid_ = -1;
      return ErrnoStatus(errno, "waitpid");
    }
    if (SteadyClock::now() > deadline) {
      Kill();
      last_exit_code_ = -1;
      return absl::DeadlineExceededError(absl::StrCat(
          "spoold did not exit within ", timeout.count(), " ms of SIGTERM; log:\n", log_tail()));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

void BrokerProcess::Kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void BrokerProcess::Pause() {
  if (running()) ::kill(pid_, SIGSTOP);
}

void BrokerProcess::Resume() {
  if (running()) ::kill(pid_, SIGCONT);
}

Status BrokerProcess::Restart() {
  if (running()) return absl::FailedPreconditionError("spoold is still running");
  return Spawn(port_);
}

std::string BrokerProcess::log() const {
  return ReadWholeFile(log_path_);
}

std::string BrokerProcess::log_tail(int lines) const {
  const std::string text = log();
  std::deque<std::string> tail;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    tail.push_back(line);
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string out;
  for (const std::string& l : tail) absl::StrAppend(&out, l, "\n");
  return out;
}

StatusOr<ProcessResult> RunSpoold(const std::vector<std::string>& args,
                                  std::chrono::milliseconds timeout) {
  char tmpl[] = "/tmp/spoold-run-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) return ErrnoStatus(errno, "mkstemp");
  ::close(fd);
  const std::string log_path = tmpl;
  std::vector<std::string> full = {SpooldPath()};
  full.insert(full.end(), args.begin(), args.end());
  StatusOr<pid_t> pid = SpawnChild(full, log_path);
  if (!pid.ok()) {
    ::unlink(log_path.c_str());
    return pid.status();
  }
  const auto deadline = SteadyClock::now() + timeout;
  ProcessResult result;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(*pid, &status, WNOHANG);
    if (r == *pid) {
      result.exit_code = ExitCodeOf(status);
      break;
    }
    if (SteadyClock::now() > deadline) {
      ::kill(*pid, SIGKILL);
      ::waitpid(*pid, &status, 0);
      result.exit_code = -1;
      break;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  result.output = ReadWholeFile(log_path);
  ::unlink(log_path.c_str());
  return result;
}

}  // namespace spool::testing
