#include "broker/metadata_follower.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/request_log.h"
#include "log/file_util.h"
#include "proto/errors.h"

namespace spool::broker {

using proto::ErrorCode;
using namespace std::chrono_literals;

namespace {

constexpr std::chrono::milliseconds kRpcTimeout = 5s;
constexpr std::chrono::milliseconds kFetchWait = 5s;
constexpr std::chrono::milliseconds kWaitForMetadata = 10s;
// Batches per FetchMetadata answer: a broker far behind catches up in several answers.
constexpr int32_t kFetchMaxBatches = 256;

constexpr char kIncarnationFile[] = "broker.incarnation";

std::string RandomIncarnation() {
  std::random_device rd;
  std::string id(16, '\0');
  for (char& c : id) c = static_cast<char>(rd() & 0xff);
  return id;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[(static_cast<uint8_t>(c) >> 4) & 0xf]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 0xf]);
  }
  return out;
}

std::optional<std::string> Unhex(std::string_view text) {
  if (text.size() != 32) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    int v = 0;
    for (size_t j = i; j < i + 2; j++) {
      const char c = text[j];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v |= c - 'a' + 10;
      } else {
        return std::nullopt;
      }
    }
    out.push_back(static_cast<char>(v));
  }
  return out;
}

Status ResponseStatus(int32_t code, const std::string& message) {
  return proto::ErrorToStatus(static_cast<ErrorCode>(code), message);
}

}  // namespace

Task<StatusOr<std::string>> BrokerIncarnation(io::FileSystem& fs, const std::string& data_dir) {
  const std::string path = absl::StrCat(data_dir, "/", kIncarnationFile);
  const std::string name = kIncarnationFile;
  StatusOr<std::vector<std::byte>> read = co_await log::ReadWholeFile(fs, path, 4096);
  if (read.ok()) {
    std::string text(reinterpret_cast<const char*>(read->data()), read->size());
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    std::optional<std::string> id = Unhex(text);
    if (!id.has_value()) {
      co_return absl::DataLossError(
          absl::StrCat(data_dir, "/", kIncarnationFile, " is not 32 hex digits"));
    }
    co_return *id;
  }
  if (!absl::IsNotFound(read.status())) co_return read.status();
  const std::string id = RandomIncarnation();
  const std::string text = Hex(id) + "\n";
  std::vector<std::byte> bytes(text.size());
  std::memcpy(bytes.data(), text.data(), text.size());
  CO_RETURN_IF_ERROR(co_await log::WriteFileAtomically(fs, data_dir, name, std::move(bytes)));
  co_return id;
}

MetadataFollower::MetadataFollower(ShardSet& shards, PartitionManager& partitions,
                                   const BrokerConfig& config,
                                   std::unique_ptr<ControllerChannel> rpc,
                                   std::unique_ptr<ControllerChannel> fetch,
                                   std::string incarnation_id)
    : shards_(shards),
      partitions_(partitions),
      config_(config),
      rpc_(std::move(rpc)),
      fetch_(std::move(fetch)),
      incarnation_(std::move(incarnation_id)),
      changed_(std::make_shared<io::Notifier>(*shards.shard(0).reactor)),
      loops_done_(*shards.shard(0).reactor) {}

MetadataFollower::~MetadataFollower() = default;

int64_t MetadataFollower::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <typename Pred>
Task<bool> MetadataFollower::WaitFor(Pred pred, int64_t deadline_ns) {
  if (pred()) co_return true;
  io::Reactor& reactor = *shards_.shard(0).reactor;
  std::shared_ptr<io::Notifier> changed = changed_;
  const int64_t wait = deadline_ns - NowNs();
  if (wait > 0) {
    reactor.spawn([](io::Reactor& r, std::shared_ptr<io::Notifier> n, int64_t ns) -> Task<void> {
      co_await r.sleep_for(std::chrono::nanoseconds(ns));
      n->notify_all();
    }(reactor, changed, wait));
  }
  while (!pred() && !stopping_ && NowNs() < deadline_ns) co_await changed->wait();
  co_return pred();
}

