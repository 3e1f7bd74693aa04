#include "broker/partition_manager.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/group_records.h"
#include "broker/request_log.h"
#include "common/io/when_all.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;

namespace {

Status FirstError(const std::vector<Status>& errors) {
  for (const Status& st : errors) RETURN_IF_ERROR(st);
  return Status();
}

}  // namespace
using proto::ErrorToStatus;

struct PartitionManager::ShardLocal {
  explicit ShardLocal(io::Reactor& r) : timers(r), retention_idle(r) { retention_idle.set(); }
  std::shared_ptr<const TopicSnapshot> topics = std::make_shared<const TopicSnapshot>();
  std::map<std::pair<std::string, int32_t>, std::shared_ptr<Partition>> partitions;
  RequestTimers timers;
  bool stopping = false;
  io::Event retention_idle;  // set while no retention pass runs
};

PartitionManager::PartitionManager(ShardSet& shards, const BrokerConfig& config, Clock& clock,
                                   StorageOptions storage)
    : shards_(shards),
      config_(config),
      clock_(clock),
      storage_(std::move(storage)),
      admin_mutex_(*shards.shard(0).reactor) {
  for (int i = 0; i < shards_.size(); i++) {
    locals_.push_back(std::make_unique<ShardLocal>(*shards_.shard(i).reactor));
  }
}

PartitionManager::~PartitionManager() {
  if (closed_) return;
  for (int i = 0; i < shards_.size(); i++) {
    ShardLocal* l = locals_[static_cast<size_t>(i)].get();
    shards_.run_and_wait(i, [l] {
      l->stopping = true;
      l->partitions.clear();
      l->timers.Shutdown();
    });
  }
}

PartitionManager::ShardLocal& PartitionManager::local() const {
  return *locals_[static_cast<size_t>(shards_.current())];
}

io::FileSystem& PartitionManager::FsOf(int shard) const {
  if (storage_.file_system) {
    if (io::FileSystem* fs = storage_.file_system(shard); fs != nullptr) return *fs;
  }
  return *shards_.shard(shard).fs;
}

std::string PartitionManager::PartitionDir(const std::string& topic, int32_t partition) const {
  return absl::StrCat(config_.data_dir, "/", topic, "-", partition);
}

TopicConfig PartitionManager::DefaultTopicConfig() const {
  TopicConfig c;
  c.log = config_.log_defaults;
  return c;
}

std::shared_ptr<const TopicSnapshot> PartitionManager::Topics() const {
  return local().topics;
}

std::shared_ptr<const TopicInfo> PartitionManager::FindTopic(const std::string& name) const {
  const TopicSnapshot& topics = *local().topics;
  auto it = topics.find(name);
  return it == topics.end() ? nullptr : it->second;
}

