#include "consumer/partition_records.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "common/byte_order.h"
#include "log/record/batch_header.h"

namespace spool::consumer {
namespace {

std::optional<std::string_view> AsOptionalString(std::optional<std::span<const std::byte>> b) {
  if (!b) return std::nullopt;
  return record::AsString(*b);
}

}  // namespace

BatchScan ScanBatches(std::span<const std::byte> bytes, int64_t fetch_offset,
                      size_t max_batch_bytes) {
  BatchScan scan;
  scan.next_offset = fetch_offset;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const std::span<const std::byte> rest = bytes.subspan(pos);
    if (rest.size() < record::kHeaderSize) {
      // A cut inside the header. Its size is known once the length field is in.
      if (rest.size() >= record::kBatchLengthPos + 4) {
        const auto length = LoadBigEndian<uint32_t>(rest.data() + record::kBatchLengthPos);
        scan.truncated_batch_size = record::kLogOverhead + length;
      } else {
        scan.truncated_batch_size = record::kHeaderSize;
      }
      break;
    }
    StatusOr<record::BatchHeader> header = record::ParseHeader(rest, max_batch_bytes);
    if (!header.ok()) {
      scan.error = header.status();
      break;
    }
    if (header->total_size() > rest.size()) {
      scan.truncated_batch_size = header->total_size();
      break;
    }
    pos += header->total_size();
    ++scan.whole_batches;
    scan.whole_bytes = pos;
    if (header->last_offset() + 1 > scan.next_offset) scan.next_offset = header->last_offset() + 1;
  }
  return scan;
}

PartitionRecords::PartitionRecords(std::shared_ptr<const std::string> topic, int32_t partition,
                                   int64_t fetch_offset, std::span<const std::byte> bytes,
                                   std::shared_ptr<const void> owner, DecodeOptions options)
    : topic_(std::move(topic)),
      partition_(partition),
      fetch_offset_(fetch_offset),
      bytes_(bytes),
      owner_(std::move(owner)),
      options_(options),
      next_offset_(fetch_offset) {}

void PartitionRecords::Fail(Status status) {
  error_ =
      Status(status.code(), absl::StrFormat("%s-%d: %s", *topic_, partition_, status.message()));
  reader_.reset();
  done_ = true;
}

bool PartitionRecords::OpenNextBatch() {
  while (pos_ < bytes_.size()) {
    const std::span<const std::byte> rest = bytes_.subspan(pos_);
    StatusOr<record::BatchHeader> header = record::ParseHeader(rest, options_.max_batch_bytes);
    if (!header.ok()) {
      // A cut (kOutOfRange) ends the data quietly: the fetcher fetches that batch again.
      if (header.status().code() != absl::StatusCode::kOutOfRange) Fail(header.status());
      break;
    }
    if (header->total_size() > rest.size()) break;  // the cut last batch
    const size_t batch_size = header->total_size();
    // Batches wholly below the fetch offset (possible after compaction or in a fetch that starts
    // inside a batch's offset range) and control batches carry nothing to return.
    if (header->last_offset() < fetch_offset_ || header->is_control() ||
        header->records_count == 0) {
      if (options_.check_crcs) {
        if (StatusOr<record::BatchHeader> v = record::VerifyBatch(rest, options_.max_batch_bytes);
            !v.ok()) {
          Fail(v.status());
          return false;
        }
      }
      pos_ += batch_size;
      if (header->last_offset() + 1 > next_offset_) next_offset_ = header->last_offset() + 1;
      continue;
    }
    StatusOr<record::BatchReader> reader = record::BatchReader::Open(
        rest, record::ReaderOptions{.max_batch_size = options_.max_batch_bytes,
                                    .max_decompressed_bytes = options_.max_decompressed_bytes});
    if (!reader.ok()) {
      // Name the batch's offsets: a caller skips a bad batch by seeking past its last offset.
      Fail(Status(reader.status().code(),
                  absl::StrFormat("batch of offsets %d..%d: %s", header->base_offset,
                                  header->last_offset(), reader.status().message())));
      return false;
    }
    reader_ = std::make_shared<record::BatchReader>(*std::move(reader));
    pos_ += batch_size;
    return true;
  }
  if (!error_.ok()) return false;
  done_ = true;
  return false;
}

size_t PartitionRecords::Drain(size_t max_records, ConsumerRecords* out) {
  size_t added = 0;
  if (done_) return 0;
  out->Keep(topic_);
  out->Keep(owner_);
  record::RecordView view;
  while (added < max_records) {
    if (!reader_) {
      if (!OpenNextBatch()) break;
      if (reader_->header().compression() != record::Compression::kNone) out->Keep(reader_);
    }
    StatusOr<bool> more = reader_->Next(&view);
    if (!more.ok()) {
      // Records of this batch already returned stay returned; the position stays at the first
      // record not returned, so a later fetch meets the same bad batch again.
      Fail(more.status());
      break;
    }
    if (!*more) {
      const int64_t after = reader_->header().last_offset() + 1;
      if (after > next_offset_) next_offset_ = after;
      reader_.reset();
      continue;
    }
    if (view.offset < fetch_offset_) continue;  // the head of the first batch
    ConsumerRecord r;
    r.topic = *topic_;
    r.partition = partition_;
    r.offset = view.offset;
    r.timestamp = view.timestamp;
    r.timestamp_type = reader_->header().timestamp_type();
    r.key = AsOptionalString(view.key);
    r.value = AsOptionalString(view.value);
    r.headers = view.headers;
    out->Add(r);
    next_offset_ = view.offset + 1;
    ++added;
  }
  return added;
}

}  // namespace spool::consumer
