// spoold: the Spool process. main() only: parse the command line (spoold_flags.h), start the
// shards, then by process.roles (broker/README.md, "Roles"):
//   - controller: bind the controller listener, start the Raft transport and the QuorumController
//     on shard 0 (Raft files under metadata.log.dir) and serve the controller service there;
//   - broker: bind the client listener, open the Broker (recovery, registration with the
//     quorum) and serve it.
// The controller comes first, so a combined node's broker can register with it. Then announce the
// addresses (stdout, ready file), wait for SIGTERM/SIGINT and shut down in reverse: the broker
// (PrepareShutdown, client Server::Stop, Broker::Close), then the controller (its listener's
// Server::Stop, QuorumController::Stop, TcpTransport::Stop). A failed start-up undoes what it
// started the same way. Every step logs one event line (server_log.h).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/broker.h"
#include "broker/controller_service.h"
#include "broker/server.h"
#include "broker/server_log.h"
#include "broker/shard.h"
#include "broker/spoold_flags.h"
#include "common/clock.h"
#include "common/io/event.h"
#include "replication/controller/quorum_controller.h"
#include "replication/raft/raft_node.h"
#include "replication/raft/tcp_transport.h"

namespace spool::broker {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Raft batches are up to 4 MiB (TcpTransportOptions::max_batch_bytes): the controller listener
// takes bodies of at least this much.
constexpr uint32_t kControllerMaxBodyBytes = 8u << 20;
// How often the controller's role is looked at for the event=controller_role log line.
constexpr auto kRoleLogInterval = std::chrono::milliseconds(100);

int64_t MillisSince(SteadyClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count();
}

std::string StatusText(const Status& st) {
  return LogValue(st.ok() ? std::string("ok") : std::string(st.ToString()));
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

std::string VotersText(const std::vector<raft::QuorumVoter>& voters) {
  return absl::StrJoin(voters, ",", [](std::string* out, const raft::QuorumVoter& v) {
    absl::StrAppend(out, v.id.value(), "@", v.address.ToString());
  });
}

// Where peers (and this node's broker) reach a listener bound to `bound`: a wildcard host is
// reached on loopback.
io::HostPort Reachable(io::HostPort bound) {
  if (bound.host == "0.0.0.0" || bound.host.empty()) bound.host = "127.0.0.1";
  if (bound.host == "::") bound.host = "::1";
  return bound;
}

// Everything spoold starts, each member set once its step succeeded. Created on the main
// thread; the members are used and destroyed on shard 0.
struct Running {
  // The controller role.
  std::unique_ptr<Server> controller_server;  // bound on the main thread
  std::unique_ptr<raft::TcpTransport> transport;
  std::unique_ptr<controller::QuorumController> controller;
  std::unique_ptr<RequestHandler> controller_service;
  bool role_log_running = false;
  bool role_log_stop = false;
  std::unique_ptr<io::Event> role_log_done;
  // The broker role.
  std::unique_ptr<Server> server;  // bound on the main thread
  std::unique_ptr<Broker> broker;
};

// Logs the controller's role whenever it changes (so the log shows the elections), until
// role_log_stop. Shard 0.
Task<void> LogControllerRole(Running* running, io::Reactor* reactor) {
  std::string last;
  const std::chrono::nanoseconds interval = kRoleLogInterval;
  while (!running->role_log_stop) {
    const controller::QuorumStatus st = running->controller->status();
    const std::string now =
        absl::StrCat("role=", raft::RoleName(st.raft.role), " term=", st.raft.term.value(),
                     " leader=", st.raft.leader.value(), " active=", st.active ? "true" : "false");
    if (now != last) {
      LogEvent(LogLevel::kInfo, "spoold", absl::StrCat("event=controller_role ", now));
      last = now;
    }
    co_await reactor->sleep_for(interval);
  }
  running->role_log_done->set();
}

// On shard 0: the Raft transport, the QuorumController and its service on the (already bound)
// controller listener.
Task<Status> StartController(ShardSet* shards, const BrokerConfig* config, Running* running) {
  const auto t0 = SteadyClock::now();
  io::Reactor& reactor = *shards->shard(0).reactor;
  const raft::NodeId self{static_cast<uint32_t>(config->node_id)};
  raft::TcpTransportOptions transport_options;
  transport_options.self = self;
  transport_options.voters = config->voters;
  transport_options.cluster_id = config->cluster_id;
  StatusOr<std::unique_ptr<raft::TcpTransport>> transport =
      raft::TcpTransport::Create(reactor, std::move(transport_options));
  if (!transport.ok()) co_return transport.status();
  running->transport = *std::move(transport);

  controller::QuorumControllerOptions options;
  options.driver.raft.id = self;
  for (const raft::QuorumVoter& v : config->voters) options.driver.raft.voters.push_back(v.id);
  options.driver.raft.election_timeout_ns = config->controller_election_timeout_ms * 1'000'000;
  options.driver.raft.heartbeat_interval_ns = options.driver.raft.election_timeout_ns / 10;
  options.driver.dir = config->metadata_log_dir;
  options.driver.cluster_id = config->cluster_id;
  options.config.session_timeout_ms = config->broker_session_timeout_ms;
  options.config.auto_leader_rebalance = config->auto_leader_rebalance;
  options.config.leader_imbalance_check_interval_ms = config->leader_imbalance_check_interval_ms;
  options.config.leader_imbalance_per_broker_percentage =
      config->leader_imbalance_per_broker_percentage;
  options.config.default_num_partitions = config->default_partitions;
  options.config.default_replication_factor = config->default_replication_factor;
  Task<StatusOr<std::unique_ptr<controller::QuorumController>>> starting =
      controller::QuorumController::Start(reactor, *shards->shard(0).fs, std::move(options),
                                          *running->transport);
  StatusOr<std::unique_ptr<controller::QuorumController>> controller = co_await std::move(starting);
  if (!controller.ok()) co_return controller.status();
  running->controller = *std::move(controller);
  running->controller_service =
      MakeControllerService(*shards, 0, *running->controller, config->cluster_id);
  running->controller_server->Serve(*running->controller_service);
  running->role_log_done = std::make_unique<io::Event>(reactor);
  running->role_log_running = true;
  reactor.spawn(LogControllerRole(running, &reactor));
  LogEvent(LogLevel::kInfo, "spoold",
           absl::StrCat("event=controller_started elapsed_ms=", MillisSince(t0),
                        " node.id=", config->node_id, " voters=", VotersText(config->voters),
                        " metadata_log_dir=", LogValue(config->metadata_log_dir),
                        " listen=", running->controller_server->address().ToString()));
  co_return Status();
}

// On shard 0: Broker::Open (recovery, registration), then the (already bound) client Server
// starts accepting.
Task<Status> StartBroker(ShardSet* shards, const BrokerConfig* config, Running* running) {
  const auto t0 = SteadyClock::now();
  const size_t dirs = CountEntries(config->data_dir);
  Task<StatusOr<std::unique_ptr<Broker>>> opening =
      Broker::Open(*shards, *config, SystemClock::Get());
  StatusOr<std::unique_ptr<Broker>> broker = co_await std::move(opening);
  if (!broker.ok()) co_return broker.status();
  running->broker = *std::move(broker);
  LogEvent(LogLevel::kInfo, "spoold",
           absl::StrCat("event=broker_opened elapsed_ms=", MillisSince(t0),
                        " data_dir=", LogValue(config->data_dir), " dirs_found=", dirs));
  running->server->Serve(running->broker->handler());
  co_return Status();
}

// On shard 0: stops and destroys whatever `running` holds, the broker first, then the
// controller. The first error of Broker::Close and QuorumController::Stop is the result. Used for
// the orderly shutdown and to undo a failed start-up.
Task<Status> StopAll(Running* running) {
  const auto t0 = SteadyClock::now();
  Status result;
  if (running->broker != nullptr) {
    // Parked requests (JoinGroup/SyncGroup, long-poll fetches) are answered first, so a client
    // that has gone away cannot hold up Server::Stop().
    Task<void> preparing = running->broker->PrepareShutdown();
    co_await std::move(preparing);
    LogEvent(LogLevel::kInfo, "spoold",
             absl::StrCat("event=broker_prepared elapsed_ms=", MillisSince(t0)));
  }
  if (running->server != nullptr) {
    Task<void> stopping = running->server->Stop();  // only closes the listeners if not serving
    co_await std::move(stopping);
    LogEvent(LogLevel::kInfo, "spoold",
             absl::StrCat("event=server_stopped elapsed_ms=", MillisSince(t0)));
  }
  if (running->broker != nullptr) {
    Task<Status> closing = running->broker->Close();
    Status st = co_await std::move(closing);
    LogEvent(st.ok() ? LogLevel::kInfo : LogLevel::kError, "spoold",
             absl::StrCat("event=broker_closed elapsed_ms=", MillisSince(t0),
                          " status=", StatusText(st)));
    if (result.ok()) result = st;
  }
  running->server.reset();
  running->broker.reset();

  if (running->role_log_running) {
    running->role_log_stop = true;
    co_await running->role_log_done->wait();
    running->role_log_running = false;
  }
  if (running->controller_server != nullptr) {
    // Parked FetchMetadata long polls of brokers answer now, so they do not hold up the stop.
    if (running->controller != nullptr) running->controller->EndLongPolls();
    Task<void> stopping = running->controller_server->Stop();
    co_await std::move(stopping);
    LogEvent(LogLevel::kInfo, "spoold",
             absl::StrCat("event=controller_listener_stopped elapsed_ms=", MillisSince(t0)));
  }
  if (running->controller != nullptr) {
    Task<Status> stopping = running->controller->Stop();
    Status st = co_await std::move(stopping);
    LogEvent(st.ok() ? LogLevel::kInfo : LogLevel::kError, "spoold",
             absl::StrCat("event=controller_stopped elapsed_ms=", MillisSince(t0),
                          " status=", StatusText(st)));
    if (result.ok()) result = st;
  }
  if (running->transport != nullptr) {
    Task<void> stopping = running->transport->Stop();
    co_await std::move(stopping);
    LogEvent(LogLevel::kInfo, "spoold",
             absl::StrCat("event=transport_stopped elapsed_ms=", MillisSince(t0)));
  }
  // The service goes after its listener, the controller after its service, the transport last.
  running->controller_server.reset();
  running->controller_service.reset();
  running->controller.reset();
  running->transport.reset();
  running->role_log_done.reset();
  co_return result;
}

// On shard 0: the controller, then the broker; on a failure, undoes the steps that succeeded.
Task<void> StartOnShard0(ShardSet* shards, const BrokerConfig* config, Running* running,
                         std::promise<Status>* started) {
  Status st;
  if (config->role_controller) {
    Task<Status> starting = StartController(shards, config, running);
    st = co_await std::move(starting);
    if (!st.ok()) st = Status(st.code(), absl::StrCat("controller: ", st.message()));
  }
  if (st.ok() && config->role_broker) {
    Task<Status> starting = StartBroker(shards, config, running);
    st = co_await std::move(starting);
    if (!st.ok()) st = Status(st.code(), absl::StrCat("broker: ", st.message()));
  }
  if (!st.ok()) {
    LogEvent(LogLevel::kError, "spoold",
             absl::StrCat("event=start_failed error=", LogValue(st.ToString()), " action=undo"));
    Task<Status> undoing = StopAll(running);
    (void)co_await std::move(undoing);  // the start-up error is the one reported
  }
  started->set_value(st);
}

Task<void> StopOnShard0(Running* running, std::promise<Status>* stopped) {
  Task<Status> stopping = StopAll(running);
  Status st = co_await std::move(stopping);
  stopped->set_value(st);
}

std::string SignalName(int sig) {
  if (sig == SIGTERM) return "SIGTERM";
  if (sig == SIGINT) return "SIGINT";
  return std::to_string(sig);
}

// Binds the controller listener (on the main thread, before anything starts). In single-node
// mode the voter set becomes this node alone, at the bound address.
Status BindController(ShardSet& shards, BrokerConfig& config, Running& running) {
  ServerOptions options = ServerOptionsFromConfig(config);
  options.listen = config.controller_listen;
  options.frame_limits.max_body_bytes =
      std::max(options.frame_limits.max_body_bytes, kControllerMaxBodyBytes);
  options.frame_limits.max_frame_bytes =
      std::max<uint32_t>(options.frame_limits.max_frame_bytes,
                         options.frame_limits.max_body_bytes + proto::kFrameHeaderSize);
  StatusOr<std::unique_ptr<Server>> bound = Server::Bind(shards, options);
  if (!bound.ok()) {
    return Status(bound.status().code(),
                  absl::StrCat("cannot listen on ", config.controller_listen.ToString(),
                               " (controller): ", bound.status().ToString()));
  }
  running.controller_server = *std::move(bound);
  config.controller_listen.port = running.controller_server->address().port;
  const bool single = SingleNodeQuorum(config);
  if (single) {
    config.voters = {raft::QuorumVoter{raft::NodeId{static_cast<uint32_t>(config.node_id)},
                                       Reachable(running.controller_server->address())}};
    config.single_node = true;
  }
  LogEvent(LogLevel::kInfo, "spoold",
           absl::StrCat("event=controller_listener_bound address=",
                        running.controller_server->address().ToString(), " voters=",
                        VotersText(config.voters), " single_node=", single ? "true" : "false"));
  return Status();
}

// Binds the client listener. Before recovery: a port conflict fails fast, and with port 0 the
// broker learns its port before it opens, so Metadata advertises the real one.
Status BindBroker(ShardSet& shards, BrokerConfig& config, Running& running) {
  StatusOr<std::unique_ptr<Server>> bound = Server::Bind(shards, ServerOptionsFromConfig(config));
  if (!bound.ok()) {
    return Status(bound.status().code(), absl::StrCat("cannot listen on ", config.listen.ToString(),
                                                      ": ", bound.status().ToString()));
  }
  running.server = *std::move(bound);
  config.listen.port = running.server->address().port;
  if (!config.advertised.host.empty() && config.advertised.port == 0) {
    config.advertised.port = config.listen.port;
  }
  LogEvent(LogLevel::kInfo, "spoold",
           absl::StrCat("event=listener_bound address=", running.server->address().ToString()));
  return Status();
}

// Bound but never started listeners are only closed (Server::Stop on shard 0).
void CloseBound(ShardSet& shards, Running& running) {
  std::promise<Status> stopped;
  shards.post(0, [&] { shards.shard(0).reactor->spawn(StopOnShard0(&running, &stopped)); });
  (void)stopped.get_future().get();  // nothing was started: closing listeners cannot fail
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

  std::vector<std::string> dirs = {config.data_dir};
  if (config.role_controller) dirs.push_back(config.metadata_log_dir);
  for (const std::string& dir : dirs) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      std::fprintf(stderr, "spoold: cannot create directory %s: %s\n", dir.c_str(),
                   ec.message().c_str());
      return 1;
    }
  }
  LogEvent(LogLevel::kInfo, "spoold",
           absl::StrCat("event=starting version=", kSpooldVersion, " node.id=", config.node_id,
                        " roles=", RolesText(config), " data_dir=", LogValue(config.data_dir),
                        " reactors=", config.reactors,
                        config.role_broker ? absl::StrCat(" listen=", config.listen.ToString())
                                           : std::string(),
                        config.role_controller ? absl::StrCat(" controller_listen=",
                                                              config.controller_listen.ToString())
                                               : std::string()));

