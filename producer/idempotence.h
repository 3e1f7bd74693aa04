// The idempotent producer's client-side pieces that need no I/O (producer/README.md,
// "Idempotence"): resolving enable.idempotence against the other settings, sequence arithmetic,
// and stamping a sealed batch with its producer id, epoch and base sequence.
//
// A batch is sealed (CRC computed) when it closes, before the producer may have its id, so the
// sender stamps the three fields when it first sends the batch and recomputes the CRC then (one
// CRC pass over the batch on the I/O thread). A stamped batch is never stamped again: a retry
// resends the same bytes, which is what lets the broker recognise it.
//
// Threading: pure functions; PartitionSequences belongs to the sender (the I/O thread).
#pragma once

#include <cstdint>
#include <set>
#include <span>

#include "common/status.h"
#include "producer/producer.h"

namespace spool::producer {

// The most batches per partition in flight with idempotence: the broker remembers the last 5
// batches per producer id, so a retry of any batch in flight is still recognised.
inline constexpr int kMaxInFlightWithIdempotence = 5;

// Whether the producer runs idempotent: enable_idempotence unset is on unless acks,
// max_in_flight_requests_per_connection or retries rule it out; true with any of those set
// against it is kInvalidArgument naming the setting.
[[nodiscard]] StatusOr<bool> ResolveIdempotence(const ProducerConfig& config);

// base + count, wrapping from INT32_MAX to 0 (Kafka's sequence space); count >= 0.
[[nodiscard]] int32_t AddToSequence(int32_t base, int64_t count);

// Writes producer id, epoch and base sequence into the header of the sealed v2 batch in
// `batch` and recomputes its CRC. kInvalidArgument if `batch` is not one whole batch.
[[nodiscard]] Status StampProducer(std::span<std::byte> batch, int64_t producer_id,
                                   int16_t producer_epoch, int32_t base_sequence);

// One partition's sequence state in the sender.
struct PartitionSequences {
  int64_t producer_id = -1;  // the id next_sequence counts for; another id restarts at 0
  int32_t next_sequence = 0;
  // Creation sequences (ProducerBatch::sequence) of the batches stamped and not yet finished,
  // so the sender knows whether a batch has an earlier one still unacknowledged.
  std::set<uint64_t> unacked;
};

}  // namespace spool::producer
