// spool bench: produce N records through the producer library, consume them back through the
// consumer library, and check that every record arrived exactly once and in order per partition.
// Prints a progress line every second and the rates at the end. (The full benchmark of issue 4 —
// workloads, latency histograms, JSON results, limits — grows from here.)
//
// Each record's value starts with a 16-byte stamp: producer thread (u32), sequence within that
// thread (u64), 4 bytes of a check pattern; the rest is filler. Consumers check the stamp: a
// sequence seen twice is a duplicate, one missing at the end is lost, and within one
// (producer, partition) sequences must increase (the producer keeps order per partition).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/admin.h"
#include "cli/commands.h"
#include "common/byte_order.h"
#include "consumer/consumer.h"
#include "producer/producer.h"
#include "proto/errors.h"

namespace spool::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kStampSize = 16;
constexpr uint32_t kCheck = 0x5350424eu;  // "SPBN"

struct Options {
  std::string topic;
  bool own_topic = false;
  int64_t records = 1000000;
  int64_t record_size = 100;
  int32_t partitions = 2;
  int producers = 1;
  ProducerConfig producer;
  bool consume = true;
  bool keep_topic = false;
  std::chrono::milliseconds progress{1000};
};

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string Rate(uint64_t records, uint64_t bytes, double seconds) {
  if (seconds <= 0) seconds = 1e-9;
  return absl::StrFormat("%.0f records/s, %.1f MB/s", records / seconds, bytes / seconds / 1e6);
}

