// The partition simulator's invariants (sim_checker.h).
#include "tests/sim/partition/sim_checker.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "log/record/batch_header.h"

namespace spool::sim {

StatusOr<std::vector<BatchInfo>> SplitLog(std::span<const std::byte> bytes) {
  std::vector<BatchInfo> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    StatusOr<record::BatchHeader> h = record::ParseHeader(bytes.subspan(pos));
    if (!h.ok())
      return absl::DataLossError(
          absl::StrCat("bad batch at byte ", pos, ": ", h.status().ToString()));
    const size_t size = h->total_size();
    if (pos + size > bytes.size()) return absl::DataLossError("a torn batch at the end");
    BatchInfo b;
    b.base = h->base_offset;
    b.last = h->last_offset();
    b.producer_id = h->producer_id;
    b.sequence = h->base_sequence;
    b.leader_epoch = h->leader_epoch;
    b.bytes.assign(bytes.begin() + static_cast<std::ptrdiff_t>(pos),
                   bytes.begin() + static_cast<std::ptrdiff_t>(pos + size));
    out.push_back(std::move(b));
    pos += size;
  }
  return out;
}

namespace {

const BatchInfo* FindAt(const ReplicaSnapshot& r, int64_t base) {
  auto it = std::lower_bound(r.batches.begin(), r.batches.end(), base,
                             [](const BatchInfo& b, int64_t off) { return b.last < off; });
  if (it == r.batches.end() || it->base > base) return nullptr;
  return &*it;
}

std::string Where(int32_t partition, const ReplicaSnapshot& r) {
  return absl::StrCat("partition ", partition, " node ", r.node, " (hw ", r.high_watermark,
                      ", end ", r.log_end, r.leader ? ", leader" : "", ")");
}

std::string MissingAck(int32_t partition, const ReplicaSnapshot& r, const AckedBatch& a,
                       const BatchInfo* found, const std::string& why) {
  return absl::StrCat(Where(partition, r), ": acknowledged batch producer ", a.producer_id, " seq ",
                      a.sequence, " at offset ", a.base, " is ",
                      found == nullptr ? std::string("missing")
                                       : absl::StrCat("replaced by producer ", found->producer_id,
                                                      " seq ", found->sequence, " at ", found->base,
                                                      " epoch ", found->leader_epoch),
                      " ", why);
}

bool Holds(const BatchInfo* b, const AckedBatch& a) {
  return b != nullptr && b->base == a.base && b->producer_id == a.producer_id &&
         b->sequence == a.sequence;
}

}  // namespace

std::string CheckPartition(int32_t partition, const std::vector<ReplicaSnapshot>& replicas,
                           const std::vector<AckedBatch>& acked) {
  // Acknowledged twice at different offsets: a duplicate a client saw.
  std::map<std::pair<int64_t, int32_t>, int64_t> ack_at;
  for (const AckedBatch& a : acked) {
    auto [it, fresh] = ack_at.emplace(std::make_pair(a.producer_id, a.sequence), a.base);
    if (!fresh && it->second != a.base) {
      return absl::StrCat("partition ", partition, ": batch producer ", a.producer_id, " seq ",
                          a.sequence, " acknowledged at offsets ", it->second, " and ", a.base);
    }
  }
  for (const ReplicaSnapshot& r : replicas) {
    for (const AckedBatch& a : acked) {
      if (a.base >= r.high_watermark) continue;
      const BatchInfo* b = FindAt(r, a.base);
      if (!Holds(b, a)) return MissingAck(partition, r, a, b, "below this replica's HW");
    }
    std::map<std::pair<int64_t, int32_t>, int64_t> seen;
    for (const BatchInfo& b : r.batches) {
      if (b.last >= r.high_watermark || b.producer_id < 0) continue;
      auto [it, fresh] = seen.emplace(std::make_pair(b.producer_id, b.sequence), b.base);
      if (!fresh) {
        return absl::StrCat(Where(partition, r), ": batch producer ", b.producer_id, " seq ",
                            b.sequence, " is in the log twice below the HW, at ", it->second,
                            " and ", b.base);
      }
    }
  }
  for (const ReplicaSnapshot& l : replicas) {
    if (!l.leader) continue;
    for (const ReplicaSnapshot& m : replicas) {
      if (m.node == l.node || std::find(l.isr.begin(), l.isr.end(), m.node) == l.isr.end()) {
        continue;
      }
      for (const AckedBatch& a : acked) {
        if (a.base >= l.high_watermark) continue;
        const BatchInfo* b = FindAt(m, a.base);
        if (!Holds(b, a)) {
          return MissingAck(
              partition, m, a, b,
              absl::StrCat("on an ISR member, below leader ", l.node, "'s HW ", l.high_watermark));
        }
      }
    }
  }
  if (replicas.empty()) return "";
  int64_t min_hw = replicas.front().high_watermark;
  for (const ReplicaSnapshot& r : replicas) min_hw = std::min(min_hw, r.high_watermark);
  const ReplicaSnapshot& first = replicas.front();
  for (const ReplicaSnapshot& r : replicas) {
    size_t i = 0;
    for (;; i++) {
      const bool a_in = i < first.batches.size() && first.batches[i].last < min_hw;
      const bool b_in = i < r.batches.size() && r.batches[i].last < min_hw;
      if (!a_in && !b_in) break;
      if (a_in != b_in || first.batches[i].bytes != r.batches[i].bytes) {
        const BatchInfo* x = i < first.batches.size() ? &first.batches[i] : nullptr;
        const BatchInfo* y = i < r.batches.size() ? &r.batches[i] : nullptr;
        auto show = [](const BatchInfo* b) {
          return b == nullptr
                     ? std::string("none")
                     : absl::StrCat("[", b->base, "..", b->last, "] epoch ", b->leader_epoch,
                                    " producer ", b->producer_id, " seq ", b->sequence);
        };
        return absl::StrCat("partition ", partition, ": logs differ below the minimum HW ", min_hw,
                            " at batch ", i, ": node ", first.node, " has ", show(x), ", node ",
                            r.node, " has ", show(y));
      }
    }
  }
  return "";
}

}  // namespace spool::sim
