// Builder -> reader round trips: random records (seeded), edge cases, every codec, and the
// header fields the builder fills in.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_reader.h"
#include "log/record/compression.h"
#include "tests/support/record_test_util.h"
#include "tests/support/test_env.h"

namespace spool::record {
namespace {

struct ModelHeader {
  std::string key;
  std::optional<std::string> value;
};

struct ModelRecord {
  int64_t timestamp = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<ModelHeader> headers;
};

std::optional<std::span<const std::byte>> OptBytes(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  return AsBytes(*s);
}

std::optional<std::string> OptString(const std::optional<std::span<const std::byte>>& b) {
  if (!b) return std::nullopt;
  return std::string(AsString(*b));
}

void AppendModel(BatchBuilder& builder, const ModelRecord& r) {
  std::vector<Header> headers;
  for (const ModelHeader& h : r.headers) headers.push_back({h.key, OptBytes(h.value)});
  builder.Append(r.timestamp, OptBytes(r.key), OptBytes(r.value), headers);
}

void ExpectMatches(const RecordView& got, const ModelRecord& want, int64_t offset) {
  EXPECT_EQ(got.offset, offset);
  EXPECT_EQ(got.timestamp, want.timestamp);
  EXPECT_EQ(got.attributes, 0);
  EXPECT_EQ(OptString(got.key), want.key);
  EXPECT_EQ(OptString(got.value), want.value);
  ASSERT_EQ(got.headers.size(), want.headers.size());
  size_t i = 0;
  for (const Header& h : got.headers) {
    EXPECT_EQ(std::string(h.key), want.headers[i].key) << "header " << i;
    EXPECT_EQ(OptString(h.value), want.headers[i].value) << "header " << i;
    ++i;
  }
  EXPECT_EQ(i, want.headers.size());
}

std::string RandomString(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  // Half random bytes, half compressible text, so codecs see both.
  const bool text = rng() % 2 == 0;
  for (auto& c : s) c = static_cast<char>(text ? 'a' + rng() % 4 : rng());
  return s;
}

size_t RandomLength(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0:
      return 0;
    case 1:
      return 1;
    case 7:
      return rng() % 20000;
    default:
      return rng() % 200;
  }
}

std::optional<std::string> RandomOptString(std::mt19937_64& rng) {
  if (rng() % 6 == 0) return std::nullopt;
  return RandomString(rng, RandomLength(rng));
}

ModelRecord RandomRecord(std::mt19937_64& rng, int64_t base_ts) {
  ModelRecord r;
  r.timestamp = base_ts + static_cast<int64_t>(rng() % 100000) - 1000;
  r.key = RandomOptString(rng);
  r.value = RandomOptString(rng);
  const size_t headers = rng() % 3 == 0 ? rng() % 5 : 0;
  for (size_t i = 0; i < headers; ++i) {
    r.headers.push_back({RandomString(rng, rng() % 12), RandomOptString(rng)});
  }
  return r;
}

class RoundTripTest : public ::testing::TestWithParam<Compression> {};

TEST_P(RoundTripTest, RandomRecords) {
  std::mt19937_64 rng(testing::TestSeed());
  for (int batch_no = 0; batch_no < 20; ++batch_no) {
    BuilderOptions opts;
    opts.compression = GetParam();
    BatchBuilder builder(opts);
    const int64_t base_ts = 1'700'000'000'000 + static_cast<int64_t>(rng() % 1'000'000);
    std::vector<ModelRecord> model(1 + rng() % 60);
    for (ModelRecord& r : model) {
      r = RandomRecord(rng, base_ts);
      AppendModel(builder, r);
    }
    ASSERT_EQ(builder.records(), model.size());
    const size_t estimate = builder.estimated_size();
    StatusOr<std::vector<std::byte>> batch = builder.Seal();
    ASSERT_TRUE(batch.ok()) << batch.status();
    if (GetParam() == Compression::kNone) {
      EXPECT_EQ(batch->size(), estimate);
    }
    EXPECT_EQ(builder.records(), 0u) << "Seal() empties the builder";

    const int64_t base_offset = static_cast<int64_t>(rng() % 1'000'000'000);
    StampBaseOffset(*batch, base_offset);
    StatusOr<BatchReader> reader = BatchReader::Open(*batch);
    ASSERT_TRUE(reader.ok()) << reader.status();
    const BatchHeader& h = reader->header();
    EXPECT_EQ(h.base_offset, base_offset);
    EXPECT_EQ(h.leader_epoch, -1);
    EXPECT_EQ(h.compression(), GetParam());
    EXPECT_EQ(h.records_count, static_cast<int32_t>(model.size()));
    EXPECT_EQ(h.last_offset_delta, static_cast<int32_t>(model.size()) - 1);
    EXPECT_EQ(h.base_timestamp, model.front().timestamp);
    int64_t max_ts = model.front().timestamp;
    for (const ModelRecord& r : model) max_ts = std::max(max_ts, r.timestamp);
    EXPECT_EQ(h.max_timestamp, max_ts);
    EXPECT_EQ(h.producer_id, -1);
    EXPECT_EQ(h.producer_epoch, -1);
    EXPECT_EQ(h.base_sequence, -1);

    std::vector<RecordView> got = testing::ReadRecords(*reader);
    ASSERT_EQ(got.size(), model.size());
    for (size_t i = 0; i < model.size(); ++i) {
      SCOPED_TRACE(::testing::Message() << "batch " << batch_no << " record " << i);
      ExpectMatches(got[i], model[i], base_offset + static_cast<int64_t>(i));
    }
    EXPECT_EQ(reader->records_read(), static_cast<int32_t>(model.size()));
    // Once at the end, Next() keeps saying so.
    RecordView extra;
    StatusOr<bool> more = reader->Next(&extra);
    ASSERT_TRUE(more.ok()) << more.status();
    EXPECT_FALSE(*more);
    EXPECT_TRUE(ValidateRecords(*batch).ok());
  }
}

TEST_P(RoundTripTest, NullEmptyAndLargeFields) {
  BuilderOptions opts;
  opts.compression = GetParam();
  BatchBuilder builder(opts);
  const std::string large(3 << 20, 'z');
  std::vector<ModelRecord> model = {
      {10, std::nullopt, std::nullopt, {}},
      {11, std::string(), std::string(), {}},
      {12, std::nullopt, std::string("v"), {{"", std::nullopt}, {"k", std::string()}}},
      {13, std::string("k"), std::nullopt, {{"h", std::string("x")}}},
      {14, large, large, {{"big", large}}},
  };
  for (const ModelRecord& r : model) AppendModel(builder, r);
  StatusOr<std::vector<std::byte>> batch = builder.Seal();
  ASSERT_TRUE(batch.ok()) << batch.status();
  StatusOr<BatchReader> reader = BatchReader::Open(*batch);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<RecordView> got = testing::ReadRecords(*reader);
  ASSERT_EQ(got.size(), model.size());
  for (size_t i = 0; i < model.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "record " << i);
    ExpectMatches(got[i], model[i], static_cast<int64_t>(i));
  }
  // Null and empty stay distinct.
  EXPECT_FALSE(got[0].key.has_value());
  ASSERT_TRUE(got[1].key.has_value());
  EXPECT_TRUE(got[1].key->empty());
}

TEST_P(RoundTripTest, ProducerFieldsAndOptions) {
  BuilderOptions opts;
  opts.compression = GetParam();
  opts.producer_id = 123456789012;
  opts.producer_epoch = 7;
  opts.base_sequence = 99;
  opts.transactional = true;
  opts.base_timestamp_ms = 5000;
  BatchBuilder builder(opts);
  builder.Append(5003, "a", "1");
  builder.Append(4990, "b", "2");  // earlier than the base: a negative delta
  StatusOr<std::vector<std::byte>> batch = builder.Seal();
  ASSERT_TRUE(batch.ok()) << batch.status();
  StatusOr<BatchReader> reader = BatchReader::Open(*batch);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const BatchHeader& h = reader->header();
  EXPECT_EQ(h.producer_id, 123456789012);
  EXPECT_EQ(h.producer_epoch, 7);
  EXPECT_EQ(h.base_sequence, 99);
  EXPECT_TRUE(h.is_transactional());
  EXPECT_FALSE(h.is_control());
  EXPECT_EQ(h.timestamp_type(), TimestampType::kCreateTime);
  EXPECT_EQ(h.base_timestamp, 5000);
  EXPECT_EQ(h.max_timestamp, 5003);
  std::vector<RecordView> got = testing::ReadRecords(*reader);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].timestamp, 5003);
  EXPECT_EQ(got[1].timestamp, 4990);
}

