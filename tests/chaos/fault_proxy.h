// FaultProxy: a userspace TCP proxy for fault injection between two endpoints (client-broker,
// broker-broker, broker-controller), standing in for the network faults tc netem and iptables
// would give (this machine has neither). Point one side at the proxy's port instead of the other
// side's, then drive faults from the test:
//
//   * SetDelay(direction, delay, jitter): each chunk read in that direction is held until
//     now + delay + a uniform [0, jitter] draw (seeded), never before an earlier chunk of the
//     same connection and direction, so the byte stream stays in order (TCP's guarantee).
//   * BlackHole(direction): bytes in that direction are read and held, not delivered, while the
//     connection stays open: a one-way loss, or both ways an isolated peer that never answers.
//     After Heal() the held bytes are delivered, as TCP's retransmissions would once the network
//     is back (a real connection may also time out meanwhile: DropConnections() for that).
//   * DropConnections(): every open connection is reset (RST to both sides, what a peer's crash
//     or a dropped route looks like to the endpoints).
//   * RefuseNew(true): new connections are accepted and reset at once (a node nobody can reach).
//   * Heal(): no delay, no black hole, new connections accepted; held bytes flow again.
//
// Bytes are never changed, dropped from the middle of a stream, or reordered: a fault is a stall
// or a reset, so the endpoints see only what a real network can do to a TCP connection.
//
// Threading: one internal thread runs every connection (poll(2) over non-blocking sockets); the
// public methods may be called from any thread and take effect within one poll round. The
// destructor stops the thread and closes every socket. Not for production code: it lives in the
// chaos harness (tests/chaos).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "common/io/socket.h"
#include "common/status.h"

namespace spool::testing {

class FaultProxy {
 public:
  enum class Direction { kToTarget, kToClient, kBoth };
  struct Stats {
    uint64_t accepted = 0;   // connections accepted
    uint64_t open = 0;       // connections open now
    uint64_t to_target = 0;  // bytes delivered towards the target
    uint64_t to_client = 0;  // bytes delivered towards the clients
    uint64_t held = 0;       // bytes read but not delivered yet (delay, black hole)
  };

  // Listens on 127.0.0.1:`listen_port` (0: an ephemeral port) and forwards each accepted
  // connection to `target`. `seed` drives the jitter draws.
  [[nodiscard]] static StatusOr<std::unique_ptr<FaultProxy>> Start(io::HostPort target,
                                                                   uint16_t listen_port = 0,
                                                                   uint64_t seed = 1);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  uint16_t port() const { return port_; }
  io::HostPort address() const { return {"127.0.0.1", port_}; }

  void SetDelay(Direction direction, std::chrono::milliseconds delay,
                std::chrono::milliseconds jitter = std::chrono::milliseconds(0));
  void BlackHole(Direction direction);
  void DropConnections();
  void RefuseNew(bool refuse);
  void Heal();
  // Where new connections go from now on (open ones stay where they are): for an endpoint whose
  // port is known only once it runs, behind a proxy it must advertise from the start.
  void SetTarget(io::HostPort target);
  Stats stats() const;

 private:
  struct Faults {
    int64_t delay_ns[2] = {0, 0};  // by direction index: 0 towards the target, 1 the clients
    int64_t jitter_ns[2] = {0, 0};
    bool black_hole[2] = {false, false};
    bool refuse = false;
    uint64_t drop_generation = 0;  // DropConnections() bumps it
    uint64_t heal_generation = 0;  // Heal() bumps it: held chunks are due at once
    io::HostPort target;
  };
  class Loop;  // fault_proxy.cc

  FaultProxy(int listen_fd, uint16_t port, uint64_t seed);
  // Applies `edit` to the faults under the lock, then wakes the loop.
  template <typename Edit>
  void Change(Edit edit);
  void Run();

  const uint16_t port_;
  mutable std::mutex mu_;
  Faults faults_;  // guarded by mu_
  Stats stats_;    // guarded by mu_
  std::unique_ptr<Loop> loop_;
  std::atomic<bool> stop_{false};
  int wake_fd_ = -1;  // an eventfd the loop polls
  std::thread thread_;
};

}  // namespace spool::testing
