// ProducerIdAllocator: hands out producer ids for InitProducerId (init_producer_id_handler.cc)
// from blocks the controller quorum allocates to this broker (AllocateProducerIds; blocks never
// overlap and are never handed out twice, replication/controller/controller_logic.h), so ids are
// unique across the cluster and across broker restarts without any state on the broker.
//
// Next() takes the next id of the current block. When the current block is 90% used, the call
// that crosses that mark fetches the next block before it returns (its own id is already taken;
// a failed prefetch is not its failure: the next caller tries again), so callers rarely wait for
// the controller. Concurrent callers that find no id left share one fetch in flight. A fetch that
// fails (controller unreachable or refusing) fails the callers waiting for it with kUnavailable:
// a retriable error for the client (COORDINATOR_NOT_AVAILABLE).
//
// Ownership: owns the fetch callable (which must stay valid while the allocator lives). A fetch
// in flight belongs to a Next() call in flight, so once no Next() is running nothing is pending.
// Threading: one reactor (the broker's shard 0); not thread-safe. Durability: none; ids left in
// a block at shutdown are simply never used.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/functional/any_invocable.h"
#include "common/io/event.h"
#include "common/io/reactor.h"
#include "common/status.h"
#include "common/task.h"

namespace spool::broker {

// A block of producer ids [first, first + count).
struct ProducerIdRange {
  int64_t first = -1;
  int64_t count = 0;
};

// Gets a new block (from the controller). Errors are returned to the callers waiting for it.
using FetchProducerIds = absl::AnyInvocable<Task<StatusOr<ProducerIdRange>>()>;

class ProducerIdAllocator {
 public:
  ProducerIdAllocator(io::Reactor& reactor, FetchProducerIds fetch);
  ProducerIdAllocator(const ProducerIdAllocator&) = delete;
  ProducerIdAllocator& operator=(const ProducerIdAllocator&) = delete;

  // A producer id no one else has been given. kUnavailable when no block could be had.
  [[nodiscard]] Task<StatusOr<int64_t>> Next();

  // Ids left in the current and the prefetched block.
  int64_t available() const;
  // Blocks fetched successfully so far.
  int64_t blocks_fetched() const { return blocks_fetched_; }

 private:
  struct Block {
    int64_t next = 0;
    int64_t end = 0;
    int64_t first = 0;
  };
  struct Fetch {
    explicit Fetch(io::Reactor& r) : done(r) {}
    io::Event done;
    Status status;
  };
  // One fetch, shared by the callers that ask while it is in flight.
  Task<Status> FetchBlock();
  bool PrefetchDue() const;

  io::Reactor& reactor_;
  FetchProducerIds fetch_;
  std::optional<Block> current_;
  std::optional<Block> next_;
  std::shared_ptr<Fetch> in_flight_;
  int64_t blocks_fetched_ = 0;
};

}  // namespace spool::broker
