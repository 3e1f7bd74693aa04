// ClientRuntime: the background I/O thread of one Producer or Consumer (ARCHITECTURE.md §3:
// clients use their own I/O thread, so Producer::send and Consumer::poll work from any thread).
//
// It runs one io::Reactor on its own thread. User threads hand it work with post() (fire and
// forget) or call() (block until a Task run on the I/O thread completes). Everything that talks to
// the network (BrokerConnection, Cluster) lives on this thread only.
//
// Lifetime: Start() returns once the reactor is up. shutdown() (or the destructor) stops the loop
// and joins the thread; work still queued is dropped, so owners first finish their own work on
// the thread (e.g. a producer's close() flushes, then shuts the runtime down).
#pragma once

#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"

namespace spool::client {

class ClientRuntime {
 public:
  // `name` names the thread ("spool-producer", ...; at most 15 characters are kept).
  static StatusOr<std::unique_ptr<ClientRuntime>> Start(std::string name,
                                                        io::ReactorOptions options = {});
  ~ClientRuntime();

  io::Reactor& reactor() { return *reactor_; }
  bool on_io_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

  // Runs fn on the I/O thread. Any thread.
  void post(absl::AnyInvocable<void()> fn) { reactor_->post(std::move(fn)); }

  // Runs fn() on the I/O thread, waits for its Task, and returns the result. Not from the I/O
  // thread itself (that would deadlock).
  template <typename T>
  T call(absl::AnyInvocable<Task<T>()> fn);

  void shutdown();

 private:
  ClientRuntime() = default;
  std::unique_ptr<io::Reactor> reactor_;
  std::thread thread_;
};

}  // namespace spool::client
