#include "bench/engine/runner.h"

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/engine/pacer.h"
#include "bench/engine/run_state.h"
#include "bench/engine/stamp.h"
#include "client/admin.h"
#include "proto/errors.h"

namespace spool::bench {
namespace {

using std::chrono::milliseconds;

StatusOr<CompressionType> Compression(const std::string& name) {
  if (name == "none") return CompressionType::kNone;
  if (name == "lz4") return CompressionType::kLz4;
  if (name == "zstd") return CompressionType::kZstd;
  return absl::InvalidArgumentError(absl::StrCat("compression.type: unknown codec '", name, "'"));
}

Status CreateTopics(client::AdminSession& admin, const Workload& w, RunState& s, uint32_t run_id) {
  if (w.topic) {
    s.topics.push_back(*w.topic);
    return absl::OkStatus();
  }
  v1::CreateTopicsRequest req;
  for (int i = 0; i < w.topics; i++) {
    std::string name = absl::StrFormat("spool-bench-%08x-%d", run_id, i);
    v1::CreatableTopic* t = req.add_topics();
    t->set_name(name);
    t->set_num_partitions(w.partitions);
    s.topics.push_back(std::move(name));
  }
  ASSIGN_OR_RETURN(v1::CreateTopicsResponse r, admin.CreateTopics(req));
  for (const auto& t : r.topics()) {
    if (t.error_code() != v1::NONE) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create topic ", t.name(), ": ",
                       std::string(proto::ErrorName(t.error_code())), " ", t.error_message()));
    }
  }
  return absl::OkStatus();
}

void DeleteTopics(client::AdminSession& admin, const Workload& w, const RunState& s) {
  if (w.topic) return;
  v1::DeleteTopicsRequest del;
  for (const std::string& t : s.topics) del.add_topic_names(t);
  (void)admin.DeleteTopics(del);
}

// Sets `group`'s committed offset of every partition to its current end, so members that join
// start there (the group must be empty: a commit from outside the group, generation -1).
Status CommitEndOffsets(client::AdminSession& admin, const std::string& group,
                        const std::vector<TopicPartition>& tps) {
  std::vector<std::pair<std::string, int32_t>> parts;
  for (const TopicPartition& tp : tps) parts.push_back({tp.topic, tp.partition});
  ASSIGN_OR_RETURN(client::AdminSession::PartitionOffsets ends,
                   admin.OffsetsBySpec(parts, v1::OFFSET_SPEC_LATEST));
  for (const auto& [tp, end] : ends) {
    if (end < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot read the end of ", tp.first, "-", tp.second));
    }
  }
  return admin.CommitOffsetsFromOutside(group, ends);
}

// The interval figures the progress line prints and the timeline keeps.
class Sampler {
 public:
  Sampler(RunState& s, std::ostream* out) : s_(s), out_(out), last_ns_(s.start_ns) {}

  void Tick(int64_t now) {
    const double dt = std::max(1e-9, (now - last_ns_) / 1e9);
    const uint64_t acked = s_.acked_records.load(), bytes = s_.acked_bytes.load();
    const uint64_t consumed = s_.consumed_records.load();
    Histogram pub, e2e;
    for (auto& r : s_.publish) r->TakeInterval(pub);
    for (auto& r : s_.e2e) r->TakeInterval(e2e);
    IntervalSample x{.t_s = (now - s_.start_ns) / 1e9,
                     .produce_records_per_s = (acked - last_acked_) / dt,
                     .produce_mb_per_s = (bytes - last_bytes_) / dt / 1e6,
                     .consume_records_per_s = (consumed - last_consumed_) / dt,
                     .publish_p99_ms = pub.ValueAtQuantile(0.99) / 1e6,
                     .end_to_end_p99_ms = e2e.ValueAtQuantile(0.99) / 1e6};
    timeline.push_back(x);
    if (out_ != nullptr) {
      *out_ << absl::StrFormat(
          "%6.1fs  produce %10.0f rec/s %8.1f MB/s  p99 %7.2f ms | consume %10.0f rec/s  "
          "e2e p99 %7.2f ms | errors %d\n",
          x.t_s, x.produce_records_per_s, x.produce_mb_per_s, x.publish_p99_ms,
          x.consume_records_per_s, x.end_to_end_p99_ms, s_.failed_records.load());
      out_->flush();
    }
    last_ns_ = now;
    last_acked_ = acked;
    last_bytes_ = bytes;
    last_consumed_ = consumed;
  }

