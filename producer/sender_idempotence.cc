// The I/O-thread half of idempotence (producer/README.md "Idempotence"): getting a producer id
// with InitProducerId, stamping batches with it and their partition's sequence on their first
// send, and the sequence bookkeeping of finished batches (producer_impl.h).
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "log/record/batch_header.h"
#include "producer/producer_impl.h"
#include "proto/producer_id.pb.h"

namespace spool {

using producer::ProducerBatch;

void Producer::Impl::Stamp(ProducerBatch& batch) {
  if (batch.producer_id >= 0 || !batch.seal_status.ok() || producer_id < 0) return;
  producer::PartitionSequences& seq = batch.queue->sequences;
  if (seq.producer_id != producer_id) {
    seq.producer_id = producer_id;
    seq.next_sequence = 0;
  }
  Status stamped =
      producer::StampProducer(batch.bytes, producer_id, producer_epoch, seq.next_sequence);
  if (!stamped.ok()) {
    batch.seal_status = stamped;  // fails in SendRequest, never sent
    return;
  }
  batch.producer_id = producer_id;
  batch.producer_epoch = producer_epoch;
  batch.base_sequence = seq.next_sequence;
  seq.next_sequence =
      producer::AddToSequence(seq.next_sequence, static_cast<int64_t>(batch.records()));
  seq.unacked.insert(batch.sequence);
}

void Producer::Impl::SequenceDone(const ProducerBatch& batch, bool delivered) {
  if (batch.producer_id < 0) return;
  batch.queue->sequences.unacked.erase(batch.sequence);
  if (delivered || aborting || stopping) return;
  // A stamped batch that failed for good leaves a gap: later batches with this id would be
  // refused as out of order, so the producer takes a new id and every partition restarts at 0.
  if (batch.producer_id == producer_id) {
    previous_producer_id = producer_id;
    previous_producer_epoch = producer_epoch;
    producer_id = -1;
    producer_epoch = -1;
    RequestProducerId();
  }
}

bool Producer::Impl::RetryInOrder(const ProducerBatch& batch, proto::ErrorCode code) const {
  if (!idempotent || code != proto::ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER) return false;
  if (batch.producer_id < 0) return false;
  const std::set<uint64_t>& unacked = batch.queue->sequences.unacked;
  return !unacked.empty() && *unacked.begin() < batch.sequence;
}

void Producer::Impl::RequestProducerId() {
  if (stopping || producer_id_running) return;
  producer_id_running = true;
  runtime->reactor().spawn(ProducerIdLoop());
}

Task<void> Producer::Impl::ProducerIdLoop() {
  while (!stopping && producer_id < 0) {
    Status failure;
    StatusOr<std::shared_ptr<client::BrokerConnection>> conn = co_await cluster->any_connection();
    if (!conn.ok()) {
      failure = conn.status();
    } else {
      v1::InitProducerIdRequest request;
      request.set_producer_id(previous_producer_id);
      request.set_producer_epoch(previous_producer_epoch);
      StatusOr<client::Reply> reply =
          co_await (*conn)->call(proto::ApiKey::API_KEY_INIT_PRODUCER_ID, request);
      if (!reply.ok()) {
        failure = reply.status();
      } else {
        const auto& r = reply->as<v1::InitProducerIdResponse>();
        if (r.error_code() != proto::ErrorCode::NONE) {
          failure = proto::ErrorToStatus(r.error_code(),
                                         absl::StrCat("InitProducerId: ", r.error_message()));
        } else if (r.producer_id() < 0) {
          failure = proto::ErrorToStatus(proto::ErrorCode::UNKNOWN,
                                         "InitProducerId answered no producer id");
        } else {
          producer_id = r.producer_id();
          producer_epoch = static_cast<int16_t>(r.producer_epoch());
          producer_id_error = absl::OkStatus();
          break;
        }
      }
    }
    // Batches wait (and expire by delivery_timeout_ms, with this error) until an id comes.
    producer_id_error = failure;
    co_await runtime->reactor().sleep_for(std::chrono::nanoseconds(retry_backoff_ns));
  }
  producer_id_running = false;
  MarkDirty();
}

}  // namespace spool
