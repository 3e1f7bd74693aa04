// Fetch from consumers (followers' fetches, with replica_id and replica_epoch, go to
// replica_fetch.h): read every
// named partition on its owning shard, below its high watermark, and send the
// stored batch bytes as they are (copied once from the segment file into a buffer on the owning
// shard, then handed to the socket as payload spans; no re-encoding).
//
// Per partition: unknown -> UNKNOWN_TOPIC_OR_PARTITION; a current_leader_epoch other than -1 and
// the partition's -> FENCED_LEADER_EPOCH (older) / UNKNOWN_LEADER_EPOCH (newer); fetch_offset
// below the log start or above the HW -> OFFSET_OUT_OF_RANGE; at the HW -> no data (what a long
// poll waits on). Every partition reports high_watermark, last_stable_offset (= HW) and
// log_start_offset.
//
// Sizes: each partition reads up to partition_max_bytes (0: 1 MiB), the response up to
// max_bytes (0: 50 MiB; capped at 64 MiB) in partition order, except that the first partition
// with data always gets at least one whole batch, so a consumer progresses. A later partition
// that does not fit is cut at a batch boundary (possibly to nothing).
//
// Long poll: when the bytes found are fewer than min_bytes, no partition has an error, and
// max_wait_ms has not passed, the fetch registers one FetchWaiter with each partition (in the
// same hop, before the read, so data arriving meanwhile is not missed), sleeps until a
// partition's HW advances or the deadline (RequestTimers), then reads again.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "broker/fetch_wait.h"
#include "broker/replica_fetch.h"
#include "broker/request_fanout.h"
#include "broker/request_handlers.h"
#include "log/record/batch_header.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;

namespace {

struct Item {
  const v1::FetchPartition* in = nullptr;
  std::string topic;
  bool known = false;
  ErrorCode error = ErrorCode::NONE;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  std::shared_ptr<const std::vector<std::byte>> data;
  size_t send_bytes = 0;  // how much of `data` goes out
};

// The largest prefix of whole batches of `bytes` that fits in `budget`.
size_t FitBatches(std::span<const std::byte> bytes, size_t budget) {
  size_t used = 0;
  while (used < bytes.size()) {
    StatusOr<record::BatchHeader> h = record::ParseHeader(bytes.subspan(used), SIZE_MAX >> 1);
    if (!h.ok() || used + h->total_size() > budget || used + h->total_size() > bytes.size()) break;
    used += h->total_size();
  }
  return used;
}

Task<void> ReadOnShard(BrokerCore& core, std::vector<Item>& items, std::vector<size_t> mine,
                       size_t max_bytes, std::shared_ptr<FetchWaiter> waiter) {
  for (size_t i : mine) {
    Item& item = items[i];
    std::shared_ptr<Partition> p = core.partitions.LocalPartition(item.topic, item.in->partition());
    item.data = nullptr;
    if (p == nullptr || p->closed()) {
      item.error = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
      continue;
    }
    item.error = ErrorCode::NONE;
    item.high_watermark = p->high_watermark().value();
    item.log_start_offset = p->log_start_offset().value();
    // Registered before the read: an advance during the read wakes the fetch to read again.
    if (waiter != nullptr) p->AddFetchWaiter(waiter);
    const int32_t pmax = item.in->partition_max_bytes() > 0 ? item.in->partition_max_bytes()
                                                            : kDefaultPartitionMaxBytes;
    StatusOr<log::ReadResult> read =
        co_await p->Read(Offset(item.in->fetch_offset()), std::min<size_t>(pmax, max_bytes));
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
    item.data = std::make_shared<const std::vector<std::byte>>(*std::move(bytes));
  }
}

}  // namespace

