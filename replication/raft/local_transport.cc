// LocalNetwork: routing, switches and delivery of the in-process test network.
#include "replication/raft/local_transport.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "replication/raft/wire.h"

namespace spool::raft {

void LocalNetwork::Attach(NodeId id, io::Reactor& reactor, RaftDriver& driver) {
  std::lock_guard<std::mutex> lock(mu_);
  endpoints_[id] = Endpoint{&reactor, &driver, ++next_generation_};
}

void LocalNetwork::Detach(NodeId id) {
  std::lock_guard<std::mutex> lock(mu_);
  endpoints_.erase(id);
}

void LocalNetwork::Isolate(NodeId id, bool isolated) {
  std::lock_guard<std::mutex> lock(mu_);
  if (isolated) {
    isolated_.insert(id);
  } else {
    isolated_.erase(id);
  }
}

void LocalNetwork::SetLinkDown(NodeId a, NodeId b, bool down) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto link = std::make_pair(std::min(a, b), std::max(a, b));
  if (down) {
    links_down_.insert(link);
  } else {
    links_down_.erase(link);
  }
}

void LocalNetwork::HealAll() {
  std::lock_guard<std::mutex> lock(mu_);
  isolated_.clear();
  links_down_.clear();
}

void LocalNetwork::SetFilter(DropFilter drop) {
  std::shared_ptr<const DropFilter> filter;
  if (drop) filter = std::make_shared<const DropFilter>(std::move(drop));
  std::lock_guard<std::mutex> lock(mu_);
  filter_.swap(filter);
  // The old filter (maybe still running on another thread, which holds its own reference) is
  // released here, outside the lock.
}

LocalNetwork::Stats LocalNetwork::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

bool LocalNetwork::CutLocked(NodeId from, NodeId to) const {
  return isolated_.contains(from) || isolated_.contains(to) ||
         links_down_.contains(std::make_pair(std::min(from, to), std::max(from, to)));
}

void LocalNetwork::Route(NodeId from, const Message& m) {
  std::shared_ptr<const DropFilter> filter;
  {
    std::lock_guard<std::mutex> lock(mu_);
    filter = filter_;
  }
  // Outside the lock: the filter may call back into the network.
  if (filter != nullptr && (*filter)(from, m)) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.sent;
    ++stats_.dropped;
    return;
  }
  std::string bytes = EncodeEnvelope(cluster_id_, m);
  const NodeId to = m.to;
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.sent;
  auto it = endpoints_.find(to);
  if (it == endpoints_.end() || CutLocked(from, to)) {
    ++stats_.dropped;
    return;
  }
  const uint64_t generation = it->second.generation;
  it->second.reactor->post([this, from, to, generation, bytes = std::move(bytes)]() {
    DeliverOnTarget(from, to, generation, bytes);
  });
}

// Runs on the target's reactor thread, where Detach() runs too: the driver found under the lock
// stays alive until this returns.
void LocalNetwork::DeliverOnTarget(NodeId from, NodeId to, uint64_t generation,
                                   const std::string& bytes) {
  RaftDriver* driver = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = endpoints_.find(to);
    if (it == endpoints_.end() || it->second.generation != generation || CutLocked(from, to)) {
      ++stats_.dropped;
      return;
    }
    ++stats_.delivered;
    driver = it->second.driver;
  }
  driver->DeliverWire(bytes);
}

}  // namespace spool::raft
