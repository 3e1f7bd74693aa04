#include "bench/engine/tracker.h"

#include <bit>

namespace spool::bench {

SequenceSet::~SequenceSet() {
  for (auto& c : chunks_) delete[] c.load();
}

std::atomic<uint64_t>* SequenceSet::Chunk(size_t i, bool create) const {
  std::atomic<uint64_t>* chunk = chunks_[i].load(std::memory_order_acquire);
  if (chunk != nullptr || !create) return chunk;
  auto* fresh = new std::atomic<uint64_t>[kWordsPerChunk]();
  if (chunks_[i].compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) return fresh;
  delete[] fresh;  // another thread installed one first
  return chunk;
}

bool SequenceSet::Insert(uint64_t seq) {
  if (seq >= kCapacity) return false;
  std::atomic<uint64_t>* chunk = Chunk(seq >> kChunkBits, true);
  const uint64_t bit = uint64_t{1} << (seq & 63);
  const uint64_t old = chunk[(seq & ((uint64_t{1} << kChunkBits) - 1)) >> 6].fetch_or(
      bit, std::memory_order_relaxed);
  return (old & bit) == 0;
}

bool SequenceSet::Contains(uint64_t seq) const {
  if (seq >= kCapacity) return false;
  const std::atomic<uint64_t>* chunk = Chunk(seq >> kChunkBits, false);
  if (chunk == nullptr) return false;
  const uint64_t word =
      chunk[(seq & ((uint64_t{1} << kChunkBits) - 1)) >> 6].load(std::memory_order_relaxed);
  return (word >> (seq & 63)) & 1;
}

uint64_t SequenceSet::CountMissingFrom(const SequenceSet& other, uint64_t limit) const {
  uint64_t missing = 0;
  const uint64_t words = (std::min(limit, kCapacity) + 63) / 64;
  for (uint64_t w = 0; w < words; w++) {
    const size_t c = w / kWordsPerChunk;
    const std::atomic<uint64_t>* mine = Chunk(c, false);
    if (mine == nullptr) {
      w = (c + 1) * kWordsPerChunk - 1;  // skip the empty chunk
      continue;
    }
    const std::atomic<uint64_t>* theirs = other.Chunk(c, false);
    uint64_t word = mine[w % kWordsPerChunk].load(std::memory_order_relaxed);
    if (theirs != nullptr) word &= ~theirs[w % kWordsPerChunk].load(std::memory_order_relaxed);
    if (w * 64 + 64 > limit) word &= (uint64_t{1} << (limit - w * 64)) - 1;
    missing += std::popcount(word);
  }
  return missing;
}

Tracker::Tracker(uint32_t run_id, int producers) : run_id_(run_id) {
  for (int p = 0; p < producers; p++) {
    acked_.push_back(std::make_unique<SequenceSet>());
    seen_.push_back(std::make_unique<SequenceSet>());
  }
}

bool Tracker::MarkSeen(uint32_t run_id, uint32_t producer, uint64_t seq) {
  if (run_id != run_id_ || producer >= seen_.size() || seq >= SequenceSet::kCapacity) {
    CountForeign();
    return false;
  }
  if (seen_[producer]->Insert(seq)) {
    distinct_.fetch_add(1, std::memory_order_relaxed);
  } else {
    duplicates_.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

void Tracker::OrderCheck::Observe(uint32_t producer, uint64_t partition_key, uint64_t seq) {
  auto [it, fresh] = last_.try_emplace((uint64_t{producer} << 40) | partition_key, seq);
  if (fresh) return;
  if (seq <= it->second) out_of_order_++;
  it->second = seq;
}

VerifyFigures Tracker::Tally(const std::vector<uint64_t>& sent, uint64_t out_of_order) const {
  VerifyFigures v;
  v.checked = true;
  v.expected = acked_count_.load();
  v.received = distinct_.load();
  v.duplicates = duplicates_.load();
  v.foreign = foreign_.load();
  v.out_of_order = out_of_order;
  // Missing: acknowledged but never seen.
  for (size_t p = 0; p < acked_.size() && p < sent.size(); p++) {
    v.missing += acked_[p]->CountMissingFrom(*seen_[p], sent[p]);
  }
  return v;
}

}  // namespace spool::bench
