// Consumer group membership against a fake coordinator (tests/unit/client/fake_broker.h). A fake
// is the only way to get control over these paths: forcing ILLEGAL_GENERATION in the middle of a
// commit, a REBALANCE_IN_PROGRESS heartbeat at a chosen moment, MEMBER_ID_REQUIRED on the first
// join, and watching the order of JoinGroup against the rebalance listener's calls. The real
// coordinator's behaviour with several consumers is covered by
// tests/integration/consumer_group_test.cc.
//
// The fake is a one-member group over topic "t" (2 partitions): the consumer is always the
// leader, so its own assignor computes what SyncGroup hands back. It answers Fetch after
// fetch_max_wait_ms with no records, as a broker's long poll does when there is nothing new.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "consumer/consumer.h"
#include "consumer/group_protocol.h"
#include "gtest/gtest.h"
#include "proto/body.h"
#include "proto/consumer_protocol.pb.h"
#include "proto/errors.h"
#include "proto/fetch.pb.h"
#include "proto/group.pb.h"
#include "proto/list_offsets.pb.h"
#include "proto/metadata.pb.h"
#include "tests/unit/client/fake_broker.h"

namespace spool {
namespace {

using client::testing::FakeBroker;
using client::testing::FakeConn;
using std::chrono::milliseconds;

constexpr int kPartitions = 2;

class FakeGroup {
 public:
  FakeGroup() : broker_([this](FakeConn& c, const proto::Frame& f) { Handle(c, f); }) {}

  std::string address() const { return absl::StrCat("127.0.0.1:", broker_.port()); }

  // Waits up to 10 s for `pred` over the fake's state (called under its lock).
  bool WaitFor(const std::function<bool()>& pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), pred);
  }
  template <typename F>
  auto With(F f) {
    std::lock_guard lock(mu_);
    return f();
  }

  // State, under mu_ (With / WaitFor).
  int partitions = kPartitions;  // of topic "t", as Metadata reports it
  std::map<int, std::string> committed_metadata;
  std::map<int32_t, int64_t> committed{{0, 5}};  // t-0 has a committed offset, t-1 none
  proto::ErrorCode commit_error = proto::ErrorCode::NONE;
  proto::ErrorCode heartbeat_error = proto::ErrorCode::NONE;  // for the next heartbeat only
  bool answer_heartbeats = true;  // false: heartbeats go unanswered (a stalled coordinator)
  int join_requests = 0;
  int sync_requests = 0;
  int heartbeats = 0;
  int leaves = 0;
  int commits = 0;
  int32_t generation = 0;
  std::string last_join_member_id;
  v1::ConsumerSubscription last_subscription;
  std::vector<int32_t> last_commit_generations;

