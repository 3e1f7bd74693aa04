#include "broker/producer_state.h"

#include <limits>
#include <utility>
#include <vector>

namespace spool::broker {

int32_t NextSequence(int32_t sequence) {
  return sequence == std::numeric_limits<int32_t>::max() ? 0 : sequence + 1;
}

int32_t AddToSequence(int32_t base, int32_t delta) {
  constexpr int64_t kModulus = int64_t{std::numeric_limits<int32_t>::max()} + 1;
  return static_cast<int32_t>((int64_t{base} + int64_t{delta}) % kModulus);
}

BatchIdentity BatchIdentity::FromHeader(const record::BatchHeader& header) {
  BatchIdentity id;
  id.producer_id = header.producer_id;
  id.producer_epoch = header.producer_epoch;
  id.base_sequence = header.base_sequence;
  id.last_sequence = AddToSequence(header.base_sequence, header.last_offset_delta);
  return id;
}

DedupCheck ProducerStateTable::Check(const BatchIdentity& batch) const {
  DedupCheck out;
  if (!batch.idempotent()) return out;
  auto it = producers_.find(batch.producer_id);
  if (it == producers_.end() || it->second.batches.empty()) {
    out.kind = batch.base_sequence == 0 ? DedupCheck::kAppend : DedupCheck::kUnknownProducer;
    return out;
  }
  const ProducerEntry& entry = it->second;
  if (batch.producer_epoch < entry.epoch) {
    out.kind = DedupCheck::kInvalidEpoch;
    return out;
  }
  if (batch.producer_epoch > entry.epoch) {
    out.kind = batch.base_sequence == 0 ? DedupCheck::kAppend : DedupCheck::kOutOfOrder;
    return out;
  }
  for (const ProducerBatchEntry& b : entry.batches) {
    if (b.base_sequence == batch.base_sequence && b.last_sequence == batch.last_sequence) {
      out.kind = DedupCheck::kDuplicate;
      out.base_offset = b.base_offset;
      out.last_offset = b.last_offset;
      return out;
    }
  }
  const bool next = batch.base_sequence == NextSequence(entry.batches.back().last_sequence);
  out.kind = next ? DedupCheck::kAppend : DedupCheck::kOutOfOrder;
  return out;
}

void ProducerStateTable::Push(ProducerEntry& entry, const BatchIdentity& batch, Offset base,
                              Offset last) {
  if (batch.producer_epoch != entry.epoch) {
    entry.epoch = batch.producer_epoch;
    entry.batches.clear();
    entry.evicted = false;
  }
  entry.batches.push_back(ProducerBatchEntry{batch.base_sequence, batch.last_sequence, base, last});
  if (entry.batches.size() > kMaxCachedBatches) {
    entry.batches.pop_front();
    entry.evicted = true;
  }
}

void ProducerStateTable::Record(const BatchIdentity& batch, Offset base, Offset last) {
  if (!batch.idempotent()) return;
  Push(producers_[batch.producer_id], batch, base, last);
}

void ProducerStateTable::Forget(const BatchIdentity& batch, Offset base) {
  if (!batch.idempotent()) return;
  auto it = producers_.find(batch.producer_id);
  if (it == producers_.end()) return;
  std::deque<ProducerBatchEntry>& batches = it->second.batches;
  std::erase_if(batches, [base](const ProducerBatchEntry& b) { return b.base_offset == base; });
  if (batches.empty()) producers_.erase(it);
}

bool ProducerStateTable::TruncateTo(Offset end) {
  bool exact = true;
  std::vector<int64_t> emptied;
  for (auto& [id, entry] : producers_) {
    std::erase_if(entry.batches,
                  [end](const ProducerBatchEntry& b) { return b.last_offset >= end; });
    if (entry.batches.empty()) {
      if (entry.evicted) exact = false;
      emptied.push_back(id);
    }
  }
  for (int64_t id : emptied) producers_.erase(id);
  return exact;
}

void ProducerStateTable::RemoveBelow(Offset log_start) {
  std::vector<int64_t> gone;
  for (auto& [id, entry] : producers_) {
    if (entry.batches.empty() || entry.batches.back().last_offset < log_start) {
      gone.push_back(id);
      continue;
    }
    while (entry.batches.front().last_offset < log_start) {
      entry.batches.pop_front();
      entry.evicted = true;
    }
  }
  for (int64_t id : gone) producers_.erase(id);
}

void ProducerStateTable::Apply(const record::BatchHeader& header) {
  if (header.is_control()) return;
  const BatchIdentity batch = BatchIdentity::FromHeader(header);
  if (!batch.idempotent()) return;
  ProducerEntry& entry = producers_[batch.producer_id];
  if (!entry.batches.empty() && batch.producer_epoch < entry.epoch) return;
  Push(entry, batch, Offset(header.base_offset), Offset(header.last_offset()));
}

void ProducerStateTable::Restore(int64_t producer_id, ProducerEntry entry) {
  if (entry.batches.empty()) return;
  producers_[producer_id] = std::move(entry);
}

const ProducerEntry* ProducerStateTable::Find(int64_t producer_id) const {
  auto it = producers_.find(producer_id);
  return it == producers_.end() ? nullptr : &it->second;
}

}  // namespace spool::broker
