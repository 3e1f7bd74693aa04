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
  std::shared_ptr<const BrokerList> brokers = std::make_shared<const BrokerList>();
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

std::shared_ptr<const BrokerList> PartitionManager::Brokers() const {
  return local().brokers;
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
  info.topic_id = record.topic_id();
  info.num_partitions = record.num_partitions();
  info.replication_factor = record.replication_factor();
  info.overrides.insert(record.configs().begin(), record.configs().end());
  for (const v1::PartitionAssignment& a : record.partitions()) {
    PartitionInfo p;
    p.replicas.assign(a.replicas().begin(), a.replicas().end());
    p.isr.assign(a.isr().begin(), a.isr().end());
    p.leader = a.leader();
    p.leader_epoch = a.leader_epoch();
    p.partition_epoch = a.partition_epoch();
    info.partitions.push_back(std::move(p));
  }
  if (!info.partitions.empty() &&
      static_cast<int32_t>(info.partitions.size()) != info.num_partitions) {
    return absl::DataLossError(absl::StrCat(info.partitions.size(), " partition assignments for ",
                                            info.num_partitions, " partitions"));
  }
  ASSIGN_OR_RETURN(info.config,
                   ParseTopicConfig(info.overrides, DefaultTopicConfig(), info.replication_factor));
  return info;
}

Task<Status> PartitionManager::Open() {
  CO_ASSIGN_OR_RETURN(store_, co_await TopicStore::Open(FsOf(0), config_.data_dir));
  std::vector<PartitionRef> hosted;
  for (const v1::TopicRecord& record : store_->List()) {
    if (record.deleted()) {
      LogInfo(absl::StrCat("finishing deletion of topic=", record.name()));
      CO_RETURN_IF_ERROR(co_await RemoveTopic(record.name(), record.num_partitions()));
      continue;
    }
    StatusOr<TopicInfo> info = InfoFromRecord(record);
    if (!info.ok()) {
      co_return absl::DataLossError(
          absl::StrCat("topic ", record.name(), " in the topic store: ", info.status().message()));
    }
    auto shared = std::make_shared<const TopicInfo>(*std::move(info));
    topics_[shared->name] = shared;
    for (int32_t p = 0; p < shared->num_partitions; p++) {
      if (shared->Hosts(config_.node_id, p)) hosted.push_back(PartitionRef{shared, p});
    }
  }
  CO_RETURN_IF_ERROR(co_await OpenPartitions(std::move(hosted)));
  co_await Publish();
  absl::AnyInvocable<Task<void>(Shard&)> arm = [this](Shard& s) -> Task<void> {
    ArmRetention(s.id);
    co_return;
  };
  co_await shards_.on_all(std::move(arm));
  co_return Status();
}

Task<Status> PartitionManager::OpenPartitions(std::vector<PartitionRef> refs) {
  auto errors = std::make_shared<std::vector<Status>>(static_cast<size_t>(shards_.size()));
  std::vector<PartitionRef>* all = &refs;
  absl::AnyInvocable<Task<void>(Shard&)> work = [this, all, errors](Shard& s) -> Task<void> {
    std::vector<Task<void>> opens;
    ShardLocal& here = *locals_[static_cast<size_t>(s.id)];
    for (const PartitionRef& ref : *all) {
      if (OwnerShard(ref.topic->name, ref.index) != s.id) continue;
      if (here.partitions.contains(std::make_pair(ref.topic->name, ref.index))) continue;
      opens.push_back([](PartitionManager* self, Shard* shard, std::shared_ptr<const TopicInfo> t,
                         int32_t index, std::vector<Status>* errs) -> Task<void> {
        Partition::Options options;
        options.topic = t->name;
        options.index = index;
        options.dir = self->PartitionDir(t->name, index);
        options.config = t->config;
        if (!t->partitions.empty()) {
          // Roles come from the metadata (the role listener); until then, no leadership.
          options.leader_epoch = LeaderEpoch(t->LeaderEpochOf(index));
          options.follower = true;
          options.leader_id = t->LeaderOf(index, self->config_.node_id);
        }
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
      }(this, &s, ref.topic, ref.index, errors.get()));
    }
    co_await io::WhenAll(*s.reactor, std::move(opens));
  };
  co_await shards_.on_all(std::move(work));
  co_return FirstError(*errors);
}

Task<void> PartitionManager::Publish() {
  auto snapshot = std::make_shared<const TopicSnapshot>(topics_);
  auto brokers = std::make_shared<const BrokerList>(brokers_);
  absl::AnyInvocable<Task<void>(Shard&)> work = [this, snapshot, brokers](Shard& s) -> Task<void> {
    locals_[static_cast<size_t>(s.id)]->topics = snapshot;
    locals_[static_cast<size_t>(s.id)]->brokers = brokers;
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

Task<Status> PartitionManager::DropPartitions(std::string topic, std::vector<int32_t> partitions) {
  auto errors = std::make_shared<std::vector<Status>>(static_cast<size_t>(shards_.size()));
  const std::string* name = &topic;
  const std::vector<int32_t>* which = &partitions;
  absl::AnyInvocable<Task<void>(Shard&)> work = [this, name, which,
                                                 errors](Shard& s) -> Task<void> {
    const std::string& topic = *name;
    ShardLocal& l = *locals_[static_cast<size_t>(s.id)];
    Status& first = (*errors)[static_cast<size_t>(s.id)];
    for (int32_t p : *which) {
      if (OwnerShard(topic, p) != s.id) continue;
      auto it = l.partitions.find(std::make_pair(topic, p));
      if (it != l.partitions.end()) {
        LogInfo(absl::StrCat("dropping partition=", topic, "-", p));
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

Task<Status> PartitionManager::RemoveTopic(std::string name, int32_t num_partitions) {
  if (store_->Find(name).has_value()) CO_RETURN_IF_ERROR(co_await store_->MarkDeleted(name));
  if (topics_.erase(name) > 0) co_await Publish();
  std::vector<int32_t> all;
  for (int32_t p = 0; p < num_partitions; p++) all.push_back(p);
  CO_RETURN_IF_ERROR(co_await DropPartitions(name, std::move(all)));
  CO_RETURN_IF_ERROR(co_await store_->Remove(name));
  LogInfo(absl::StrCat("deleted topic=", name));
  co_return Status();
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