 private:
  void Handle(FakeConn& c, const proto::Frame& f) {
    auto body = proto::ParseFrameBody(f.header(), f.body());
    ASSERT_TRUE(body.ok()) << body.status();
    const google::protobuf::Message& m = **body;
    switch (static_cast<proto::ApiKey>(f.header().api_key)) {
      case proto::ApiKey::API_KEY_METADATA: {
        v1::MetadataResponse r;
        auto* b = r.add_brokers();
        b->set_node_id(1);
        b->set_host("127.0.0.1");
        b->set_port(broker_.port());
        auto* t = r.add_topics();
        t->set_name("t");
        const int count = With([&] { return partitions; });
        for (int p = 0; p < count; ++p) {
          auto* pm = t->add_partitions();
          pm->set_partition(p);
          pm->set_leader_id(1);
        }
        c.Reply(f.header(), r);
        return;
      }
      case proto::ApiKey::API_KEY_FIND_COORDINATOR: {
        v1::FindCoordinatorResponse r;
        r.set_node_id(1);
        r.set_host("127.0.0.1");
        r.set_port(broker_.port());
        c.Reply(f.header(), r);
        return;
      }
      case proto::ApiKey::API_KEY_JOIN_GROUP: {
        const auto& req = static_cast<const v1::JoinGroupRequest&>(m);
        v1::JoinGroupResponse r;
        {
          std::lock_guard lock(mu_);
          ++join_requests;
          last_join_member_id = req.member_id();
          if (req.member_id().empty()) {
            r.set_error_code(proto::ErrorCode::MEMBER_ID_REQUIRED);
            r.set_member_id("member-1");
          } else {
            r.set_generation_id(++generation);
            r.set_protocol_type("consumer");
            r.set_protocol_name(req.protocols(0).name());
            r.set_leader(req.member_id());
            r.set_member_id(req.member_id());
            auto* mem = r.add_members();
            mem->set_member_id(req.member_id());
            mem->set_metadata(req.protocols(0).metadata());
            last_subscription.ParseFromString(req.protocols(0).metadata());
          }
        }
        cv_.notify_all();
        c.Reply(f.header(), r);
        return;
      }
      case proto::ApiKey::API_KEY_SYNC_GROUP: {
        const auto& req = static_cast<const v1::SyncGroupRequest&>(m);
        v1::SyncGroupResponse r;
        {
          std::lock_guard lock(mu_);
          ++sync_requests;
          for (const auto& a : req.assignments()) {
            if (a.member_id() == req.member_id()) r.set_assignment(a.assignment());
          }
          r.set_protocol_name(req.protocol_name());
        }
        cv_.notify_all();
        c.Reply(f.header(), r);
        return;
      }
      case proto::ApiKey::API_KEY_HEARTBEAT: {
        v1::HeartbeatResponse r;
        {
          std::lock_guard lock(mu_);
          if (!answer_heartbeats) return;
          ++heartbeats;
          r.set_error_code(heartbeat_error);
          heartbeat_error = proto::ErrorCode::NONE;  // one answer only
        }
        cv_.notify_all();
        c.Reply(f.header(), r);
        return;
      }
      case proto::ApiKey::API_KEY_LEAVE_GROUP: {
        {
          std::lock_guard lock(mu_);
          ++leaves;
        }
        cv_.notify_all();
        c.Reply(f.header(), v1::LeaveGroupResponse());
        return;
      }
      case proto::ApiKey::API_KEY_OFFSET_COMMIT: {
        const auto& req = static_cast<const v1::OffsetCommitRequest&>(m);
        v1::OffsetCommitResponse r;
        {
          std::lock_guard lock(mu_);
          ++commits;
          last_commit_generations.push_back(req.generation_id());
          for (const auto& t : req.topics()) {
            auto* rt = r.add_topics();
            rt->set_name(t.name());
            for (const auto& p : t.partitions()) {
              auto* rp = rt->add_partitions();
              rp->set_partition(p.partition());
              rp->set_error_code(commit_error);
              if (commit_error == proto::ErrorCode::NONE) {
                committed[p.partition()] = p.committed_offset();
              }
            }
          }
        }
        cv_.notify_all();
        c.Reply(f.header(), r);
        return;
      }
      case proto::ApiKey::API_KEY_OFFSET_FETCH: {
        const auto& req = static_cast<const v1::OffsetFetchRequest&>(m);
        v1::OffsetFetchResponse r;
        std::lock_guard lock(mu_);
        for (const auto& t : req.topics()) {
          auto* rt = r.add_topics();
          rt->set_name(t.name());
          for (int32_t p : t.partitions()) {
            auto* rp = rt->add_partitions();
            rp->set_partition(p);
            auto it = committed.find(p);
            rp->set_committed_offset(it == committed.end() ? -1 : it->second);
          }
        }
        c.Reply(f.header(), r);
        return;
      }
      case proto::ApiKey::API_KEY_LIST_OFFSETS: {
        const auto& req = static_cast<const v1::ListOffsetsRequest&>(m);
        v1::ListOffsetsResponse r;
        for (const auto& t : req.topics()) {
          auto* rt = r.add_topics();
          rt->set_name(t.name());
          for (const auto& p : t.partitions()) {
            auto* rp = rt->add_partitions();
            rp->set_partition(p.partition());
            rp->set_offset(42);
          }
        }
        c.Reply(f.header(), r);
        return;
      }
      case proto::ApiKey::API_KEY_FETCH: {
        const auto& req = static_cast<const v1::FetchRequest&>(m);
        // A long poll that finds nothing: the answer comes after max_wait_ms, empty.
        std::this_thread::sleep_for(milliseconds(req.max_wait_ms()));
        v1::FetchResponse r;
        for (const auto& t : req.topics()) {
          auto* rt = r.add_topics();
          rt->set_name(t.name());
          for (const auto& p : t.partitions()) {
            auto* rp = rt->add_partitions();
            rp->set_partition(p.partition());
            rp->set_high_watermark(p.fetch_offset());
            rp->set_last_stable_offset(p.fetch_offset());
          }
        }
        c.Reply(f.header(), r);
        return;
      }
      default:
        c.ReplyError(f.header(), proto::ErrorCode::UNSUPPORTED_VERSION, "not in the fake");
        return;
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  FakeBroker broker_;  // last: its threads call Handle, which uses the members above
};

// Records the listener's calls, with the fake's JoinGroup count at the time.
class Recorder : public ConsumerRebalanceListener {
 public:
  explicit Recorder(FakeGroup* group) : group_(group) {}
  struct Call {
    std::string what;
    std::vector<TopicPartition> partitions;
    int joins_before = 0;
  };
  void on_partitions_revoked(const std::vector<TopicPartition>& p) override { Add("revoked", p); }
  void on_partitions_assigned(const std::vector<TopicPartition>& p) override { Add("assigned", p); }
  void on_partitions_lost(const std::vector<TopicPartition>& p) override { Add("lost", p); }
  std::vector<Call> calls;

 private:
  void Add(std::string what, const std::vector<TopicPartition>& p) {
    calls.push_back(Call{std::move(what), p, group_->With([&] { return group_->join_requests; })});
  }
  FakeGroup* group_;
};

const std::vector<TopicPartition> kBoth = {{"t", 0}, {"t", 1}};

ConsumerConfig GroupConfig(const FakeGroup& fake) {
  ConsumerConfig c;
  c.bootstrap_servers = {fake.address()};
  c.group_id = std::string("g");  // (a literal trips GCC 12 -O3 -Wrestrict)
  c.fetch_max_wait_ms = 20;
  c.heartbeat_interval_ms = 50;
  c.session_timeout_ms = 10000;
  c.enable_auto_commit = false;
  c.retry_backoff_ms = 20;
  c.request_timeout_ms = 5000;
  return c;
}

// Polls until `done` or 10 s pass; every poll must succeed.
bool PollUntil(Consumer& consumer, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    StatusOr<ConsumerRecords> r = consumer.poll(milliseconds(20));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return false;
  }
  return true;
}

bool Saw(const Recorder& rec, const std::string& what, size_t at_least = 1) {
  size_t n = 0;
  for (const auto& c : rec.calls) n += c.what == what ? 1 : 0;
  return n >= at_least;
}

TEST(ConsumerGroupTest, JoinsWithMemberIdRequiredAndStartsFromCommittedOffsets) {
  FakeGroup fake;
  Recorder rec(&fake);
  auto consumer = Consumer::Create(GroupConfig(fake));
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->subscribe({"t"}, &rec).ok());
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned"); }));
  EXPECT_EQ(rec.calls.size(), 1u);
  EXPECT_EQ(rec.calls[0].partitions, kBoth);
  EXPECT_EQ((*consumer)->assignment(), kBoth);
  fake.With([&] {
    EXPECT_EQ(fake.join_requests, 2) << "MEMBER_ID_REQUIRED, then again with the id";
    EXPECT_EQ(fake.last_join_member_id, "member-1");
    EXPECT_EQ(fake.sync_requests, 1);
    return 0;
  });
  EXPECT_EQ((*consumer)->group_generation(), (std::pair<std::string, int32_t>{"member-1", 1}));
  // t-0 from its committed offset; t-1 has none: auto_offset_reset (latest: the fake says 42).
  StatusOr<int64_t> p0 = (*consumer)->position({"t", 0});
  ASSERT_TRUE(p0.ok()) << p0.status();
  EXPECT_EQ(*p0, 5);
  StatusOr<int64_t> p1 = (*consumer)->position({"t", 1});
  ASSERT_TRUE(p1.ok()) << p1.status();
  EXPECT_EQ(*p1, 42);
  EXPECT_TRUE(fake.WaitFor([&] { return fake.heartbeats >= 2; })) << "heartbeats in the background";
  // assign() is refused while subscribed.
  EXPECT_EQ((*consumer)->assign({{"t", 0}}).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*consumer)->close().ok());
  fake.With([&] {
    EXPECT_EQ(fake.leaves, 1) << "a dynamic member leaves on close";
    return 0;
  });
  EXPECT_EQ(rec.calls.back().what, "revoked");
}

