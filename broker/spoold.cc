// spoold: the Spool broker process. main() only: parse the command line (spoold_flags.h), start
// the shards, open the Broker (recovery) and the Server on shard 0, announce the address, then
// wait for SIGTERM/SIGINT and shut down in order: Server::Stop() (no new requests, responses in
// flight sent), Broker::Close() (flush, clean-shutdown markers). broker/README.md documents it.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "broker/broker.h"
#include "broker/server.h"
#include "broker/server_log.h"
#include "broker/shard.h"
#include "broker/spoold_flags.h"
#include "common/clock.h"

namespace spool::broker {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t MillisSince(SteadyClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count();
}

// Writes `text` to `path` atomically: a temp file in the same directory, then rename.
Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", tmp));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoStatus(err, absl::StrCat("write ", tmp));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) < 0) return ErrnoStatus(errno, absl::StrCat("close ", tmp));
  if (::rename(tmp.c_str(), path.c_str()) < 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, absl::StrCat("rename ", tmp, " to ", path));
  }
  return Status();
}

// What the data dir holds before the broker opens it, for the recovery log line.
size_t CountEntries(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec)) n++;
  }
  return n;
}

struct Running {
  std::unique_ptr<Broker> broker;
  std::unique_ptr<Server> server;
};

// On shard 0: Broker::Open (recovery), then the (already bound) Server starts accepting.
Task<void> StartOnShard0(ShardSet* shards, const BrokerConfig* config, Running* running,
                         std::promise<Status>* started) {
  const auto t0 = SteadyClock::now();
  const size_t dirs = CountEntries(config->data_dir);
  Task<StatusOr<std::unique_ptr<Broker>>> opening =
      Broker::Open(*shards, *config, SystemClock::Get());
  StatusOr<std::unique_ptr<Broker>> broker = co_await std::move(opening);
  if (!broker.ok()) {
    Task<void> stopping = running->server->Stop();  // only closes the listeners
    co_await std::move(stopping);
    running->server.reset();
    started->set_value(broker.status());
    co_return;
  }
  running->broker = *std::move(broker);
  LogEvent(LogLevel::kInfo, "spoold",
           absl::StrCat("event=broker_opened elapsed_ms=", MillisSince(t0),
                        " data_dir=", LogValue(config->data_dir), " dirs_found=", dirs));
  running->server->Serve(running->broker->handler());
  started->set_value(Status());
}

// On shard 0: the orderly shutdown. Both objects are destroyed here, on the shard that made them.
Task<void> StopOnShard0(Running* running, std::promise<Status>* stopped) {
  const auto t0 = SteadyClock::now();
  // Parked requests (JoinGroup/SyncGroup, long-poll fetches) are answered first, so a client
  // that has gone away cannot hold up Server::Stop().
  Task<void> preparing = running->broker->PrepareShutdown();
  co_await std::move(preparing);
  Task<void> stopping = running->server->Stop();
  co_await std::move(stopping);
  LogEvent(LogLevel::kInfo, "spoold",
           absl::StrCat("event=server_stopped elapsed_ms=", MillisSince(t0)));
  Task<Status> closing = running->broker->Close();
  Status st = co_await std::move(closing);
  LogEvent(st.ok() ? LogLevel::kInfo : LogLevel::kError, "spoold",
           absl::StrCat("event=broker_closed elapsed_ms=", MillisSince(t0), " status=",
                        LogValue(st.ok() ? std::string("ok") : std::string(st.ToString()))));
  running->server.reset();
  running->broker.reset();
  stopped->set_value(st);
}

std::string SignalName(int sig) {
  if (sig == SIGTERM) return "SIGTERM";
  if (sig == SIGINT) return "SIGINT";
  return std::to_string(sig);
}

