// Produce: validate every partition's batches on the connection's shard, append them on the
// owning shards, and answer by acks (0: no response, 1: once appended, -1: once the high
// watermark passes the last batch, i.e. after the covering fdatasync under flush.policy=durable).
//
// Per partition, in this order (the first failure is that partition's error; nothing of a
// failing partition is appended):
//   an internal topic (__consumer_offsets) INVALID_TOPIC
//   unknown topic or partition           UNKNOWN_TOPIC_OR_PARTITION (auto-created first when
//                                        auto.create.topics.enable is on)
//   bytes that do not tile into batches  CORRUPT_MESSAGE (a header that does not parse, or a
//                                        length past the end)
//   a batch over max.message.bytes       MESSAGE_TOO_LARGE
//   a bad CRC                            CORRUPT_MESSAGE
//   no records, a control or transactional batch   INVALID_RECORD
//   the append fails (I/O, disk full)    KAFKA_STORAGE_ERROR (or the partition's close reason)
//   not the leader (any more)            NOT_LEADER_OR_FOLLOWER
//   acks=-1 and fewer in-sync replicas than min.insync.replicas   NOT_ENOUGH_REPLICAS
//   acks=-1 and the ISR shrinks below min.insync.replicas while waiting
//                                        NOT_ENOUGH_REPLICAS_AFTER_APPEND
//   acks=-1 and timeout_ms passes first  REQUEST_TIMED_OUT
//
// Order: requests of one connection are started in arrival order, and this handler does not
// suspend between its start and its hops to the owning shards (FanOut, request_fanout.h), where
// the appends are started in request order too; so pipelined produces to one partition get
// offsets in request order. (Exception: a request that first waits for an auto-created topic.)
//
// No copy: each batch is stamped (base offset, leader epoch; the CRC does not cover them) in the
// request's receive buffer, which the Frame owns and this handler keeps alive until the appends
// are done, and written to the log from there.
#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "broker/group_records.h"
#include "broker/request_fanout.h"
#include "broker/request_handlers.h"
#include "broker/request_log.h"
#include "common/io/when_all.h"
#include "log/record/batch_header.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;