// No heartbeat answered for session_timeout_ms: the coordinator has dropped the member by now,
// so poll() reports the partitions lost on its own, before any error comes back, and rejoins.
TEST(ConsumerGroupTest, ASessionThatRanOutLocallyLosesThePartitionsWithoutAnAnswer) {
  FakeGroup fake;
  Recorder rec(&fake);
  ConsumerConfig config = GroupConfig(fake);
  config.session_timeout_ms = 1000;
  auto consumer = Consumer::Create(config);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->subscribe({"t"}, &rec).ok());
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned"); }));
  ASSERT_TRUE(fake.WaitFor([&] { return fake.heartbeats >= 2; }));
  const auto stalled_at = std::chrono::steady_clock::now();
  fake.With([&] { return fake.answer_heartbeats = false; });
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "lost"); }))
      << "the partitions were kept past the session timeout";
  EXPECT_GE(std::chrono::steady_clock::now() - stalled_at, milliseconds(1000) - milliseconds(100))
      << "lost before the session could have run out";
  EXPECT_EQ(rec.calls.back().partitions, kBoth);
  // The member rejoins (JoinGroup has its own connection) and gets them back.
  fake.With([&] { return fake.answer_heartbeats = true; });
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned", 2); }));
  ASSERT_TRUE((*consumer)->close().ok());
}