Task<StatusOr<Response>> HandleFetch(BrokerCore& core, proto::Frame frame,
                                     std::unique_ptr<v1::FetchRequest> request) {
  // A follower names itself and its broker epoch (always > 0); a request that leaves them unset
  // (proto3 zeros) is a consumer's.
  if (request->replica_id() >= 0 && request->replica_epoch() > 0) {
    co_return co_await HandleReplicaFetch(core, std::move(frame), std::move(request));
  }
  const size_t max_bytes = request->max_bytes() > 0
                               ? std::min(request->max_bytes(), kFetchResponseMaxBytes)
                               : kDefaultFetchMaxBytes;
  const size_t min_bytes = static_cast<size_t>(std::max(0, request->min_bytes()));
  const int64_t deadline_ns =
      RequestTimers::NowNs() + int64_t{std::max(0, request->max_wait_ms())} * 1'000'000;

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
      item.known = route.error == ErrorCode::NONE;
      items.push_back(std::move(item));
      owner.push_back(route.shard);
    }
  }

  io::Reactor& home = *io::Reactor::current();
  while (true) {
    const bool may_wait = RequestTimers::NowNs() < deadline_ns && !core.closing.load();
    std::shared_ptr<FetchWaiter> waiter = may_wait ? std::make_shared<FetchWaiter>(home) : nullptr;
    BrokerCore* c = &core;
    std::vector<Item>* all = &items;
    auto work = [c, all, max_bytes, waiter](int, std::vector<size_t> mine) {
      return ReadOnShard(*c, *all, std::move(mine), max_bytes, waiter);
    };
    co_await FanOut(core.shards, owner, std::move(work));
    // Apply max_bytes in partition order.
    size_t total = 0;
    bool any_error = false;
    bool first_data = true;
    for (Item& item : items) {
      any_error |= item.error != ErrorCode::NONE;
      item.send_bytes = 0;
      if (item.data == nullptr) continue;
      if (first_data) {
        item.send_bytes = item.data->size();
        first_data = false;
      } else {
        const size_t budget = total < max_bytes ? max_bytes - total : 0;
        item.send_bytes =
            item.data->size() <= budget ? item.data->size() : FitBatches(*item.data, budget);
      }
      total += item.send_bytes;
    }
    if (waiter == nullptr || any_error || total >= std::max<size_t>(min_bytes, 1) ||
        core.closing.load()) {
      break;
    }
    RequestTimers& timers = core.partitions.LocalTimers();
    const RequestTimers::Id timer = timers.Arm(deadline_ns, [waiter] { waiter->Wake(); });
    co_await waiter->Wait();
    timers.Cancel(timer);
  }

  v1::FetchResponse response;
  response.set_error_code(ErrorCode::NONE);
  std::vector<std::span<const std::byte>> payload;
  std::vector<std::shared_ptr<const void>> keep_alive;
  size_t next = 0;
  for (const v1::FetchTopic& t : request->topics()) {
    v1::FetchTopicResponse* tr = response.add_topics();
    tr->set_name(t.name());
    for (int j = 0; j < t.partitions_size(); j++) {
      const Item& item = items[next++];
      v1::FetchPartitionResponse* pr = tr->add_partitions();
      pr->set_partition(item.in->partition());
      pr->set_error_code(item.error);
      pr->set_high_watermark(item.high_watermark);
      pr->set_last_stable_offset(item.high_watermark);
      pr->set_log_start_offset(item.log_start_offset);
      if (item.error == ErrorCode::FENCED_LEADER_EPOCH ||
          item.error == ErrorCode::UNKNOWN_LEADER_EPOCH) {
        std::shared_ptr<const TopicInfo> info = core.partitions.FindTopic(t.name());
        if (info != nullptr) {
          pr->set_current_leader_id(info->LeaderOf(item.in->partition(), core.config.node_id));
          pr->set_current_leader_epoch(info->LeaderEpochOf(item.in->partition()));
        }
      }
      if (item.send_bytes > 0) {
        pr->set_payload_bytes(static_cast<uint32_t>(item.send_bytes));
        payload.push_back(std::span<const std::byte>(item.data->data(), item.send_bytes));
        keep_alive.push_back(item.data);
      }
    }
  }
  co_return MakeResponse(frame.header(), response, payload, std::move(keep_alive));
}

}  // namespace spool::broker
