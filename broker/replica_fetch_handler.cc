// HandleReplicaFetch (replica_fetch.h).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "broker/fetch_wait.h"
#include "broker/replica_fetch.h"
#include "broker/request_fanout.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;

namespace {

struct Item {
  const v1::FetchPartition* in = nullptr;
  std::string topic;
  ErrorCode error = ErrorCode::NONE;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  std::optional<log::EpochEndOffset> diverging;
  std::shared_ptr<const std::vector<std::byte>> data;
  bool progressed = false;  // this request's progress was recorded (once per request)
};

bool IsReplica(const Partition& p, int32_t id) {
  const replication::ReplicaProgress* progress = p.progress();
  if (progress == nullptr) return false;
  const std::vector<int32_t>& r = progress->replicas();
  return std::find(r.begin(), r.end(), id) != r.end();
}

Task<void> ReadOnShard(BrokerCore& core, int32_t replica, std::vector<Item>& items,
                       std::vector<size_t> mine, size_t max_bytes,
                       std::shared_ptr<FetchWaiter> waiter) {
  size_t budget = max_bytes;
  for (size_t i : mine) {
    Item& item = items[i];
    item.data = nullptr;
    std::shared_ptr<Partition> p = core.partitions.LocalPartition(item.topic, item.in->partition());
    if (p == nullptr || p->closed()) {
      item.error = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
      continue;
    }
    if (!p->is_leader()) {
      item.error = ErrorCode::NOT_LEADER_OR_FOLLOWER;
      continue;
    }
    // The metadata agreed at the route check; the partition may have moved on since.
    const int32_t epoch = p->leader_epoch().value();
    const int32_t asked = item.in->current_leader_epoch();
    if (asked >= 0 && asked != epoch) {
      item.error = asked < epoch ? ErrorCode::FENCED_LEADER_EPOCH : ErrorCode::UNKNOWN_LEADER_EPOCH;
      continue;
    }
    if (!IsReplica(*p, replica)) {
      item.error = ErrorCode::NOT_LEADER_OR_FOLLOWER;
      continue;
    }
    item.error = ErrorCode::NONE;
    const Offset fetch_offset(item.in->fetch_offset());
    const int32_t last_epoch = item.in->last_fetched_epoch();
    if (last_epoch >= 0) {
      const log::EpochEndOffset e = p->log().end_offset_for_epoch(last_epoch);
      if (e.epoch != last_epoch || e.end_offset < fetch_offset) {
        item.diverging = e;
        item.high_watermark = p->high_watermark().value();
        item.log_start_offset = p->log_start_offset().value();
        continue;
      }
    }
    if (fetch_offset > p->log_end_offset() || fetch_offset < p->log_start_offset()) {
      item.error = ErrorCode::OFFSET_OUT_OF_RANGE;
      item.high_watermark = p->high_watermark().value();
      item.log_start_offset = p->log_start_offset().value();
      continue;
    }
    if (!item.progressed) {
      p->OnReplicaFetch(replica, fetch_offset, RequestTimers::NowNs());
      item.progressed = true;
    }
    item.high_watermark = p->high_watermark().value();
    item.log_start_offset = p->log_start_offset().value();
    if (waiter != nullptr) p->AddReplicaWaiter(waiter);
    const int32_t pmax = item.in->partition_max_bytes() > 0 ? item.in->partition_max_bytes()
                                                            : kDefaultPartitionMaxBytes;
    if (budget == 0) continue;
    StatusOr<log::ReadResult> read =
        co_await p->ReadForReplica(fetch_offset, std::min<size_t>(pmax, budget));
    if (!read.ok()) {
      item.error = absl::IsOutOfRange(read.status()) ? ErrorCode::OFFSET_OUT_OF_RANGE
                                                     : ErrorCode::KAFKA_STORAGE_ERROR;
      continue;
    }
    if (read->total_bytes == 0) continue;
    StatusOr<std::vector<std::byte>> bytes = co_await log::PartitionLog::ReadAll(*read);
    if (!bytes.ok()) {
      item.error = ErrorCode::KAFKA_STORAGE_ERROR;
      continue;
    }
    budget -= std::min(budget, bytes->size());
    item.data = std::make_shared<const std::vector<std::byte>>(*std::move(bytes));
  }
}

}  // namespace

