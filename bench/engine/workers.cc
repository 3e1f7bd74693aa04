#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/engine/pacer.h"
#include "bench/engine/run_state.h"
#include "bench/engine/stamp.h"
#include "proto/errors.h"

namespace spool::bench {

void RunState::CountError(const Status& status) {
  std::lock_guard lock(mu);
  errors_by_code[std::string(proto::ErrorName(proto::ErrorFromStatus(status)))]++;
  if (first_error.ok()) first_error = status;
}

void RunProducer(RunState& s, int p, Producer& producer, uint64_t budget) {
  const Workload& w = s.workload;
  Rng rng(s.seed ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(p + 1)));
  uint64_t key_counter = static_cast<uint64_t>(p);
  Pacer pacer(w.rate / w.producers, s.start_ns);
  std::string filler(static_cast<size_t>(w.record_size.max()), 'x');
  LatencyRecorder* publish = s.publish[static_cast<size_t>(p)].get();
  const uint32_t producer_index = static_cast<uint32_t>(p);
  uint64_t seq = 0;
  ProducerRecord r;
  // Every thread starts on the schedule's start, so every record is due at or after it.
  std::this_thread::sleep_until(
      std::chrono::steady_clock::time_point(std::chrono::nanoseconds(s.start_ns)));
  for (; seq < budget && !s.stop_producing.load(std::memory_order_relaxed); seq++) {
    const int64_t due = pacer.Next();
    if (due >= s.produce_until_ns) break;
    const size_t size = static_cast<size_t>(w.record_size.Next(rng));
    if (seq == 0 || s.topics.size() > 1) r.topic = s.topics[seq % s.topics.size()];
    if (std::optional<uint64_t> k = w.keys.Next(rng, key_counter)) {
      r.key = absl::StrCat("key-", *k);
    }
    // The value buffer is reused: send() copies the bytes into the partition's batch.
    if (!r.value) r.value.emplace();
    r.value->assign(filler.data(), size);
    WriteStamp(std::as_writable_bytes(std::span(*r.value)), Stamp{.run_id = s.tracker.run_id(),
                                                                  .producer = producer_index,
                                                                  .sequence = seq,
                                                                  .send_ns = due});
    s.sent_bytes.fetch_add(size, std::memory_order_relaxed);
    if (s.inject_lost_sequence && p == 0 && seq == *s.inject_lost_sequence) {
      s.tracker.MarkAcked(producer_index, seq);  // "acknowledged", never sent: a lost record
      continue;
    }
    const int64_t measure_from = s.measure_from_ns.load(std::memory_order_relaxed);
    Status st = producer.send(
        r, [&s, publish, producer_index, seq, due, size, measure_from](StatusOr<RecordMetadata> m) {
          if (!m.ok()) {
            s.failed_records.fetch_add(1, std::memory_order_relaxed);
            s.CountError(m.status());
            return;
          }
          s.tracker.MarkAcked(producer_index, seq);
          s.acked_records.fetch_add(1, std::memory_order_relaxed);
          s.acked_bytes.fetch_add(size, std::memory_order_relaxed);
          if (due >= measure_from) publish->Record(SteadyNowNs() - due);
        });
    if (!st.ok()) {  // not accepted (buffer full past max.block.ms, closed, bad record)
      s.failed_records.fetch_add(1, std::memory_order_relaxed);
      s.CountError(st);
      seq++;
      break;
    }
  }
  producer.flush();
  s.sent[static_cast<size_t>(p)] = seq;
  s.producers_finished.fetch_add(1);
  s.Notify();
}

void RunConsumer(RunState& s, int c, Consumer& consumer) {
  {
    std::unique_lock lock(s.mu);
    s.cv.wait(lock, [&s] { return s.consumers_go.load() || s.stop_consuming.load(); });
  }
  if (s.group) {
    if (Status st = consumer.subscribe(s.topics); !st.ok()) {
      s.CountError(st);
      s.out_of_order[static_cast<size_t>(c)] = 0;
      return;
    }
  }
  int assigned = 0;  // this consumer's share of s.assigned_partitions
  Tracker::OrderCheck order;
  std::vector<int64_t> latencies;
  LatencyRecorder* e2e = s.e2e[static_cast<size_t>(c)].get();
  while (!s.stop_consuming.load(std::memory_order_relaxed)) {
    StatusOr<ConsumerRecords> records = consumer.poll(std::chrono::milliseconds(100));
    if (!records.ok()) {
      s.CountError(records.status());
      if (!proto::IsRetriable(proto::ErrorFromStatus(records.status()))) break;
      continue;
    }
    if (s.group) {
      const int now_assigned = static_cast<int>(consumer.assignment().size());
      if (now_assigned != assigned) {
        s.assigned_partitions.fetch_add(now_assigned - assigned);
        assigned = now_assigned;
        s.Notify();
      }
    }
    if (records->empty()) continue;
    const int64_t now = SteadyNowNs();
    const int64_t measure_from = s.measure_from_ns.load(std::memory_order_relaxed);
    latencies.clear();
    uint64_t value_bytes = 0;  // values only, as the producers count them
    for (const ConsumerRecord& r : *records) {
      std::optional<Stamp> stamp;
      if (r.value) stamp = ReadStamp(std::as_bytes(std::span(r.value->data(), r.value->size())));
      if (!stamp) {
        s.tracker.CountForeign();
        continue;
      }
      if (!s.tracker.MarkSeen(stamp->run_id, stamp->producer, stamp->sequence)) continue;
      auto topic = s.topic_index.find(absl::string_view(r.topic.data(), r.topic.size()));
      const uint64_t partition_key =
          (uint64_t{topic == s.topic_index.end() ? 0xfffffu : topic->second} << 20) |
          static_cast<uint32_t>(r.partition);
      order.Observe(stamp->producer, partition_key, stamp->sequence);
      if (stamp->send_ns >= measure_from) latencies.push_back(now - stamp->send_ns);
      value_bytes += r.value->size();
    }
    e2e->RecordAll(latencies);
    s.consumed_records.fetch_add(records->size(), std::memory_order_relaxed);
    s.consumed_bytes.fetch_add(value_bytes, std::memory_order_relaxed);
    s.last_consumed_ns.store(now, std::memory_order_relaxed);
    s.Notify();
  }
  s.out_of_order[static_cast<size_t>(c)] = order.out_of_order();
}

}  // namespace spool::bench