std::shared_ptr<Partition> PartitionManager::LocalPartition(const std::string& topic,
                                                            int32_t partition) const {
  const ShardLocal& l = local();
  auto it = l.partitions.find(std::make_pair(topic, partition));
  return it == l.partitions.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Partition>> PartitionManager::LocalPartitions() const {
  std::vector<std::shared_ptr<Partition>> out;
  for (const auto& [key, p] : local().partitions) out.push_back(p);
  return out;
}

RequestTimers& PartitionManager::LocalTimers() {
  return local().timers;
}

StatusOr<TopicInfo> PartitionManager::InfoFromRecord(const v1::TopicRecord& record) const {
  TopicInfo info;
  info.name = record.name();
  info.num_partitions = record.num_partitions();
  info.replication_factor = record.replication_factor();
  info.overrides.insert(record.configs().begin(), record.configs().end());
  ASSIGN_OR_RETURN(info.config,
                   ParseTopicConfig(info.overrides, DefaultTopicConfig(), info.replication_factor));
  return info;
}

Task<Status> PartitionManager::Open() {
  CO_ASSIGN_OR_RETURN(store_, co_await TopicStore::Open(FsOf(0), config_.data_dir));
  std::vector<std::shared_ptr<const TopicInfo>> live;
  for (const v1::TopicRecord& record : store_->List()) {
    if (record.deleted()) {
      LogInfo(absl::StrCat("finishing deletion of topic=", record.name()));
      CO_RETURN_IF_ERROR(co_await DropPartitions(record.name(), record.num_partitions()));
      CO_RETURN_IF_ERROR(co_await store_->Remove(record.name()));
      continue;
    }
    StatusOr<TopicInfo> info = InfoFromRecord(record);
    if (!info.ok()) {
      co_return absl::DataLossError(
          absl::StrCat("topic ", record.name(), " in the topic store: ", info.status().message()));
    }
    auto shared = std::make_shared<const TopicInfo>(*std::move(info));
    topics_[shared->name] = shared;
    live.push_back(std::move(shared));
  }
  CO_RETURN_IF_ERROR(co_await OpenPartitions(std::move(live)));
  co_await Publish();
  absl::AnyInvocable<Task<void>(Shard&)> arm = [this](Shard& s) -> Task<void> {
    ArmRetention(s.id);
    co_return;
  };
  co_await shards_.on_all(std::move(arm));
  co_return Status();
}

Task<Status> PartitionManager::OpenPartitions(
    std::vector<std::shared_ptr<const TopicInfo>> topics) {
  auto errors = std::make_shared<std::vector<Status>>(static_cast<size_t>(shards_.size()));
  std::vector<std::shared_ptr<const TopicInfo>>* all = &topics;
  absl::AnyInvocable<Task<void>(Shard&)> work = [this, all, errors](Shard& s) -> Task<void> {
    std::vector<Task<void>> opens;
    for (const auto& topic : *all) {
      for (int32_t p = 0; p < topic->num_partitions; p++) {
        if (OwnerShard(topic->name, p) != s.id) continue;
        opens.push_back([](PartitionManager* self, Shard* shard, std::shared_ptr<const TopicInfo> t,
                           int32_t index, std::vector<Status>* errs) -> Task<void> {
          Partition::Options options;
          options.topic = t->name;
          options.index = index;
          options.dir = self->PartitionDir(t->name, index);
          options.config = t->config;
          ShardLocal& l = *self->locals_[static_cast<size_t>(shard->id)];
          StatusOr<std::shared_ptr<Partition>> opened = co_await Partition::Open(
              self->FsOf(shard->id), self->clock_, l.timers, std::move(options));
          if (!opened.ok()) {
            Status& slot = (*errs)[static_cast<size_t>(shard->id)];
            if (slot.ok()) {
              slot = Status(opened.status().code(), absl::StrCat("opening ", t->name, "-", index,
                                                                 ": ", opened.status().message()));
            }
            co_return;
          }
          l.partitions[std::make_pair(t->name, index)] = *std::move(opened);
        }(this, &s, topic, p, errors.get()));
      }
    }
    co_await io::WhenAll(*s.reactor, std::move(opens));
  };
  co_await shards_.on_all(std::move(work));
  co_return FirstError(*errors);
}

Task<void> PartitionManager::Publish() {
  auto snapshot = std::make_shared<const TopicSnapshot>(topics_);
  absl::AnyInvocable<Task<void>(Shard&)> work = [this, snapshot](Shard& s) -> Task<void> {
    locals_[static_cast<size_t>(s.id)]->topics = snapshot;
    co_return;
  };
  co_await shards_.on_all(std::move(work));
}

namespace {

// Removes a partition directory (flat: segment, index and checkpoint files) and syncs its
// parent. A missing directory is fine.
Task<Status> RemoveDir(io::FileSystem& fs, std::string dir, std::string parent) {
  StatusOr<std::vector<std::string>> names = co_await fs.list_dir(dir);
  if (absl::IsNotFound(names.status())) co_return Status();
  CO_RETURN_IF_ERROR(names.status());
  for (const std::string& name : *names) {
    Status st = co_await fs.unlink(absl::StrCat(dir, "/", name));
    if (!st.ok() && !absl::IsNotFound(st)) co_return st;
  }
  Status st = co_await fs.rmdir(dir);
  if (!st.ok() && !absl::IsNotFound(st)) co_return st;
  co_return co_await fs.sync_dir(parent);
}

}  // namespace

Task<Status> PartitionManager::DropPartitions(std::string topic, int32_t num_partitions) {
  auto errors = std::make_shared<std::vector<Status>>(static_cast<size_t>(shards_.size()));
  const std::string* name = &topic;
  absl::AnyInvocable<Task<void>(Shard&)> work = [this, name, num_partitions,
                                                 errors](Shard& s) -> Task<void> {
    const std::string& topic = *name;
    ShardLocal& l = *locals_[static_cast<size_t>(s.id)];
    Status& first = (*errors)[static_cast<size_t>(s.id)];
    for (int32_t p = 0; p < num_partitions; p++) {
      if (OwnerShard(topic, p) != s.id) continue;
      auto it = l.partitions.find(std::make_pair(topic, p));
      if (it != l.partitions.end()) {
        std::shared_ptr<Partition> part = std::move(it->second);
        l.partitions.erase(it);
        Status closed = co_await part->Close(
            ErrorToStatus(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "the topic was deleted"));
        // A close error (a failed log) does not keep the files: the topic is going away.
        if (!closed.ok()) {
          LogRateLimited(LogKind::kStorage, absl::StrCat("closing deleted partition=", topic, "-",
                                                         p, " error=\"", closed.ToString(), "\""));
        }
      }
      Status removed = co_await RemoveDir(FsOf(s.id), PartitionDir(topic, p), config_.data_dir);
      if (!removed.ok() && first.ok()) first = removed;
    }
  };
  co_await shards_.on_all(std::move(work));
  co_return FirstError(*errors);
}

Task<StatusOr<TopicInfo>> PartitionManager::CreateTopic(CreateTopicSpec spec, bool validate_only) {
  co_await admin_mutex_.lock();
  log::AsyncLockGuard guard(admin_mutex_);
  if (Status st = ValidateTopicName(spec.name); !st.ok()) {
    co_return ErrorToStatus(ErrorCode::INVALID_TOPIC, std::string(st.message()));
  }
  TopicInfo info;
  info.name = spec.name;
  info.num_partitions = spec.num_partitions == 0 ? config_.default_partitions : spec.num_partitions;
  if (info.num_partitions < 1 || info.num_partitions > kMaxPartitionsPerTopic) {
    co_return ErrorToStatus(ErrorCode::INVALID_PARTITIONS,
                            absl::StrCat("num_partitions ", info.num_partitions, " is not in [1, ",
                                         kMaxPartitionsPerTopic, "]"));
  }
  info.replication_factor =
      spec.replication_factor == 0 ? config_.default_replication_factor : spec.replication_factor;
  if (info.replication_factor != 1) {
    co_return ErrorToStatus(ErrorCode::INVALID_REPLICATION_FACTOR,
                            absl::StrCat("replication_factor ", info.replication_factor,
                                         ": a single-node broker supports only 1"));
  }
  info.overrides = std::move(spec.configs);
  StatusOr<TopicConfig> config =
      ParseTopicConfig(info.overrides, DefaultTopicConfig(), info.replication_factor);
  if (!config.ok()) {
    co_return ErrorToStatus(ErrorCode::INVALID_CONFIG, std::string(config.status().message()));
  }
  info.config = *config;
  if (topics_.contains(info.name) || store_->Find(info.name).has_value()) {
    co_return ErrorToStatus(ErrorCode::TOPIC_ALREADY_EXISTS,
                            absl::StrCat("topic ", info.name, " already exists"));
  }
  if (validate_only) co_return info;

  v1::TopicRecord record;
  record.set_name(info.name);
  record.set_num_partitions(info.num_partitions);
  record.set_replication_factor(info.replication_factor);
  for (const auto& [k, v] : info.overrides) (*record.mutable_configs())[k] = v;
  CO_RETURN_IF_ERROR(co_await store_->Put(std::move(record)));
  auto shared = std::make_shared<const TopicInfo>(info);
  std::vector<std::shared_ptr<const TopicInfo>> created(1, shared);
  Status opened = co_await OpenPartitions(std::move(created));
  if (!opened.ok()) {
    // Undo: the topic never became visible. Best effort; Open() would finish it otherwise.
    PermitUncheckedError(co_await store_->MarkDeleted(info.name));
    PermitUncheckedError(co_await DropPartitions(info.name, info.num_partitions));
    PermitUncheckedError(co_await store_->Remove(info.name));
    co_return opened;
  }
  topics_[info.name] = shared;
  co_await Publish();
  LogInfo(absl::StrCat("created topic=", info.name, " partitions=", info.num_partitions));
  co_return info;
}

Task<Status> PartitionManager::DeleteTopic(std::string name) {
  co_await admin_mutex_.lock();
  log::AsyncLockGuard guard(admin_mutex_);
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    co_return ErrorToStatus(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, absl::StrCat("no topic ", name));
  }
  if (IsInternalTopic(name)) {
    co_return ErrorToStatus(ErrorCode::INVALID_TOPIC,
                            absl::StrCat("topic ", name, " is internal and cannot be deleted"));
  }
  const int32_t partitions = it->second->num_partitions;
  CO_RETURN_IF_ERROR(co_await store_->MarkDeleted(name));
  topics_.erase(it);
  co_await Publish();
  CO_RETURN_IF_ERROR(co_await DropPartitions(name, partitions));
  CO_RETURN_IF_ERROR(co_await store_->Remove(name));
  LogInfo(absl::StrCat("deleted topic=", name));
  co_return Status();
}

