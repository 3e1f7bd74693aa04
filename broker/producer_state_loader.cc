#include "broker/producer_state_loader.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/producer_snapshot.h"
#include "broker/server_log.h"
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

Task<StatusOr<LoadedProducerState>> LoadProducerStateWithSnapshots(io::FileSystem& fs,
                                                                   std::string dir,
                                                                   log::PartitionLog& log,
                                                                   int64_t tail_scan_offsets,
                                                                   size_t chunk_bytes) {
  const Offset start = log.log_start_offset();
  const Offset end = log.log_end_offset();
  StatusOr<size_t> dropped = co_await DeleteProducerSnapshotsOutside(fs, dir, start, end);
  CO_RETURN_IF_ERROR(dropped.status());
  CO_ASSIGN_OR_RETURN(std::vector<Offset> offsets, co_await ListProducerSnapshots(fs, dir));
  LoadedProducerState out;
  for (auto it = offsets.rbegin(); it != offsets.rend() && !out.snapshot.has_value(); ++it) {
    StatusOr<ProducerSnapshot> read = co_await ReadProducerSnapshot(fs, dir, *it);
    if (read.ok()) {
      out.table = std::move(read->table);
      out.snapshot = *it;
      continue;
    }
    if (absl::IsAborted(read.status()) || absl::IsNotFound(read.status())) {
      // Changed or gone while read (not expected under the role mutex): not damage, skip it.
      LogEvent(LogLevel::kWarning, "producer_state",
               absl::StrCat("dir=", LogValue(dir), " snapshot=", it->value(),
                            " skipped=unreadable error=", LogValue(read.status().ToString())));
      continue;
    }
    if (!absl::IsDataLoss(read.status())) co_return read.status();
    out.damaged_snapshots++;
    LogEvent(LogLevel::kWarning, "producer_state",
             absl::StrCat("dir=", LogValue(dir), " snapshot=", it->value(),
                          " skipped=damaged error=", LogValue(read.status().ToString())));
    CO_RETURN_IF_ERROR(co_await DeleteProducerSnapshot(fs, dir, *it));
  }
  if (out.snapshot.has_value()) {
    out.scanned_from = *out.snapshot;
  } else {
    const int64_t tail = std::max<int64_t>(0, tail_scan_offsets);
    out.scanned_from = std::max(start, Offset(std::max<int64_t>(0, end.value() - tail)));
  }
  Status applied = co_await ApplyLogToProducerState(log, out.scanned_from, out.table, chunk_bytes);
  if (absl::IsOutOfRange(applied) && out.scanned_from >= end) applied = Status();  // empty log
  CO_RETURN_IF_ERROR(applied);
  out.table.RemoveBelow(start);
  co_return out;
}

}  // namespace spool::broker
