// One test per validation branch of the header check and the record reader. Batches are
// assembled by hand (records encoded field by field, CRC recomputed) so each test breaks
// exactly one rule while the rest of the batch stays well-formed.
#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_reader.h"
#include "log/record/compression.h"
#include "log/record/varint.h"
#include "tests/support/test_env.h"

namespace spool::record {
namespace {

// A hand-encoded run of bytes.
class Raw {
 public:
  Raw& Byte(int b) {
    bytes_.push_back(static_cast<std::byte>(b));
    return *this;
  }
  Raw& Varint(int32_t v) {
    std::byte buf[kMaxVarintSize];
    bytes_.insert(bytes_.end(), buf, EncodeVarint(v, buf));
    return *this;
  }
  Raw& Varlong(int64_t v) {
    std::byte buf[kMaxVarlongSize];
    bytes_.insert(bytes_.end(), buf, EncodeVarlong(v, buf));
    return *this;
  }
  Raw& Text(std::string_view s) {
    const std::span<const std::byte> b = AsBytes(s);
    bytes_.insert(bytes_.end(), b.begin(), b.end());
    return *this;
  }
  Raw& Append(const Raw& other) {
    bytes_.insert(bytes_.end(), other.bytes_.begin(), other.bytes_.end());
    return *this;
  }
  // This run as a record: its length varint, then the run.
  Raw AsRecord() const {
    Raw r;
    r.Varint(static_cast<int32_t>(bytes_.size()));
    r.bytes_.insert(r.bytes_.end(), bytes_.begin(), bytes_.end());
    return r;
  }
  const std::vector<std::byte>& bytes() const { return bytes_; }
  size_t size() const { return bytes_.size(); }

