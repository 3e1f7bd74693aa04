// Checks over the logs replicas left on disk, for the process tests of replication (every node
// stopped first): the replicas' segment files agree, and every acknowledged record is there, once,
// at its acknowledged offset, in send order.
//
// Threading: any test thread; reads files only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace spool::testing {

// The bytes of every segment of a partition directory, in offset order.
std::string ReadSegments(const std::string& dir);

struct StoredRecord {
  int64_t offset;
  std::string value;
};
// The records of a run of whole batches (stops at a torn tail).
std::vector<StoredRecord> RecordsOf(const std::string& bytes);

struct ReplicaCheck {
  int64_t records = 0;                // in the common prefix of the replicas' logs
  int64_t lost = 0;                   // acknowledged but missing, or another record at its offset
  int64_t duplicates = 0;             // a value stored twice
  int64_t order_violations = 0;       // a lower sequence number after a higher one
  std::vector<std::string> problems;  // the first few, for failure messages
};
// One partition: `dirs` are its directories on every replica (node id -> dir). Their logs must
// agree byte for byte up to the shortest (a problem each when not), and that prefix must hold
// each of `acked` (offset -> value) at its offset. Values are decimal sequence numbers, which
// must not repeat and must rise in log order (the producer sent them so, idempotently).
ReplicaCheck CheckReplicaLogs(const std::map<int, std::string>& dirs,
                              const std::map<int64_t, std::string>& acked);

}  // namespace spool::testing
