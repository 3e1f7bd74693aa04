// HandleReplicaFetch (replica_fetch.h).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "broker/fetch_wait.h"
#include "broker/replica_fetch.h"
#include "broker/replica_fetch_partition.h"
#include "broker/request_fanout.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;

namespace {

struct Item {
  const v1::FetchPartition* in = nullptr;
  std::string topic;
  ReplicaFetchAnswer answer;  // answer.progressed: counted once per request
};

Task<void> ReadOnShard(BrokerCore& core, int32_t replica, std::vector<Item>& items,
                       std::vector<size_t> mine, size_t max_bytes,
                       std::shared_ptr<FetchWaiter> waiter) {
  size_t budget = max_bytes;
  for (size_t i : mine) {
    Item& item = items[i];
    std::shared_ptr<Partition> p = core.partitions.LocalPartition(item.topic, item.in->partition());
    ReplicaFetchAsk ask;
    ask.fetch_offset = Offset(item.in->fetch_offset());
    ask.current_leader_epoch = item.in->current_leader_epoch();
    ask.last_fetched_epoch = item.in->last_fetched_epoch();
    ask.max_bytes = item.in->partition_max_bytes();
    const int64_t now = RequestTimers::NowNs();
    Partition* partition = p.get();
    co_await AnswerReplicaFetch(partition, ask, replica, now, budget, waiter, item.answer);
    if (item.answer.data != nullptr) budget -= std::min(budget, item.answer.data->size());
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
      item.answer.error = route.error;
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
      const ReplicaFetchAnswer& a = item.answer;
      answer_now |= a.error != ErrorCode::NONE || a.diverging.has_value() || a.data != nullptr;
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
      const ReplicaFetchAnswer& a = item.answer;
      v1::FetchPartitionResponse* pr = tr->add_partitions();
      pr->set_partition(item.in->partition());
      pr->set_error_code(a.error);
      pr->set_high_watermark(a.high_watermark);
      pr->set_last_stable_offset(a.high_watermark);
      pr->set_log_start_offset(a.log_start_offset);
      if (a.diverging.has_value()) {
        pr->mutable_diverging_epoch()->set_epoch(a.diverging->epoch);
        pr->mutable_diverging_epoch()->set_end_offset(a.diverging->end_offset.value());
      }
      if (a.error == ErrorCode::FENCED_LEADER_EPOCH || a.error == ErrorCode::UNKNOWN_LEADER_EPOCH ||
          a.error == ErrorCode::NOT_LEADER_OR_FOLLOWER) {
        if (info == nullptr) info = core.partitions.FindTopic(t.name());
        if (info != nullptr) {
          pr->set_current_leader_id(info->LeaderOf(item.in->partition(), core.config.node_id));
          pr->set_current_leader_epoch(info->LeaderEpochOf(item.in->partition()));
        }
      }
      if (a.data != nullptr && total < max_bytes) {
        // Whole batches only: a partition's data is sent whole or not at all past the first.
        if (total == 0 || total + a.data->size() <= max_bytes) {
          pr->set_payload_bytes(static_cast<uint32_t>(a.data->size()));
          payload.push_back(std::span<const std::byte>(a.data->data(), a.data->size()));
          keep_alive.push_back(a.data);
          total += a.data->size();
        }
      }
    }
  }
  co_return MakeResponse(frame.header(), response, payload, std::move(keep_alive));
}

}  // namespace spool::broker