Task<void> MetadataFollower::Pause(int64_t ns) {
  auto stopping = [this] { return stopping_; };
  co_await WaitFor(stopping, NowNs() + ns);
}

Task<Status> MetadataFollower::Register(int64_t deadline_ns) {
  v1::BrokerRegistrationRequest request;
  request.set_cluster_id(config_.cluster_id);
  request.set_broker_id(config_.node_id);
  request.set_incarnation_id(incarnation_);
  const io::HostPort& adv = config_.advertised.host.empty() ? config_.listen : config_.advertised;
  v1::BrokerEndpoint* e = request.add_endpoints();
  e->set_listener_name("PLAINTEXT");
  e->set_host(adv.host);
  e->set_port(adv.port != 0 ? adv.port : config_.listen.port);
  if (config_.rack.has_value()) request.set_rack(*config_.rack);
  for (;;) {
    const int64_t left_ms = (deadline_ns - NowNs()) / 1'000'000;
    if (left_ms <= 0 || stopping_) {
      co_return absl::DeadlineExceededError(
          absl::StrCat("broker ", config_.node_id,
                       " could not register with the controller quorum"
                       " within broker.registration.timeout.ms"));
    }
    const std::chrono::milliseconds timeout(std::min<int64_t>(left_ms, kRpcTimeout.count()));
    StatusOr<v1::BrokerRegistrationResponse> r =
        co_await rpc_->BrokerRegistration(request, timeout);
    if (!r.ok()) {
      LogRateLimited(LogKind::kStorage, absl::StrCat("registration with the controller failed, "
                                                     "retrying error=\"",
                                                     r.status().ToString(), "\""));
      co_await Pause(100'000'000);
      continue;
    }
    if (r->error_code() == ErrorCode::DUPLICATE_BROKER_REGISTRATION) {
      // Our previous run (killed) still has a live session: it expires within
      // broker.session.timeout.ms, then the controller takes this registration.
      LogRateLimited(LogKind::kStorage, absl::StrCat("node.id=", config_.node_id,
                                                     " is still registered by an earlier"
                                                     " run; retrying until its session "
                                                     "expires"));
      co_await Pause(250'000'000);
      continue;
    }
    CO_RETURN_IF_ERROR(ResponseStatus(r->error_code(), r->error_message()));
    epoch_ = r->broker_epoch();
    fenced_ = true;
    LogInfo(absl::StrCat("registered node.id=", config_.node_id, " broker_epoch=", epoch_));
    Wake();
    co_return Status();
  }
}

Task<Status> MetadataFollower::FetchOnce(std::chrono::milliseconds max_wait) {
  v1::FetchMetadataRequest request;
  request.set_cluster_id(config_.cluster_id);
  request.set_from_index(applied_);
  request.set_max_wait_ms(static_cast<int32_t>(max_wait.count()));
  request.set_max_batches(kFetchMaxBatches);
  const std::chrono::milliseconds timeout = max_wait + kRpcTimeout;
  StatusOr<v1::FetchMetadataResponse> r = co_await fetch_->FetchMetadata(request, timeout);
  CO_RETURN_IF_ERROR(r.status());
  CO_RETURN_IF_ERROR(ResponseStatus(r->error_code(), r->error_message()));
  if (r->up_to() == applied_ && !r->has_image()) co_return Status();  // nothing new
  // A voter behind this broker (FetchMetadata is answered by any voter): never go back.
  if (r->up_to() < applied_) co_return Status();
  controller::ClusterImage next;
  if (r->has_image()) {
    CO_ASSIGN_OR_RETURN(next, controller::ClusterImage::FromProto(r->image()));
  } else {
    next = image_;
    for (const v1::MetadataLogBatch& b : r->batches()) {
      if (b.index() <= applied_) continue;
      std::vector<v1::MetadataRecord> records(b.batch().records().begin(),
                                              b.batch().records().end());
      if (Status st = next.ApplyBatch(records); !st.ok()) {
        // The image and the log disagree: start over from the whole image, and apply nothing
        // to the partitions until back where we were.
        LogRateLimited(LogKind::kStorage,
                       absl::StrCat("metadata batch index=", b.index(), " does not apply error=\"",
                                    st.ToString(), "\"; fetching the whole image"));
        apply_from_ = std::max(apply_from_, applied_);
        applied_ = 0;
        image_ = controller::ClusterImage();
        published_ = false;
        co_return st;
      }
    }
  }
  // An intermediate state of a catch-up (the log from the start comes in parts) lacks the topics
  // created later: applying it would delete them. Only a state at or past apply_from_ is
  // applied; image_ moves on either way.
  const bool apply = r->up_to() >= apply_from_;
  if (apply) CO_RETURN_IF_ERROR(co_await partitions_.ApplyMetadata(next));
  image_ = std::move(next);
  applied_ = r->up_to();
  published_ = apply;
  Wake();
  co_return Status();
}

