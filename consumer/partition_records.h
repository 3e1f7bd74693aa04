// Decoding one partition's bytes of a Fetch response into ConsumerRecords (internal to the
// consumer; pure, no I/O).
//
// A fetch response carries, per partition, record batches back to back (proto/README.md). They
// start with the batch that contains the fetch offset (so the head of the first batch may hold
// records below it, which are skipped) and the last one may be cut short when the broker stopped
// at partition_max_bytes (it is skipped and fetched again from its start by the next fetch).
//
// ScanBatches() walks the batch headers only (no CRC, no records): the fetcher uses it on the I/O
// thread to know where the next fetch starts before poll() has decoded anything. PartitionRecords
// decodes records on the poll() thread, a batch at a time, as many as the caller asks for.
//
// Ownership: both work on spans into a buffer owned elsewhere (`owner`, the fetch response). A
// PartitionRecords keeps `owner` alive and hands it (and the decompressed buffer of a compressed
// batch) to the ConsumerRecords it fills, so records stay valid as long as that object lives.
// Threading: a PartitionRecords is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/status.h"
#include "consumer/consumer.h"
#include "log/record/batch_reader.h"

namespace spool::consumer {

struct BatchScan {
  // The offset after the last whole batch (at least the fetch offset): where the next fetch for
  // this partition starts.
  int64_t next_offset = 0;
  size_t whole_batches = 0;
  size_t whole_bytes = 0;  // bytes of the whole batches, from the start
  // Set when the bytes end inside a batch: that batch's total size. When it is the first batch
  // (whole_batches == 0) the next fetch must ask for at least this many bytes.
  std::optional<size_t> truncated_batch_size;
  // A header that does not parse (not a cut): the bytes from there on are unusable. Whole
  // batches before it are still good.
  Status error;
};

// Walks the batch headers of `bytes`, fetched from `fetch_offset`.
[[nodiscard]] BatchScan ScanBatches(std::span<const std::byte> bytes, int64_t fetch_offset,
                                    size_t max_batch_bytes = 64 << 20);

struct DecodeOptions {
  bool check_crcs = true;             // see ConsumerConfig::check_crcs
  size_t max_batch_bytes = 64 << 20;  // refuse larger batches (kInvalidArgument)
  size_t max_decompressed_bytes = 64 << 20;
};

class PartitionRecords {
 public:
  PartitionRecords(std::shared_ptr<const std::string> topic, int32_t partition,
                   int64_t fetch_offset, std::span<const std::byte> bytes,
                   std::shared_ptr<const void> owner, DecodeOptions options = {});

  // Appends up to `max_records` records at or above the fetch offset to `out` and returns how
  // many. Stops early at the end of the whole batches or at a bad batch; after a bad batch,
  // error() is set, done() is true and next_offset() is that batch's base offset (every record
  // before it has been returned by this or an earlier call).
  size_t Drain(size_t max_records, ConsumerRecords* out);

  // True when nothing more will be returned (every whole batch consumed, or an error).
  bool done() const { return done_; }
  // OK, or why decoding stopped: kDataLoss for a CRC mismatch, kInvalidArgument for a malformed
  // batch or record, kUnimplemented for an unsupported codec.
  const Status& error() const { return error_; }
  // The offset after the last record returned or batch passed: the partition's new position.
  int64_t next_offset() const { return next_offset_; }

  const std::string& topic() const { return *topic_; }
  int32_t partition() const { return partition_; }
  int64_t fetch_offset() const { return fetch_offset_; }
  size_t bytes() const { return bytes_.size(); }

 private:
  // Opens the batch at pos_; false at the end of the whole batches or on an error.
  bool OpenNextBatch();
  void Fail(Status status);

  std::shared_ptr<const std::string> topic_;
  int32_t partition_;
  int64_t fetch_offset_;
  std::span<const std::byte> bytes_;
  std::shared_ptr<const void> owner_;
  DecodeOptions options_;

  size_t pos_ = 0;  // start of the next batch in bytes_
  // The batch being decoded; shared so a compressed batch's buffer can outlive this object.
  std::shared_ptr<record::BatchReader> reader_;
  int64_t next_offset_;
  bool done_ = false;
  Status error_;
};

}  // namespace spool::consumer