 private:
  std::vector<std::byte> bytes_;
};

// A well-formed record body with no headers.
Raw Body(int32_t offset_delta, std::string_view key = "k", std::string_view value = "v") {
  Raw r;
  r.Byte(0).Varlong(0).Varint(offset_delta);
  r.Varint(static_cast<int32_t>(key.size())).Text(key);
  r.Varint(static_cast<int32_t>(value.size())).Text(value);
  r.Varint(0);
  return r;
}

struct Shape {
  int32_t records_count;
  int32_t last_offset_delta;
  Compression compression = Compression::kNone;
};

// Header + records section, with batchLength and the CRC filled in.
std::vector<std::byte> Assemble(std::span<const std::byte> section, Shape shape) {
  // Sized once and copied (not vector::insert, which trips GCC 12's -Warray-bounds at -O3).
  std::vector<std::byte> batch(kHeaderSize + section.size());
  std::copy(section.begin(), section.end(), batch.begin() + kHeaderSize);
  BatchHeader h;
  h.batch_length = static_cast<int32_t>(batch.size() - kLogOverhead);
  h.attributes = static_cast<int16_t>(shape.compression);
  h.records_count = shape.records_count;
  h.last_offset_delta = shape.last_offset_delta;
  WriteHeader(h, batch);
  StoreCrc(batch);
  return batch;
}

std::vector<std::byte> Assemble(const Raw& section, Shape shape) {
  return Assemble(section.bytes(), shape);
}

// Opens and reads every record; returns the first error.
Status ReadAll(std::span<const std::byte> batch, ReaderOptions opts = {}) {
  Status status = ValidateRecords(batch, opts);
  // ValidateRecords and a manual Open/Next loop must agree.
  StatusOr<BatchReader> reader = BatchReader::Open(batch, opts);
  Status manual = reader.status();
  if (reader.ok()) {
    RecordView view;
    while (true) {
      StatusOr<bool> more = reader->Next(&view);
      if (!more.ok()) {
        manual = more.status();
        break;
      }
      if (!*more) break;
    }
  }
  EXPECT_EQ(status, manual);
  return status;
}

void ExpectError(const Status& status, absl::StatusCode code, std::string_view fragment) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_NE(std::string(status.message()).find(fragment), std::string_view::npos)
      << "message should mention \"" << fragment << "\": " << status;
}

TEST(BatchValidationTest, HandAssembledBatchIsAccepted) {
  Raw section;
  section.Append(Body(0).AsRecord()).Append(Body(1, "key", "value").AsRecord());
  const std::vector<std::byte> batch = Assemble(section, {2, 1});
  EXPECT_TRUE(ReadAll(batch).ok()) << ReadAll(batch);
}

TEST(BatchValidationTest, BadCrc) {
  BatchBuilder builder;
  builder.Append(1, "k", "v");
  std::vector<std::byte> batch = *builder.Seal();
  batch.back() ^= std::byte{0x01};
  ExpectError(ReadAll(batch), absl::StatusCode::kDataLoss, "CRC");
}

TEST(BatchValidationTest, TruncatedHeader) {
  BatchBuilder builder;
  builder.Append(1, "k", "v");
  const std::vector<std::byte> batch = *builder.Seal();
  ExpectError(ReadAll(std::span(batch).first(kHeaderSize - 1)), absl::StatusCode::kOutOfRange,
              "header");
}

TEST(BatchValidationTest, BatchLengthPastTheEnd) {
  BatchBuilder builder;
  builder.Append(1, "k", "v");
  const std::vector<std::byte> batch = *builder.Seal();
  ExpectError(ReadAll(std::span(batch).first(batch.size() - 1)), absl::StatusCode::kOutOfRange,
              "available");
}

TEST(BatchValidationTest, BatchOverTheSizeLimit) {
  BatchBuilder builder;
  builder.Append(1, "k", std::string(1000, 'v'));
  const std::vector<std::byte> batch = *builder.Seal();
  ReaderOptions opts;
  opts.max_batch_size = 500;
  ExpectError(ReadAll(batch, opts), absl::StatusCode::kInvalidArgument, "limit");
}

TEST(BatchValidationTest, BadMagic) {
  BatchBuilder builder;
  builder.Append(1, "k", "v");
  std::vector<std::byte> batch = *builder.Seal();
  batch[kMagicPos] = std::byte{1};
  ExpectError(ReadAll(batch), absl::StatusCode::kInvalidArgument, "magic");
}

TEST(BatchValidationTest, RecordLengthVarintOverflows) {
  Raw section;
  section.Byte(0xff).Byte(0xff).Byte(0xff).Byte(0xff).Byte(0x7f);  // bits past 31
  ExpectError(ReadAll(Assemble(section, {1, 0})), absl::StatusCode::kInvalidArgument, "overflows");
  Raw too_long;
  for (int i = 0; i < 6; ++i) too_long.Byte(0x80);
  too_long.Byte(0x00);
  ExpectError(ReadAll(Assemble(too_long, {1, 0})), absl::StatusCode::kInvalidArgument, "longer");
}

TEST(BatchValidationTest, RecordLengthVarintTruncated) {
  Raw section;
  section.Byte(0x80);
  ExpectError(ReadAll(Assemble(section, {1, 0})), absl::StatusCode::kInvalidArgument, "truncated");
}

TEST(BatchValidationTest, RecordLengthPastTheEnd) {
  Raw section;
  section.Varint(100).Append(Body(0));
  ExpectError(ReadAll(Assemble(section, {1, 0})), absl::StatusCode::kInvalidArgument,
              "past the end of the records");
}

TEST(BatchValidationTest, RecordLengthNegativeOrTooSmall) {
  for (int32_t length : {-1, -100, 0, 5}) {
    Raw section;
    section.Varint(length);
    for (int i = 0; i < 20; ++i) section.Byte(0);
    ExpectError(ReadAll(Assemble(section, {1, 0})), absl::StatusCode::kInvalidArgument,
                "below the minimum");
  }
}

TEST(BatchValidationTest, BadVarintInsideARecord) {
  Raw body;
  body.Byte(0);
  for (int i = 0; i < 10; ++i) body.Byte(0xff);  // timestampDelta: 11 bytes
  body.Byte(0x01).Varint(0).Varint(-1).Varint(-1).Varint(0);
  ExpectError(ReadAll(Assemble(body.AsRecord(), {1, 0})), absl::StatusCode::kInvalidArgument,
              "timestampDelta");
}

TEST(BatchValidationTest, VarintTruncatedAtTheEndOfARecord) {
  // The record's length stops in the middle of headerCount's varint; the next bytes of the
  // batch must not be read as part of it.
  Raw body;
  body.Byte(0).Varlong(0).Varint(0).Varint(-1).Varint(-1).Byte(0x80);
  Raw section = body.AsRecord();
  section.Byte(0x00);
  ExpectError(ReadAll(Assemble(section, {1, 0})), absl::StatusCode::kInvalidArgument,
              "headerCount");
}

TEST(BatchValidationTest, KeyOrValueRunsPastTheRecord) {
  Raw key;
  key.Byte(0).Varlong(0).Varint(0).Varint(10).Text("ab").Varint(-1).Varint(0);
  ExpectError(ReadAll(Assemble(key.AsRecord(), {1, 0})), absl::StatusCode::kInvalidArgument,
              "key length 10 runs past the record");
  Raw value;
  value.Byte(0).Varlong(0).Varint(0).Varint(-1).Varint(50).Text("abc").Varint(0);
  ExpectError(ReadAll(Assemble(value.AsRecord(), {1, 0})), absl::StatusCode::kInvalidArgument,
              "value length 50 runs past the record");
}

TEST(BatchValidationTest, LengthsBelowMinusOne) {
  Raw key;
  key.Byte(0).Varlong(0).Varint(0).Varint(-2).Varint(-1).Varint(0);
  ExpectError(ReadAll(Assemble(key.AsRecord(), {1, 0})), absl::StatusCode::kInvalidArgument,
              "key length -2");
  Raw value;
  value.Byte(0).Varlong(0).Varint(0).Varint(-1).Varint(-7).Varint(0);
  ExpectError(ReadAll(Assemble(value.AsRecord(), {1, 0})), absl::StatusCode::kInvalidArgument,
              "value length -7");
}

TEST(BatchValidationTest, BytesLeftInsideARecord) {
  Raw body = Body(0);
  body.Byte(0x00).Byte(0x00);
  ExpectError(ReadAll(Assemble(body.AsRecord(), {1, 0})), absl::StatusCode::kInvalidArgument,
              "left over");
}

TEST(BatchValidationTest, BadHeaderCounts) {
  Raw negative;
  negative.Byte(0).Varlong(0).Varint(0).Varint(-1).Varint(-1).Varint(-1);
  ExpectError(ReadAll(Assemble(negative.AsRecord(), {1, 0})), absl::StatusCode::kInvalidArgument,
              "headerCount -1");
  Raw huge;
  huge.Byte(0).Varlong(0).Varint(0).Varint(-1).Varint(-1).Varint(1 << 30).Varint(1).Text("h");
  huge.Varint(-1);
  ExpectError(ReadAll(Assemble(huge.AsRecord(), {1, 0})), absl::StatusCode::kInvalidArgument,
              "headerCount 1073741824");
  // Two headers announced; the second one's value runs past the record.
  Raw short_by_one;
  short_by_one.Byte(0).Varlong(0).Varint(0).Varint(-1).Varint(-1).Varint(2);
  short_by_one.Varint(1).Text("h").Varint(-1).Varint(0).Varint(5);
  ExpectError(ReadAll(Assemble(short_by_one.AsRecord(), {1, 0})),
              absl::StatusCode::kInvalidArgument, "header value length 5 runs past the record");
}

TEST(BatchValidationTest, NullHeaderKey) {
  Raw body;
  body.Byte(0).Varlong(0).Varint(0).Varint(-1).Varint(-1).Varint(1).Varint(-1).Varint(-1);
  ExpectError(ReadAll(Assemble(body.AsRecord(), {1, 0})), absl::StatusCode::kInvalidArgument,
              "header key length -1");
}

TEST(BatchValidationTest, OffsetDeltasMustIncrease) {
  Raw section;
  section.Append(Body(0).AsRecord()).Append(Body(0).AsRecord());
  ExpectError(ReadAll(Assemble(section, {2, 1})), absl::StatusCode::kInvalidArgument,
              "offsetDelta 0 does not follow");
  Raw negative;
  negative.Append(Body(-1).AsRecord());
  ExpectError(ReadAll(Assemble(negative, {1, 0})), absl::StatusCode::kInvalidArgument,
              "offsetDelta -1");
}

TEST(BatchValidationTest, OffsetDeltaPastLastOffsetDelta) {
  Raw section;
  section.Append(Body(0).AsRecord()).Append(Body(5).AsRecord());
  ExpectError(ReadAll(Assemble(section, {2, 4})), absl::StatusCode::kInvalidArgument,
              "past lastOffsetDelta 4");
}

// Gaps below lastOffsetDelta are what compaction leaves; they are valid.
TEST(BatchValidationTest, OffsetGapsAreAccepted) {
  Raw section;
  section.Append(Body(0).AsRecord()).Append(Body(3).AsRecord());
  const std::vector<std::byte> batch = Assemble(section, {2, 9});
  EXPECT_TRUE(ReadAll(batch).ok()) << ReadAll(batch);
}

TEST(BatchValidationTest, FewerRecordsThanRecordsCount) {
  Raw section;
  section.Append(Body(0).AsRecord()).Append(Body(1).AsRecord());
  ExpectError(ReadAll(Assemble(section, {3, 2})), absl::StatusCode::kInvalidArgument,
              "end after 2 of 3 records");
}

TEST(BatchValidationTest, MoreRecordsThanRecordsCount) {
  Raw section;
  section.Append(Body(0).AsRecord()).Append(Body(1).AsRecord());
  ExpectError(ReadAll(Assemble(section, {1, 1})), absl::StatusCode::kInvalidArgument,
              "after the last of 1 records");
}

TEST(BatchValidationTest, TrailingGarbage) {
  Raw section;
  section.Append(Body(0).AsRecord()).Byte(0xde).Byte(0xad).Byte(0xbe);
  ExpectError(ReadAll(Assemble(section, {1, 0})), absl::StatusCode::kInvalidArgument,
              "3 bytes after the last of 1 records");
}

TEST(BatchValidationTest, EmptyBatch) {
  const std::vector<std::byte> empty = Assemble(Raw(), {0, 0});
  EXPECT_TRUE(ReadAll(empty).ok());
  Raw section = Body(0).AsRecord();
  ExpectError(ReadAll(Assemble(section, {0, 0})), absl::StatusCode::kInvalidArgument,
              "after the last of 0 records");
}

TEST(BatchValidationTest, ErrorsAreSticky) {
  Raw section;
  section.Append(Body(0).AsRecord()).Byte(0x80);
  const std::vector<std::byte> batch = Assemble(section, {2, 1});
  StatusOr<BatchReader> reader = BatchReader::Open(batch);
  ASSERT_TRUE(reader.ok()) << reader.status();
  RecordView view;
  StatusOr<bool> first = reader->Next(&view);
  ASSERT_TRUE(first.ok() && *first) << first.status();
  StatusOr<bool> second = reader->Next(&view);
  ASSERT_FALSE(second.ok());
  StatusOr<bool> third = reader->Next(&view);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(second.status(), third.status());
  EXPECT_EQ(reader->records_read(), 1);
}

TEST(BatchValidationTest, UnsupportedOrUnknownCodec) {
  const Raw section = Body(0).AsRecord();
  ExpectError(ReadAll(Assemble(section, {1, 0, Compression::kGzip})),
              absl::StatusCode::kUnimplemented, "gzip");
  ExpectError(ReadAll(Assemble(section, {1, 0, Compression::kSnappy})),
              absl::StatusCode::kUnimplemented, "snappy");
  ExpectError(ReadAll(Assemble(section, {1, 0, static_cast<Compression>(6)})),
              absl::StatusCode::kInvalidArgument, "unknown compression codec 6");
}

class CompressedValidationTest : public ::testing::TestWithParam<Compression> {
 protected:
  std::vector<std::byte> Compressed(const Raw& records) {
    std::vector<std::byte> out;
    EXPECT_TRUE(Compress(GetParam(), records.bytes(), &out).ok());
    return out;
  }
};

TEST_P(CompressedValidationTest, WellFormedIsAccepted) {
  Raw section;
  section.Append(Body(0).AsRecord()).Append(Body(1).AsRecord());
  const std::vector<std::byte> batch = Assemble(Compressed(section), {2, 1, GetParam()});
  EXPECT_TRUE(ReadAll(batch).ok()) << ReadAll(batch);
}

TEST_P(CompressedValidationTest, CorruptFrame) {
  Raw section;
  for (int i = 0; i < 50; ++i) section.Append(Body(i, "key", "some value").AsRecord());
  std::vector<std::byte> frame = Compressed(section);
  // The CRC is recomputed, so the frame itself must be what is caught.
  frame[0] ^= std::byte{0xff};
  ExpectError(ReadAll(Assemble(frame, {50, 49, GetParam()})), absl::StatusCode::kInvalidArgument,
              "frame is corrupt");
}

TEST_P(CompressedValidationTest, TruncatedFrame) {
  Raw section;
  for (int i = 0; i < 10; ++i) section.Append(Body(i).AsRecord());
  std::vector<std::byte> frame = Compressed(section);
  frame.resize(frame.size() - 3);
  ExpectError(ReadAll(Assemble(frame, {10, 9, GetParam()})), absl::StatusCode::kInvalidArgument,
              "frame is corrupt");
}

TEST_P(CompressedValidationTest, BytesAfterTheFrame) {
  Raw section;
  section.Append(Body(0).AsRecord());
  std::vector<std::byte> frame = Compressed(section);
  frame.push_back(std::byte{0x00});
  frame.push_back(std::byte{0x01});
  ExpectError(ReadAll(Assemble(frame, {1, 0, GetParam()})), absl::StatusCode::kInvalidArgument,
              "2 bytes after the end of the frame");
}

TEST_P(CompressedValidationTest, RecordErrorsInsideTheFrame) {
  Raw section;
  section.Append(Body(0).AsRecord()).Byte(0x80);
  ExpectError(ReadAll(Assemble(Compressed(section), {2, 1, GetParam()})),
              absl::StatusCode::kInvalidArgument, "length: varint");
}

// 100 MiB of zeros compress to a few hundred KiB at most; under a 1 MiB cap the reader must
// refuse the batch instead of inflating it.
TEST_P(CompressedValidationTest, DecompressionBombRefused) {
  const std::vector<std::byte> zeros(100 << 20);
  std::vector<std::byte> frame;
  ASSERT_TRUE(Compress(GetParam(), zeros, &frame).ok());
  EXPECT_LT(frame.size(), 1u << 20);
  const std::vector<std::byte> batch = Assemble(frame, {1, 0, GetParam()});
  ReaderOptions opts;
  opts.max_decompressed_bytes = 1 << 20;
  ExpectError(ReadAll(batch, opts), absl::StatusCode::kInvalidArgument, "configured maximum");
}

TEST_P(CompressedValidationTest, DecompressedSizeLimitIsExact) {
  Raw section;
  for (int i = 0; i < 20; ++i) section.Append(Body(i, "key", "value").AsRecord());
  const std::vector<std::byte> batch = Assemble(Compressed(section), {20, 19, GetParam()});
  ReaderOptions opts;
  opts.max_decompressed_bytes = section.size();
  EXPECT_TRUE(ReadAll(batch, opts).ok());
  opts.max_decompressed_bytes = section.size() - 1;
  ExpectError(ReadAll(batch, opts), absl::StatusCode::kInvalidArgument, "configured maximum");
}

INSTANTIATE_TEST_SUITE_P(Codecs, CompressedValidationTest,
                         ::testing::Values(Compression::kLz4, Compression::kZstd),
                         [](const ::testing::TestParamInfo<Compression>& info) {
                           return std::string(CompressionName(info.param));
                         });

// Random damage behind a valid CRC (as a buggy or hostile producer would send): every outcome
// must be a clean OK or error, never a crash or an out-of-bounds read (run under ASan to see
// the latter), and every record returned must be fully readable.
TEST(BatchValidationTest, RandomDamageIsHandledCleanly) {
  std::mt19937_64 rng(spool::testing::TestSeed());
  int refused = 0;
  for (int round = 0; round < 3000; ++round) {
    BuilderOptions opts;
    opts.compression = static_cast<Compression>(std::array{0, 3, 4}[rng() % 3]);
    BatchBuilder builder(opts);
    const int records = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < records; ++i) {
      const std::string value(rng() % 40, static_cast<char>('a' + rng() % 26));
      const Header headers[] = {{"h", AsBytes(value)}};
      builder.Append(static_cast<int64_t>(rng() % 1000), "key", value,
                     std::span(headers).first(rng() % 2));
    }
    std::vector<std::byte> batch = *builder.Seal();
    // Damage: flip random bytes after the header, or cut the batch and fix batchLength.
    if (rng() % 4 == 0 && batch.size() > kHeaderSize + 1) {
      batch.resize(kHeaderSize + rng() % (batch.size() - kHeaderSize));
      BatchHeader h = *ParseHeader(batch);
      h.batch_length = static_cast<int32_t>(batch.size() - kLogOverhead);
      WriteHeader(h, batch);
    } else {
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        const size_t pos = kRecordsCountPos + rng() % (batch.size() - kRecordsCountPos);
        batch[pos] ^= static_cast<std::byte>(1 + rng() % 255);
      }
    }
    StoreCrc(batch);
    StatusOr<BatchReader> reader = BatchReader::Open(batch);
    if (!reader.ok()) {
      ++refused;
      continue;
    }
    RecordView view;
    while (true) {
      StatusOr<bool> more = reader->Next(&view);
      if (!more.ok()) {
        ++refused;
        EXPECT_TRUE(more.status().code() == absl::StatusCode::kInvalidArgument) << more.status();
        break;
      }
      if (!*more) break;
      size_t bytes = 0;
      for (const Header& h : view.headers) bytes += h.key.size() + (h.value ? h.value->size() : 0);
      bytes += view.key ? view.key->size() : 0;
      bytes += view.value ? view.value->size() : 0;
      EXPECT_LE(bytes, reader->records_bytes().size());
    }
  }
  // Most damage must be caught (a flip inside a value is legitimately undetectable here).
  EXPECT_GT(refused, 1000);
}

}  // namespace
}  // namespace spool::record