TEST_P(RoundTripTest, LogAppendTimeRecordsReportTheMaxTimestamp) {
  BuilderOptions opts;
  opts.compression = GetParam();
  opts.timestamp_type = TimestampType::kLogAppendTime;
  BatchBuilder builder(opts);
  builder.Append(100, "a", "1");
  builder.Append(300, "b", "2");
  builder.Append(200, "c", "3");
  StatusOr<std::vector<std::byte>> batch = builder.Seal();
  ASSERT_TRUE(batch.ok()) << batch.status();
  StatusOr<BatchReader> reader = BatchReader::Open(*batch);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(reader->header().timestamp_type(), TimestampType::kLogAppendTime);
  for (const RecordView& r : testing::ReadRecords(*reader)) EXPECT_EQ(r.timestamp, 300);
}

TEST_P(RoundTripTest, BuilderIsReusableAfterSeal) {
  BuilderOptions opts;
  opts.compression = GetParam();
  BatchBuilder builder(opts);
  builder.Append(1, "first", "batch");
  ASSERT_TRUE(builder.Seal().ok());
  builder.Append(50, "second", "batch");
  builder.Append(60, "second", "again");
  StatusOr<std::vector<std::byte>> batch = builder.Seal();
  ASSERT_TRUE(batch.ok()) << batch.status();
  StatusOr<BatchReader> reader = BatchReader::Open(*batch);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(reader->header().records_count, 2);
  EXPECT_EQ(reader->header().base_timestamp, 50);
  std::vector<RecordView> got = testing::ReadRecords(*reader);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(AsString(*got[0].key), "second");
  EXPECT_EQ(got[1].offset, 1);
}