namespace {

struct Item {
  std::string topic;
  int32_t partition = 0;
  std::span<const std::byte> bytes;
  std::vector<std::span<std::byte>> batches;
  ErrorCode error = ErrorCode::NONE;
  std::string message;
  int64_t base_offset = -1;
  int64_t log_start_offset = -1;
  Offset last;
};

// A wire code for a failed append: the close reason's own code when it carries one, else a
// storage error (the log's I/O failures, its failed state).
ErrorCode AppendError(const Status& st) {
  if (st.GetPayload(proto::kErrorCodePayloadUrl).has_value()) return proto::ErrorFromStatus(st);
  if (absl::IsDeadlineExceeded(st)) return ErrorCode::REQUEST_TIMED_OUT;
  return ErrorCode::KAFKA_STORAGE_ERROR;
}

// Splits `item.bytes` into verified batches, or sets the item's error.
void Validate(Item& item, const TopicConfig& config) {
  std::span<const std::byte> rest = item.bytes;
  if (rest.empty()) {
    item.error = ErrorCode::CORRUPT_MESSAGE;
    item.message = "no record batch";
    return;
  }
  while (!rest.empty()) {
    StatusOr<record::BatchHeader> header =
        record::ParseHeader(rest, std::numeric_limits<int32_t>::max());
    if (!header.ok()) {
      item.error = ErrorCode::CORRUPT_MESSAGE;
      item.message = std::string(header.status().message());
      return;
    }
    const size_t size = header->total_size();
    if (size > rest.size()) {
      item.error = ErrorCode::CORRUPT_MESSAGE;
      item.message = absl::StrCat("a batch of ", size, " bytes with only ", rest.size(), " left");
      return;
    }
    if (size > config.log.max_message_bytes) {
      item.error = ErrorCode::MESSAGE_TOO_LARGE;
      item.message = absl::StrCat("a batch of ", size, " bytes is over max.message.bytes ",
                                  config.log.max_message_bytes);
      return;
    }
    std::span<const std::byte> batch = rest.first(size);
    if (StatusOr<record::BatchHeader> verified = record::VerifyBatch(batch, size + 1);
        !verified.ok()) {
      item.error = ErrorCode::CORRUPT_MESSAGE;
      item.message = std::string(verified.status().message());
      return;
    }
    if (header->records_count < 1 || header->records_count > header->last_offset_delta + 1) {
      item.error = ErrorCode::INVALID_RECORD;
      item.message = absl::StrCat("a batch with ", header->records_count,
                                  " records and lastOffsetDelta ", header->last_offset_delta);
      return;
    }
    if (header->is_control() || header->is_transactional()) {
      item.error = ErrorCode::INVALID_RECORD;
      item.message = "control and transactional batches are not accepted";
      return;
    }
    // The Frame's bytes are the connection's receive buffer (writable memory, see
    // frame_decoder.h); this request owns this range of it.
    item.batches.emplace_back(const_cast<std::byte*>(batch.data()), batch.size());
    rest = rest.subspan(size);
  }
}

// On the owning shard: appends the items' batches (all started before the first suspension, in
// item order), then for acks=-1 waits for the HW to pass them.
Task<void> AppendOnShard(BrokerCore& core, std::vector<Item>& items, std::vector<size_t> mine,
                         int acks, int64_t deadline_ns) {
  std::vector<std::shared_ptr<Partition>> parts(mine.size());
  std::vector<std::vector<StatusOr<log::AppendResult>>> results(mine.size());
  std::vector<uint64_t> terms(mine.size());  // each partition's leadership term at the append
  std::vector<Task<void>> appends;
  for (size_t k = 0; k < mine.size(); k++) {
    Item& item = items[mine[k]];
    parts[k] = core.partitions.LocalPartition(item.topic, item.partition);
    if (parts[k] == nullptr || parts[k]->closed()) {
      item.error = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
      parts[k] = nullptr;
      continue;
    }
    if (acks == -1) {
      // min.insync.replicas and leadership, before anything is appended.
      if (Status admit = parts[k]->CheckAcksAll(); !admit.ok()) {
        item.error = AppendError(admit);
        item.message = std::string(admit.message());
        parts[k] = nullptr;
        continue;
      }
    }
    terms[k] = parts[k]->term();
    results[k].resize(item.batches.size(), absl::UnknownError("not appended"));
    for (size_t b = 0; b < item.batches.size(); b++) {
      appends.push_back([](std::shared_ptr<Partition> p, std::span<std::byte> batch,
                           StatusOr<log::AppendResult>* out) -> Task<void> {
        *out = co_await p->Append(batch);
      }(parts[k], item.batches[b], &results[k][b]));
    }
  }
  co_await io::WhenAll(*io::Reactor::current(), std::move(appends));

  for (size_t k = 0; k < mine.size(); k++) {
    Item& item = items[mine[k]];
    if (parts[k] == nullptr) continue;
    item.log_start_offset = parts[k]->log_start_offset().value();
    for (const StatusOr<log::AppendResult>& r : results[k]) {
      if (!r.ok()) {
        item.error = AppendError(r.status());
        item.message = std::string(r.status().message());
        if (item.error != ErrorCode::KAFKA_STORAGE_ERROR) break;  // leadership, not storage
        LogRateLimited(LogKind::kStorage,
                       absl::StrCat("append partition=", item.topic, "-", item.partition,
                                    " error=\"", r.status().ToString(), "\""));
        break;
      }
      if (item.base_offset < 0) item.base_offset = r->base_offset.value();
      item.last = r->last_offset;
    }
  }
  if (acks != -1) co_return;
  for (size_t k = 0; k < mine.size(); k++) {
    Item& item = items[mine[k]];
    if (parts[k] == nullptr || item.error != ErrorCode::NONE) continue;
    const std::optional<uint64_t> term = terms[k];
    Status committed = co_await parts[k]->WaitCommitted(item.last, deadline_ns, term);
    if (!committed.ok()) {
      item.error = AppendError(committed);
      item.message = std::string(committed.message());
    }
  }
}

}  // namespace

