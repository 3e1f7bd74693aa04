// ListOffsets: EARLIEST is the log start offset, LATEST the high watermark (the next offset a
// consumer can read), BY_TIMESTAMP the first offset at or above the log start whose record
// timestamp is >= timestamp_ms and which is below the high watermark (-1 when there is none).
// Spool departs from Kafka in one detail: timestamp_ms in the answer echoes the timestamp asked
// for (the found record's own timestamp is >= it), because the log's time index answers with
// the offset only.
#include "absl/strings/str_cat.h"
#include "broker/request_fanout.h"
#include "broker/request_handlers.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;

namespace {

struct Item {
  const v1::ListOffsetsPartition* in = nullptr;
  std::string topic;
  ErrorCode error = ErrorCode::NONE;
  int64_t offset = -1;
  int64_t timestamp_ms = -1;
  int32_t leader_epoch = -1;
};

}  // namespace

Task<StatusOr<Response>> HandleListOffsets(BrokerCore& core, proto::Frame frame,
                                           std::unique_ptr<v1::ListOffsetsRequest> request) {
  std::vector<Item> items;
  std::vector<int> owner;
  for (const v1::ListOffsetsTopic& t : request->topics()) {
    std::shared_ptr<const TopicInfo> info = core.partitions.FindTopic(t.name());
    for (const v1::ListOffsetsPartition& p : t.partitions()) {
      Item item;
      item.in = &p;
      item.topic = t.name();
      PartitionRoute route =
          RoutePartition(core, info.get(), t.name(), p.partition(), p.current_leader_epoch());
      if (route.error == ErrorCode::NONE && p.spec() != v1::OFFSET_SPEC_EARLIEST &&
          p.spec() != v1::OFFSET_SPEC_LATEST && p.spec() != v1::OFFSET_SPEC_BY_TIMESTAMP) {
        route = {ErrorCode::INVALID_REQUEST, -1};
      }
      item.error = route.error;
      item.leader_epoch = route.leader_epoch;
      items.push_back(std::move(item));
      owner.push_back(route.shard);
    }
  }

  BrokerCore* c = &core;
  std::vector<Item>* all = &items;
  auto work = [c, all](int, std::vector<size_t> mine) -> Task<void> {
    BrokerCore& core = *c;
    std::vector<Item>& items = *all;
    for (size_t i : mine) {
      Item& item = items[i];
      std::shared_ptr<Partition> p =
          core.partitions.LocalPartition(item.topic, item.in->partition());
      if (p == nullptr || p->closed()) {
        item.error = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
      switch (item.in->spec()) {
        case v1::OFFSET_SPEC_EARLIEST:
          item.offset = p->log_start_offset().value();
          break;
        case v1::OFFSET_SPEC_LATEST:
          item.offset = p->high_watermark().value();
          break;
        default: {
          StatusOr<std::optional<Offset>> found =
              co_await p->OffsetForTimestamp(item.in->timestamp_ms());
          if (!found.ok()) {
            item.error = ErrorCode::KAFKA_STORAGE_ERROR;
          } else if (found->has_value()) {
            item.offset = (*found)->value();
            item.timestamp_ms = item.in->timestamp_ms();
          }
          break;
        }
      }
    }
  };
  co_await FanOut(core.shards, owner, std::move(work));

  v1::ListOffsetsResponse response;
  size_t next = 0;
  for (const v1::ListOffsetsTopic& t : request->topics()) {
    v1::ListOffsetsTopicResponse* tr = response.add_topics();
    tr->set_name(t.name());
    for (int j = 0; j < t.partitions_size(); j++) {
      const Item& item = items[next++];
      v1::ListOffsetsPartitionResponse* pr = tr->add_partitions();
      pr->set_partition(item.in->partition());
      pr->set_error_code(item.error);
      pr->set_offset(item.error == ErrorCode::NONE ? item.offset : -1);
      pr->set_timestamp_ms(item.timestamp_ms);
      pr->set_leader_epoch(item.leader_epoch);
    }
  }
  co_return MakeResponse(frame.header(), response);
}

}  // namespace spool::broker