int Main(int argc, char** argv) {
  StatusOr<SpooldFlags> flags = ParseSpooldFlags(argc, argv);
  if (!flags.ok()) {
    std::fprintf(stderr, "spoold: %s\nrun 'spoold --help' for the flags\n",
                 std::string(flags.status().message()).c_str());
    return 2;
  }
  if (flags->help) {
    std::fputs(SpooldUsage().c_str(), stdout);
    return 0;
  }
  if (flags->version) {
    std::printf("spoold %s\n", kSpooldVersion);
    return 0;
  }
  BrokerConfig& config = flags->config;

  // Before any thread starts, so every thread inherits the mask: SIGTERM/SIGINT are taken by
  // sigwait() below only, and SIGPIPE never kills the process (sends use MSG_NOSIGNAL anyway).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  sigdelset(&signals, SIGPIPE);

  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "spoold: cannot create data dir %s: %s\n", config.data_dir.c_str(),
                 ec.message().c_str());
    return 1;
  }
  LogEvent(LogLevel::kInfo, "spoold",
           absl::StrCat("event=starting version=", kSpooldVersion, " node.id=", config.node_id,
                        " data_dir=", LogValue(config.data_dir), " reactors=", config.reactors,
                        " listen=", config.listen.ToString()));

  StatusOr<std::unique_ptr<ShardSet>> started_shards = ShardSet::Start(config.reactors);
  if (!started_shards.ok()) {
    std::fprintf(stderr, "spoold: cannot start %d reactors: %s\n", config.reactors,
                 started_shards.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<ShardSet> shards = *std::move(started_shards);
  const std::string backend(io::BackendName(shards->shard(0).reactor->backend()));

  Running running;
  // Bind before recovery: a port conflict fails fast, and with port 0 the broker learns its port
  // before it opens, so Metadata advertises the real one (the Broker reads this config).
  StatusOr<std::unique_ptr<Server>> bound = Server::Bind(*shards, ServerOptionsFromConfig(config));
  if (!bound.ok()) {
    std::fprintf(stderr, "spoold: cannot listen on %s: %s\n", config.listen.ToString().c_str(),
                 bound.status().ToString().c_str());
    return 1;
  }
  running.server = *std::move(bound);
  config.listen.port = running.server->address().port;
  if (!config.advertised.host.empty() && config.advertised.port == 0) {
    config.advertised.port = config.listen.port;
  }
  std::promise<Status> started;
  shards->post(0, [&] {
    shards->shard(0).reactor->spawn(StartOnShard0(shards.get(), &config, &running, &started));
  });
  if (Status st = started.get_future().get(); !st.ok()) {
    std::fprintf(stderr, "spoold: cannot start the broker: %s\n", st.ToString().c_str());
    shards.reset();  // joins the shard threads before `running` and `started` go away
    return 1;
  }
  const std::string address = running.server->address().ToString();
  std::printf("spoold: listening on %s (node %d, %d reactors, io backend %s, data dir %s)\n",
              address.c_str(), config.node_id, config.reactors, backend.c_str(),
              config.data_dir.c_str());
  std::fflush(stdout);
  if (!config.ready_file.empty()) {
    if (Status st = WriteFileAtomically(config.ready_file, address + "\n"); !st.ok()) {
      LogEvent(LogLevel::kError, "spoold",
               absl::StrCat("event=ready_file_failed error=", LogValue(st.ToString())));
    }
  }

  int sig = 0;
  while (sigwait(&signals, &sig) != 0) {
  }
  LogEvent(LogLevel::kInfo, "spoold",
           absl::StrCat("event=signal signal=", SignalName(sig), " action=shutdown"));
  std::promise<Status> stopped;
  std::future<Status> stopped_f = stopped.get_future();
  shards->post(0, [&] { shards->shard(0).reactor->spawn(StopOnShard0(&running, &stopped)); });
  // A second signal while shutting down means "now": exit without waiting (the next start
  // recovers, as after a crash).
  const timespec tick{0, 100 * 1000 * 1000};
  while (stopped_f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    siginfo_t info;
    if (sigtimedwait(&signals, &info, &tick) > 0) {
      LogEvent(LogLevel::kWarning, "spoold",
               absl::StrCat("event=signal signal=", SignalName(info.si_signo), " action=exit_now"));
      std::fflush(stdout);
      ::_exit(1);
    }
  }
  const Status closed = stopped_f.get();
  shards.reset();
  LogEvent(LogLevel::kInfo, "spoold", closed.ok() ? "event=exit code=0" : "event=exit code=1");
  return closed.ok() ? 0 : 1;
}

}  // namespace
}  // namespace spool::broker

int main(int argc, char** argv) {
  return spool::broker::Main(argc, argv);
}