TEST(ConsumerGroupTest, IllegalGenerationMidCommitFailsTheCommitAndLosesThePartitions) {
  FakeGroup fake;
  Recorder rec(&fake);
  auto consumer = Consumer::Create(GroupConfig(fake));
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->subscribe({"t"}, &rec).ok());
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned"); }));

  OffsetMap good{{{"t", 1}, {7, ""}}};
  ASSERT_TRUE((*consumer)->commit_sync(good).ok());
  StatusOr<OffsetMap> committed = (*consumer)->committed({{"t", 0}, {"t", 1}});
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(*committed, (OffsetMap{{{"t", 0}, {5, ""}}, {{"t", 1}, {7, ""}}}));

  fake.With([&] { return fake.commit_error = proto::ErrorCode::ILLEGAL_GENERATION; });
  Status fenced = (*consumer)->commit_sync(OffsetMap{{{"t", 0}, {9, ""}}});
  EXPECT_EQ(fenced.code(), absl::StatusCode::kFailedPrecondition) << fenced;
  EXPECT_NE(fenced.message().find("ILLEGAL_GENERATION"), std::string::npos) << fenced;
  fake.With([&] { return fake.commit_error = proto::ErrorCode::NONE; });

  // The next polls report the partitions lost (not revoked) and rejoin with the same member id.
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned", 2); }));
  ASSERT_EQ(rec.calls.size(), 3u);
  EXPECT_EQ(rec.calls[1].what, "lost");
  EXPECT_EQ(rec.calls[1].partitions, kBoth);
  EXPECT_EQ(rec.calls[2].partitions, kBoth);
  fake.With([&] {
    EXPECT_EQ(fake.last_join_member_id, "member-1");
    EXPECT_EQ(fake.committed[0], 5) << "the fenced commit stored nothing";
    return 0;
  });
  EXPECT_EQ((*consumer)->group_generation().second, 2);
  ASSERT_TRUE((*consumer)->close().ok());
}

TEST(ConsumerGroupTest, CooperativeRebalanceKeepsPartitionsAndReportsThemOwned) {
  FakeGroup fake;
  Recorder rec(&fake);
  auto consumer = Consumer::Create(GroupConfig(fake));
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->subscribe({"t"}, &rec).ok());
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned"); }));
  const int joins = fake.With([&] { return fake.join_requests; });
  fake.With([&] { return fake.heartbeat_error = proto::ErrorCode::REBALANCE_IN_PROGRESS; });
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned", 2); }));
  EXPECT_EQ(fake.With([&] { return fake.join_requests; }), joins + 1);
  EXPECT_FALSE(Saw(rec, "revoked")) << "cooperative: nothing moved, nothing revoked";
  EXPECT_TRUE(rec.calls.back().partitions.empty()) << "nothing new was added";
  fake.With([&] {
    // The rejoin carried what the member owns, from the generation it got them in.
    EXPECT_EQ(fake.last_subscription.owned_partitions_size(), 1);
    EXPECT_EQ(fake.last_subscription.owned_partitions(0).partitions_size(), kPartitions);
    EXPECT_EQ(fake.last_subscription.generation_id(), 1);
    return 0;
  });
  EXPECT_EQ((*consumer)->assignment(), kBoth);
  ASSERT_TRUE((*consumer)->close().ok());
}

