#include "tests/support/broker_test_util.h"

#include <cstring>
#include <thread>

#include "broker/partition_manager.h"
#include "log/record/batch_builder.h"
#include "log/record/batch_header.h"
#include "proto/frame_encoder.h"

namespace spool::testing {

namespace {

proto::Frame ToFrame(const proto::OutgoingFrame& out) {
  std::vector<std::byte> flat = out.Flatten();
  std::shared_ptr<std::byte[]> owner(new std::byte[flat.size()]);
  std::memcpy(owner.get(), flat.data(), flat.size());
  return proto::Frame(out.header(), std::span<const std::byte>(owner.get(), flat.size()),
                      std::shared_ptr<const std::byte[]>(owner));
}

}  // namespace

proto::Frame MakeFrame(int16_t api_key, const google::protobuf::MessageLite& body,
                       std::span<const std::byte> payload, int16_t api_version,
                       int32_t correlation_id) {
  proto::FrameHeader h;
  h.api_key = api_key;
  h.api_version = api_version;
  h.correlation_id = correlation_id;
  std::vector<std::span<const std::byte>> spans;
  if (!payload.empty()) spans.push_back(payload);
  StatusOr<proto::OutgoingFrame> out = proto::EncodeFrame(h, body, spans);
  EXPECT_TRUE(out.ok()) << out.status();
  return ToFrame(*out);
}

proto::Frame MakeRawFrame(int16_t api_key, std::span<const std::byte> body,
                          std::span<const std::byte> payload, int16_t api_version) {
  proto::FrameHeader h;
  h.api_key = api_key;
  h.api_version = api_version;
  h.correlation_id = 7;
  h.body_size = static_cast<uint32_t>(body.size());
  h.frame_size = static_cast<uint32_t>(proto::kFrameHeaderSize + body.size() + payload.size());
  std::shared_ptr<std::byte[]> owner(new std::byte[h.frame_size]);
  proto::EncodeFrameHeader(
      h, std::span<std::byte, proto::kFrameHeaderSize>(owner.get(), proto::kFrameHeaderSize));
  if (!body.empty()) std::memcpy(owner.get() + proto::kFrameHeaderSize, body.data(), body.size());
  if (!payload.empty()) {
    std::memcpy(owner.get() + proto::kFrameHeaderSize + body.size(), payload.data(),
                payload.size());
  }
  return proto::Frame(h, std::span<const std::byte>(owner.get(), h.frame_size),
                      std::shared_ptr<const std::byte[]>(owner));
}

Reply Decode(const broker::Response& response) {
  std::vector<std::byte> flat = response.frame.Flatten();
  Reply r;
  StatusOr<proto::FrameHeader> h =
      proto::DecodeFrameHeader(flat, proto::FrameLimits{std::numeric_limits<uint32_t>::max(),
                                                        std::numeric_limits<uint32_t>::max()});
  EXPECT_TRUE(h.ok()) << h.status();
  if (!h.ok()) return r;
  r.header = *h;
  EXPECT_EQ(flat.size(), h->frame_size);
  auto body_begin = flat.begin() + proto::kFrameHeaderSize;
  r.body.assign(body_begin, body_begin + h->body_size);
  r.payload.assign(body_begin + h->body_size, flat.end());
  return r;
}

std::vector<std::byte> MakeBatch(int records, int64_t timestamp_ms, const std::string& value) {
  record::BatchBuilder builder;
  for (int i = 0; i < records; i++) {
    builder.Append(timestamp_ms + i, "key-" + std::to_string(i),
                   value.empty() ? "value-" + std::to_string(i) : value);
  }
  StatusOr<std::vector<std::byte>> sealed = builder.Seal();
  EXPECT_TRUE(sealed.ok()) << sealed.status();
  return sealed.ok() ? *std::move(sealed) : std::vector<std::byte>();
}

std::vector<std::byte> Stamped(std::vector<std::byte> batch, int64_t base_offset,
                               int32_t leader_epoch) {
  record::StampBaseOffset(batch, base_offset);
  record::StampLeaderEpoch(batch, leader_epoch);
  return batch;
}

BrokerHarness::BrokerHarness(BrokerOptions options) : options_(std::move(options)) {
  config_.data_dir = tmp_.file("data");
  config_.listen = io::HostPort{"127.0.0.1", 9192};
  if (options_.tweak) options_.tweak(config_);
  io::ReactorOptions ro;
  ro.backend = RequestedBackend();
  auto set = broker::ShardSet::Start(options_.shards, ro);
  if (!set.ok()) {
    ADD_FAILURE() << set.status();
    std::abort();
  }
  shards_ = *std::move(set);
  if (options_.fault_fs) {
    faults_.resize(static_cast<size_t>(options_.shards));
    for (int i = 0; i < options_.shards; i++) {
      Do(i, [this, i] {
        broker::Shard& s = shards_->shard(i);
        faults_[static_cast<size_t>(i)] = std::make_unique<FaultFileSystem>(
            *s.reactor, *s.fs, tmp_.file("scratch-" + std::to_string(i)));
      });
    }
  }
}

BrokerHarness::~BrokerHarness() {
  if (broker_ != nullptr) {
    Status st = Close();
    EXPECT_TRUE(st.ok()) << st;
  }
  for (int i = 0; i < static_cast<int>(faults_.size()); i++) {
    Do(i, [this, i] { faults_[static_cast<size_t>(i)].reset(); });
  }
  shards_.reset();
}

void BrokerHarness::Post(int shard, absl::AnyInvocable<Task<void>()> fn) {
  io::Reactor* reactor = shards_->shard(shard).reactor;
  shards_->post(shard, [reactor, fn = std::move(fn)]() mutable {
    reactor->spawn(
        [](absl::AnyInvocable<Task<void>()> f) -> Task<void> { co_await f(); }(std::move(fn)));
  });
}

void BrokerHarness::RunVoid(int shard, absl::AnyInvocable<Task<void>()> fn,
                            std::chrono::milliseconds deadline) {
  std::promise<void> done;
  std::future<void> result = done.get_future();
  Post(shard, [fn = std::move(fn), &done]() mutable -> Task<void> {
    co_await fn();
    done.set_value();
  });
  Wait(std::move(result), deadline);
}

void BrokerHarness::Do(int shard, absl::AnyInvocable<void()> fn) {
  std::promise<void> done;
  std::future<void> result = done.get_future();
  shards_->post(shard, [&fn, &done] {
    fn();
    done.set_value();
  });
  Wait(std::move(result), std::chrono::seconds(60));
}

Status BrokerHarness::Open() {
  broker::StorageOptions storage;
  if (options_.fault_fs) {
    storage.file_system = [this](int shard) -> io::FileSystem* {
      return faults_[static_cast<size_t>(shard)].get();
    };
  }
  StatusOr<std::unique_ptr<broker::Broker>> opened = Run<StatusOr<std::unique_ptr<broker::Broker>>>(
      0, [this, storage]() -> Task<StatusOr<std::unique_ptr<broker::Broker>>> {
        co_return co_await broker::OpenBroker(*shards_, config_, clock_, storage);
      });
  if (!opened.ok()) return opened.status();
  broker_ = *std::move(opened);
  return Status();
}

Status BrokerHarness::Close() {
  if (broker_ == nullptr) return Status();
  Status st = Run<Status>(0, [this]() -> Task<Status> { co_return co_await broker_->Close(); });
  broker_.reset();
  return st;
}

void BrokerHarness::Kill() {
  broker_.reset();
}

void BrokerHarness::PowerCut() {
  for (int i = 0; i < static_cast<int>(faults_.size()); i++) {
    Status st = Run<Status>(i, [this, i]() -> Task<Status> {
      co_return co_await faults_[static_cast<size_t>(i)]->SimulatePowerCut();
    });
    EXPECT_TRUE(st.ok()) << st;
  }
}

std::optional<Reply> BrokerHarness::Call(proto::Frame request, int shard) {
  std::vector<proto::Frame> one;
  one.push_back(std::move(request));
  return std::move(CallPipelined(std::move(one), shard)[0]);
}

std::vector<std::optional<Reply>> BrokerHarness::CallPipelined(std::vector<proto::Frame> requests,
                                                               int shard) {
  const size_t n = requests.size();
  auto replies = std::make_shared<std::vector<std::optional<Reply>>>(n);
  RunVoid(shard, [this, shard, replies, requests = std::move(requests)]() mutable -> Task<void> {
    struct Left {
      size_t n;
    };
    auto left = std::make_shared<Left>(Left{requests.size()});
    auto all_done = std::make_shared<io::Event>(*shards_->shard(shard).reactor);
    for (size_t i = 0; i < requests.size(); i++) {
      shards_->shard(shard).reactor->spawn([](broker::Broker* b, int s, proto::Frame f,
                                              std::optional<Reply>* out, std::shared_ptr<Left> l,
                                              std::shared_ptr<io::Event> done) -> Task<void> {
        broker::RequestContext ctx;
        ctx.shard = s;
        ctx.connection_id = 1;
        std::optional<broker::Response> r = co_await b->handler().Handle(ctx, std::move(f));
        if (r.has_value()) *out = Decode(*r);
        if (--l->n == 0) done->set();
      }(broker_.get(), shard, std::move(requests[i]), &(*replies)[i], left, all_done));
    }
    co_await all_done->wait();
  });
  return std::move(*replies);
}

v1::CreateTopicsResponse BrokerHarness::CreateTopic(const std::string& name, int32_t partitions,
                                                    std::map<std::string, std::string> configs) {
  v1::CreateTopicsRequest req;
  v1::CreatableTopic* t = req.add_topics();
  t->set_name(name);
  t->set_num_partitions(partitions);
  for (const auto& [k, v] : configs) (*t->mutable_configs())[k] = v;
  std::optional<Reply> r = Call(MakeFrame(v1::API_KEY_CREATE_TOPICS, req));
  EXPECT_TRUE(r.has_value() && !r->is_error());
  return r.has_value() ? r->As<v1::CreateTopicsResponse>() : v1::CreateTopicsResponse();
}

v1::DeleteTopicsResponse BrokerHarness::DeleteTopic(const std::string& name) {
  v1::DeleteTopicsRequest req;
  req.add_topic_names(name);
  std::optional<Reply> r = Call(MakeFrame(v1::API_KEY_DELETE_TOPICS, req));
  EXPECT_TRUE(r.has_value() && !r->is_error());
  return r.has_value() ? r->As<v1::DeleteTopicsResponse>() : v1::DeleteTopicsResponse();
}

v1::MetadataResponse BrokerHarness::Metadata(std::vector<std::string> topics, bool all,
                                             bool auto_create) {
  v1::MetadataRequest req;
  for (const auto& t : topics) req.add_topics(t);
  req.set_all_topics(all);
  req.set_allow_auto_topic_creation(auto_create);
  std::optional<Reply> r = Call(MakeFrame(v1::API_KEY_METADATA, req));
  EXPECT_TRUE(r.has_value() && !r->is_error());
  return r.has_value() ? r->As<v1::MetadataResponse>() : v1::MetadataResponse();
}

std::optional<v1::PartitionProduceResponse> BrokerHarness::Produce(
    const std::string& topic, int32_t partition, std::span<const std::byte> batches, int acks,
    int32_t timeout_ms, int shard) {
  v1::ProduceRequest req;
  req.set_acks(acks);
  req.set_timeout_ms(timeout_ms);
  v1::TopicProduceData* t = req.add_topics();
  t->set_name(topic);
  v1::PartitionProduceData* p = t->add_partitions();
  p->set_partition(partition);
  p->set_payload_bytes(static_cast<uint32_t>(batches.size()));
  std::optional<Reply> r = Call(MakeFrame(v1::API_KEY_PRODUCE, req, batches), shard);
  if (!r.has_value()) return std::nullopt;
  EXPECT_FALSE(r->is_error());
  v1::ProduceResponse resp = r->As<v1::ProduceResponse>();
  EXPECT_EQ(resp.topics_size(), 1);
  if (resp.topics_size() != 1 || resp.topics(0).partitions_size() != 1) {
    return v1::PartitionProduceResponse();
  }
  return resp.topics(0).partitions(0);
}

BrokerHarness::FetchResult BrokerHarness::Fetch(const std::string& topic, int32_t partition,
                                                int64_t offset, int32_t max_wait_ms,
                                                int32_t min_bytes, int32_t partition_max_bytes,
                                                int shard) {
  v1::FetchRequest req;
  req.set_replica_id(-1);
  req.set_max_wait_ms(max_wait_ms);
  req.set_min_bytes(min_bytes);
  req.set_max_bytes(64 << 20);
  v1::FetchTopic* t = req.add_topics();
  t->set_name(topic);
  v1::FetchPartition* p = t->add_partitions();
  p->set_partition(partition);
  p->set_fetch_offset(offset);
  p->set_partition_max_bytes(partition_max_bytes);
  p->set_current_leader_epoch(-1);
  FetchResult out;
  std::optional<Reply> r = Call(MakeFrame(v1::API_KEY_FETCH, req), shard);
  EXPECT_TRUE(r.has_value() && !r->is_error());
  if (!r.has_value()) return out;
  v1::FetchResponse resp = r->As<v1::FetchResponse>();
  if (resp.topics_size() != 1 || resp.topics(0).partitions_size() != 1) {
    ADD_FAILURE() << "fetch response shape: " << resp.DebugString();
    return out;
  }
  out.partition = resp.topics(0).partitions(0);
  EXPECT_EQ(out.partition.payload_bytes(), r->payload.size());
  out.bytes = r->payload;
  return out;
}

void BrokerHarness::WaitFetchParked(const std::string& topic, int32_t partition, size_t count) {
  const int shard = broker::PartitionShard(topic, partition, shards_->size());
  broker::PartitionManager& pm = broker::PartitionsOf(*broker_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (true) {
    size_t parked = 0;
    Do(shard, [&] {
      std::shared_ptr<broker::Partition> p = pm.LocalPartition(topic, partition);
      if (p == nullptr) return;
      parked = p->fetch_waiters();
    });
    if (parked >= count) return;
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "no fetch parked on " << topic << "-" << partition;
      return;
    }
    std::this_thread::yield();
  }
}

v1::ListOffsetsPartitionResponse BrokerHarness::ListOffset(const std::string& topic,
                                                           int32_t partition, v1::OffsetSpec spec,
                                                           int64_t timestamp_ms) {
  v1::ListOffsetsRequest req;
  req.set_replica_id(-1);
  v1::ListOffsetsTopic* t = req.add_topics();
  t->set_name(topic);
  v1::ListOffsetsPartition* p = t->add_partitions();
  p->set_partition(partition);
  p->set_current_leader_epoch(-1);
  p->set_spec(spec);
  p->set_timestamp_ms(timestamp_ms);
  std::optional<Reply> r = Call(MakeFrame(v1::API_KEY_LIST_OFFSETS, req));
  EXPECT_TRUE(r.has_value() && !r->is_error());
  if (!r.has_value()) return {};
  v1::ListOffsetsResponse resp = r->As<v1::ListOffsetsResponse>();
  if (resp.topics_size() != 1 || resp.topics(0).partitions_size() != 1) return {};
  return resp.topics(0).partitions(0);
}

}  // namespace spool::testing
