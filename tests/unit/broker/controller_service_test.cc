// The controller RPCs on the wire (broker/controller_service.h, broker/controller_channel.h):
// voters each on their own 1-shard ShardSet with a QuorumController, a TcpTransport and a
// broker::Server on 127.0.0.1 serving MakeControllerService; a ControllerChannel on a reactor
// of its own. One voter: registration, heartbeats until unfenced, topics (ids, repeats,
// deletes), producer ids, FetchMetadata rebuilding the committed image, the long poll (waits
// when nothing is new, returns with the batch when something commits), wrong cluster ids, and
// bad requests that are answered while the listener keeps serving. Three voters: a channel
// pointed at a follower reaches the leader, a follower names the leader in NOT_CONTROLLER,
// DescribeQuorum from the leader, and calls that succeed at the new leader after the active
// controller stops.
//
// Every wait has a deadline: the test thread waits on a future or polls a condition until a
// deadline; nothing sleeps to let something happen.
#include "broker/controller_service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/str_cat.h"
#include "broker/controller_channel.h"
#include "broker/server.h"
#include "broker/shard.h"
#include "client/connection.h"
#include "proto/body.h"
#include "proto/errors.h"
#include "proto/frame.h"
#include "replication/controller/metadata_image.h"
#include "replication/controller/quorum_controller.h"
#include "replication/raft/tcp_transport.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_env.h"
#include "tests/unit/replication/driver_test_util.h"