Task<void> MetadataFollower::FetchLoop() {
  while (!stopping_) {
    Status st = co_await FetchOnce(kFetchWait);
    if (!st.ok() && !stopping_) {
      LogRateLimited(LogKind::kStorage,
                     absl::StrCat("metadata fetch failed error=\"", st.ToString(), "\""));
      // The channel already retried up to its timeout; do not spin on a storage error either.
      co_await Pause(100'000'000);
    }
  }
  if (--loops_ == 0) loops_done_.notify_all();
}

Task<Status> MetadataFollower::Heartbeat(bool want_shut_down, bool* should_shut_down) {
  v1::BrokerHeartbeatRequest request;
  request.set_cluster_id(config_.cluster_id);
  request.set_broker_id(config_.node_id);
  request.set_broker_epoch(epoch_);
  request.set_current_metadata_offset(applied_);
  request.set_want_shut_down(want_shut_down);
  StatusOr<v1::BrokerHeartbeatResponse> r = co_await rpc_->BrokerHeartbeat(request, kRpcTimeout);
  CO_RETURN_IF_ERROR(r.status());
  CO_RETURN_IF_ERROR(ResponseStatus(r->error_code(), r->error_message()));
  if (fenced_ != r->is_fenced()) {
    LogInfo(absl::StrCat("node.id=", config_.node_id, r->is_fenced() ? " fenced" : " unfenced",
                         " broker_epoch=", epoch_));
  }
  fenced_ = r->is_fenced();
  if (should_shut_down != nullptr) *should_shut_down = r->should_shut_down();
  Wake();
  co_return Status();
}

Task<void> MetadataFollower::HeartbeatLoop() {
  const int64_t interval_ns =
      std::max<int64_t>(1, config_.broker_heartbeat_interval_ms) * 1'000'000;
  while (!stopping_ && !shut_down_) {
    auto done = [this] { return stopping_ || shut_down_; };
    co_await WaitFor(done, NowNs() + interval_ns);
    if (stopping_ || shut_down_) break;
    Status st = co_await Heartbeat(false, nullptr);
    const ErrorCode code = proto::ErrorFromStatus(st);
    if (code == ErrorCode::STALE_BROKER_EPOCH || code == ErrorCode::BROKER_ID_NOT_REGISTERED) {
      LogInfo(absl::StrCat("the controller does not know broker_epoch=", epoch_,
                           "; registering again"));
      Status reg = co_await Register(NowNs() + kRpcTimeout.count() * 1'000'000);
      if (!reg.ok()) LogInfo(absl::StrCat("registering again failed: ", reg.ToString()));
    } else if (!st.ok() && !stopping_) {
      LogRateLimited(LogKind::kStorage,
                     absl::StrCat("heartbeat failed error=\"", st.ToString(), "\""));
    }
  }
  if (--loops_ == 0) loops_done_.notify_all();
}

