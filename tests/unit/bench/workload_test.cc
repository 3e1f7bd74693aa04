// Workload: every key from a TOML file and from flags, errors naming file:line and the key,
// Validate's combinations, and the duration and byte-count syntaxes.
#include "bench/engine/workload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/test_env.h"

namespace spool::bench {
namespace {

using ::testing::HasSubstr;

std::string ErrorOf(std::string_view toml) {
  StatusOr<Workload> w = ParseWorkload(toml, "w.toml");
  if (w.ok()) return "(parsed)";
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(w.status().message());
}

TEST(WorkloadTest, EmptyFileGivesTheDefaults) {
  auto w = ParseWorkload("", "w.toml");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->name, "bench");
  EXPECT_FALSE(w->topic.has_value());
  EXPECT_EQ(w->topics, 1);
  EXPECT_EQ(w->partitions, 16);
  EXPECT_EQ(w->producers, 1);
  EXPECT_EQ(w->consumers, 1);
  EXPECT_FALSE(w->group.has_value());
  EXPECT_EQ(w->record_size.ToString(), "1024");
  EXPECT_TRUE(w->keys.none());
  EXPECT_EQ(w->rate, 0);
  EXPECT_FALSE(w->num_records.has_value());
  EXPECT_FALSE(w->duration_ms.has_value());
  EXPECT_EQ(w->warmup_ms, 0);
  EXPECT_EQ(w->backlog_bytes, 0);
  EXPECT_EQ(w->acks, -1);
  EXPECT_EQ(w->linger_ms, 5);
  EXPECT_EQ(w->batch_size, 65536);
  EXPECT_EQ(w->compression, "none");
  EXPECT_EQ(w->buffer_memory, 32 << 20);
  EXPECT_FALSE(w->seed.has_value());
}

TEST(WorkloadTest, EveryKeyFromAFile) {
  constexpr std::string_view kToml = R"(# a workload
name = "max-1k"
topic = "existing"
topics = 1
partitions = 32
producers = 2
consumers = 3
group = "g1"
record-size = "uniform:100-2000"
keys = "zipf:1000:1.1"
rate = 50000.5
num-records = 2_000_000
duration = "2m"
warmup = "500ms"
backlog = "1GiB"
acks = "1"
linger.ms = 10
"batch.size" = "128KiB"
compression.type = "zstd"
buffer.memory = 67108864
seed = 42
)";
  auto w = ParseWorkload(kToml, "w.toml");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->name, "max-1k");
  EXPECT_EQ(w->topic, "existing");
  EXPECT_EQ(w->topics, 1);
  EXPECT_EQ(w->partitions, 32);
  EXPECT_EQ(w->producers, 2);
  EXPECT_EQ(w->consumers, 3);
  EXPECT_EQ(w->group, "g1");
  EXPECT_EQ(w->record_size.ToString(), "uniform:100-2000");
  EXPECT_EQ(w->keys.ToString(), "zipf:1000:1.1");
  EXPECT_DOUBLE_EQ(w->rate, 50000.5);
  EXPECT_EQ(w->num_records, 2'000'000);
  EXPECT_EQ(w->duration_ms, 120'000);
  EXPECT_EQ(w->warmup_ms, 500);
  EXPECT_EQ(w->backlog_bytes, int64_t{1} << 30);
  EXPECT_EQ(w->acks, 1);
  EXPECT_EQ(w->linger_ms, 10);
  EXPECT_EQ(w->batch_size, 128 * 1024);
  EXPECT_EQ(w->compression, "zstd");
  EXPECT_EQ(w->buffer_memory, 64 << 20);
  EXPECT_EQ(w->seed, 42u);
  EXPECT_TRUE(Validate(*w).ok()) << Validate(*w);
}