namespace spool::broker {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

using controller::ClusterImage;
using controller::QuorumController;
using raft::test::CallOn;
using raft::test::DoOn;
using raft::test::Host;
using raft::test::kCallTimeout;
using raft::test::kElection;
using raft::test::kElectionNs;
using raft::test::PollUntil;

constexpr char kClusterId[] = "ctl-rpc-test";
constexpr milliseconds kRpcTimeout{10'000};

// ---- voters with controller listeners ----

class CtlQuorum {
 public:
  explicit CtlQuorum(int n) : seed_(testing::TestSeed()) {
    for (int i = 1; i <= n; ++i) {
      auto v = std::make_unique<Voter>();
      v->id = raft::NodeId{static_cast<uint32_t>(i)};
      v->dir = dir_.file(absl::StrCat("node", i));
      auto shards = ShardSet::Start(1, io::ReactorOptions{.backend = testing::RequestedBackend()});
      EXPECT_TRUE(shards.ok()) << shards.status();
      if (!shards.ok()) return;
      v->shards = *std::move(shards);
      ids_.push_back(v->id);
      voters_[i] = std::move(v);
    }
    for (auto& [i, v] : voters_) {
      ServerOptions o;
      o.listen = io::HostPort{"127.0.0.1", 0};
      auto server = Server::Bind(*v->shards, o);
      EXPECT_TRUE(server.ok()) << server.status();
      if (!server.ok()) return;
      v->server = *std::move(server);
      v->address = v->server->address();
      quorum_.push_back(raft::QuorumVoter{v->id, v->address});
    }
    for (auto& [i, v] : voters_) EXPECT_TRUE(Start(i).ok());
  }
  ~CtlQuorum() {
    for (auto& [i, v] : voters_) {
      if (v->controller != nullptr) PermitUncheckedError(Stop(i));
    }
  }

  io::Reactor& reactor(int i) { return *voters_.at(i)->shards->shard(0).reactor; }
  const io::HostPort& address(int i) { return voters_.at(i)->address; }
  const std::vector<raft::QuorumVoter>& voters() const { return quorum_; }
  std::vector<int> Running() {
    std::vector<int> out;
    for (auto& [i, v] : voters_) {
      if (v->controller != nullptr) out.push_back(i);
    }
    return out;
  }

  // Stops voter i: its listener, then its controller, then its transport.
  Status Stop(int i) {
    Voter& v = *voters_.at(i);
    std::optional<Status> st = CallOn<Status>(reactor(i), [&v]() -> Task<Status> {
      co_await v.server->Stop();
      Status s = co_await v.controller->Stop();
      co_await v.transport->Stop();
      v.controller.reset();
      v.transport.reset();
      co_return s;
    });
    if (!st.has_value()) return absl::DeadlineExceededError("stop timed out");
    v.server.reset();
    v.handler.reset();
    return *st;
  }

  controller::QuorumStatus StatusOf(int i) {
    Voter& v = *voters_.at(i);
    if (v.controller == nullptr) return {};
    QuorumController* c = v.controller.get();
    return DoOn(reactor(i), [c] { return c->status(); }).value_or(controller::QuorumStatus{});
  }
  // Requests voter i's listener has read and not answered yet.
  uint64_t RequestsInFlight(int i) {
    const ServerCounters c = voters_.at(i)->server->counters();
    return c.requests - c.responses;
  }
  void EndLongPolls(int i) {
    QuorumController* c = voters_.at(i)->controller.get();
    EXPECT_TRUE(DoOn(reactor(i), [c] {
                  c->EndLongPolls();
                  return true;
                }).has_value());
  }
  std::pair<int64_t, ClusterImage> Committed(int i) {
    QuorumController* c = voters_.at(i)->controller.get();
    using P = std::pair<int64_t, ClusterImage>;
    return DoOn(reactor(i), [c] { return P(c->committed_index(), c->committed_image()); })
        .value_or(P(-1, ClusterImage{}));
  }

  // Waits until exactly one running voter is the active controller; 0 if none in time.
  int WaitForActive(milliseconds timeout) {
    int active = 0;
    PollUntil(
        [&] {
          active = 0;
          for (int i : Running()) {
            if (StatusOf(i).active) {
              if (active != 0) return false;
              active = i;
            }
          }
          return active != 0;
        },
        timeout);
    return active;
  }

 private:
  struct Voter {
    raft::NodeId id;
    std::string dir;
    std::unique_ptr<ShardSet> shards;  // declared first: destroyed last
    std::unique_ptr<Server> server;
    io::HostPort address;
    std::unique_ptr<raft::TcpTransport> transport;
    std::unique_ptr<QuorumController> controller;
    std::unique_ptr<RequestHandler> handler;
  };

  Status Start(int i) {
    Voter& v = *voters_.at(i);
    controller::QuorumControllerOptions o;
    o.driver.raft.id = v.id;
    o.driver.raft.voters = ids_;
    o.driver.raft.election_timeout_ns = kElectionNs;
    o.driver.raft.heartbeat_interval_ns = kElectionNs / 5;
    o.driver.dir = v.dir;
    o.driver.cluster_id = kClusterId;
    o.driver.seed = seed_ + v.id.value() * 1000;
    o.config.default_replication_factor = 1;
    o.seed = seed_ * 7 + v.id.value();
    raft::TcpTransportOptions t;
    t.self = v.id;
    t.voters = quorum_;
    t.cluster_id = kClusterId;
    t.backoff_initial = milliseconds(10);
    t.backoff_max = milliseconds(100);
    ShardSet* shards = v.shards.get();
    std::optional<Status> st = CallOn<Status>(reactor(i), [&v, shards, o, t]() -> Task<Status> {
      io::Reactor& r = *shards->shard(0).reactor;
      StatusOr<std::unique_ptr<raft::TcpTransport>> transport = raft::TcpTransport::Create(r, t);
      if (!transport.ok()) co_return transport.status();
      v.transport = *std::move(transport);
      controller::QuorumControllerOptions opts = o;
      StatusOr<std::unique_ptr<QuorumController>> c =
          co_await QuorumController::Start(r, *shards->shard(0).fs, std::move(opts), *v.transport);
      if (!c.ok()) {
        co_await v.transport->Stop();
        v.transport.reset();
        co_return c.status();
      }
      v.controller = *std::move(c);
      v.handler = MakeControllerService(*shards, 0, *v.controller, kClusterId);
      co_return absl::OkStatus();
    });
    if (!st.has_value()) return absl::DeadlineExceededError("start timed out");
    if (st->ok()) v.server->Serve(*v.handler);
    return *st;
  }

  const uint64_t seed_;
  testing::TempDir dir_;
  std::vector<raft::NodeId> ids_;
  std::vector<raft::QuorumVoter> quorum_;
  std::map<int, std::unique_ptr<Voter>> voters_;
};

// ---- a ControllerChannel on the client's reactor ----

class Channel {
 public:
  Channel(Host& host, std::vector<raft::QuorumVoter> voters, std::string cluster_id = kClusterId)
      : host_(host) {
    ControllerChannelOptions o;
    o.cluster_id = std::move(cluster_id);
    o.voters = std::move(voters);
    o.retry_backoff = milliseconds(20);
    channel_ = *host_.Do([&] { return ControllerChannel::Create(host_.reactor(), o); });
  }
  ~Channel() {
    ControllerChannel* c = channel_.get();
    EXPECT_TRUE(host_
                    .Call<bool>([c]() -> Task<bool> {
                      co_await c->Close();
                      co_return true;
                    })
                    .has_value());
    host_.Do([this] {
      channel_.reset();
      return true;
    });
  }
  ControllerChannel* operator->() { return channel_.get(); }

  // Runs `fn(channel)` on the client reactor and waits for it (a little past the RPC timeout).
  template <typename T>
  T Run(std::function<Task<T>(ControllerChannel*)> fn, milliseconds wait = kRpcTimeout * 2) {
    std::future<T> f = Spawn<T>(std::move(fn));
    if (f.wait_for(wait) != std::future_status::ready) {
      ADD_FAILURE() << "a channel call did not return";
      std::abort();  // the call still uses stack objects of the test
    }
    return f.get();
  }
  template <typename T>
  std::future<T> Spawn(std::function<Task<T>(ControllerChannel*)> fn) {
    ControllerChannel* c = channel_.get();
    return host_.Spawn<T>([c, fn]() { return fn(c); });
  }

 private:
  Host& host_;
  std::unique_ptr<ControllerChannel> channel_;
};

v1::BrokerRegistrationRequest Registration(int32_t id) {
  v1::BrokerRegistrationRequest r;
  r.set_broker_id(id);
  r.set_incarnation_id(std::string(16, static_cast<char>('a' + id)));
  v1::BrokerEndpoint* e = r.add_endpoints();
  e->set_listener_name("PLAINTEXT");
  e->set_host("127.0.0.1");
  e->set_port(9000 + id);
  r.set_rack(absl::StrCat("rack", id % 2));
  return r;
}

StatusOr<v1::FetchMetadataResponse> Fetch(Channel& ch, int64_t from, int32_t max_wait_ms = 0) {
  v1::FetchMetadataRequest r;
  r.set_from_index(from);
  r.set_max_wait_ms(max_wait_ms);
  return ch.Run<StatusOr<v1::FetchMetadataResponse>>(
      [r](ControllerChannel* c) { return c->FetchMetadata(r, kRpcTimeout); });
}

// Registers broker `id` and heartbeats (with the metadata offset FetchMetadata reports) until it
// is unfenced. Returns its epoch, or -1 after a test failure.
int64_t RegisterAndUnfence(Channel& ch, int32_t id) {
  v1::BrokerRegistrationRequest reg = Registration(id);
  StatusOr<v1::BrokerRegistrationResponse> r = ch.Run<StatusOr<v1::BrokerRegistrationResponse>>(
      [reg](ControllerChannel* c) { return c->BrokerRegistration(reg, kRpcTimeout); });
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return -1;
  EXPECT_EQ(r->error_code(), 0) << r->error_message();
  EXPECT_GT(r->broker_epoch(), 0);
  const int64_t epoch = r->broker_epoch();
  int64_t applied = 0;
  for (int attempt = 0; attempt < 50; ++attempt) {
    // A long poll, so a lagging voter is waited for rather than polled.
    StatusOr<v1::FetchMetadataResponse> f = Fetch(ch, applied, applied < epoch ? 500 : 0);
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok()) return -1;
    applied = f->up_to();
    v1::BrokerHeartbeatRequest hb;
    hb.set_broker_id(id);
    hb.set_broker_epoch(epoch);
    hb.set_current_metadata_offset(applied);
    StatusOr<v1::BrokerHeartbeatResponse> h = ch.Run<StatusOr<v1::BrokerHeartbeatResponse>>(
        [hb](ControllerChannel* c) { return c->BrokerHeartbeat(hb, kRpcTimeout); });
    EXPECT_TRUE(h.ok()) << h.status();
    if (!h.ok()) return -1;
    EXPECT_EQ(h->error_code(), 0) << h->error_message();
    if (!h->is_fenced()) return epoch;
  }
  ADD_FAILURE() << "broker " << id << " never unfenced";
  return -1;
}

StatusOr<v1::CreateTopicsResponse> CreateTopic(Channel& ch, const std::string& name,
                                               int32_t partitions) {
  v1::CreateTopicsRequest r;
  v1::CreatableTopic* t = r.add_topics();
  t->set_name(name);
  t->set_num_partitions(partitions);
  (*t->mutable_configs())["retention.ms"] = "60000";
  return ch.Run<StatusOr<v1::CreateTopicsResponse>>(
      [r](ControllerChannel* c) { return c->CreateTopics(r, kRpcTimeout); });
}

// Applies a FetchMetadata answer to `image`.
void ApplyAnswer(const v1::FetchMetadataResponse& f, ClusterImage* image) {
  if (f.has_image()) {
    StatusOr<ClusterImage> restored = ClusterImage::FromProto(f.image());
    ASSERT_TRUE(restored.ok()) << restored.status();
    *image = *std::move(restored);
  }
  for (const v1::MetadataLogBatch& b : f.batches()) {
    std::vector<v1::MetadataRecord> records(b.batch().records().begin(), b.batch().records().end());
    Status st = image->ApplyBatch(records);
    ASSERT_TRUE(st.ok()) << "batch " << b.index() << ": " << st;
  }
}

bool HasTopicRecord(const v1::FetchMetadataResponse& f, const std::string& name) {
  for (const v1::MetadataLogBatch& b : f.batches()) {
    for (const v1::MetadataRecord& rec : b.batch().records()) {
      if (rec.has_topic() && rec.topic().name() == name) return true;
    }
  }
  return false;
}

// ---- one voter ----

TEST(ControllerService, SingleVoterBrokersTopicsAndMetadata) {
  CtlQuorum q(1);
  ASSERT_EQ(q.WaitForActive(40 * kElection), 1);
  Host client;
  Channel ch(client, q.voters());

  const int64_t epoch = RegisterAndUnfence(ch, 1);
  ASSERT_GT(epoch, 0);

  StatusOr<v1::CreateTopicsResponse> created = CreateTopic(ch, "orders", 3);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(created->topics_size(), 1);
  const v1::CreatableTopicResult& t = created->topics(0);
  EXPECT_EQ(t.error_code(), v1::NONE) << t.error_message();
  EXPECT_EQ(t.name(), "orders");
  EXPECT_EQ(t.num_partitions(), 3);
  EXPECT_EQ(t.replication_factor(), 1);
  ASSERT_EQ(t.topic_id().size(), 16u);
  EXPECT_TRUE(controller::TopicId::FromBytes(t.topic_id()).has_value());
  EXPECT_EQ(t.configs().at("retention.ms"), "60000");

  StatusOr<v1::CreateTopicsResponse> again = CreateTopic(ch, "orders", 3);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->topics_size(), 1);
  EXPECT_EQ(again->topics(0).error_code(), v1::TOPIC_ALREADY_EXISTS);
  EXPECT_TRUE(again->topics(0).topic_id().empty());