Task<Status> MetadataFollower::RegisterLegacyTopics() {
  std::vector<TopicInfo> legacy = partitions_.LegacyTopicsMissingFrom(image_);
  if (legacy.empty()) co_return Status();
  // Spool before the quorum ran single nodes only. Their topics are registered as this node's
  // only when it is the cluster's only broker (then placement puts every partition here); in a
  // cluster of several they stay local, unregistered and served here, and are never removed.
  if (image_.brokers().size() != 1 || image_.FindBroker(config_.node_id) == nullptr) {
    LogInfo(absl::StrCat(legacy.size(),
                         " topics from before the controller quorum are not "
                         "registered: the cluster has other brokers (broker/STATE.md)"));
    co_return Status();
  }
  for (TopicInfo& t : legacy) {
    LogInfo(absl::StrCat("registering topic=", t.name, " (from before the controller quorum)"));
    v1::CreateTopicsRequest request;
    v1::CreatableTopic* c = request.add_topics();
    c->set_name(t.name);
    c->set_num_partitions(t.num_partitions);
    c->set_replication_factor(1);
    for (const auto& [k, v] : t.overrides) (*c->mutable_configs())[k] = v;
    StatusOr<v1::CreateTopicsResponse> r = co_await rpc_->CreateTopics(request, kRpcTimeout);
    CO_RETURN_IF_ERROR(r.status());
    if (r->topics_size() == 1) {
      const v1::CreatableTopicResult& res = r->topics(0);
      if (res.error_code() != ErrorCode::NONE &&
          res.error_code() != ErrorCode::TOPIC_ALREADY_EXISTS) {
        co_return ResponseStatus(res.error_code(), absl::StrCat("registering topic ", t.name, ": ",
                                                                res.error_message()));
      }
    }
  }
  co_return Status();
}

Task<Status> MetadataFollower::Start() {
  const int64_t deadline =
      NowNs() + std::max<int64_t>(1, config_.broker_registration_timeout_ms) * 1'000'000;
  CO_RETURN_IF_ERROR(co_await Register(deadline));
  // Catch up to our own registration; only the state there is applied to the partitions.
  apply_from_ = epoch_;
  while (applied_ < epoch_) {
    if (NowNs() >= deadline) {
      co_return absl::DeadlineExceededError(absl::StrCat(
          "broker ", config_.node_id, " did not catch up with the metadata log to index ", epoch_,
          " (at ", applied_, ") within broker.registration.timeout.ms"));
    }
    const std::chrono::milliseconds short_wait(500);
    Status st = co_await FetchOnce(short_wait);
    if (!st.ok()) {
      LogRateLimited(LogKind::kStorage,
                     absl::StrCat("metadata fetch failed error=\"", st.ToString(), "\""));
      co_await Pause(100'000'000);
    }
  }
  ++loops_;  // counted here: a spawned task runs later, and Stop() may come first
  shards_.shard(0).reactor->spawn(FetchLoop());
  // Heartbeat (at once, then on the interval) until unfenced.
  while (fenced_) {
    if (NowNs() >= deadline) {
      co_return absl::DeadlineExceededError(absl::StrCat(
          "broker ", config_.node_id,
          " was not unfenced by the controller within broker.registration.timeout.ms"));
    }
    Status st = co_await Heartbeat(false, nullptr);
    if (!st.ok()) {
      LogInfo(absl::StrCat("heartbeat failed: ", st.ToString()));
      const ErrorCode code = proto::ErrorFromStatus(st);
      if (code == ErrorCode::STALE_BROKER_EPOCH || code == ErrorCode::BROKER_ID_NOT_REGISTERED) {
        CO_RETURN_IF_ERROR(co_await Register(deadline));
      }
    }
    if (fenced_) co_await Pause(50'000'000);
  }
  // The unfencing entry also elects this broker where it can lead: serve once it is applied.
  auto unfenced_here = [this] {
    const controller::BrokerRegistration* me = image_.FindBroker(config_.node_id);
    return published_ && me != nullptr && me->epoch == epoch_ && !me->fenced;
  };
  const bool seen = co_await WaitFor(unfenced_here, deadline);
  if (!seen) {
    co_return absl::DeadlineExceededError(
        absl::StrCat("broker ", config_.node_id,
                     " did not see its own unfencing in the metadata within "
                     "broker.registration.timeout.ms"));
  }
  ++loops_;
  shards_.shard(0).reactor->spawn(HeartbeatLoop());
  // Placement needs an unfenced broker: only now can topics from before the quorum go in.
  CO_RETURN_IF_ERROR(co_await RegisterLegacyTopics());
  LogInfo(absl::StrCat("node.id=", config_.node_id, " joined the cluster broker_epoch=", epoch_,
                       " metadata_index=", applied_));
  co_return Status();
}