Task<Status> PartitionManager::EnsureTopic(std::string name) {
  if (FindTopic(name) != nullptr) co_return Status();
  absl::AnyInvocable<Task<Status>()> create = [this, name]() -> Task<Status> {
    CreateTopicSpec spec;
    spec.name = name;
    StatusOr<TopicInfo> made = co_await CreateTopic(std::move(spec), false);
    co_return made.status();
  };
  Status st = co_await shards_.submit_to<Status>(0, std::move(create));
  if (proto::ErrorFromStatus(st) == ErrorCode::TOPIC_ALREADY_EXISTS) co_return Status();
  co_return st;
}

void PartitionManager::ArmRetention(int shard) {
  ShardLocal& l = *locals_[static_cast<size_t>(shard)];
  if (l.stopping) return;
  const int64_t interval_ms = std::max<int64_t>(1, config_.retention_check_interval_ms);
  l.timers.Arm(RequestTimers::NowNs() + interval_ms * 1'000'000,
               [this, shard] { shards_.shard(shard).reactor->spawn(RetentionPass(this, shard)); });
}

Task<void> PartitionManager::RetentionPass(PartitionManager* self, int shard) {
  ShardLocal& l = *self->locals_[static_cast<size_t>(shard)];
  if (l.stopping) co_return;
  l.retention_idle.reset();
  for (const std::shared_ptr<Partition>& p : self->LocalPartitions()) {
    if (l.stopping) break;
    Status st = co_await p->RunRetention();
    if (!st.ok() && !p->closed()) {
      LogRateLimited(LogKind::kStorage, absl::StrCat("retention partition=", p->topic(), "-",
                                                     p->index(), " error=\"", st.ToString(), "\""));
    }
  }
  l.retention_idle.set();
  self->ArmRetention(shard);
}