  ASSERT_TRUE(CreateTopic(ch, "doomed", 1).ok());
  v1::DeleteTopicsRequest del;
  del.add_topic_names("doomed");
  del.add_topic_names("never-was");
  StatusOr<v1::DeleteTopicsResponse> deleted = ch.Run<StatusOr<v1::DeleteTopicsResponse>>(
      [del](ControllerChannel* c) { return c->DeleteTopics(del, kRpcTimeout); });
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  ASSERT_EQ(deleted->results_size(), 2);
  EXPECT_EQ(deleted->results(0).name(), "doomed");
  EXPECT_EQ(deleted->results(0).error_code(), v1::NONE);
  EXPECT_EQ(deleted->results(1).error_code(), v1::UNKNOWN_TOPIC_OR_PARTITION);

  v1::AllocateProducerIdsRequest pid;
  pid.set_broker_id(1);
  pid.set_broker_epoch(epoch);
  auto ids = ch.Run<StatusOr<v1::AllocateProducerIdsResponse>>(
      [pid](ControllerChannel* c) { return c->AllocateProducerIds(pid, kRpcTimeout); });
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->error_code(), 0);
  EXPECT_GE(ids->producer_id_start(), 0);
  EXPECT_GT(ids->producer_id_len(), 0);

  // AlterPartition: an ISR equal to the current one is answered with the partition's state; a
  // stale partition epoch is refused.
  v1::AlterPartitionRequest alter;
  alter.set_broker_id(1);
  alter.set_broker_epoch(epoch);
  alter.set_topic_id(t.topic_id());
  alter.set_partition(0);
  alter.set_leader_epoch(0);
  alter.set_partition_epoch(0);
  alter.add_new_isr(1);
  auto altered = ch.Run<StatusOr<v1::AlterPartitionResponse>>(
      [alter](ControllerChannel* c) { return c->AlterPartition(alter, kRpcTimeout); });
  ASSERT_TRUE(altered.ok()) << altered.status();
  EXPECT_EQ(altered->error_code(), 0) << altered->error_message();
  EXPECT_EQ(altered->partition().leader(), 1);
  EXPECT_EQ(altered->partition().topic_id(), t.topic_id());
  alter.set_partition_epoch(7);
  auto stale = ch.Run<StatusOr<v1::AlterPartitionResponse>>(
      [alter](ControllerChannel* c) { return c->AlterPartition(alter, kRpcTimeout); });
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_EQ(stale->error_code(), v1::INVALID_UPDATE_VERSION);

  // FetchMetadata from 0 rebuilds exactly the committed image.
  StatusOr<v1::FetchMetadataResponse> all = Fetch(ch, 0);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_FALSE(all->has_image());
  EXPECT_GT(all->batches_size(), 0);
  ClusterImage image;
  ApplyAnswer(*all, &image);
  const auto [index, committed] = q.Committed(1);
  EXPECT_EQ(all->up_to(), index);
  EXPECT_TRUE(image == committed);
  EXPECT_NE(image.FindTopic("orders"), nullptr);
  EXPECT_EQ(image.FindTopic("doomed"), nullptr);
  ASSERT_NE(image.FindBroker(1), nullptr);
  EXPECT_FALSE(image.FindBroker(1)->fenced);
  // From the last index: nothing new.
  StatusOr<v1::FetchMetadataResponse> none = Fetch(ch, all->up_to());
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->batches_size(), 0);
  EXPECT_EQ(none->up_to(), all->up_to());
}