Task<StatusOr<Response>> HandleReplicaFetch(BrokerCore& core, proto::Frame frame,
                                            std::unique_ptr<v1::FetchRequest> request) {
  const size_t max_bytes = request->max_bytes() > 0
                               ? std::min(request->max_bytes(), kFetchResponseMaxBytes)
                               : kDefaultFetchMaxBytes;
  const int64_t deadline_ns =
      RequestTimers::NowNs() + int64_t{std::clamp(request->max_wait_ms(), 0, 10000)} * 1'000'000;
  const int32_t replica = request->replica_id();

  std::vector<Item> items;
  std::vector<int> owner;
  for (const v1::FetchTopic& t : request->topics()) {
    std::shared_ptr<const TopicInfo> info = core.partitions.FindTopic(t.name());
    for (const v1::FetchPartition& p : t.partitions()) {
      Item item;
      item.in = &p;
      item.topic = t.name();
      const PartitionRoute route =
          RoutePartition(core, info.get(), t.name(), p.partition(), p.current_leader_epoch());
      item.error = route.error;
      items.push_back(std::move(item));
      owner.push_back(route.error == ErrorCode::NONE ? route.shard : -1);
    }
  }

  io::Reactor& home = *io::Reactor::current();
  while (true) {
    const bool may_wait = RequestTimers::NowNs() < deadline_ns && !core.closing.load();
    std::shared_ptr<FetchWaiter> waiter = may_wait ? std::make_shared<FetchWaiter>(home) : nullptr;
    BrokerCore* c = &core;
    std::vector<Item>* all = &items;
    // Each shard gets the whole budget; the response is cut to max_bytes below.
    auto work = [c, replica, all, max_bytes, waiter](int, std::vector<size_t> mine) {
      return ReadOnShard(*c, replica, *all, std::move(mine), max_bytes, waiter);
    };
    co_await FanOut(core.shards, owner, std::move(work));
    bool answer_now = waiter == nullptr || core.closing.load();
    for (const Item& item : items) {
      answer_now |=
          item.error != ErrorCode::NONE || item.diverging.has_value() || item.data != nullptr;
    }
    if (answer_now) break;
    RequestTimers& timers = core.partitions.LocalTimers();
    const RequestTimers::Id timer = timers.Arm(deadline_ns, [waiter] { waiter->Wake(); });
    co_await waiter->Wait();
    timers.Cancel(timer);
  }

  v1::FetchResponse response;
  response.set_error_code(ErrorCode::NONE);
  std::vector<std::span<const std::byte>> payload;
  std::vector<std::shared_ptr<const void>> keep_alive;
  size_t total = 0;
  size_t next = 0;
  for (const v1::FetchTopic& t : request->topics()) {
    v1::FetchTopicResponse* tr = response.add_topics();
    tr->set_name(t.name());
    std::shared_ptr<const TopicInfo> info;
    for (int j = 0; j < t.partitions_size(); j++) {
      const Item& item = items[next++];
      v1::FetchPartitionResponse* pr = tr->add_partitions();
      pr->set_partition(item.in->partition());
      pr->set_error_code(item.error);
      pr->set_high_watermark(item.high_watermark);
      pr->set_last_stable_offset(item.high_watermark);
      pr->set_log_start_offset(item.log_start_offset);
      if (item.diverging.has_value()) {
        pr->mutable_diverging_epoch()->set_epoch(item.diverging->epoch);
        pr->mutable_diverging_epoch()->set_end_offset(item.diverging->end_offset.value());
      }
      if (item.error == ErrorCode::FENCED_LEADER_EPOCH ||
          item.error == ErrorCode::UNKNOWN_LEADER_EPOCH ||
          item.error == ErrorCode::NOT_LEADER_OR_FOLLOWER) {
        if (info == nullptr) info = core.partitions.FindTopic(t.name());
        if (info != nullptr) {
          pr->set_current_leader_id(info->LeaderOf(item.in->partition(), core.config.node_id));
          pr->set_current_leader_epoch(info->LeaderEpochOf(item.in->partition()));
        }
      }
      if (item.data != nullptr && total < max_bytes) {
        // Whole batches only: a partition's data is sent whole or not at all past the first.
        if (total == 0 || total + item.data->size() <= max_bytes) {
          pr->set_payload_bytes(static_cast<uint32_t>(item.data->size()));
          payload.push_back(std::span<const std::byte>(item.data->data(), item.data->size()));
          keep_alive.push_back(item.data);
          total += item.data->size();
        }
      }
    }
  }
  co_return MakeResponse(frame.header(), response, payload, std::move(keep_alive));
}

}  // namespace spool::broker
