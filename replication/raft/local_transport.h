// LocalNetwork / LocalTransport: an in-process network between RaftDrivers on different reactors.
// A TEST DOUBLE (tests and benchmarks only): the real transport is TCP (tcp_transport.h).
//
// Every message goes through the wire encoding (wire.h, a RaftEnvelope with the network's
// cluster id) and is delivered with RaftDriver::DeliverWire on the target's reactor thread
// (Reactor::post). Delivery is one way, so the sender never waits for the target, and a driver
// that is stopped (or a reactor that is gone) simply loses the messages in flight to it, as a
// crashed process would. (io::RunOn would need both reactors alive until the call returns.)
//
// Switches for tests: Isolate(id) drops every message to or from a node (a partition of one),
// SetLinkDown(a, b) drops the messages between two nodes, both directions. A switch is checked
// when a message is sent and again when it is delivered. Messages to a node with no driver
// attached are dropped.
//
// Fault injection for tests: SetFilter(drop) installs a predicate that sees every message at
// send (with its sender) and drops it when it returns true, e.g. the appends whose commit index
// covers some entry, or one node's vote requests. It runs on the sending node's thread (the one
// calling Route), outside the network's lock, so it may call back into the network; it must be
// safe to call from every node's thread at once. SetFilter(nullptr) clears it (HealAll does not).
// With no filter set, routing is exactly as without one.
//
// Threading: every member is safe from any thread. Attach()/Detach() of a node must be called on
// that node's reactor thread (so a delivery, which runs there too, never sees a driver being
// destroyed); detach before stopping the driver, and before destroying its reactor.
// Lifetime: the network must outlive every reactor that may still run a delivery it posted.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "common/io/reactor.h"
#include "replication/raft/driver.h"
#include "replication/raft/types.h"

namespace spool::raft {

class LocalNetwork {
 public:
  explicit LocalNetwork(std::string cluster_id) : cluster_id_(std::move(cluster_id)) {}
  LocalNetwork(const LocalNetwork&) = delete;
  LocalNetwork& operator=(const LocalNetwork&) = delete;

  const std::string& cluster_id() const { return cluster_id_; }

  void Attach(NodeId id, io::Reactor& reactor, RaftDriver& driver);
  void Detach(NodeId id);

  void Isolate(NodeId id, bool isolated);
  void SetLinkDown(NodeId a, NodeId b, bool down);
  // Clears every switch (not the filter).
  void HealAll();

  // Returns true to drop `m`, sent by node `from`. See the header comment.
  using DropFilter = std::function<bool(NodeId from, const Message& m)>;
  // Replaces the filter; nullptr clears it. A Route already past its check is not affected.
  void SetFilter(DropFilter drop);

  struct Stats {
    uint64_t sent = 0;
    uint64_t delivered = 0;
    uint64_t dropped = 0;  // by a switch, the filter, or no driver attached at either end
  };
  Stats stats() const;

  // Encodes `m` and posts its delivery to m.to's reactor (the Transport of node `from`).
  void Route(NodeId from, const Message& m);

 private:
  struct Endpoint {
    io::Reactor* reactor = nullptr;
    RaftDriver* driver = nullptr;
    uint64_t generation = 0;  // bumped by every Attach, so a stale delivery finds no driver
  };

  bool CutLocked(NodeId from, NodeId to) const;
  void DeliverOnTarget(NodeId from, NodeId to, uint64_t generation, const std::string& bytes);

  const std::string cluster_id_;
  mutable std::mutex mu_;
  std::map<NodeId, Endpoint> endpoints_;            // guarded by mu_
  std::set<NodeId> isolated_;                       // guarded by mu_
  std::set<std::pair<NodeId, NodeId>> links_down_;  // guarded by mu_; (low, high)
  uint64_t next_generation_ = 0;                    // guarded by mu_
  std::shared_ptr<const DropFilter> filter_;        // guarded by mu_; null: none
  Stats stats_;                                     // guarded by mu_
};

// One node's Transport on a LocalNetwork.
class LocalTransport final : public Transport {
 public:
  LocalTransport(LocalNetwork& network, NodeId self) : network_(network), self_(self) {}
  void Send(Message m) override { network_.Route(self_, m); }

 private:
  LocalNetwork& network_;
  NodeId self_;
};

}  // namespace spool::raft