INSTANTIATE_TEST_SUITE_P(Codecs, RoundTripTest,
                         ::testing::Values(Compression::kNone, Compression::kLz4,
                                           Compression::kZstd),
                         [](const ::testing::TestParamInfo<Compression>& info) {
                           return std::string(CompressionName(info.param));
                         });

TEST(BatchBuilderTest, SealWithoutRecordsFails) {
  BatchBuilder builder;
  StatusOr<std::vector<std::byte>> batch = builder.Seal();
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(BatchBuilderTest, UnsupportedCodecFailsAtSeal) {
  for (Compression c : {Compression::kGzip, Compression::kSnappy}) {
    BuilderOptions opts;
    opts.compression = c;
    BatchBuilder builder(opts);
    builder.Append(1, "k", "v");
    StatusOr<std::vector<std::byte>> batch = builder.Seal();
    ASSERT_FALSE(batch.ok());
    EXPECT_EQ(batch.status().code(), absl::StatusCode::kUnimplemented) << batch.status();
    EXPECT_EQ(builder.records(), 0u);
  }
}

TEST(BatchBuilderTest, EstimatedSizeGrowsWithEachRecord) {
  BatchBuilder builder;
  EXPECT_EQ(builder.estimated_size(), kHeaderSize);
  builder.Append(1, "k", "v");
  // length(1) attributes(1) tsDelta(1) offsetDelta(1) key(1+1) value(1+1) headerCount(1)
  EXPECT_EQ(builder.estimated_size(), kHeaderSize + 9);
  builder.Append(1, "k", std::string(100, 'x'));
  // length(2) attributes(1) tsDelta(1) offsetDelta(1) key(1+1) value(2+100) headerCount(1)
  EXPECT_EQ(builder.estimated_size(), kHeaderSize + 9 + 110);
}

// Views of an uncompressed batch point into the batch; those of a compressed one into the
// reader, and survive moving it.
TEST(BatchReaderTest, ZeroCopyViews) {
  BatchBuilder plain;
  plain.Append(1, "key", "value");
  StatusOr<std::vector<std::byte>> batch = plain.Seal();
  ASSERT_TRUE(batch.ok());
  StatusOr<BatchReader> reader = BatchReader::Open(*batch);
  ASSERT_TRUE(reader.ok());
  RecordView view;
  ASSERT_TRUE(*reader->Next(&view));
  const std::byte* lo = batch->data();
  const std::byte* hi = batch->data() + batch->size();
  EXPECT_GE(view.value->data(), lo);
  EXPECT_LT(view.value->data(), hi);

  BuilderOptions opts;
  opts.compression = Compression::kZstd;
  BatchBuilder zstd(opts);
  zstd.Append(1, "key", "value");
  zstd.Append(2, "key2", "value2");
  StatusOr<std::vector<std::byte>> compressed = zstd.Seal();
  ASSERT_TRUE(compressed.ok());
  StatusOr<BatchReader> opened = BatchReader::Open(*compressed);
  ASSERT_TRUE(opened.ok());
  ASSERT_TRUE(*opened->Next(&view));
  BatchReader moved = std::move(*opened);
  EXPECT_EQ(AsString(*view.value), "value");
  ASSERT_TRUE(*moved.Next(&view));
  EXPECT_EQ(AsString(*view.value), "value2");
  const std::span<const std::byte> records = moved.records_bytes();
  EXPECT_GE(view.value->data(), records.data());
  EXPECT_LT(view.value->data(), records.data() + records.size());
  const auto at = reinterpret_cast<uintptr_t>(view.value->data());
  const auto batch_at = reinterpret_cast<uintptr_t>(compressed->data());
  EXPECT_TRUE(at < batch_at || at >= batch_at + compressed->size()) << "not in the batch";
}

}  // namespace
}  // namespace spool::record
