// Internals of the Server (server.h): one client connection, the per-shard listener state, and
// what every shard shares. Not an API for other components.
//
// Connection: a reader coroutine (recv into the FrameDecoder, one handler task per frame, the
// in-flight limits), a writer coroutine (sends the slots' responses in request order), and
// Run(), which owns both and closes the socket when both are done. Everything of a Connection is
// touched only on its shard's thread; the handler tasks it spawns hold a shared_ptr to it, so a
// handler that finishes after the connection closed finds it alive (and drops its response).
//
// NetShared: the handler, the options, the counters and the broker-wide in-flight byte budget,
// shared by every shard (atomics), plus one ShardNet per shard (touched only on that shard,
// except the atomic `wake_posted`).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/handler.h"
#include "broker/server.h"
#include "broker/shard.h"
#include "common/io/event.h"
#include "common/io/reactor.h"
#include "common/task.h"
#include "proto/frame_decoder.h"

namespace spool::broker::detail {

class Connection;

struct NetCounters {
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_rejected{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> responses{0};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> framing_errors{0};
  std::atomic<uint64_t> read_pauses{0};
};

// What Stop() waits on: set when a connection of the shard finishes or the deadline passes.
// Shared with the deadline timer, which may outlive the wait.
struct StopWait {
  explicit StopWait(io::Reactor& r) : progress(r) {}
  io::Event progress;
  bool timed_out = false;
};

// One shard's listener and connections. Shard thread only (but see wake_posted).
struct ShardNet {
  ShardNet(int id, io::Reactor& r) : shard(id), reactor(r), accept_done(r) {}

  int shard;
  io::Reactor& reactor;
  int listen_fd = -1;
  bool stopping = false;
  io::Event accept_done;
  std::map<uint64_t, std::shared_ptr<Connection>> connections;
  // Connections waiting for the broker-wide budget to drop.
  std::vector<std::weak_ptr<Connection>> budget_waiters;
  std::atomic<bool> wake_posted{false};
  std::shared_ptr<StopWait> stop_wait;  // while Stop() runs

  // Removes a finished connection and tells Stop().
  void OnClosed(uint64_t id);
  // Wakes every connection of this shard waiting for the broker-wide budget.
  void WakeBudgetWaiters();
};

struct NetShared : std::enable_shared_from_this<NetShared> {
  NetShared(ShardSet& s, ServerOptions o) : shards(s), options(o) {}

  ShardSet& shards;
  RequestHandler* handler = nullptr;  // set by Server::Serve() before any accept loop runs
  const ServerOptions options;
  NetCounters counters;
  std::atomic<uint64_t> inflight_total{0};
  std::atomic<int> budget_waiters{0};  // connections (all shards) paused on the total
  std::atomic<uint64_t> next_connection_id{1};
  std::vector<std::unique_ptr<ShardNet>> shard_nets;  // index: shard id

  bool OverTotalBudget() const {
    return inflight_total.load(std::memory_order_relaxed) > options.max_inflight_bytes_total;
  }
  // After bytes of the total budget were released: wakes the paused connections of every shard
  // (one post per shard at a time) when the total is back within the budget.
  void NotifyBudgetReleased();
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<NetShared> net, ShardNet& shard, int fd, uint64_t id,
             std::string peer);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs the connection until it is closed; spawn it on the shard's reactor.
  static Task<void> Run(std::shared_ptr<Connection> self);

  // Stops reading new requests; the responses of those already read are still sent, then the
  // connection closes.
  void BeginStop();
  // Closes now: pending responses are dropped. `reason` is logged (empty: no log line).
  void Abort(std::string_view reason);
  // The in-flight budget may have room again.
  void WakeReader() { read_wake_.set(); }

 private:
  struct Slot {
    uint32_t request_bytes = 0;
    bool filled = false;
    std::optional<Response> response;
  };

  Task<void> ReadLoop();
  static Task<void> WriteLoop(std::shared_ptr<Connection> self);
  static Task<void> HandleRequest(std::shared_ptr<Connection> self, uint64_t seq,
                                  proto::Frame frame);
  void Dispatch(proto::Frame frame);
  void Complete(uint64_t seq, std::optional<Response> response);
  // Drops the front slot and gives its bytes back to both budgets.
  void PopFront();
  bool OverConnectionBudget() const {
    return inflight_ > 0 && inflight_ > net_->options.max_inflight_bytes_per_connection;
  }
  void FramingError(std::string_view reason);
  // A graceful end: drops what is still queued to read, then half-closes (FIN after the data).
  void DrainAndFinish();

  std::shared_ptr<NetShared> net_;
  ShardNet& shard_;
  io::Reactor& reactor_;
  const int fd_;
  RequestContext context_;
  proto::FrameDecoder decoder_;

  std::deque<Slot> slots_;
  uint64_t first_seq_ = 0;  // sequence number of slots_.front()
  uint64_t inflight_ = 0;   // sum of slots_' request_bytes

  io::Event read_wake_;
  io::Event write_wake_;
  io::Event writer_done_;
  bool stopping_ = false;     // BeginStop(): read no more
  bool aborted_ = false;      // Abort(): send no more
  bool reader_done_ = false;  // the reader has returned
  bool closed_ = false;       // the socket is closed; late completions are dropped
};

}  // namespace spool::broker::detail
