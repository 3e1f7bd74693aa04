// ReplicatedCluster: for the partition replication tests, broker-only spoold processes (node
// ids 1..N) and a controller quorum of controller-only processes (ids 101.., a Raft quorum over
// loopback), so brokers can be killed and paused while the quorum stays up.
//
// Threading: one test thread (BrokerProcess's rule).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/metadata.pb.h"
#include "tests/support/broker_process.h"
#include "tests/support/test_env.h"

namespace spool::testing {

struct PartitionView {
  int32_t leader = -1;
  int32_t leader_epoch = -1;
  std::vector<int32_t> replicas;
  std::vector<int32_t> isr;
};

class ReplicatedCluster {
 public:
  struct Options {
    int brokers = 3;
    int controllers = 1;
    // Flags for every broker / controller process, e.g. {"--set", "replica.lag.time.max.ms=2000"}.
    std::vector<std::string> broker_args;
    std::vector<std::string> controller_args;
    // Called for each broker before its first start, with its id and its flags so far (later
    // flags win: e.g. a --set controller.quorum.voters=... through a fault proxy).
    std::function<void(int id, std::vector<std::string>& args)> customize_broker;
  };
  explicit ReplicatedCluster(Options options);

  // Starts the controllers, then the brokers (ASSERTs inside: call through
  // ASSERT_NO_FATAL_FAILURE). node()/ids() are the brokers.
  void StartAll();
  BrokerProcess& node(int id) { return *nodes_.at(id); }
  std::vector<int> ids() const;
  bool running(int id) const { return nodes_.at(id)->running(); }
  std::string bootstrap() const;  // "127.0.0.1:p1,127.0.0.1:p2,..." of the broker listeners
  const std::string& data_dir(int id) const { return dirs_.at(id); }
  // The controller listener port of controller `id` (101, 102, ...), chosen at construction.
  uint16_t controller_port(int id) const { return controller_ports_.at(id); }

  // Creates a topic through any running node: OK or the error.
  Status CreateTopic(const std::string& name, int32_t partitions, int32_t replication_factor,
                     std::map<std::string, std::string> configs = {});
  // The partition as a running node other than `not_via` reports it (nullopt if none answers).
  std::optional<PartitionView> Partition(const std::string& topic, int32_t partition,
                                         int not_via = -1);
  // The partition as broker `via` reports it.
  std::optional<PartitionView> PartitionAt(int via, const std::string& topic, int32_t partition);
  // Polls until pred holds for the view of every running broker (deadline); that view (the
  // first broker's), or nullopt at the deadline.
  template <typename Pred>
  std::optional<PartitionView> WaitForAll(const std::string& topic, int32_t partition, Pred pred,
                                          std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      std::optional<PartitionView> first;
      bool all = true;
      for (int id : ids()) {
        if (!running(id)) continue;
        std::optional<PartitionView> v = PartitionAt(id, topic, partition);
        if (!v.has_value() || !pred(*v)) {
          all = false;
          break;
        }
        if (!first.has_value()) first = v;
      }
      if (all && first.has_value()) return first;
      PollPause();
    }
    return std::nullopt;
  }
  // Polls until pred(view) holds (deadline); the last view seen, or nullopt at the deadline.
  template <typename Pred>
  std::optional<PartitionView> WaitFor(const std::string& topic, int32_t partition, Pred pred,
                                       std::chrono::milliseconds deadline, int not_via = -1) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      std::optional<PartitionView> v = Partition(topic, partition, not_via);
      if (v.has_value() && pred(*v)) return v;
      PollPause();
    }
    return std::nullopt;
  }
  // Produces one record (value `value`) with `acks` to topic-partition through its leader as
  // node `via` knows it: the partition's error code, or the transport error.
  StatusOr<int32_t> ProduceOne(int via, const std::string& topic, int32_t partition, int acks,
                               const std::string& value);

  // Every node's log tail, for failure messages.
  std::string Logs(int lines = 30);

 private:
  static void PollPause();  // a short pause between polls of other processes

  TempDir tmp_;
  Options options_;
  std::map<int, uint16_t> controller_ports_;
  std::map<int, std::unique_ptr<BrokerProcess>> controllers_;
  std::string voters_;
  std::map<int, std::string> dirs_;
  std::map<int, std::unique_ptr<BrokerProcess>> nodes_;
};

}  // namespace spool::testing
