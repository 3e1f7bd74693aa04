// Workload: what one `spool bench` run does, from flags or a small TOML workload file.
//
// One table of keys serves both: every key of a workload file is also a flag of `spool bench`
// (`partitions = 16` in a file is `--partitions 16`), and flags given on the command line
// override the file. SetKey() is that table; the file parser and the CLI both call it.
//
//   key            value                               default
//   name           a label for reports                 "bench"
//   topic          an existing topic to use (topics must be 1); unset: new topics, deleted after
//   topics         number of new topics                1
//   partitions     partitions per new topic            16
//   producers      producer instances (each its own thread and Producer)   1
//   consumers      consumer instances (partitions split between them; 0: produce only)  1
//   group          consumer group id (needs consumer groups; unset: assigned partitions)
//   record-size    a SizeDistribution spec             "1024"
//   keys           a KeyDistribution spec              "none"
//   rate           target records/s over all producers, 0 = as fast as possible   0
//   num-records    stop producing after this many records (over all producers)
//   duration       produce for this long after the warm-up ("30s", "2m", "500ms", or seconds)
//   warmup         produce but measure nothing for this long first (same syntax)   0
//   backlog        bytes produced before consumers start (a consumer catching up; "1GiB",
//                  "512MiB", bytes, or "all": consumers start when producing ends)   0
//   acks           -1|all, 0, 1                        -1
//   linger.ms      producer linger.ms                  5
//   batch.size     producer batch.size (bytes)         65536
//   compression.type none|lz4|zstd                     none
//   buffer.memory  producer buffer.memory (bytes)      33554432
//   seed           random seed (sizes, keys)           derived from the time, printed
//   (Kafka producer keys keep Kafka's names; flags spell them --linger-ms, --batch-size,
//    --compression, --buffer-memory. SetKey() takes both spellings; batch.size, buffer.memory
//    and backlog take byte counts as ParseBytes() reads them, rate also takes "max".)
//
// One of num-records and duration must be set (the default is num-records = 1,000,000).
// A TOML file may hold only these keys (TOML reads `linger.ms = 5` as a table "linger" with a
// key "ms"; tables are flattened back into dotted keys); anything else is an error naming the
// file, line and key. Pure value types; no I/O except LoadWorkloadFile.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/engine/distribution.h"
#include "common/status.h"

namespace spool::bench {

// backlog = "all": consumers start only after the producers finish.
inline constexpr int64_t kBacklogAll = std::numeric_limits<int64_t>::max();

struct Workload {
  std::string name = "bench";
  std::optional<std::string> topic;
  int topics = 1;
  int partitions = 16;
  int producers = 1;
  int consumers = 1;
  std::optional<std::string> group;
  SizeDistribution record_size = SizeDistribution::Fixed(1024);
  KeyDistribution keys;
  double rate = 0;  // records/s over all producers; 0 = max
  std::optional<int64_t> num_records;
  std::optional<int64_t> duration_ms;
  int64_t warmup_ms = 0;
  int64_t backlog_bytes = 0;
  int acks = -1;
  int linger_ms = 5;
  int batch_size = 64 * 1024;
  std::string compression = "none";
  int64_t buffer_memory = 32LL << 20;
  std::optional<uint64_t> seed;
};

// Sets one key from its text value (a TOML value is passed as its text: 16, "uniform:1-9",
// true). kInvalidArgument naming the key and the value when either is not understood.
[[nodiscard]] Status SetKey(Workload& w, std::string_view key, std::string_view value);

// Every key SetKey() knows, in the order of the table above.
const std::vector<std::string_view>& WorkloadKeys();

// Parses a TOML workload file's text. Errors name `source` and the line:
// "w.toml:3: unknown key 'partitons'", "w.toml:5: rate: not a number: 'fast'".
[[nodiscard]] StatusOr<Workload> ParseWorkload(std::string_view toml_text, std::string_view source);
[[nodiscard]] StatusOr<Workload> LoadWorkloadFile(const std::string& path);

// Checks the combination: topic with topics > 1; consumers > 0 with records that can be smaller
// than the stamp (kStampSize); group without consumers; more consumers than partitions without
// a group; backlog without consumers; batch.size > buffer.memory.
// Call after every key is set. Fills num_records with the default when neither bound is set.
[[nodiscard]] Status Validate(Workload& w);

// Parses "30s", "250ms", "2m", "1h" or plain seconds ("1.5") into milliseconds.
[[nodiscard]] StatusOr<int64_t> ParseDurationMs(std::string_view text);
// Parses "1GiB", "512MiB", "64KiB", "1GB", "1MB", "1kB", or plain bytes.
[[nodiscard]] StatusOr<int64_t> ParseBytes(std::string_view text);

}  // namespace spool::bench