TEST(ControllerService, FetchMetadataLongPoll) {
  CtlQuorum q(1);
  ASSERT_EQ(q.WaitForActive(40 * kElection), 1);
  Host client;
  Channel ch(client, q.voters());
  Channel poller(client, q.voters());  // long polls get a channel of their own
  ASSERT_GT(RegisterAndUnfence(ch, 1), 0);
  StatusOr<v1::FetchMetadataResponse> start = Fetch(ch, 0);
  ASSERT_TRUE(start.ok()) << start.status();
  const int64_t from = start->up_to();

  // Nothing new: the poll waits (about) its max_wait, then answers with no batch.
  const auto t0 = SteadyClock::now();
  StatusOr<v1::FetchMetadataResponse> idle = Fetch(poller, from, 300);
  const auto waited = SteadyClock::now() - t0;
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_EQ(idle->batches_size(), 0);
  EXPECT_EQ(idle->up_to(), from);
  EXPECT_GE(waited, milliseconds(290));

  // A topic created while the poll waits: it returns with that batch, long before max_wait.
  v1::FetchMetadataRequest r;
  r.set_from_index(from);
  r.set_max_wait_ms(8000);
  const auto t1 = SteadyClock::now();
  std::future<StatusOr<v1::FetchMetadataResponse>> polled =
      poller.Spawn<StatusOr<v1::FetchMetadataResponse>>(
          [r](ControllerChannel* c) { return c->FetchMetadata(r, kRpcTimeout); });
  StatusOr<v1::CreateTopicsResponse> created = CreateTopic(ch, "polled", 1);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(created->topics(0).error_code(), v1::NONE);
  ASSERT_EQ(polled.wait_for(kRpcTimeout), std::future_status::ready);
  StatusOr<v1::FetchMetadataResponse> got = polled.get();
  const auto took = SteadyClock::now() - t1;
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(HasTopicRecord(*got, "polled"));
  EXPECT_GT(got->up_to(), from);
  EXPECT_LT(took, milliseconds(6000)) << "the poll returned by its timeout, not by the commit";

  // max_wait_ms beyond the cap is accepted (capped at 10 s), and answers at once when a batch
  // is already there.
  StatusOr<v1::FetchMetadataResponse> capped = Fetch(poller, from, 60'000);
  ASSERT_TRUE(capped.ok()) << capped.status();
  EXPECT_TRUE(HasTopicRecord(*capped, "polled"));

  // EndLongPolls (before a listener stops): a parked poll answers at once, with nothing new, and
  // later polls do not wait.
  r.set_from_index(got->up_to());
  const auto t2 = SteadyClock::now();
  std::future<StatusOr<v1::FetchMetadataResponse>> parked =
      poller.Spawn<StatusOr<v1::FetchMetadataResponse>>(
          [r](ControllerChannel* c) { return c->FetchMetadata(r, kRpcTimeout); });
  // Ended once the listener holds it (read, not answered); had it not reached the controller
  // yet, it would not wait either.
  ASSERT_TRUE(PollUntil([&] { return q.RequestsInFlight(1) > 0; }, kRpcTimeout));
  q.EndLongPolls(1);
  ASSERT_EQ(parked.wait_for(kRpcTimeout), std::future_status::ready);
  StatusOr<v1::FetchMetadataResponse> ended = parked.get();
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->batches_size(), 0);
  EXPECT_EQ(ended->up_to(), got->up_to());
  EXPECT_LT(SteadyClock::now() - t2, milliseconds(6000));
  const auto t3 = SteadyClock::now();
  StatusOr<v1::FetchMetadataResponse> later = Fetch(poller, got->up_to(), 8000);
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_LT(SteadyClock::now() - t3, milliseconds(6000));
}

