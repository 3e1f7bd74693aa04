// RecordBuilder: the records one controller operation will propose, built over a scratch copy of
// the image. Add() applies each record to the copy at once, so later decisions of the same
// operation see earlier records, and the finished list is known to apply, in order, to the image
// it started from. Helpers that build the common records are below.
//
// A plain value type used on one thread; it copies the image it starts from.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "replication/controller/metadata_image.h"

namespace spool::controller {

class RecordBuilder {
 public:
  explicit RecordBuilder(const ClusterImage& base) : image_(base) {}

  // Applies `record` to the scratch image and keeps it. A record the image refuses is a bug of
  // the controller logic: kInternal, and nothing is kept.
  [[nodiscard]] Status Add(v1::MetadataRecord record);

  // The image with every added record applied.
  const ClusterImage& image() const { return image_; }
  const std::vector<v1::MetadataRecord>& records() const { return records_; }
  std::vector<v1::MetadataRecord> Take() && { return std::move(records_); }

 private:
  ClusterImage image_;
  std::vector<v1::MetadataRecord> records_;
};

v1::MetadataRecord BrokerFenced(int32_t broker_id, int64_t epoch);
v1::MetadataRecord BrokerUnfenced(int32_t broker_id, int64_t epoch);
// A change of leader and/or ISR (nullopt: unchanged).
v1::MetadataRecord PartitionChange(const TopicId& topic, int32_t partition,
                                   std::optional<int32_t> leader,
                                   std::optional<std::vector<int32_t>> isr);

}  // namespace spool::controller