// Prints "label: done/total  rate" every `every` (the rate over that interval) until stopped;
// stopping wakes it at once, so a phase shorter than the interval prints no line of its own.
class Progress {
 public:
  Progress(std::ostream& err, const char* label, const std::atomic<uint64_t>& done, uint64_t total,
           uint64_t record_bytes, std::chrono::milliseconds every)
      : thread_([this, &err, label, &done, total, record_bytes, every] {
          uint64_t last = 0;
          auto last_t = Clock::now();
          std::unique_lock lock(mu_);
          while (!cv_.wait_for(lock, every, [this] { return stop_; })) {
            const uint64_t now_done = done.load();
            const auto now = Clock::now();
            err << label << ": " << now_done << "/" << total << "  "
                << Rate(now_done - last, (now_done - last) * record_bytes, Seconds(now - last_t))
                << "\n";
            last = now_done;
            last_t = now;
          }
        }) {}
  ~Progress() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

int Run(const Options& o, CommandIo& io) {
  auto session = AdminSession::Open(o.producer.bootstrap_servers, std::chrono::seconds(10));
  if (!session.ok()) return Fail(io, session.status().message());
  if (o.own_topic) {
    v1::CreateTopicsRequest req;
    v1::CreatableTopic* t = req.add_topics();
    t->set_name(o.topic);
    t->set_num_partitions(o.partitions);
    StatusOr<v1::CreateTopicsResponse> r = (*session)->CreateTopics(req);
    if (!r.ok()) return Fail(io, absl::StrCat("cannot reach a broker: ", r.status().message()));
    if (r->topics_size() != 1 || r->topics(0).error_code() != v1::NONE) {
      return Fail(io, absl::StrCat("cannot create topic ", o.topic, ": ",
                                   r->topics_size() == 1 ? r->topics(0).error_message() : ""));
    }
  }
  StatusOr<v1::MetadataResponse> md = (*session)->Metadata({o.topic});
  if (!md.ok()) return Fail(io, md.status().message());
  std::vector<TopicPartition> tps;
  for (const auto& t : md->topics()) {
    for (const auto& p : t.partitions()) tps.push_back({o.topic, p.partition()});
  }
  if (tps.empty()) return Fail(io, absl::StrCat("topic ", o.topic, " has no partitions"));

  // Where consumption starts: the current end of each partition.
  ConsumerConfig cc;
  cc.bootstrap_servers = {o.producer.bootstrap_servers};
  cc.client_id = "spool-bench";
  cc.max_poll_records = 100000;
  auto consumer = Consumer::Create(cc);
  if (!consumer.ok()) return Fail(io, consumer.status().message());
  Status st = (*consumer)->assign(tps);
  if (st.ok()) st = (*consumer)->seek_to_end(tps);
  std::vector<int64_t> start(tps.size());
  for (size_t i = 0; st.ok() && i < tps.size(); i++) {
    StatusOr<int64_t> pos = (*consumer)->position(tps[i]);
    st = pos.status();
    if (pos.ok()) start[i] = *pos;
  }
  if (!st.ok()) return Fail(io, absl::StrCat("cannot read the partitions' ends: ", st.message()));

  // ---- produce ----
  auto producer = Producer::Create(o.producer);
  if (!producer.ok()) return Fail(io, producer.status().message());
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> failed{0};
  std::mutex err_mu;
  Status first_error;
  const uint64_t total = static_cast<uint64_t>(o.records);
  const uint64_t bytes = static_cast<uint64_t>(o.record_size);
  auto progress = std::make_unique<Progress>(io.err, "produce", acked, total, bytes, o.progress);
  const auto p_start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.producers; t++) {
    threads.emplace_back([&, t] {
      const uint64_t mine = total / o.producers + (static_cast<uint64_t>(t) < total % o.producers);
      ProducerRecord r;
      r.topic = o.topic;
      std::string value(static_cast<size_t>(o.record_size), 'x');
      for (uint64_t seq = 0; seq < mine; seq++) {
        if (value.size() >= kStampSize) {
          StoreBigEndian<uint32_t>(reinterpret_cast<std::byte*>(value.data()), t);
          StoreBigEndian<uint64_t>(reinterpret_cast<std::byte*>(value.data()) + 4, seq);
          StoreBigEndian<uint32_t>(reinterpret_cast<std::byte*>(value.data()) + 12, kCheck);
        }
        r.value = value;
        Status s = (*producer)->send(r, [&](StatusOr<RecordMetadata> m) {
          if (m.ok()) {
            acked.fetch_add(1, std::memory_order_relaxed);
            return;
          }
          failed.fetch_add(1, std::memory_order_relaxed);
          std::lock_guard l(err_mu);
          if (first_error.ok()) first_error = m.status();
        });
        if (!s.ok()) {
          failed.fetch_add(mine - seq, std::memory_order_relaxed);
          std::lock_guard l(err_mu);
          if (first_error.ok()) first_error = s;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  (*producer)->flush();
  const double p_secs = Seconds(Clock::now() - p_start);
  (*producer)->close();
  progress.reset();
  io.out << "produced " << acked.load() << " records of " << o.record_size << " B in "
         << absl::StrFormat("%.2f", p_secs)
         << " s: " << Rate(acked.load(), acked.load() * bytes, p_secs)
         << " (acks=" << o.producer.acks << ", " << o.producers << " producer threads, "
         << tps.size() << " partitions)\n";
  if (failed.load() > 0) {
    return Fail(io, absl::StrCat(failed.load(), " records failed: ", first_error.message()));
  }
  if (!o.consume) return 0;

  // ---- consume and verify ----
  for (size_t i = 0; i < tps.size() && st.ok(); i++) st = (*consumer)->seek(tps[i], start[i]);
  if (!st.ok()) return Fail(io, st.message());
  std::vector<std::vector<bool>> seen(static_cast<size_t>(o.producers));
  for (int t = 0; t < o.producers; t++) {
    seen[static_cast<size_t>(t)].resize(total / o.producers + 1);
  }
  std::map<std::pair<uint32_t, int32_t>, int64_t> last_seq;  // (producer, partition) -> seq
  uint64_t duplicates = 0, reordered = 0, foreign = 0;
  std::atomic<uint64_t> consumed{0};
  auto cprogress =
      std::make_unique<Progress>(io.err, "consume", consumed, total, bytes, o.progress);
  const auto c_start = Clock::now();
  auto last_data = Clock::now();
  while (consumed.load() < total) {
    StatusOr<ConsumerRecords> recs = (*consumer)->poll(std::chrono::milliseconds(500));
    if (!recs.ok()) {
      st = recs.status();
      break;
    }
    if (recs->empty()) {
      if (Clock::now() - last_data > std::chrono::seconds(10)) break;  // nothing more is coming
      continue;
    }
    last_data = Clock::now();
    for (const ConsumerRecord& r : *recs) {
      if (!r.value || r.value->size() < kStampSize ||
          LoadBigEndian<uint32_t>(reinterpret_cast<const std::byte*>(r.value->data()) + 12) !=
              kCheck) {
        if (bytes >= kStampSize) foreign++;
        continue;
      }
      const auto* v = reinterpret_cast<const std::byte*>(r.value->data());
      const uint32_t t = LoadBigEndian<uint32_t>(v);
      const uint64_t seq = LoadBigEndian<uint64_t>(v + 4);
      if (t >= seen.size() || seq >= seen[t].size()) {
        foreign++;
        continue;
      }
      if (seen[t][seq]) duplicates++;
      seen[t][seq] = true;
      auto [it, fresh] = last_seq.try_emplace({t, r.partition}, static_cast<int64_t>(seq));
      if (!fresh) {
        if (static_cast<int64_t>(seq) <= it->second) reordered++;
        it->second = static_cast<int64_t>(seq);
      }
    }
    consumed.fetch_add(recs->size(), std::memory_order_relaxed);
  }
  const double c_secs = Seconds(Clock::now() - c_start);
  cprogress.reset();
  (void)(*consumer)->close();
  uint64_t missing = 0;
  if (bytes >= kStampSize) {
    for (int t = 0; t < o.producers; t++) {
      const uint64_t mine = total / o.producers + (static_cast<uint64_t>(t) < total % o.producers);
      for (uint64_t s = 0; s < mine; s++) missing += seen[static_cast<size_t>(t)][s] ? 0 : 1;
    }
  }
  io.out << "consumed " << consumed.load() << " records in " << absl::StrFormat("%.2f", c_secs)
         << " s: " << Rate(consumed.load(), consumed.load() * bytes, c_secs) << "\n";
  if (o.own_topic && !o.keep_topic) {
    v1::DeleteTopicsRequest del;
    del.add_topic_names(o.topic);
    (void)(*session)->DeleteTopics(del);
  }
  if (!st.ok()) return Fail(io, absl::StrCat("consume failed: ", st.message()));
  if (bytes < kStampSize) {
    io.out << "verify: skipped (records under " << kStampSize << " B carry no stamp)\n";
    return consumed.load() == total ? 0 : Fail(io, "fewer records came back than were sent");
  }
  io.out << "verify: " << (total - missing) << "/" << total << " records back, " << missing
         << " missing, " << duplicates << " duplicates, " << reordered << " out of order\n";
  if (missing != 0 || duplicates != 0 || reordered != 0 || foreign != 0) {
    return Fail(io, "verification FAILED");
  }
  return 0;
}

int Bench(const Args& args, CommandIo& io) {
  Options o;
  o.producer.bootstrap_servers = Bootstrap(args);
  o.producer.client_id = "spool-bench";
  StatusOr<int64_t> records = args.get_int("num-records", 1000000);
  StatusOr<int64_t> size = args.get_int("record-size", 100);
  StatusOr<int64_t> partitions = args.get_int("partitions", 2);
  StatusOr<int64_t> producers = args.get_int("producers", 1);
  StatusOr<int64_t> acks = args.get_int("acks", -1);
  StatusOr<int64_t> linger = args.get_int("linger-ms", o.producer.linger_ms);
  StatusOr<int64_t> batch = args.get_int("batch-size", o.producer.batch_size);
  StatusOr<int64_t> progress = args.get_int("progress-ms", 1000);
  for (const Status& st : {records.status(), size.status(), partitions.status(), producers.status(),
                           acks.status(), linger.status(), batch.status()}) {
    if (!st.ok()) return Fail(io, st.message());
  }
  if (*records < 1 || *size < 0 || *partitions < 1 || *producers < 1) {
    return Fail(io, "--num-records, --partitions and --producers must be >= 1");
  }
  o.records = *records;
  o.record_size = *size;
  o.partitions = static_cast<int32_t>(*partitions);
  o.producers = static_cast<int>(*producers);
  o.producer.acks = static_cast<int>(*acks);
  o.producer.linger_ms = static_cast<int>(*linger);
  o.producer.batch_size = static_cast<int>(*batch);
  o.consume = !args.has("produce-only");
  o.keep_topic = args.has("keep-topic");
  o.progress = std::chrono::milliseconds(std::max<int64_t>(*progress, 50));
  if (std::optional<std::string> t = args.get("topic")) {
    o.topic = *t;
  } else {
    o.own_topic = true;
    o.topic = absl::StrCat("spool-bench-", std::random_device{}() % 1000000);
  }
  return Run(o, io);
}

}  // namespace

void AddBenchCommands(std::vector<Command>& commands) {
  commands.push_back(Command{
      .path = {"bench"},
      .synopsis = "[--num-records N] [--record-size B] [--acks -1|0|1] [flags]",
      .summary = "produce, consume back, verify, and print throughput",
      .flags = {{.name = "num-records",
                 .short_name = 'n',
                 .value_name = "N",
                 .help = "records to produce",
                 .default_value = "1000000"},
                {.name = "record-size",
                 .short_name = 's',
                 .value_name = "BYTES",
                 .help = "value size",
                 .default_value = "100"},
                {.name = "topic",
                 .short_name = 't',
                 .value_name = "NAME",
                 .help = "an existing topic (default: a new one, deleted after)"},
                {.name = "partitions",
                 .short_name = 'p',
                 .value_name = "N",
                 .help = "partitions of the new topic",
                 .default_value = "2"},
                {.name = "producers",
                 .value_name = "N",
                 .help = "producer threads",
                 .default_value = "1"},
                {.name = "acks",
                 .short_name = 'a',
                 .value_name = "-1|0|1",
                 .help = "acks",
                 .default_value = "-1"},
                {.name = "linger-ms", .value_name = "MS", .help = "linger.ms"},
                {.name = "batch-size", .value_name = "BYTES", .help = "batch.size"},
                {.name = "produce-only", .takes_value = false, .help = "skip the consume phase"},
                {.name = "keep-topic", .takes_value = false, .help = "do not delete the new topic"},
                {.name = "progress-ms",
                 .value_name = "MS",
                 .help = "progress line interval",
                 .default_value = "1000"}},
      .run = Bench});
}

}  // namespace spool::cli