TEST(ControllerService, WrongClusterIdIsRefused) {
  CtlQuorum q(1);
  ASSERT_EQ(q.WaitForActive(40 * kElection), 1);
  Host client;
  Channel wrong(client, q.voters(), "another-cluster");
  v1::BrokerRegistrationRequest reg = Registration(4);
  auto r = wrong.Run<StatusOr<v1::BrokerRegistrationResponse>>(
      [reg](ControllerChannel* c) { return c->BrokerRegistration(reg, kRpcTimeout); });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->error_code(), v1::INCONSISTENT_CLUSTER_ID);
  StatusOr<v1::FetchMetadataResponse> f = Fetch(wrong, 0);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->error_code(), v1::INCONSISTENT_CLUSTER_ID);
  EXPECT_EQ(f->batches_size(), 0);
  EXPECT_EQ(q.Committed(1).second.FindBroker(4), nullptr);
}

TEST(ControllerService, BadRequestsAreAnsweredAndServingGoesOn) {
  CtlQuorum q(1);
  ASSERT_EQ(q.WaitForActive(40 * kElection), 1);
  StatusOr<std::unique_ptr<testing::RawClient>> raw = testing::RawClient::Connect(q.address(1));
  ASSERT_TRUE(raw.ok()) << raw.status();

  // ApiVersions lists the internal APIs and the four others, and no client data API.
  v1::ApiVersionsResponse versions;
  ASSERT_TRUE((*raw)->Call(v1::API_KEY_API_VERSIONS, v1::ApiVersionsRequest{}, &versions).ok());
  std::set<int> keys;
  for (const v1::ApiVersionRange& range : versions.api_keys()) keys.insert(range.api_key());
  for (const proto::ApiVersionSupport& api : proto::InternalApis()) {
    EXPECT_TRUE(keys.count(api.api_key)) << api.api_key;
  }
  for (int k : {v1::API_KEY_CREATE_TOPICS, v1::API_KEY_DELETE_TOPICS, v1::API_KEY_API_VERSIONS,
                v1::API_KEY_DESCRIBE_QUORUM}) {
    EXPECT_TRUE(keys.count(k)) << k;
  }
  EXPECT_EQ(keys.size(), proto::InternalApis().size() + 4);
  EXPECT_FALSE(keys.count(v1::API_KEY_PRODUCE));
  EXPECT_EQ(versions.cluster_id(), kClusterId);
  EXPECT_EQ(versions.broker_id(), 1);

  // Garbage bodies of every API served: INVALID_REQUEST, one error frame each.
  int32_t correlation = 100;
  for (int key :
       {v1::API_KEY_BROKER_REGISTRATION, v1::API_KEY_BROKER_HEARTBEAT, v1::API_KEY_FETCH_METADATA,
        v1::API_KEY_ALTER_PARTITION, v1::API_KEY_ALLOCATE_PRODUCER_IDS, v1::API_KEY_DESCRIBE_QUORUM,
        v1::API_KEY_CREATE_TOPICS, v1::API_KEY_RAFT_MESSAGES}) {
    const std::vector<std::byte> body(12, std::byte{0xff});  // a varint that never ends
    proto::FrameHeader h;
    h.api_key = static_cast<int16_t>(key);
    h.correlation_id = ++correlation;
    h.body_size = static_cast<uint32_t>(body.size());
    h.frame_size = static_cast<uint32_t>(proto::kFrameHeaderSize + body.size());
    std::vector<std::byte> bytes(proto::kFrameHeaderSize);
    proto::EncodeFrameHeader(
        h, std::span<std::byte, proto::kFrameHeaderSize>(bytes.data(), bytes.size()));
    bytes.insert(bytes.end(), body.begin(), body.end());
    ASSERT_TRUE((*raw)->SendBytes(bytes).ok());
    v1::ApiVersionsResponse unused;
    StatusOr<proto::Frame> answer = (*raw)->ReadResponse(&unused);
    ASSERT_FALSE(answer.ok()) << "API " << key << " accepted a garbage body";
    EXPECT_EQ(proto::ErrorFromStatus(answer.status()), v1::INVALID_REQUEST)
        << key << ": " << answer.status();
  }
  // A client API it does not serve: UNSUPPORTED_VERSION.
  v1::ApiVersionsResponse unused;
  StatusOr<proto::Frame> produce =
      (*raw)->Call(v1::API_KEY_METADATA, v1::MetadataRequest{}, &unused);
  ASSERT_FALSE(produce.ok());
  EXPECT_EQ(proto::ErrorFromStatus(produce.status()), v1::UNSUPPORTED_VERSION);

  // The same connection, and a channel, still work.
  v1::DescribeQuorumRequest dq;
  dq.set_cluster_id(kClusterId);
  v1::DescribeQuorumResponse described;
  ASSERT_TRUE((*raw)->Call(v1::API_KEY_DESCRIBE_QUORUM, dq, &described).ok());
  EXPECT_EQ(described.node_id(), 1);
  EXPECT_TRUE(described.active());
  Host client;
  Channel ch(client, q.voters());
  EXPECT_GT(RegisterAndUnfence(ch, 2), 0);

  // A client connection that requires every client API (the default) refuses the listener; one
  // that requires what it uses connects.
  const io::HostPort where = q.address(1);
  std::optional<Status> strict = client.Call<Status>([&client, where]() -> Task<Status> {
    client::ConnectionOptions o;
    StatusOr<std::unique_ptr<client::BrokerConnection>> c =
        co_await client::BrokerConnection::Connect(client.reactor(), where, o);
    if (c.ok()) co_await (*c)->close();
    co_return c.status();
  });
  ASSERT_TRUE(strict.has_value());
  EXPECT_EQ(proto::ErrorFromStatus(*strict), v1::UNSUPPORTED_VERSION) << *strict;
  std::optional<Status> lenient = client.Call<Status>([&client, where]() -> Task<Status> {
    static constexpr proto::ApiVersionSupport kNeeds[] = {{v1::API_KEY_FETCH_METADATA, 0, 0}};
    client::ConnectionOptions o;
    o.required_apis = kNeeds;
    StatusOr<std::unique_ptr<client::BrokerConnection>> c =
        co_await client::BrokerConnection::Connect(client.reactor(), where, o);
    if (c.ok()) co_await (*c)->close();
    co_return c.status();
  });
  ASSERT_TRUE(lenient.has_value());
  EXPECT_TRUE(lenient->ok()) << *lenient;
}

