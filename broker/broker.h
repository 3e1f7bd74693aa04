// Broker: the data plane of one node: topics and their partitions, the group coordinator
// (broker/GROUPS.md), and the request handlers of every API (Produce, Fetch, ListOffsets,
// Metadata, ApiVersions, CreateTopics, DeleteTopics, and the ten consumer-group APIs).
//
// Ownership: a Broker owns its topic metadata (persisted under data_dir, survives restarts), the
// Partitions (each with its PartitionLog, owned by the shard PartitionShard() names) and the
// handlers. It uses the ShardSet and BrokerConfig it is given, which outlive it.
//
// Threading: Open() and Close() are awaited on shard 0. handler() may be used from any shard
// (RequestHandler's rules). Partition state is touched only on its own shard.
//
// Durability: see broker/README.md. In short: a Produce with acks=all is answered only after the
// fdatasync that covers its batches (flush.policy=durable, the default); acks=1 after the append
// is written; acks=0 gets no response. Consumers read up to the high watermark, which on a single
// node is the durable end of the log (flush.policy=durable) or its written end (interval).
// Close() finishes the requests in flight, flushes every partition and writes the clean-shutdown
// markers; a broker killed without Close() recovers on the next Open().
#pragma once

#include <memory>

#include "broker/broker_config.h"
#include "broker/handler.h"
#include "broker/shard.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/task.h"

namespace spool::broker {

class Broker {
 public:
  // Loads the topic metadata and opens (recovers) every partition on its shard, in parallel.
  static Task<StatusOr<std::unique_ptr<Broker>>> Open(ShardSet& shards, const BrokerConfig& config,
                                                      Clock& clock);
  virtual ~Broker() = default;

  virtual RequestHandler& handler() = 0;

  // The first step of a shutdown, before the network layer stops (spoold: before
  // Server::Stop()): answers parked JoinGroup/SyncGroup requests with NOT_COORDINATOR and wakes
  // parked long-poll fetches, so a graceful stop is not held up by requests that may otherwise
  // wait for a rebalance timeout (minutes), also those of clients that are gone. Later group
  // requests get NOT_COORDINATOR and fetches answer at once. Shard 0; idempotent; Close() does it
  // too.
  virtual Task<void> PrepareShutdown() = 0;

  // After the network layer has stopped taking requests: waits for the requests in flight, then
  // closes every partition (flush + clean-shutdown marker). Returns the first error.
  virtual Task<Status> Close() = 0;
};

}  // namespace spool::broker
