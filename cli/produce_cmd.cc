// spool produce TOPIC: one record per line of stdin, through the producer library.
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "producer/producer.h"
#include "proto/errors.h"

namespace spool::cli {
namespace {

StatusOr<CompressionType> ParseCompression(const std::string& s) {
  if (s == "none") return CompressionType::kNone;
  if (s == "lz4") return CompressionType::kLz4;
  if (s == "zstd") return CompressionType::kZstd;
  return absl::InvalidArgumentError(
      absl::StrCat("--compression-type wants none, lz4 or zstd, not '", s, "'"));
}

int Produce(const Args& args, CommandIo& io) {
  if (args.positional().size() != 1) return Fail(io, "produce wants one TOPIC");
  ProducerConfig config;
  config.bootstrap_servers = Bootstrap(args);
  config.client_id = "spool-cli";
  StatusOr<int64_t> acks = args.get_int("acks", -1);
  StatusOr<int64_t> linger = args.get_int("linger-ms", 5);
  StatusOr<int64_t> partition = args.get_int("partition", -1);
  StatusOr<int64_t> timeout = args.get_int("timeout-ms", 10000);
  for (const Status& st : {acks.status(), linger.status(), partition.status(), timeout.status()}) {
    if (!st.ok()) return Fail(io, st.message());
  }
  config.acks = static_cast<int>(*acks);
  config.linger_ms = static_cast<int>(*linger);
  config.max_block_ms = static_cast<int>(*timeout);
  StatusOr<CompressionType> compression = ParseCompression(args.get_or("compression-type", "none"));
  if (!compression.ok()) return Fail(io, compression.status().message());
  config.compression = *compression;
  std::vector<RecordHeader> headers;
  for (const std::string& h : args.all("header")) {
    const size_t eq = h.find('=');
    if (eq == std::string::npos) return Fail(io, absl::StrCat("--header wants K=V, not '", h, "'"));
    headers.push_back(RecordHeader{h.substr(0, eq), h.substr(eq + 1)});
  }
  const std::optional<std::string> key_separator = args.get("key-separator");

  StatusOr<std::unique_ptr<Producer>> producer = Producer::Create(std::move(config));
  if (!producer.ok()) return Fail(io, producer.status().message());

  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> failed{0};
  std::mutex first_error_mu;
  Status first_error;
  uint64_t sent = 0;
  std::string line;
  ProducerRecord record;
  record.topic = args.positional()[0];
  if (*partition >= 0) record.partition = static_cast<int32_t>(*partition);
  record.headers = headers;
  while (std::getline(io.in, line)) {
    if (key_separator) {
      const size_t at = line.find(*key_separator);
      if (at == std::string::npos) {
        record.key.reset();
        record.value = line;
      } else {
        record.key = line.substr(0, at);
        record.value = line.substr(at + key_separator->size());
      }
    } else {
      record.value = line;
    }
    Status st = (*producer)->send(record, [&](StatusOr<RecordMetadata> md) {
      if (md.ok()) {
        acked.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      failed.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(first_error_mu);
      if (first_error.ok()) first_error = md.status();
    });
    if (!st.ok()) {
      (*producer)->close();
      return Fail(io, absl::StrCat("cannot produce to '", record.topic,
                                   "': ", std::string(proto::ErrorName(proto::ErrorFromStatus(st))),
                                   ": ", st.message()));
    }
    sent++;
  }
  (*producer)->flush();
  (*producer)->close();
  if (failed.load() > 0) {
    return Fail(io, absl::StrCat(failed.load(), " of ", sent,
                                 " records failed; the first: ", first_error.message()));
  }
  if (args.has("verbose")) io.err << "spool: produced " << acked.load() << " records\n";
  return 0;
}

}  // namespace

void AddProduceCommands(std::vector<Command>& commands) {
  commands.push_back(Command{
      .path = {"produce"},
      .synopsis = "TOPIC [flags] < lines",
      .summary = "produce one record per line of stdin",
      .flags =
          {{.name = "key-separator",
            .short_name = 'k',
            .value_name = "SEP",
            .help = "split each line at the first SEP into key and value"},
           {.name = "header",
            .short_name = 'H',
            .value_name = "K=V",
            .help = "a header on every record, repeatable"},
           {.name = "partition",
            .short_name = 'p',
            .value_name = "N",
            .help = "produce to this partition (default: by key, sticky without one)"},
           {.name = "acks",
            .short_name = 'a',
            .value_name = "-1|0|1",
            .help = "acks",
            .default_value = "-1"},
           {.name = "linger-ms", .value_name = "MS", .help = "linger.ms", .default_value = "5"},
           {.name = "compression-type",
            .value_name = "none|lz4|zstd",
            .help = "compression.type",
            .default_value = "none"},
           {.name = "verbose",
            .short_name = 'v',
            .takes_value = false,
            .help = "print how many records were acknowledged"}},
      .run = Produce});
}

}  // namespace spool::cli