MetadataFollower::ForwardBudget MetadataFollower::Budget(int32_t timeout_ms) const {
  const int64_t ms = timeout_ms > 0 ? timeout_ms : 30000;
  const int64_t now = NowNs();
  return ForwardBudget{std::chrono::milliseconds(ms),
                       std::min(now + ms * 1'000'000, now + kWaitForMetadata.count() * 1'000'000)};
}

namespace {

// Every item of a forwarded request gets the status of the call that failed as a whole.
template <typename Result>
void FailItem(Result* out, const std::string& name, const Status& st) {
  out->set_name(name);
  out->set_error_code(proto::ErrorFromStatus(st));
  out->set_error_message(std::string(st.message()));
}

}  // namespace

Task<v1::CreateTopicsResponse> MetadataFollower::CreateTopics(v1::CreateTopicsRequest request) {
  const ForwardBudget budget = Budget(request.timeout_ms());
  v1::CreateTopicsResponse response;
  StatusOr<v1::CreateTopicsResponse> r = co_await rpc_->CreateTopics(request, budget.timeout);
  if (!r.ok()) {
    for (const v1::CreatableTopic& t : request.topics()) {
      FailItem(response.add_topics(), t.name(), r.status());
    }
    co_return response;
  }
  response = *std::move(r);
  if (request.validate_only()) co_return response;
  // Wait until every topic created is published here.
  std::vector<std::pair<std::string, std::string>> made;
  for (const v1::CreatableTopicResult& t : response.topics()) {
    if (t.error_code() == ErrorCode::NONE) made.emplace_back(t.name(), t.topic_id());
  }
  // image_ moves only once ApplyMetadata has published a state on every shard.
  auto published = [this, &made] {
    if (!published_) return false;
    for (const auto& [name, id] : made) {
      const controller::TopicImage* t = image_.FindTopic(name);
      if (t == nullptr || t->id.ToBytes() != id) return false;
    }
    return true;
  };
  co_await WaitFor(published, budget.wait_until_ns);
  co_return response;
}

Task<v1::DeleteTopicsResponse> MetadataFollower::DeleteTopics(v1::DeleteTopicsRequest request) {
  const ForwardBudget budget = Budget(request.timeout_ms());
  v1::DeleteTopicsResponse response;
  StatusOr<v1::DeleteTopicsResponse> r = co_await rpc_->DeleteTopics(request, budget.timeout);
  if (!r.ok()) {
    for (const std::string& name : request.topic_names()) {
      FailItem(response.add_results(), name, r.status());
    }
    co_return response;
  }
  response = *std::move(r);
  std::vector<std::string> gone;
  for (const v1::DeletableTopicResult& t : response.results()) {
    if (t.error_code() == ErrorCode::NONE) gone.push_back(t.name());
  }
  auto removed = [this, &gone] {
    if (!published_) return false;
    for (const std::string& name : gone) {
      if (image_.FindTopic(name) != nullptr) return false;
    }
    return true;
  };
  co_await WaitFor(removed, budget.wait_until_ns);
  co_return response;
}