Task<Status> PartitionManager::Close() {
  auto errors = std::make_shared<std::vector<Status>>(static_cast<size_t>(shards_.size()));
  absl::AnyInvocable<Task<void>(Shard&)> work = [this, errors](Shard& s) -> Task<void> {
    ShardLocal& l = *locals_[static_cast<size_t>(s.id)];
    l.stopping = true;
    co_await l.retention_idle.wait();
    std::vector<Task<void>> closes;
    for (auto& [key, p] : l.partitions) {
      closes.push_back([](std::shared_ptr<Partition> part, Status* first) -> Task<void> {
        Status st = co_await part->Close(
            ErrorToStatus(ErrorCode::NOT_LEADER_OR_FOLLOWER, "the broker is shutting down"));
        if (!st.ok() && first->ok()) {
          *first = Status(st.code(), absl::StrCat("closing ", part->topic(), "-", part->index(),
                                                  ": ", st.message()));
        }
      }(p, &(*errors)[static_cast<size_t>(s.id)]));
    }
    co_await io::WhenAll(*s.reactor, std::move(closes));
    l.partitions.clear();
    l.timers.Shutdown();
  };
  co_await shards_.on_all(std::move(work));
  closed_ = true;
  co_return FirstError(*errors);
}

}  // namespace spool::broker