  std::vector<IntervalSample> timeline;

 private:
  RunState& s_;
  std::ostream* out_;
  int64_t last_ns_;
  uint64_t last_acked_ = 0, last_bytes_ = 0, last_consumed_ = 0;
};

}  // namespace

StatusOr<BenchResult> RunWorkload(Workload w, const RunOptions& o) {
  RETURN_IF_ERROR(Validate(w));
  ASSIGN_OR_RETURN(CompressionType compression, Compression(w.compression));
  std::random_device rd;
  const uint32_t run_id = rd();
  if (!w.seed) w.seed = (uint64_t{rd()} << 32) | rd();

  ASSIGN_OR_RETURN(std::unique_ptr<client::AdminSession> admin,
                   client::AdminSession::Open(o.bootstrap, o.request_timeout, "spool-bench"));
  RunState s(w, run_id);
  s.seed = *w.seed;
  s.inject_lost_sequence = o.inject_lost_sequence;
  RETURN_IF_ERROR(CreateTopics(*admin, w, s, run_id));
  struct Cleanup {
    client::AdminSession& admin;
    const Workload& w;
    const RunState& s;
    ~Cleanup() { DeleteTopics(admin, w, s); }
  } cleanup{*admin, w, s};
  for (uint32_t i = 0; i < s.topics.size(); i++) s.topic_index[s.topics[i]] = i;

  ASSIGN_OR_RETURN(v1::MetadataResponse md, admin->Metadata(s.topics));
  std::vector<TopicPartition> tps;
  for (const auto& t : md.topics()) {
    if (t.error_code() != v1::NONE) {
      return absl::NotFoundError(
          absl::StrCat("topic ", t.name(), ": ", std::string(proto::ErrorName(t.error_code()))));
    }
    for (const auto& p : t.partitions()) tps.push_back({t.name(), p.partition()});
  }
  if (tps.empty()) return absl::NotFoundError("the workload's topics have no partitions");
  std::sort(tps.begin(), tps.end());

  // Consumers first, positioned at the end of their partitions, so they read exactly this run:
  // assigned and sought to the end, or (in a group) through the group's committed offsets, set
  // to the ends before the members join.
  const int consumers = std::min<int>(w.consumers, static_cast<int>(tps.size()));
  s.group = w.group.has_value() && consumers > 0;
  if (s.group) RETURN_IF_ERROR(CommitEndOffsets(*admin, *w.group, tps));
  std::vector<std::unique_ptr<Consumer>> cons;
  for (int c = 0; c < consumers; c++) {
    ConsumerConfig cc;
    // "host:port[,host:port...]", as the producer takes it.
    cc.bootstrap_servers = absl::StrSplit(o.bootstrap, ',', absl::SkipEmpty());
    cc.client_id = absl::StrCat("spool-bench-c", c);
    cc.max_poll_records = 100000;
    if (s.group) {
      cc.group_id = *w.group;
      cc.auto_offset_reset = OffsetResetPolicy::kEarliest;  // committed above; a fallback
      ASSIGN_OR_RETURN(std::unique_ptr<Consumer> member, Consumer::Create(cc));
      cons.push_back(std::move(member));
      s.e2e.push_back(std::make_unique<LatencyRecorder>());
      continue;
    }
    ASSIGN_OR_RETURN(std::unique_ptr<Consumer> consumer, Consumer::Create(cc));
    std::vector<TopicPartition> mine;
    for (size_t i = static_cast<size_t>(c); i < tps.size(); i += static_cast<size_t>(consumers)) {
      mine.push_back(tps[i]);
    }
    RETURN_IF_ERROR(consumer->assign(mine));
    RETURN_IF_ERROR(consumer->seek_to_end(mine));
    for (const TopicPartition& tp : mine) RETURN_IF_ERROR(consumer->position(tp).status());
    cons.push_back(std::move(consumer));
    s.e2e.push_back(std::make_unique<LatencyRecorder>());
  }
  s.out_of_order.assign(static_cast<size_t>(consumers), 0);

  std::vector<std::unique_ptr<Producer>> prods;
  for (int p = 0; p < w.producers; p++) {
    ProducerConfig pc;
    pc.bootstrap_servers = o.bootstrap;
    pc.client_id = absl::StrCat("spool-bench-p", p);
    pc.acks = w.acks;
    pc.linger_ms = w.linger_ms;
    pc.batch_size = w.batch_size;
    pc.buffer_memory = w.buffer_memory;
    pc.compression = compression;
    ASSIGN_OR_RETURN(std::unique_ptr<Producer> producer, Producer::Create(pc));
    prods.push_back(std::move(producer));
    s.publish.push_back(std::make_unique<LatencyRecorder>());
  }
  s.sent.assign(static_cast<size_t>(w.producers), 0);

  // ---- run ----
  const bool backlog_first = w.backlog_bytes > 0;
  s.consumers_go = !backlog_first;
  std::vector<std::thread> threads;
  for (int c = 0; c < consumers; c++) {
    threads.emplace_back([&s, c, &cons] { RunConsumer(s, c, *cons[static_cast<size_t>(c)]); });
  }
  if (s.group && !backlog_first) {
    // The members join first, so the measured run does not include the first rebalance.
    std::unique_lock lock(s.mu);
    const bool joined = s.cv.wait_for(lock, o.group_join_timeout, [&] {
      return s.assigned_partitions.load() == static_cast<int>(tps.size());
    });
    if (!joined) {
      s.stop_consuming = true;
      lock.unlock();
      s.Notify();
      for (auto& t : threads) t.join();
      return absl::DeadlineExceededError(absl::StrCat(
          "group ", *w.group, " did not assign all ", tps.size(), " partitions to its ", consumers,
          " members within ", o.group_join_timeout.count(), " ms"));
    }
  }
  s.start_ns = SteadyNowNs() + 1'000'000;  // the schedule starts once every thread is up
  s.measure_from_ns = s.start_ns + w.warmup_ms * 1'000'000;
  if (w.duration_ms) s.produce_until_ns = s.measure_from_ns + *w.duration_ms * 1'000'000;
  const uint64_t total = w.num_records ? static_cast<uint64_t>(*w.num_records) : UINT64_MAX;
  for (int p = 0; p < w.producers; p++) {
    const uint64_t budget =
        total == UINT64_MAX
            ? UINT64_MAX
            : total / w.producers + (static_cast<uint64_t>(p) < total % w.producers ? 1 : 0);
    threads.emplace_back(
        [&s, p, &prods, budget] { RunProducer(s, p, *prods[static_cast<size_t>(p)], budget); });
  }

  Sampler sampler(s, o.progress);
  const int64_t tick_ns = o.progress_interval.count() * 1'000'000;
  const int64_t stop_at = s.produce_until_ns;
  const int64_t idle_ns = o.idle_timeout.count() * 1'000'000;
  int64_t next_tick = s.start_ns + tick_ns;
  bool warm = w.warmup_ms == 0;
  uint64_t acked_at_warm = 0, bytes_at_warm = 0, consumed_at_warm = 0, cbytes_at_warm = 0;
  int64_t produce_from = s.start_ns, produce_end = 0, consume_from = s.start_ns;
  int64_t producers_done_at = 0;
  for (;;) {
    {
      std::unique_lock lock(s.mu);
      const int64_t wake =
          std::min({next_tick, stop_at, warm ? INT64_MAX : s.measure_from_ns.load()});
      s.cv.wait_for(lock, std::chrono::nanoseconds(std::max<int64_t>(0, wake - SteadyNowNs())));
    }
    const int64_t now = SteadyNowNs();
    if (!warm && now >= s.measure_from_ns) {
      warm = true;
      produce_from = consume_from = now;
      acked_at_warm = s.acked_records.load();
      bytes_at_warm = s.acked_bytes.load();
      consumed_at_warm = s.consumed_records.load();
      cbytes_at_warm = s.consumed_bytes.load();
    }
    if (now >= stop_at) s.stop_producing = true;
    if (!s.consumers_go && (s.sent_bytes.load() >= static_cast<uint64_t>(w.backlog_bytes) ||
                            s.producers_finished.load() == w.producers)) {
      s.consumers_go = true;
      consume_from = std::max(consume_from, now);
      consumed_at_warm = s.consumed_records.load();
      cbytes_at_warm = s.consumed_bytes.load();
      s.Notify();
    }
    if (producers_done_at == 0 && s.producers_finished.load() == w.producers) {
      producers_done_at = produce_end = now;
    }
    if (now >= next_tick) {
      sampler.Tick(now);
      next_tick += tick_ns * ((now - next_tick) / tick_ns + 1);
    }
    if (producers_done_at != 0) {
      if (consumers == 0) break;
      // Fewer distinct records seen than acknowledged means some are still missing; only then
      // is the (linear) tally worth running.
      if (s.tracker.distinct_seen() >= s.tracker.acked_count() &&
          s.tracker.Tally(s.sent, 0).missing == 0) {
        break;
      }
      const int64_t last = std::max(s.last_consumed_ns.load(), producers_done_at);
      if (now - last > idle_ns) break;  // nothing more is coming: the rest is missing
    }
  }
  const int64_t consume_end = std::max(s.last_consumed_ns.load(), consume_from);
  s.stop_consuming = true;
  s.Notify();
  for (auto& t : threads) t.join();
  if (sampler.timeline.empty() ||
      sampler.timeline.back().t_s < (SteadyNowNs() - s.start_ns) / 1e9 - 0.5) {
    sampler.Tick(SteadyNowNs());
  }
  for (auto& p : prods) p->close();
  for (auto& c : cons) (void)c->close();

  BenchResult r;
  r.workload = w;
  r.environment = DetectEnvironment();
  r.environment.bootstrap = o.bootstrap;
  r.limits = o.limits;
  r.produce = {.records = s.acked_records.load() - acked_at_warm,
               .bytes = s.acked_bytes.load() - bytes_at_warm,
               .seconds = std::max<int64_t>(0, produce_end - produce_from) / 1e9};
  r.produce_errors = s.failed_records.load();
  r.errors_by_code = s.errors_by_code;
  r.consume = {.records = s.consumed_records.load() - consumed_at_warm,
               .bytes = s.consumed_bytes.load() - cbytes_at_warm,
               .seconds = std::max<int64_t>(0, consume_end - consume_from) / 1e9};
  Histogram pub, e2e;
  for (auto& x : s.publish) x->AddTotal(pub);
  for (auto& x : s.e2e) x->AddTotal(e2e);
  r.publish_latency = Summarize(pub);
  r.end_to_end_latency = Summarize(e2e);
  if (consumers > 0) {
    uint64_t ooo = 0;
    for (uint64_t x : s.out_of_order) ooo += x;
    r.verify = s.tracker.Tally(s.sent, ooo);
  }
  r.timeline = std::move(sampler.timeline);
  return r;
}

}  // namespace spool::bench