Task<StatusOr<v1::DescribeQuorumResponse>> MetadataFollower::DescribeQuorum() {
  v1::DescribeQuorumRequest request;
  request.set_cluster_id(config_.cluster_id);
  co_return co_await rpc_->DescribeQuorum(request, kRpcTimeout);
}

Task<StatusOr<v1::AllocateProducerIdsResponse>> MetadataFollower::AllocateProducerIds() {
  v1::AllocateProducerIdsRequest request;
  request.set_cluster_id(config_.cluster_id);
  request.set_broker_id(config_.node_id);
  request.set_broker_epoch(epoch_);
  co_return co_await rpc_->AllocateProducerIds(request, kRpcTimeout);
}

Task<StatusOr<v1::AlterPartitionResponse>> MetadataFollower::AlterPartition(
    v1::AlterPartitionRequest request) {
  request.set_cluster_id(config_.cluster_id);
  request.set_broker_id(config_.node_id);
  request.set_broker_epoch(epoch_);
  co_return co_await rpc_->AlterPartition(request, kRpcTimeout);
}

Task<Status> MetadataFollower::CreateTopic(CreateTopicSpec spec) {
  v1::CreateTopicsRequest request;
  v1::CreatableTopic* t = request.add_topics();
  t->set_name(spec.name);
  t->set_num_partitions(spec.num_partitions);
  t->set_replication_factor(spec.replication_factor);
  for (const auto& [k, v] : spec.configs) (*t->mutable_configs())[k] = v;
  v1::CreateTopicsResponse r = co_await CreateTopics(std::move(request));
  if (r.topics_size() != 1) co_return absl::InternalError("CreateTopics answered no topic");
  const v1::CreatableTopicResult& res = r.topics(0);
  if (res.error_code() == ErrorCode::TOPIC_ALREADY_EXISTS) {
    // Made by someone else: wait until it is published here too.
    const std::string name = spec.name;
    auto there = [this, &name] { return published_ && image_.FindTopic(name) != nullptr; };
    co_await WaitFor(there, NowNs() + kWaitForMetadata.count() * 1'000'000);
  }
  Status st = ResponseStatus(res.error_code(), res.error_message());
  if (st.ok() && partitions_.FindTopic(spec.name) == nullptr) {
    co_return absl::UnavailableError(
        absl::StrCat("topic ", spec.name, " was created but is not in this broker's metadata yet"));
  }
  co_return st;
}

Task<void> MetadataFollower::ControlledShutdown(std::chrono::milliseconds timeout) {
  if (shut_down_ || epoch_ < 0) co_return;
  shut_down_ = true;
  Wake();
  const int64_t deadline = NowNs() + timeout.count() * 1'000'000;
  while (!stopping_ && NowNs() < deadline) {
    bool done = false;
    Status st = co_await Heartbeat(true, &done);
    if (done) {
      LogInfo(absl::StrCat("controlled shutdown of node.id=", config_.node_id, " done"));
      co_return;
    }
    if (!st.ok()) {
      LogInfo(absl::StrCat("controlled shutdown heartbeat failed: ", st.ToString()));
      const ErrorCode code = proto::ErrorFromStatus(st);
      if (code == ErrorCode::STALE_BROKER_EPOCH || code == ErrorCode::BROKER_ID_NOT_REGISTERED) {
        co_return;  // nothing of ours to move
      }
    }
    co_await Pause(50'000'000);
  }
  LogInfo(absl::StrCat("controlled shutdown of node.id=", config_.node_id,
                       " did not finish in time; stopping anyway"));
}

Task<void> MetadataFollower::Stop() {
  if (stopping_) co_return;
  stopping_ = true;
  Wake();
  co_await fetch_->Close();
  co_await rpc_->Close();
}

Task<void> MetadataFollower::WaitStopped() {
  while (loops_ > 0) co_await loops_done_.wait();
}

}  // namespace spool::broker