TEST(ConsumerGroupTest, EagerRebalanceRevokesEverythingBeforeJoinGroup) {
  FakeGroup fake;
  Recorder rec(&fake);
  ConsumerConfig config = GroupConfig(fake);
  config.partition_assignment_strategy = {"range"};
  auto consumer = Consumer::Create(config);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->subscribe({"t"}, &rec).ok());
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned"); }));
  const int joins = fake.With([&] { return fake.join_requests; });
  fake.With([&] { return fake.heartbeat_error = proto::ErrorCode::REBALANCE_IN_PROGRESS; });
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "revoked"); }));
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned", 2); }));
  ASSERT_EQ(rec.calls.size(), 3u);
  EXPECT_EQ(rec.calls[1].what, "revoked");
  EXPECT_EQ(rec.calls[1].partitions, kBoth);
  EXPECT_EQ(rec.calls[1].joins_before, joins) << "revoked before the JoinGroup went out";
  EXPECT_EQ(rec.calls[2].partitions, kBoth) << "eager: the whole assignment is new";
  fake.With([&] {
    EXPECT_EQ(fake.last_subscription.owned_partitions_size(), 0) << "eager members own nothing";
    return 0;
  });
  ASSERT_TRUE((*consumer)->close().ok());
}

TEST(ConsumerGroupTest, NoPollForMaxPollIntervalLeavesAndTheNextPollRejoins) {
  FakeGroup fake;
  Recorder rec(&fake);
  ConsumerConfig config = GroupConfig(fake);
  config.max_poll_interval_ms = 300;
  auto consumer = Consumer::Create(config);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->subscribe({"t"}, &rec).ok());
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned"); }));
  // No poll() now: the background thread leaves the group once 300 ms have passed.
  ASSERT_TRUE(fake.WaitFor([&] { return fake.leaves == 1; }));
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned", 2); }));
  EXPECT_EQ(rec.calls[1].what, "lost");
  EXPECT_EQ(rec.calls[1].partitions, kBoth);
  ASSERT_TRUE((*consumer)->close().ok());
}

TEST(ConsumerGroupTest, AutoCommitAndAsyncCommitCallbacks) {
  FakeGroup fake;
  ConsumerConfig config = GroupConfig(fake);
  config.enable_auto_commit = true;
  config.auto_commit_interval_ms = 50;
  auto consumer = Consumer::Create(config);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->subscribe({"t"}).ok());
  ASSERT_TRUE(PollUntil(**consumer, [&] { return (*consumer)->assignment() == kBoth; }));
  // Positions: t-0 5 (committed), t-1 42 (reset). Auto-commit stores what changed: t-1 at 42.
  ASSERT_TRUE(PollUntil(**consumer, [&] {
    return fake.With([&] { return fake.committed.count(1) == 1 && fake.committed[1] == 42; });
  }));
  fake.With([&] {
    for (int32_t g : fake.last_commit_generations)
      EXPECT_EQ(g, 1) << "commits carry the generation";
    return 0;
  });
  int calls = 0;
  Status seen = absl::UnknownError("not called");
  (*consumer)->commit_async(OffsetMap{{{"t", 0}, {6, "m"}}},
                            [&](const OffsetMap& o, const Status& s) {
                              ++calls;
                              seen = s;
                              EXPECT_EQ(o.at({"t", 0}).offset, 6);
                            });
  ASSERT_TRUE(PollUntil(**consumer, [&] { return calls == 1; })) << "the callback runs in poll()";
  EXPECT_TRUE(seen.ok()) << seen;
  ASSERT_TRUE((*consumer)->close().ok());
}

TEST(ConsumerGroupTest, ManualAssignmentCommitsOutsideTheGroup) {
  FakeGroup fake;
  auto consumer = Consumer::Create(GroupConfig(fake));
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->assign({{"t", 0}}).ok());
  StatusOr<int64_t> pos = (*consumer)->position({"t", 0});
  ASSERT_TRUE(pos.ok()) << pos.status();
  EXPECT_EQ(*pos, 5) << "manual assignment with a group_id starts from the committed offset";
  ASSERT_TRUE((*consumer)->commit_sync(OffsetMap{{{"t", 0}, {8, ""}}}).ok());
  fake.With([&] {
    EXPECT_EQ(fake.committed[0], 8);
    EXPECT_EQ(fake.last_commit_generations.back(), -1);
    EXPECT_EQ(fake.join_requests, 0);
    return 0;
  });
  EXPECT_EQ((*consumer)->subscribe({"t"}).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*consumer)->close().ok());
}

