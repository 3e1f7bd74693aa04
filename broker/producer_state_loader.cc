#include "broker/producer_state_loader.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "log/record/batch_header.h"

namespace spool::broker {

Task<Status> ApplyLogToProducerState(log::PartitionLog& log, Offset from, ProducerStateTable& table,
                                     size_t chunk_bytes) {
  const Offset end = log.visible_end_offset();
  Offset next = from;
  while (next < end) {
    CO_ASSIGN_OR_RETURN(log::ReadResult read, co_await log.read(next, chunk_bytes, end));
    if (read.slices.empty() || read.next_offset <= next) {
      co_return absl::AbortedError(
          absl::StrCat("the log read made no progress at offset ", next.value()));
    }
    CO_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, co_await log::PartitionLog::ReadAll(read));
    std::span<const std::byte> rest(bytes);
    while (!rest.empty()) {
      StatusOr<record::BatchHeader> header = record::ParseHeader(rest, rest.size());
      if (!header.ok() || header->total_size() > rest.size()) {
        co_return absl::DataLossError(
            absl::StrCat("a bad batch header in the log near offset ", next.value(), ": ",
                         header.ok() ? "truncated batch" : header.status().message()));
      }
      if (Offset(header->last_offset()) >= from) table.Apply(*header);
      rest = rest.subspan(header->total_size());
    }
    next = read.next_offset;
  }
  co_return absl::OkStatus();
}

Task<StatusOr<ProducerStateTable>> LoadProducerState(log::PartitionLog& log, size_t chunk_bytes) {
  ProducerStateTable table;
  Status applied =
      co_await ApplyLogToProducerState(log, log.log_start_offset(), table, chunk_bytes);
  if (!applied.ok()) co_return applied;
  co_return table;
}

}  // namespace spool::broker