Task<std::optional<Response>> HandleProduce(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::ProduceRequest> request) {
  const int acks = request->has_acks() ? request->acks() : std::numeric_limits<int>::min();
  ErrorCode request_error = ErrorCode::NONE;
  std::string request_message;
  if (acks != 0 && acks != 1 && acks != -1) {
    request_error = ErrorCode::INVALID_REQUIRED_ACKS;
    request_message = request->has_acks() ? absl::StrCat("acks ", acks, " is not 0, 1 or -1")
                                          : "acks is required";
  } else if (!request->transactional_id().empty()) {
    request_error = ErrorCode::INVALID_REQUEST;
    request_message = "transactions are not supported";
  }

  std::vector<Item> items;
  if (request_error == ErrorCode::NONE) {
    StatusOr<std::vector<proto::PartitionPayload>> split =
        proto::SplitPayload(*request, frame.payload());
    if (!split.ok()) {
      StatusOr<proto::OutgoingFrame> err = proto::EncodeErrorResponse(
          frame.header(), ErrorCode::INVALID_REQUEST, std::string(split.status().message()));
      LogRateLimited(LogKind::kRejectedRequest,
                     absl::StrCat("rejected produce reason=\"", split.status().message(), "\""));
      if (!err.ok()) co_return std::nullopt;
      co_return Response{*std::move(err), {}};
    }
    for (const proto::PartitionPayload& pp : *split) {
      Item item;
      item.topic = std::string(pp.topic);
      item.partition = pp.partition;
      item.bytes = pp.bytes;
      items.push_back(std::move(item));
    }
  } else {
    for (const v1::TopicProduceData& t : request->topics()) {
      for (const v1::PartitionProduceData& p : t.partitions()) {
        Item item;
        item.topic = t.name();
        item.partition = p.partition();
        item.error = request_error;
        item.message = request_message;
        items.push_back(std::move(item));
      }
    }
  }

  if (request_error == ErrorCode::NONE && core.config.auto_create_topics) {
    for (const Item& item : items) {
      if (core.partitions.FindTopic(item.topic) != nullptr) continue;
      if (!ValidateTopicName(item.topic).ok()) continue;
      CreateTopicSpec spec;
      spec.name = item.topic;
      Status made = co_await core.partitions.EnsureTopic(std::move(spec));
      PermitUncheckedError(made);  // the lookup below reports the topic as unknown
    }
  }

  std::vector<int> owner(items.size(), -1);
  for (size_t i = 0; i < items.size(); i++) {
    Item& item = items[i];
    if (item.error != ErrorCode::NONE) continue;
    if (IsInternalTopic(item.topic)) {
      item.error = ErrorCode::INVALID_TOPIC;
      item.message = absl::StrCat("topic ", item.topic, " is internal: written by the broker only");
      continue;
    }
    std::shared_ptr<const TopicInfo> info = core.partitions.FindTopic(item.topic);
    const PartitionRoute route = RoutePartition(core, info.get(), item.topic, item.partition);
    if (route.error != ErrorCode::NONE) {
      item.error = route.error;
      item.message = absl::StrCat("no partition ", item.topic, "-", item.partition);
      continue;
    }
    Validate(item, info->config);
    if (item.error == ErrorCode::NONE) owner[i] = route.shard;
  }

  const int32_t timeout_ms =
      request->timeout_ms() > 0 ? request->timeout_ms() : kDefaultProduceTimeoutMs;
  const int64_t deadline_ns = RequestTimers::NowNs() + int64_t{timeout_ms} * 1'000'000;
  BrokerCore* c = &core;
  std::vector<Item>* all = &items;
  auto work = [c, all, acks, deadline_ns](int, std::vector<size_t> mine) {
    return AppendOnShard(*c, *all, std::move(mine), acks, deadline_ns);
  };
  co_await FanOut(core.shards, owner, std::move(work));

  bool rejected = false;
  for (const Item& item : items) rejected |= item.error != ErrorCode::NONE;
  if (rejected) {
    for (const Item& item : items) {
      if (item.error == ErrorCode::NONE) continue;
      LogRateLimited(LogKind::kRejectedRequest,
                     absl::StrCat("produce partition=", item.topic, "-", item.partition,
                                  " error=", std::string(proto::ErrorName(item.error)),
                                  " reason=\"", item.message, "\""));
      break;
    }
  }
  if (acks == 0) co_return std::nullopt;

  v1::ProduceResponse response;
  size_t next = 0;
  for (const v1::TopicProduceData& t : request->topics()) {
    v1::TopicProduceResponse* tr = response.add_topics();
    tr->set_name(t.name());
    for (int j = 0; j < t.partitions_size(); j++) {
      const Item& item = items[next++];
      v1::PartitionProduceResponse* pr = tr->add_partitions();
      pr->set_partition(item.partition);
      pr->set_error_code(item.error);
      if (item.error != ErrorCode::NONE) pr->set_error_message(item.message);
      pr->set_base_offset(item.error == ErrorCode::NONE ? item.base_offset : -1);
      pr->set_log_append_time_ms(-1);
      pr->set_log_start_offset(item.log_start_offset);
    }
  }
  StatusOr<Response> r = MakeResponse(frame.header(), response);
  if (!r.ok()) co_return std::nullopt;
  co_return *std::move(r);
}

}  // namespace spool::broker