TEST(ConsumerGroupTest, PatternSubscriptionAndStaticMemberCloseWithoutLeaving) {
  FakeGroup fake;
  Recorder rec(&fake);
  ConsumerConfig config = GroupConfig(fake);
  config.group_instance_id = "instance-1";
  auto consumer = Consumer::Create(config);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->subscribe_pattern("t|other-.*", &rec).ok());
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned"); }));
  EXPECT_EQ(rec.calls[0].partitions, kBoth);
  EXPECT_EQ((*consumer)->subscription(), (std::vector<std::string>{"t"}));
  fake.With([&] {
    EXPECT_EQ(fake.last_subscription.topics_size(), 1);
    EXPECT_EQ(fake.last_subscription.topics(0), "t");
    return 0;
  });
  ASSERT_TRUE((*consumer)->close().ok());
  fake.With([&] {
    EXPECT_EQ(fake.leaves, 0) << "a static member does not leave on close";
    return 0;
  });
}

TEST(ConsumerGroupTest, NewPartitionsOfASubscribedTopicCauseARebalance) {
  FakeGroup fake;
  Recorder rec(&fake);
  ConsumerConfig config = GroupConfig(fake);
  config.metadata_max_age_ms = 100;
  auto consumer = Consumer::Create(config);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->subscribe({"t"}, &rec).ok());
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned"); }));
  fake.With([&] { return fake.partitions = 3; });
  ASSERT_TRUE(PollUntil(**consumer, [&] { return Saw(rec, "assigned", 2); }));
  EXPECT_EQ(rec.calls.back().partitions, (std::vector<TopicPartition>{{"t", 2}}))
      << "cooperative: only the new partition is added";
  EXPECT_EQ((*consumer)->assignment(), (std::vector<TopicPartition>{{"t", 0}, {"t", 1}, {"t", 2}}));
  ASSERT_TRUE((*consumer)->close().ok());
}

TEST(ConsumerGroupTest, GroupCallsNeedAGroupId) {
  ConsumerConfig c;
  c.bootstrap_servers = {"127.0.0.1:1"};
  auto consumer = Consumer::Create(c);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  EXPECT_EQ((*consumer)->subscribe({"t"}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*consumer)->commit_sync().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*consumer)->committed({{"t", 0}}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  Status async = absl::OkStatus();
  (*consumer)->commit_async([&](const OffsetMap&, const Status& s) { async = s; });
  EXPECT_EQ(async.code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*consumer)->close().ok());
}

TEST(ConsumerGroupTest, ConfigValidation) {
  ConsumerConfig c;
  c.bootstrap_servers = {"127.0.0.1:1"};
  c.group_id = "g";
  EXPECT_TRUE(ValidateConsumerConfig(c).ok());
  auto expect_bad = [&](std::function<void(ConsumerConfig&)> mutate, std::string field) {
    ConsumerConfig bad = c;
    mutate(bad);
    Status st = ValidateConsumerConfig(bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_NE(st.message().find(field), std::string::npos) << st;
  };
  expect_bad([](ConsumerConfig& b) { b.heartbeat_interval_ms = b.session_timeout_ms; },
             "heartbeat_interval_ms");
  expect_bad([](ConsumerConfig& b) { b.session_timeout_ms = 0; }, "session_timeout_ms");
  expect_bad([](ConsumerConfig& b) { b.max_poll_interval_ms = 0; }, "max_poll_interval_ms");
  expect_bad([](ConsumerConfig& b) { b.auto_commit_interval_ms = 0; }, "auto_commit_interval_ms");
  expect_bad([](ConsumerConfig& b) { b.partition_assignment_strategy = {}; },
             "partition_assignment_strategy");
  expect_bad([](ConsumerConfig& b) { b.partition_assignment_strategy = {"sticky"}; },
             "partition_assignment_strategy");
  expect_bad(
      [](ConsumerConfig& b) {
        b.partition_assignment_strategy = {"range", "range"};
      },
      "partition_assignment_strategy");
  expect_bad(
      [](ConsumerConfig& b) {
        b.group_id.clear();
        b.group_instance_id = std::string("i");
      },
      "group_instance_id");
  auto consumer = Consumer::Create(c);
  ASSERT_TRUE(consumer.ok());
  EXPECT_EQ((*consumer)->subscribe_pattern("([a-").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*consumer)->subscribe({}).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*consumer)->close().ok());
}

}  // namespace
}  // namespace spool
