// GroupManager: placement, the writer queue per offsets partition, loading by replay, and the
// coordinators' timers (broker/group_manager.h, broker/GROUPS.md).
#include "broker/group_manager.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/request_log.h"
#include "broker/topic_config.h"
#include "common/io/event.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_header.h"
#include "log/record/batch_reader.h"
#include "log/record/record.h"
#include "proto/errors.h"

namespace spool::broker {

using v1::ErrorCode;

namespace {

// One queued append and its outcome.
struct Write {
  explicit Write(io::Reactor& r) : done(r) {}
  std::vector<std::byte> batch;
  io::Event done;
  StatusOr<Offset> last = absl::UnknownError("not written");
};

}  // namespace

struct GroupManager::Slot {
  Slot(int32_t p, const GroupConfig& config, Clock& clock, std::shared_ptr<Partition> part)
      : partition(p), coordinator(config, clock), log(std::move(part)) {}
  int32_t partition;
  GroupCoordinator coordinator;
  std::shared_ptr<Partition> log;
  uint64_t term = 0;  // the leadership term of `log` this coordinator runs in
  bool loading = true;
  bool load_failed = false;  // Load() stopped on an error: replaced at the next Acquire()
  bool closed = false;       // no new requests (Close() or Retire())
  bool retired = false;      // another term or broker coordinates: queued records are dropped
  std::deque<std::shared_ptr<Write>> queue;
  bool pump_running = false;
  std::unique_ptr<io::Event> pump_idle;  // set while no pump runs (made on the slot's shard)
  RequestTimers::Id timer = RequestTimers::kNoTimer;
  int64_t timer_target_ns = 0;  // the coordinator deadline the timer is armed for
  RequestTimers* timers = nullptr;
};

struct GroupManager::ShardLocal {
  std::map<int32_t, std::shared_ptr<Slot>> slots;
  bool open = false;
  RequestTimers* timers = nullptr;
  RequestTimers::Id expiry_timer = RequestTimers::kNoTimer;
  void StopTimers() {
    for (auto& [p, slot] : slots) {
      slot->closed = true;
      if (slot->timers != nullptr) slot->timers->Cancel(slot->timer);
    }
    if (timers != nullptr) timers->Cancel(expiry_timer);
    expiry_timer = RequestTimers::kNoTimer;
  }
};

GroupManager::GroupManager(ShardSet& shards, PartitionManager& partitions,
                           const BrokerConfig& config, Clock& clock)
    : shards_(shards),
      partitions_(partitions),
      config_(config),
      clock_(clock),
      group_config_(config.groups) {
  for (int i = 0; i < shards_.size(); i++) locals_.push_back(std::make_unique<ShardLocal>());
}

GroupManager::~GroupManager() {
  for (int i = 0; i < shards_.size(); i++) {
    ShardLocal* l = locals_[static_cast<size_t>(i)].get();
    shards_.run_and_wait(i, [l] {
      l->StopTimers();
      l->slots.clear();
      l->open = false;
    });
  }
}

GroupManager::ShardLocal& GroupManager::local() {
  return *locals_[static_cast<size_t>(shards_.current())];
}

int32_t GroupManager::PartitionOf(const std::string& group) const {
  return GroupPartition(group, std::max(1, num_partitions()));
}

int GroupManager::OwnerShard(const std::string& group) const {
  return PartitionShard(kOffsetsTopic, PartitionOf(group), shards_.size());
}

int32_t GroupManager::CoordinatorNode(const std::string& group) const {
  // The leader of the group's __consumer_offsets partition (-1: none now).
  std::shared_ptr<const TopicInfo> info = partitions_.FindTopic(std::string(kOffsetsTopic));
  if (info == nullptr) return -1;  // not published on this shard yet
  return info->LeaderOf(PartitionOf(group), config_.node_id);
}

GroupCoordinator& GroupManager::CoordinatorOf(Slot& slot) {
  return slot.coordinator;
}

Task<Status> GroupManager::CreateOffsetsTopic(int32_t replication_factor) {
  const std::string topic(kOffsetsTopic);
  CreateTopicSpec spec;
  spec.name = topic;
  spec.num_partitions = group_config_.offsets_topic_num_partitions;
  spec.replication_factor = replication_factor;
  // Commits are acknowledged after fdatasync whatever the broker's default flush policy;
  // there is no compaction yet, so nothing is deleted by age (tombstones are replayed).
  // Batches up to twice the largest request body: a commit or a group's metadata is made from
  // one request's worth of strings (plus the group's other members for metadata).
  const uint64_t max_batch = std::min<uint64_t>(
      kMaxMessageBytesLimit, std::max<uint64_t>(config_.log_defaults.max_message_bytes,
                                                2ull * config_.frame_limits.max_body_bytes + 4096));
  spec.configs = {{"flush.policy", "durable"},
                  {"retention.ms", "-1"},
                  {"max.message.bytes", absl::StrCat(max_batch)}};
  Status made = co_await partitions_.EnsureTopic(std::move(spec));
  if (!made.ok()) {
    co_return Status(made.code(), absl::StrCat("creating ", topic, ": ", made.message()));
  }
  std::shared_ptr<const TopicInfo> info = partitions_.FindTopic(topic);
  if (info == nullptr) co_return absl::InternalError(absl::StrCat(topic, " is not published"));
  num_partitions_.store(info->num_partitions);
  co_return Status();
}

Task<Status> GroupManager::EnsureOffsetsTopic() {
  if (num_partitions() > 0) co_return Status();
  const std::string topic(kOffsetsTopic);
  int32_t rf = group_config_.offsets_topic_replication_factor;
  if (config_.single_node || config_.voters.empty()) {
    rf = 1;  // no other broker can join
  } else {
    std::shared_ptr<const BrokerList> brokers = partitions_.Brokers();
    const int32_t live = brokers == nullptr ? 0 : static_cast<int32_t>(brokers->size());
    if (live < rf) {
      co_return absl::UnavailableError(
          absl::StrCat(topic, " waits for offsets.topic.replication.factor=", rf, " live brokers (",
                       live, " now)"));
    }
  }
  const int64_t now = RequestTimers::NowNs();
  if (now < retry_creation_at_ns_.load()) {
    co_return absl::UnavailableError(absl::StrCat(topic, ": the last attempt to create it failed"));
  }
  if (creating_.exchange(true)) co_return absl::UnavailableError(topic + " is being created");
  struct Done {
    std::atomic<bool>& flag;
    ~Done() { flag.store(false); }
  } done{creating_};
  Status made = co_await CreateOffsetsTopic(rf);
  if (!made.ok()) retry_creation_at_ns_.store(RequestTimers::NowNs() + kCreationRetryNs);
  co_return made;
}

Task<Status> GroupManager::Open() {
  const std::string topic(kOffsetsTopic);
  std::shared_ptr<const TopicInfo> info = partitions_.FindTopic(topic);
  if (info == nullptr) {
    Status made = co_await EnsureOffsetsTopic();
    if (!made.ok() && (config_.single_node || config_.voters.empty())) co_return made;
    if (!made.ok()) {
      LogInfo(absl::StrCat(topic, " not created at start-up: ", made.message(),
                           "; the next FindCoordinator tries again"));
    }
    info = partitions_.FindTopic(topic);
  } else if (info->num_partitions != group_config_.offsets_topic_num_partitions) {
    LogInfo(absl::StrCat("offsets topic keeps its partitions=", info->num_partitions,
                         " (offsets.topic.num.partitions=",
                         group_config_.offsets_topic_num_partitions, " applies to a new one)"));
  }
  if (info != nullptr) num_partitions_.store(info->num_partitions);
  absl::AnyInvocable<Task<void>(Shard&)> start = [this](Shard& s) -> Task<void> {
    ShardLocal& l = *locals_[static_cast<size_t>(s.id)];
    l.open = true;
    l.timers = &partitions_.LocalTimers();
    ArmExpiry(s.id);
    SyncSlots(s.id);
    co_return;
  };
  co_await shards_.on_all(std::move(start));
  co_return Status();
}

Task<void> GroupManager::OnRoles(const std::vector<std::shared_ptr<const TopicInfo>>& topics) {
  bool offsets = false;
  for (const std::shared_ptr<const TopicInfo>& t : topics) {
    if (t->name != kOffsetsTopic) continue;
    offsets = true;
    num_partitions_.store(t->num_partitions);
  }
  if (!offsets) co_return;
  absl::AnyInvocable<Task<void>(Shard&)> sync = [this](Shard& s) -> Task<void> {
    SyncSlots(s.id);
    co_return;
  };
  co_await shards_.on_all(std::move(sync));
}

void GroupManager::Retire(Slot& slot) {
  slot.closed = true;
  slot.retired = true;
  slot.coordinator.Shutdown(ErrorCode::NOT_COORDINATOR);
  if (slot.timers != nullptr) slot.timers->Cancel(slot.timer);
  slot.timer = RequestTimers::kNoTimer;
}

bool GroupManager::Current(const Slot& slot) const {
  const std::shared_ptr<Partition> part =
      partitions_.LocalPartition(std::string(kOffsetsTopic), slot.partition);
  return slot.partition < num_partitions() && part != nullptr && part == slot.log &&
         !part->closed() && part->is_leader() && part->term() == slot.term && !slot.load_failed;
}

void GroupManager::SyncSlots(int shard) {
  ShardLocal& l = *locals_[static_cast<size_t>(shard)];
  if (!l.open) return;
  const std::string topic(kOffsetsTopic);
  const int32_t n = num_partitions();
  for (auto it = l.slots.begin(); it != l.slots.end();) {
    Slot& slot = *it->second;
    if (Current(slot)) {
      ++it;
      continue;
    }
    LogInfo(absl::StrCat("group coordinator of offsets partition=", it->first,
                         slot.load_failed
                             ? " stopped: its load failed (loading again)"
                             : " stopped: this broker no longer leads it in that term"));
    Retire(slot);
    it = l.slots.erase(it);
  }
  io::Reactor& reactor = *shards_.shard(shard).reactor;
  for (int32_t p = 0; p < n; p++) {
    if (partitions_.OwnerShard(topic, p) != shard || l.slots.contains(p)) continue;
    std::shared_ptr<Partition> part = partitions_.LocalPartition(topic, p);
    if (part == nullptr || part->closed() || !part->is_leader()) continue;
    const uint64_t term = part->term();
    auto slot = std::make_shared<Slot>(p, group_config_, clock_, std::move(part));
    slot->term = term;
    slot->pump_idle = std::make_unique<io::Event>(reactor);
    slot->pump_idle->set();
    slot->timers = &partitions_.LocalTimers();
    l.slots[p] = slot;
    reactor.spawn(Load(this, slot));
  }
}

Task<void> GroupManager::Close() {
  absl::AnyInvocable<Task<void>(Shard&)> stop = [this](Shard& s) -> Task<void> {
    ShardLocal& l = *locals_[static_cast<size_t>(s.id)];
    l.open = false;
    l.StopTimers();
    for (auto& [p, slot] : l.slots) slot->coordinator.Shutdown(ErrorCode::NOT_COORDINATOR);
    // Group metadata already queued reaches the log before the partitions close.
    for (auto& [p, slot] : l.slots) {
      while (slot->pump_running) co_await slot->pump_idle->wait();
    }
  };
  co_await shards_.on_all(std::move(stop));
  closed_ = true;
}

std::shared_ptr<GroupManager::Slot> GroupManager::Acquire(const std::string& group,
                                                          ErrorCode* code) {
  ShardLocal& l = local();
  auto it = l.slots.find(PartitionOf(group));
  // The role listener retires a coordinator only once every role change of a metadata update is
  // applied: until then, look at the partition itself (it may lead no more, or in a new term).
  if (l.open && it != l.slots.end() && !it->second->closed && !Current(*it->second)) {
    SyncSlots(shards_.current());
    it = l.slots.find(PartitionOf(group));
  }
  if (!l.open || it == l.slots.end() || it->second->closed) {
    *code = ErrorCode::NOT_COORDINATOR;
    return nullptr;
  }
  if (it->second->loading) {
    *code = ErrorCode::COORDINATOR_LOAD_IN_PROGRESS;
    return nullptr;
  }
  *code = ErrorCode::NONE;
  return it->second;
}

ErrorCode GroupManager::ListLocal(const std::vector<std::string>& states_filter,
                                  std::vector<v1::ListedGroup>* out) {
  ShardLocal& l = local();
  if (!l.open) return ErrorCode::NOT_COORDINATOR;
  ErrorCode code = ErrorCode::NONE;
  for (auto& [p, slot] : l.slots) {
    if (slot->loading) {
      code = ErrorCode::COORDINATOR_LOAD_IN_PROGRESS;
      continue;
    }
    slot->coordinator.List(states_filter, out);
  }
  return code;
}

namespace {

StatusOr<std::vector<std::byte>> BuildBatch(const std::vector<GroupRecord>& records,
                                            int64_t now_ms) {
  record::BatchBuilder builder;
  for (const GroupRecord& r : records) {
    const std::string key = EncodeRecordKey(r);
    const std::optional<std::string> value = EncodeRecordValue(r);
    std::optional<std::span<const std::byte>> v;
    if (value) v = record::AsBytes(*value);
    builder.Append(now_ms, record::AsBytes(key), v);
  }
  return builder.Seal();
}

std::shared_ptr<Write> MakeWrite(io::Reactor& reactor, std::vector<std::byte> batch) {
  auto w = std::make_shared<Write>(reactor);
  w->batch = std::move(batch);
  return w;
}

}  // namespace

void GroupManager::Changed(const std::shared_ptr<Slot>& slot) {
  std::vector<GroupRecord> records = slot->coordinator.TakeRecords();
  if (!records.empty() && !slot->closed) {
    StatusOr<std::vector<std::byte>> batch = BuildBatch(records, clock_.wall_ms());
    if (!batch.ok()) {
      LogRateLimited(LogKind::kStorage, absl::StrCat("group metadata record error=\"",
                                                     batch.status().ToString(), "\""));
    } else {
      auto w = MakeWrite(*io::Reactor::current(), *std::move(batch));
      slot->queue.push_back(std::move(w));
      StartPump(slot);
    }
  }
  Arm(slot);
}

Task<Status> GroupManager::WriteDurable(std::shared_ptr<Slot> slot,
                                        std::vector<GroupRecord> records, int64_t deadline_ns) {
  if (slot->closed) {
    co_return proto::ErrorToStatus(ErrorCode::NOT_COORDINATOR, "the coordinator is closing");
  }
  // Below min.insync.replicas the HW cannot move: refuse now (COORDINATOR_NOT_AVAILABLE to the
  // client) rather than write a commit that times out.
  CO_RETURN_IF_ERROR(slot->log->CheckAcksAll());
  CO_ASSIGN_OR_RETURN(std::vector<std::byte> batch, BuildBatch(records, clock_.wall_ms()));
  std::shared_ptr<Write> w = MakeWrite(*io::Reactor::current(), std::move(batch));
  slot->queue.push_back(w);
  StartPump(slot);
  co_await w->done.wait();
  CO_RETURN_IF_ERROR(w->last.status());
  co_return co_await slot->log->WaitCommitted(*w->last, deadline_ns, slot->term);
}

void GroupManager::StartPump(const std::shared_ptr<Slot>& slot) {
  if (slot->pump_running) return;
  slot->pump_running = true;
  slot->pump_idle->reset();
  io::Reactor::current()->spawn(Pump(slot));
}

Task<void> GroupManager::Pump(std::shared_ptr<Slot> slot) {
  while (!slot->queue.empty()) {
    std::shared_ptr<Write> w = std::move(slot->queue.front());
    slot->queue.pop_front();
    if (slot->retired || !slot->log->is_leader() || slot->log->term() != slot->term) {
      // Another term, or another broker, coordinates now: its records stay unwritten.
      w->last = proto::ErrorToStatus(ErrorCode::NOT_COORDINATOR, "the coordinator moved");
      w->done.set();
      continue;
    }
    StatusOr<log::AppendResult> r = co_await slot->log->Append(w->batch);
    if (r.ok()) {
      w->last = r->last_offset;
    } else {
      w->last = r.status();
      LogRateLimited(LogKind::kStorage,
                     absl::StrCat("offsets partition=", slot->partition, " append error=\"",
                                  r.status().ToString(), "\""));
    }
    w->done.set();
  }
  slot->pump_running = false;
  slot->pump_idle->set();
}

void GroupManager::Arm(const std::shared_ptr<Slot>& slot) {
  if (slot->closed || slot->loading || slot->timers == nullptr) return;
  std::optional<int64_t> next = slot->coordinator.NextDeadlineNs();
  if (slot->timer != RequestTimers::kNoTimer) {
    if (next && *next == slot->timer_target_ns) return;  // already armed for it
    slot->timers->Cancel(slot->timer);
    slot->timer = RequestTimers::kNoTimer;
  }
  if (!next) return;
  const int64_t delay = std::max<int64_t>(1'000'000, *next - clock_.monotonic_ns());
  slot->timer_target_ns = *next;
  std::weak_ptr<Slot> weak = slot;
  slot->timer = slot->timers->Arm(RequestTimers::NowNs() + delay, [this, weak] {
    std::shared_ptr<Slot> s = weak.lock();
    if (s == nullptr || s->closed) return;
    s->timer = RequestTimers::kNoTimer;
    s->coordinator.Tick();
    Changed(s);
  });
}

void GroupManager::ArmExpiry(int shard) {
  const int64_t interval_ms =
      std::max<int64_t>(1, group_config_.offsets_retention_check_interval_ms);
  ShardLocal& here = *locals_[static_cast<size_t>(shard)];
  here.expiry_timer = partitions_.LocalTimers().Arm(
      RequestTimers::NowNs() + interval_ms * 1'000'000, [this, shard] {
        ShardLocal& l = *locals_[static_cast<size_t>(shard)];
        l.expiry_timer = RequestTimers::kNoTimer;
        if (!l.open) return;
        for (auto& [p, slot] : l.slots) {
          if (slot->loading || slot->closed) continue;
          std::vector<GroupRecord> tombstones = slot->coordinator.ExpireOffsets();
          if (tombstones.empty()) continue;
          LogInfo(absl::StrCat("expired group offsets partition=", slot->partition,
                               " records=", tombstones.size()));
          StatusOr<std::vector<std::byte>> batch = BuildBatch(tombstones, clock_.wall_ms());
          if (!batch.ok()) continue;
          slot->queue.push_back(MakeWrite(*io::Reactor::current(), *std::move(batch)));
          StartPump(slot);
        }
        ArmExpiry(shard);
      });
}

Task<void> GroupManager::Load(GroupManager* self, std::shared_ptr<Slot> slot) {
  const auto start = std::chrono::steady_clock::now();
  Offset next = slot->log->log_start_offset();
  // Up to the log end, not the HW: see the header. This broker leads, so nothing cuts the log.
  const Offset end = slot->log->log().visible_end_offset();
  uint64_t records = 0;
  uint64_t skipped = 0;
  while (next < end && !slot->closed) {
    StatusOr<log::ReadResult> read = co_await slot->log->ReadForReplica(next, 1 << 20);
    if (!read.ok() || read->slices.empty() || read->next_offset <= next) {
      LogRateLimited(LogKind::kStorage,
                     absl::StrCat("loading offsets partition=", slot->partition, " stopped at ",
                                  next.value(), " error=\"", read.status().ToString(), "\""));
      slot->load_failed = true;
      break;
    }
    StatusOr<std::vector<std::byte>> bytes = co_await log::PartitionLog::ReadAll(*read);
    if (!bytes.ok()) {
      slot->load_failed = true;
      break;
    }
    std::span<const std::byte> rest(*bytes);
    while (!rest.empty()) {
      StatusOr<record::BatchHeader> header = record::ParseHeader(rest);
      if (!header.ok() || header->total_size() > rest.size()) break;
      StatusOr<record::BatchReader> reader = record::BatchReader::Open(rest);
      rest = rest.subspan(header->total_size());
      if (!reader.ok()) {
        skipped++;
        continue;
      }
      record::RecordView view;
      while (true) {
        StatusOr<bool> more = reader->Next(&view);
        if (!more.ok() || !*more) break;
        if (!view.key) {
          skipped++;
          continue;
        }
        StatusOr<GroupRecord> r = DecodeRecord(*view.key, view.value);
        if (!r.ok()) {
          skipped++;  // a newer record type, or damage the CRC did not catch
          continue;
        }
        slot->coordinator.Replay(*r);
        records++;
      }
    }
    next = read->next_offset;
  }
  if (slot->load_failed) {
    // Never serve part of the groups' state: the next Acquire() loads again from the start.
    co_return;
  }
  slot->coordinator.FinishLoad();
  slot->loading = false;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  if (records > 0 || skipped > 0) {
    LogInfo(absl::StrCat("loaded offsets partition=", slot->partition, " records=", records,
                         " skipped=", skipped, " groups=", slot->coordinator.group_count(),
                         " load_ms=", ms));
  }
  if (!slot->closed) self->Changed(slot);
}

}  // namespace spool::broker
