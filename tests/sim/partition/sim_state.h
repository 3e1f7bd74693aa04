// The partition simulator's state and steps (sim_cluster.h says what it runs). Internal to
// tests/sim/partition: sim_cluster.cc holds the run loop, faults and checks, sim_steps.cc the
// steps of brokers, controller and clients.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker/partition.h"
#include "broker/replica_fetch_partition.h"
#include "broker/request_timers.h"
#include "common/clock.h"
#include "common/io/file_system.h"
#include "replication/controller/broker_liveness.h"
#include "replication/controller/controller_logic.h"
#include "replication/controller/metadata_image.h"
#include "tests/sim/partition/sim_checker.h"
#include "tests/sim/partition/sim_cluster.h"
#include "tests/support/fault_file_system.h"

namespace spool::sim {

inline constexpr int64_t kStepNs = 10'000'000;  // one step of virtual time
inline constexpr char kTopic[] = "sim";

// One hosted partition replica on a node, with the ReplicaFetcher / ReplicaManager bookkeeping
// the sim keeps for it.
struct Replica {
  std::shared_ptr<broker::Partition> p;
  int32_t follow_leader = -1;  // the fetcher entry (ReplicaFetcher::Add), -1: none
  int32_t follow_epoch = -1;
  uint64_t generation = 0;  // changes at every Add, so an answer for an older entry is dropped
  bool fetch_in_flight = false;
  uint64_t retry_at_step = 0;
  int64_t lead_start_ns = 0;  // virtual time this leadership began
  int32_t lead_epoch = -1;
  int64_t alter_sent_ns = 0;
  // The HW-monotonic check: the HW last seen in this leadership term.
  uint64_t seen_term = 0;
  int64_t seen_hw = -1;
};

struct Node {
  int32_t id = 0;
  bool alive = true;
  bool held = false;  // syncs held (slow disk)
  uint64_t held_until = 0;
  uint64_t next_heartbeat = 0;
  uint64_t incarnation = 0;
  std::string root;
  std::unique_ptr<io::FileSystem> base;
  std::unique_ptr<testing::FaultFileSystem> fs;
  std::vector<Replica> replicas;  // by partition index; p == nullptr when not a replica
  int64_t broker_epoch = -1;      // -1: to (re)register
  // Registered since it (re)started: before that it applies no metadata to its partitions, as
  // MetadataFollower::Start applies only the state from its own registration on.
  bool joined = false;
  std::shared_ptr<const controller::ClusterImage> view;  // the metadata it applied
  int64_t view_index = 0;
};

// A fetch answer on its way to the follower.
struct InFlight {
  int32_t follower = 0;
  int32_t partition = 0;
  uint64_t generation = 0;
  uint64_t incarnation = 0;
  int32_t leader_epoch = 0;
  uint64_t due_step = 0;
  broker::ReplicaFetchAnswer answer;
};

// An acks=all produce waiting for its outcome (set by a background WaitCommitted).
struct ProduceWait {
  bool done = false;
  bool abandoned = false;  // the connection broke (node killed): the client saw an error
  Status status;
  int64_t hw_at_ack = -1;
  int64_t base = -1;
  int64_t last = -1;
};

// One idempotent producer per (client, partition), one batch in flight at a time.
struct Producer {
  int64_t producer_id = 0;
  int32_t sequence = 0;  // of the batch being sent (retried until acknowledged)
  std::shared_ptr<ProduceWait> wait;
  int32_t node = -1;  // where the wait runs
};

struct Client {
  std::shared_ptr<const controller::ClusterImage> view;
  std::vector<Producer> producers;  // by partition
};

class Cluster {
 public:
  Cluster(io::Reactor& reactor, PartitionSimOptions options);
  Task<PartitionSimResult> Run();

 private:
  // ---- run loop, faults, checks (sim_cluster.cc) ----
  Task<Status> Setup();
  Task<void> Step(bool faults);
  Task<void> Fault();
  void Heal();
  Task<Status> Settle();
  Task<void> Kill(int32_t n, bool torn);
  Task<Status> Restart(int32_t n);
  Task<Status> OpenReplicas(Node& node);
  Task<void> FullCheck();
  void CheckHighWatermarks();
  bool Converged() const;
  void TraceState();
  Task<void> Teardown();
  void Trace(std::string line);
  void Violation(std::string what);

  // ---- steps (sim_steps.cc) ----
  Task<void> FetchStep(int32_t f, int32_t k);
  Task<void> DeliverAnswers();
  Task<void> ProduceStep(int32_t c, int32_t k);
  void CollectProduces();
  Task<void> DeliverMetadata(int32_t n);
  Task<void> ApplyRoles(Node& node);
  void HeartbeatStep(int32_t n);
  void SessionStep();
  Task<void> IsrStep(int32_t n, int32_t k);
  // Commits controller records (one metadata log entry). False (and a violation) on error.
  bool Commit(const std::vector<v1::MetadataRecord>& records, const char* what);
  bool Reachable(int32_t a, int32_t b) const;  // the network between two nodes
  bool ControllerReachable(int32_t n) const;
  int64_t now_ms() const { return now_ns_ / 1'000'000; }
  uint64_t Rand(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  io::Reactor& reactor_;
  PartitionSimOptions options_;
  std::mt19937_64 rng_;
  ManualClock clock_;
  broker::RequestTimers timers_;
  int64_t now_ns_ = 0;
  uint64_t step_ = 0;
  bool healed_ = false;
  double loss_ = 0;
  bool clients_paused_ = false;

  // controller
  controller::ClusterImage image_;
  std::shared_ptr<const controller::ClusterImage> latest_;
  int64_t index_ = 0;
  controller::BrokerLiveness liveness_;
  controller::ControllerConfig config_;
  std::mt19937_64 controller_rng_;
  int64_t lag_ns_ = 300'000'000;  // replica.lag.time.max.ms

  std::vector<Node> nodes_;
  std::set<std::pair<int32_t, int32_t>> cut_links_;  // (low, high)
  std::set<int32_t> cut_from_controller_;
  std::deque<InFlight> in_flight_;
  std::vector<Client> clients_;
  std::vector<std::vector<AckedBatch>> acked_;  // by partition
  int64_t next_producer_id_ = 1000;
  std::vector<std::shared_ptr<broker::Partition>> graveyard_;  // abandoned by kills

  PartitionSimResult result_;
  std::deque<std::string> trace_;
  uint64_t hash_ = 1469598103934665603ull;
};

}  // namespace spool::sim