// ---- three voters ----

TEST(ControllerService, ThreeVotersHintsDescribeAndFailover) {
  CtlQuorum q(3);
  const int leader = q.WaitForActive(40 * kElection);
  ASSERT_NE(leader, 0);
  const int follower = leader % 3 + 1;
  Host client;

  // A channel whose first voter is a follower reaches the leader.
  std::vector<raft::QuorumVoter> from_follower;
  for (const raft::QuorumVoter& v : q.voters()) {
    if (static_cast<int>(v.id.value()) == follower)
      from_follower.insert(from_follower.begin(), v);
    else
      from_follower.push_back(v);
  }
  Channel ch(client, from_follower);
  const int64_t epoch = RegisterAndUnfence(ch, 1);
  ASSERT_GT(epoch, 0);

  // The follower alone answers NOT_CONTROLLER naming the leader.
  {
    std::vector<raft::QuorumVoter> only;
    for (const raft::QuorumVoter& v : q.voters()) {
      if (static_cast<int>(v.id.value()) == follower) only.push_back(v);
    }
    Channel lone(client, only);
    v1::BrokerHeartbeatRequest hb;
    hb.set_broker_id(1);
    hb.set_broker_epoch(epoch);
    auto r = lone.Run<StatusOr<v1::BrokerHeartbeatResponse>>(
        [hb](ControllerChannel* c) { return c->BrokerHeartbeat(hb, milliseconds(300)); });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(proto::ErrorFromStatus(r.status()), v1::NOT_CONTROLLER) << r.status();
    EXPECT_EQ(proto::ErrorControllerId(r.status()), leader) << r.status();
    // FetchMetadata and DescribeQuorum are answered by a follower.
    v1::DescribeQuorumRequest dq;
    auto d = lone.Run<StatusOr<v1::DescribeQuorumResponse>>(
        [dq](ControllerChannel* c) { return c->DescribeQuorum(dq, kRpcTimeout); });
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->node_id(), follower);
    EXPECT_EQ(d->role(), "follower");
    EXPECT_EQ(d->leader_id(), leader);
    EXPECT_FALSE(d->active());
  }

  // DescribeQuorum from the leader: 3 voters and the broker.
  {
    std::vector<raft::QuorumVoter> only;
    for (const raft::QuorumVoter& v : q.voters()) {
      if (static_cast<int>(v.id.value()) == leader) only.push_back(v);
    }
    Channel at_leader(client, only);
    v1::DescribeQuorumRequest dq;
    auto d = at_leader.Run<StatusOr<v1::DescribeQuorumResponse>>(
        [dq](ControllerChannel* c) { return c->DescribeQuorum(dq, kRpcTimeout); });
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->error_code(), 0);
    EXPECT_EQ(d->node_id(), leader);
    EXPECT_EQ(d->role(), "leader");
    EXPECT_TRUE(d->active());
    EXPECT_EQ(d->leader_id(), leader);
    EXPECT_EQ(d->voters_size(), 3);
    ASSERT_EQ(d->brokers_size(), 1);
    EXPECT_EQ(d->brokers(0).broker_id(), 1);
    EXPECT_EQ(d->brokers(0).broker_epoch(), epoch);
    EXPECT_FALSE(d->brokers(0).fenced());
    EXPECT_EQ(d->brokers(0).rack(), "rack1");
    ASSERT_EQ(d->brokers(0).endpoints_size(), 1);
    EXPECT_EQ(d->brokers(0).endpoints(0).port(), 9001);
    EXPECT_GE(d->brokers(0).ms_since_heartbeat(), 0);
    EXPECT_GE(d->metadata_index(), epoch);
  }

  StatusOr<v1::CreateTopicsResponse> before = CreateTopic(ch, "before", 2);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->topics(0).error_code(), v1::NONE);

  // The active controller stops: the next calls succeed at the new leader within their timeout.
  ASSERT_TRUE(q.Stop(leader).ok());
  StatusOr<v1::CreateTopicsResponse> after = CreateTopic(ch, "after", 2);
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->topics_size(), 1);
  EXPECT_EQ(after->topics(0).error_code(), v1::NONE) << after->topics(0).error_message();
  const int next = q.WaitForActive(40 * kElection);
  ASSERT_NE(next, 0);
  EXPECT_NE(next, leader);
  EXPECT_NE(q.Committed(next).second.FindTopic("after"), nullptr);
  EXPECT_NE(q.Committed(next).second.FindTopic("before"), nullptr);
  v1::BrokerHeartbeatRequest hb;
  hb.set_broker_id(1);
  hb.set_broker_epoch(epoch);
  hb.set_current_metadata_offset(epoch);
  auto h = ch.Run<StatusOr<v1::BrokerHeartbeatResponse>>(
      [hb](ControllerChannel* c) { return c->BrokerHeartbeat(hb, kRpcTimeout); });
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->error_code(), 0);
  EXPECT_FALSE(h->is_fenced());

  // A broker following the log through the channel ends with the new leader's image.
  ClusterImage image;
  int64_t from = 0;
  bool converged = PollUntil(
      [&] {
        StatusOr<v1::FetchMetadataResponse> f = Fetch(ch, from, 200);
        if (!f.ok()) return false;
        ApplyAnswer(*f, &image);
        from = f->up_to();
        const auto [index, committed] = q.Committed(next);
        return index == from && image == committed;
      },
      kRpcTimeout);
  EXPECT_TRUE(converged);
}

}  // namespace
}  // namespace spool::broker