TEST(WorkloadTest, KeysAreTheDocumentedTable) {
  const std::vector<std::string_view> expected = {
      "name",        "topic",      "topics",           "partitions",    "producers",
      "consumers",   "group",      "record-size",      "keys",          "rate",
      "num-records", "duration",   "warmup",           "backlog",       "acks",
      "linger.ms",   "batch.size", "compression.type", "buffer.memory", "seed"};
  EXPECT_EQ(WorkloadKeys(), expected);
  // Every key takes a value through SetKey, as a flag would pass it.
  const std::vector<std::pair<std::string_view, std::string_view>> values = {
      {"name", "x"},
      {"topic", "t"},
      {"topics", "1"},
      {"partitions", "4"},
      {"producers", "2"},
      {"consumers", "0"},
      {"group", "g"},
      {"record-size", "512"},
      {"keys", "random:7"},
      {"rate", "max"},
      {"num-records", "10"},
      {"duration", "30"},
      {"warmup", "1s"},
      {"backlog", "512MiB"},
      {"acks", "all"},
      {"linger.ms", "0"},
      {"batch.size", "16384"},
      {"compression.type", "lz4"},
      {"buffer.memory", "1MB"},
      {"seed", "18446744073709551615"}};
  ASSERT_EQ(values.size(), expected.size());
  Workload w;
  for (const auto& [key, value] : values) {
    EXPECT_TRUE(SetKey(w, key, value).ok()) << key << " = " << value;
  }
  EXPECT_EQ(w.duration_ms, 30'000);
  EXPECT_EQ(w.backlog_bytes, int64_t{512} << 20);
  EXPECT_EQ(w.buffer_memory, 1'000'000);
  ASSERT_TRUE(SetKey(w, "backlog", "all").ok());
  EXPECT_EQ(w.backlog_bytes, kBacklogAll);
  EXPECT_EQ(w.seed, UINT64_MAX);
}

TEST(WorkloadTest, FlagsOverrideTheFile) {
  auto w = ParseWorkload("partitions = 8\nlinger.ms = 1\ncompression.type = \"lz4\"\n", "w.toml");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE(SetKey(*w, "partitions", "32").ok());
  // The flag spellings of Kafka's dotted producer keys.
  ASSERT_TRUE(SetKey(*w, "linger-ms", "7").ok());
  ASSERT_TRUE(SetKey(*w, "compression", "zstd").ok());
  ASSERT_TRUE(SetKey(*w, "batch-size", "1024").ok());
  ASSERT_TRUE(SetKey(*w, "buffer-memory", "2MiB").ok());
  ASSERT_TRUE(SetKey(*w, " rate ", " 1000 ").ok());  // surrounding blanks are trimmed
  EXPECT_EQ(w->partitions, 32);
  EXPECT_EQ(w->linger_ms, 7);
  EXPECT_EQ(w->compression, "zstd");
  EXPECT_EQ(w->batch_size, 1024);
  EXPECT_EQ(w->buffer_memory, 2 << 20);
  EXPECT_EQ(w->rate, 1000);
}

TEST(WorkloadTest, ErrorsNameFileLineAndKey) {
  EXPECT_EQ(ErrorOf("partitions = 4\n\npartitons = 16\n"), "w.toml:3: unknown key 'partitons'");
  EXPECT_EQ(ErrorOf("name = \"a\"\n\n\n\nrate = \"fast\"\n"),
            "w.toml:5: rate: not a number: 'fast'");
  EXPECT_THAT(ErrorOf("name = \"a\"\npartitions = [1, 2]\n"),
              HasSubstr("w.toml:2: partitions: wrong type"));
  EXPECT_THAT(ErrorOf("producers = true\n"), HasSubstr("w.toml:1: producers: not an integer"));
  EXPECT_THAT(ErrorOf("partitions = 1.5\n"), HasSubstr("w.toml:1: partitions: not an integer"));
  EXPECT_THAT(ErrorOf("started = 1979-05-27\n"), HasSubstr("w.toml:1: started: wrong type"));
  EXPECT_THAT(ErrorOf("partitions = 0\n"), HasSubstr("w.toml:1: partitions: out of range"));
  EXPECT_THAT(ErrorOf("acks = 2\n"), HasSubstr("w.toml:1: acks: want -1, all, 0 or 1"));
  EXPECT_THAT(ErrorOf("record-size = \"uniform:9-3\"\n"),
              HasSubstr("w.toml:1: record-size: bad size spec 'uniform:9-3'"));
  EXPECT_THAT(ErrorOf("keys = \"zipf:0\"\n"), HasSubstr("w.toml:1: keys: bad key spec 'zipf:0'"));
  EXPECT_THAT(ErrorOf("duration = \"soon\"\n"),
              HasSubstr("w.toml:1: duration: not a duration: 'soon'"));
  EXPECT_THAT(ErrorOf("backlog = \"lots\"\n"),
              HasSubstr("w.toml:1: backlog: not a byte count: 'lots'"));
  EXPECT_THAT(ErrorOf("compression.type = \"gzip\"\n"),
              HasSubstr("w.toml:1: compression.type: want none, lz4 or zstd"));
  // A table is flattened into dotted keys, which then have to be known.
  EXPECT_EQ(ErrorOf("name = \"a\"\n[producer]\nacks = 1\n"),
            "w.toml:3: unknown key 'producer.acks'");
  // The first error in file order is the one reported, whatever the key order.
  EXPECT_EQ(ErrorOf("zzz = 1\naaa = 2\n"), "w.toml:1: unknown key 'zzz'");
}

TEST(WorkloadTest, TomlSyntaxErrorNamesFileAndLine) {
  EXPECT_THAT(ErrorOf("name = \"a\"\npartitions = = 3\n"),
              HasSubstr("w.toml:2: TOML syntax error"));
  EXPECT_THAT(ErrorOf("partitions = 1\npartitions = 2\n"),
              HasSubstr("w.toml:2: TOML syntax error"));
  EXPECT_THAT(ErrorOf("name = \"unterminated\n"), HasSubstr("w.toml:1: TOML syntax error"));
}

TEST(WorkloadTest, LoadWorkloadFile) {
  testing::TempDir dir;
  const std::string path = dir.file("w.toml");
  {
    std::ofstream out(path);
    out << "partitions = 3\nproducers = 2\n";
  }
  auto w = LoadWorkloadFile(path);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->partitions, 3);
  EXPECT_EQ(w->producers, 2);
  {
    std::ofstream out(path);
    out << "producers = 2\nbogus = 1\n";
  }
  auto bad = LoadWorkloadFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), path + ":2: unknown key 'bogus'");
  auto missing = LoadWorkloadFile(dir.file("nope.toml"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.toml"));
}

StatusOr<Workload> Set(std::vector<std::pair<std::string_view, std::string_view>> kv) {
  Workload w;
  for (const auto& [k, v] : kv) RETURN_IF_ERROR(SetKey(w, k, v));
  RETURN_IF_ERROR(Validate(w));
  return w;
}

std::string ValidateError(std::vector<std::pair<std::string_view, std::string_view>> kv) {
  auto w = Set(std::move(kv));
  return w.ok() ? "(valid)" : std::string(w.status().message());
}

TEST(WorkloadTest, ValidateFillsTheDefaultBound) {
  auto w = Set({});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->num_records, 1'000'000);
  auto timed = Set({{"duration", "10s"}});
  ASSERT_TRUE(timed.ok()) << timed.status();
  EXPECT_FALSE(timed->num_records.has_value());
  EXPECT_EQ(timed->duration_ms, 10'000);
}

TEST(WorkloadTest, ValidateCombinations) {
  EXPECT_THAT(ValidateError({{"topic", "t"}, {"topics", "2"}}), HasSubstr("topics is 2"));
  EXPECT_EQ(ValidateError({{"topic", "t"}}), "(valid)");
  EXPECT_THAT(ValidateError({{"record-size", "10"}}), HasSubstr("28-byte stamp"));
  EXPECT_THAT(ValidateError({{"record-size", "uniform:20-100"}}), HasSubstr("as small as 20"));
  EXPECT_EQ(ValidateError({{"record-size", "10"}, {"consumers", "0"}}), "(valid)");
  EXPECT_EQ(ValidateError({{"record-size", "28"}}), "(valid)");
  EXPECT_THAT(ValidateError({{"group", "g"}, {"consumers", "0"}}), HasSubstr("needs consumers"));
  EXPECT_THAT(ValidateError({{"partitions", "2"}, {"consumers", "3"}}),
              HasSubstr("consumers (3) is more than the 2 partitions"));
  EXPECT_EQ(ValidateError({{"partitions", "2"}, {"topics", "2"}, {"consumers", "4"}}), "(valid)");
  EXPECT_EQ(ValidateError({{"partitions", "2"}, {"consumers", "3"}, {"group", "g"}}), "(valid)");
  EXPECT_THAT(ValidateError({{"backlog", "1MiB"}, {"consumers", "0"}}),
              HasSubstr("backlog (1048576 bytes) needs consumers"));
  // The warm-up comes before the measured duration, so it may be as long as it.
  EXPECT_EQ(ValidateError({{"duration", "5s"}, {"warmup", "5s"}}), "(valid)");
  EXPECT_EQ(ValidateError({{"duration", "5s"}, {"warmup", "1s"}}), "(valid)");
  EXPECT_THAT(ValidateError({{"batch.size", "2MiB"}, {"buffer.memory", "1MiB"}}),
              HasSubstr("batch.size (2097152) is larger than buffer.memory (1048576)"));
}

TEST(WorkloadTest, ParseDurationMs) {
  const std::vector<std::pair<std::string_view, int64_t>> good = {
      {"30s", 30'000}, {"250ms", 250}, {"2m", 120'000}, {"1h", 3'600'000},
      {"1.5", 1'500},  {"0", 0},       {"0.25s", 250},  {" 7 ", 7'000}};
  for (const auto& [text, ms] : good) {
    auto v = ParseDurationMs(text);
    ASSERT_TRUE(v.ok()) << text << ": " << v.status();
    EXPECT_EQ(*v, ms) << text;
  }
  for (std::string_view text : {"", "abc", "5x", "-1s", "1.5.5", "s", "10 s", "1e30h"}) {
    auto v = ParseDurationMs(text);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_THAT(std::string(v.status().message()),
                HasSubstr(absl::StrCat("'", std::string(text), "'")));
  }
}

TEST(WorkloadTest, ParseBytes) {
  const std::vector<std::pair<std::string_view, int64_t>> good = {{"1GiB", int64_t{1} << 30},
                                                                  {"512MiB", int64_t{512} << 20},
                                                                  {"64KiB", 65'536},
                                                                  {"1GB", 1'000'000'000},
                                                                  {"1MB", 1'000'000},
                                                                  {"1kB", 1'000},
                                                                  {"4096", 4'096},
                                                                  {"0", 0},
                                                                  {"1.5KiB", 1'536}};
  for (const auto& [text, bytes] : good) {
    auto v = ParseBytes(text);
    ASSERT_TRUE(v.ok()) << text << ": " << v.status();
    EXPECT_EQ(*v, bytes) << text;
  }
  for (std::string_view text : {"", "-1", "abc", "1XB", "GiB", "1gib", "99999999999TiB"}) {
    auto v = ParseBytes(text);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_THAT(std::string(v.status().message()),
                HasSubstr(absl::StrCat("'", std::string(text), "'")));
  }
}

}  // namespace
}  // namespace spool::bench