  StatusOr<std::unique_ptr<ShardSet>> started_shards = ShardSet::Start(config.reactors);
  if (!started_shards.ok()) {
    std::fprintf(stderr, "spoold: cannot start %d reactors: %s\n", config.reactors,
                 started_shards.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<ShardSet> shards = *std::move(started_shards);
  const std::string backend(io::BackendName(shards->shard(0).reactor->backend()));

  Running running;
  Status bound;
  if (config.role_controller) bound = BindController(*shards, config, running);
  if (bound.ok() && config.role_broker) bound = BindBroker(*shards, config, running);
  if (!bound.ok()) {
    std::fprintf(stderr, "spoold: %s\n", std::string(bound.message()).c_str());
    CloseBound(*shards, running);
    shards.reset();
    return 1;
  }
  std::promise<Status> started;
  shards->post(0, [&] {
    shards->shard(0).reactor->spawn(StartOnShard0(shards.get(), &config, &running, &started));
  });
  if (Status st = started.get_future().get(); !st.ok()) {
    std::fprintf(stderr, "spoold: cannot start: %s\n", st.ToString().c_str());
    shards.reset();  // joins the shard threads before `running` and `started` go away
    return 1;
  }
  std::string ready;
  if (config.role_controller) {
    const std::string address = config.controller_listen.ToString();
    std::printf("spoold: controller listening on %s (node %d, voters %s, metadata dir %s)\n",
                address.c_str(), config.node_id, VotersText(config.voters).c_str(),
                config.metadata_log_dir.c_str());
    if (!config.role_broker) ready = address + "\n";
  }
  if (config.role_broker) {
    const std::string address = running.server->address().ToString();
    std::printf("spoold: listening on %s (node %d, %d reactors, io backend %s, data dir %s)\n",
                address.c_str(), config.node_id, config.reactors, backend.c_str(),
                config.data_dir.c_str());
    ready = address + "\n";
  }
  if (config.role_controller) {
    absl::StrAppend(&ready, "controller ", config.controller_listen.ToString(), "\n");
  }
  std::fflush(stdout);
  if (!config.ready_file.empty()) {
    if (Status st = WriteFileAtomically(config.ready_file, ready); !st.ok()) {
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
