#include "producer/idempotence.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "log/record/batch_header.h"

namespace spool::producer {
namespace {

void PutBigEndian(std::span<std::byte> out, uint64_t value, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) {
    out[i] = static_cast<std::byte>((value >> (8 * (bytes - 1 - i))) & 0xff);
  }
}

Status Incompatible(const char* setting, const char* why) {
  return absl::InvalidArgumentError(
      absl::StrCat("producer config enable_idempotence: true needs ", setting, " ", why));
}

}  // namespace

StatusOr<bool> ResolveIdempotence(const ProducerConfig& config) {
  const bool acks_ok = config.acks == -1;
  const bool in_flight_ok =
      config.max_in_flight_requests_per_connection <= kMaxInFlightWithIdempotence;
  const bool retries_ok = config.retries > 0;
  if (!config.enable_idempotence.has_value()) return acks_ok && in_flight_ok && retries_ok;
  if (!*config.enable_idempotence) return false;
  if (!acks_ok) return Incompatible("acks", "= -1 (all)");
  if (!in_flight_ok) return Incompatible("max_in_flight_requests_per_connection", "<= 5");
  if (!retries_ok) return Incompatible("retries", "> 0");
  return true;
}

int32_t AddToSequence(int32_t base, int64_t count) {
  constexpr int64_t kModulus = int64_t{std::numeric_limits<int32_t>::max()} + 1;
  return static_cast<int32_t>((int64_t{base} + count % kModulus) % kModulus);
}

Status StampProducer(std::span<std::byte> batch, int64_t producer_id, int16_t producer_epoch,
                     int32_t base_sequence) {
  StatusOr<record::BatchHeader> header = record::ParseHeader(batch, batch.size() + 1);
  if (!header.ok()) return header.status();
  if (header->total_size() != batch.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a batch of ", header->total_size(), " bytes in a buffer of ", batch.size()));
  }
  PutBigEndian(batch.subspan(record::kProducerIdPos), static_cast<uint64_t>(producer_id), 8);
  PutBigEndian(batch.subspan(record::kProducerEpochPos), static_cast<uint16_t>(producer_epoch), 2);
  PutBigEndian(batch.subspan(record::kBaseSequencePos), static_cast<uint32_t>(base_sequence), 4);
  record::StoreCrc(batch);
  return absl::OkStatus();
}

}  // namespace spool::producer
