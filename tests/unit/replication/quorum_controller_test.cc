// QuorumController on real reactors and real files (replication/controller/quorum_controller.h):
// a single voter that registers brokers, creates and deletes topics and restarts from disk;
// three voters on three reactor threads over LocalNetwork: requests through the active
// controller, NOT_CONTROLLER from a follower naming the leader, the active controller stopped
// under a stream of CreateTopics (no answered topic lost), the whole quorum restarted; a broker
// that stops heartbeating is fenced and its leaderships move; FetchMetadata rebuilds the image; a
// new active controller decides on every entry committed before its term (a filter hides a commit).
//
// Every wait has a deadline: the test thread waits on a future or polls a condition until a
// deadline; nothing sleeps to let something happen.
#include "replication/controller/quorum_controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/str_cat.h"
#include "common/io/file_system.h"
#include "replication/controller/controller_errors.h"
#include "replication/raft/local_transport.h"
#include "tests/support/test_env.h"
#include "tests/unit/replication/driver_test_util.h"
#include "tests/unit/replication/quorum_test_util.h"

namespace spool::controller {
namespace {

using namespace spool::controller::test;  // the Quorum harness (quorum_test_util.h)

// ---- tests ----

TEST(QuorumController, SingleVoterBrokersTopicsAndRestartFromDisk) {
  Quorum q(QuorumOptions{.voters = 1, .snapshot_every = 5});
  ASSERT_EQ(q.WaitForActive(20 * kElection), 1);
  const std::map<int32_t, int64_t> epochs = q.AddBrokers(1, 3);
  ASSERT_EQ(epochs.size(), 3u);
  // Epochs are the indexes of the registrations' entries: increasing.
  EXPECT_LT(epochs.at(1), epochs.at(2));
  EXPECT_LT(epochs.at(2), epochs.at(3));

  StatusOr<std::vector<CreatedTopic>> a = q.Create(1, OneTopic("alpha", 6, 2));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 1u);
  ASSERT_TRUE((*a)[0].status.ok()) << (*a)[0].status;
  StatusOr<std::vector<CreatedTopic>> b = q.Create(1, OneTopic("beta", 3, 3));
  ASSERT_TRUE(b.ok() && (*b)[0].status.ok());
  StatusOr<std::vector<CreatedTopic>> dup = q.Create(1, OneTopic("beta", 1, 1));
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(ControllerErrorOf((*dup)[0].status), ControllerError::kTopicAlreadyExists);
  CreateTopicsRequest vo = OneTopic("gamma", 2, 1);
  vo.validate_only = true;
  StatusOr<std::vector<CreatedTopic>> v = q.Create(1, vo);
  ASSERT_TRUE(v.ok() && (*v)[0].status.ok());

  StatusOr<MetadataView> view = q.Read(1);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->image.FindTopic("gamma"), nullptr);  // validate-only created nothing
  const TopicImage* alpha = view->image.FindTopic("alpha");
  ASSERT_NE(alpha, nullptr);
  ASSERT_EQ(alpha->partitions.size(), 6u);
  // Placement spreads leaderships and replicas evenly: 2 leaderships and 4 replicas each.
  std::map<int32_t, int> leads, replicas;
  for (const PartitionState& p : alpha->partitions) {
    ++leads[p.leader];
    for (int32_t r : p.replicas) ++replicas[r];
    EXPECT_EQ(p.replicas.size(), 2u);
    EXPECT_EQ(p.isr, p.replicas);
  }
  for (int32_t br = 1; br <= 3; ++br) {
    EXPECT_EQ(leads[br], 2) << "broker " << br;
    EXPECT_EQ(replicas[br], 4) << "broker " << br;
  }

  std::optional<StatusOr<std::vector<DeletedTopic>>> del =
      q.Run<StatusOr<std::vector<DeletedTopic>>>(1, [](QuorumController* c) {
        std::vector<std::string> names = {"beta"};
        return c->DeleteTopics(std::move(names));
      });
  ASSERT_TRUE(del.has_value() && del->ok());
  EXPECT_TRUE((**del)[0].status.ok()) << (**del)[0].status;

  // Producer ids and a config change go through the same path.
  std::optional<StatusOr<ProducerIdBlock>> pids =
      q.Run<StatusOr<ProducerIdBlock>>(1, [&](QuorumController* c) {
        return c->AllocateProducerIds(BrokerRef{1, epochs.at(1)});
      });
  ASSERT_TRUE(pids.has_value() && pids->ok());
  EXPECT_TRUE((*pids)->status.ok());
  EXPECT_EQ((*pids)->first_id, 0);
  std::optional<StatusOr<std::vector<Status>>> cfg =
      q.Run<StatusOr<std::vector<Status>>>(1, [](QuorumController* c) {
        std::vector<ConfigChange> changes = {
            ConfigChange{v1::CONFIG_RESOURCE_TOPIC, "alpha", "retention.ms", "1000"}};
        return c->AlterConfigs(std::move(changes));
      });
  ASSERT_TRUE(cfg.has_value() && cfg->ok());
  EXPECT_TRUE((**cfg)[0].ok()) << (**cfg)[0];

  StatusOr<MetadataView> before = q.Read(1);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->image.FindTopic("beta"), nullptr);
  EXPECT_EQ(before->image.TopicConfig(alpha->id, "retention.ms"), "1000");
  const QuorumStatus st = q.StatusOf(1);
  ASSERT_EQ(st.brokers.size(), 3u);
  for (const BrokerStatus& bs : st.brokers) {
    EXPECT_FALSE(bs.fenced);
    EXPECT_EQ(bs.epoch, epochs.at(bs.id));
    EXPECT_TRUE(bs.ms_since_contact.has_value());
  }
  EXPECT_GE(st.raft.counters.snapshots_taken, 1u);

  ASSERT_TRUE(q.Stop(1).ok());
  ASSERT_TRUE(q.Start(1).ok());
  ASSERT_EQ(q.WaitForActive(20 * kElection), 1);
  StatusOr<MetadataView> after = q.Read(1);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->image, before->image);
  EXPECT_EQ(after->index, before->index);
  // The restarted controller keeps deciding on the restored image.
  StatusOr<std::vector<CreatedTopic>> again = q.Create(1, OneTopic("alpha", 1, 1));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(ControllerErrorOf((*again)[0].status), ControllerError::kTopicAlreadyExists);
}

TEST(QuorumController, FetchMetadataRebuildsTheCommittedImage) {
  Quorum q(QuorumOptions{.voters = 1, .snapshot_every = 0, .retained_batches = 4096});
  ASSERT_EQ(q.WaitForActive(20 * kElection), 1);
  q.AddBrokers(1, 3);
  for (int k = 0; k < 10; ++k) {
    StatusOr<std::vector<CreatedTopic>> r = q.Create(1, OneTopic(absl::StrCat("t", k), 2, 2));
    ASSERT_TRUE(r.ok() && (*r)[0].status.ok());
  }
  StatusOr<MetadataView> view = q.Read(1);
  ASSERT_TRUE(view.ok());
  std::optional<MetadataDelta> all = q.Fetch(1, 0);
  ASSERT_TRUE(all.has_value());
  EXPECT_FALSE(all->snapshot_needed);
  EXPECT_EQ(all->up_to, view->index);
  EXPECT_EQ(Rebuild(ClusterImage{}, all->batches), view->image);

  // From a middle index: the first half gives the image there, the rest completes it.
  const size_t half = all->batches.size() / 2;
  std::optional<MetadataDelta> first = q.Fetch(1, 0, half);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->batches.size(), half);
  EXPECT_EQ(first->up_to, first->batches.back().index);
  const ClusterImage middle = Rebuild(ClusterImage{}, first->batches);
  const int64_t from = first->up_to;
  std::optional<MetadataDelta> rest = q.Fetch(1, from);
  ASSERT_TRUE(rest.has_value());
  EXPECT_FALSE(rest->snapshot_needed);
  EXPECT_EQ(rest->batches.size(), all->batches.size() - half);
  EXPECT_EQ(Rebuild(middle, rest->batches), view->image);
  // Nothing after the end.
  const int64_t end = view->index;
  std::optional<MetadataDelta> none = q.Fetch(1, end);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->batches.empty());
  EXPECT_EQ(none->up_to, end);
}

TEST(QuorumController, FetchMetadataOlderThanTheWindowGetsTheImage) {
  Quorum q(QuorumOptions{.voters = 1, .snapshot_every = 0, .retained_batches = 3});
  ASSERT_EQ(q.WaitForActive(20 * kElection), 1);
  q.AddBrokers(1, 2);
  for (int k = 0; k < 5; ++k) {
    StatusOr<std::vector<CreatedTopic>> r = q.Create(1, OneTopic(absl::StrCat("t", k), 1, 1));
    ASSERT_TRUE(r.ok() && (*r)[0].status.ok());
  }
  StatusOr<MetadataView> view = q.Read(1);
  ASSERT_TRUE(view.ok());
  std::optional<MetadataDelta> d = q.Fetch(1, 0);
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->snapshot_needed);
  ASSERT_TRUE(d->image.has_value());
  EXPECT_EQ(*d->image, view->image);
  EXPECT_EQ(d->up_to, view->index);
  const int64_t from = d->up_to;
  std::optional<MetadataDelta> next = q.Fetch(1, from);
  ASSERT_TRUE(next.has_value());
  EXPECT_FALSE(next->snapshot_needed);
  EXPECT_TRUE(next->batches.empty());
}

TEST(QuorumController, ThreeVotersFailoverUnderCreateTopicsLosesNoAnsweredTopic) {
  Quorum q(QuorumOptions{.voters = 3, .snapshot_every = 64});
  const int leader = q.WaitForActive(40 * kElection);
  ASSERT_NE(leader, 0);
  q.AddBrokers(leader, 3);
  std::set<std::string> answered;
  for (int k = 0; k < 50; ++k) {
    const std::string name = absl::StrCat("topic-", k);
    StatusOr<std::vector<CreatedTopic>> r = q.Create(leader, OneTopic(name, 3, 2));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE((*r)[0].status.ok()) << (*r)[0].status;
    answered.insert(name);
  }
  // A follower refuses and names the leader.
  const int follower = leader % 3 + 1;
  StatusOr<std::vector<CreatedTopic>> refused = q.Create(follower, OneTopic("nope", 1, 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(ControllerErrorOf(refused.status()), ControllerError::kNotController);
  EXPECT_EQ(ControllerLeaderHint(refused.status()), raft::NodeId{static_cast<uint32_t>(leader)});
  StatusOr<MetadataView> refused_read = q.Read(follower);
  EXPECT_EQ(ControllerErrorOf(refused_read.status()), ControllerError::kNotController);
  // Followers serve FetchMetadata from their own committed log.
  ASSERT_TRUE(q.WaitConverged(q.All(), nullptr, milliseconds(10'000)));

  // A stream of CreateTopics (4 at a time, at whoever is active) while the active controller
  // stops. A topic counts as answered when its CreateTopics said OK (or TOPIC_ALREADY_EXISTS for a
  // retry of a request answered NOT_CONTROLLER whose entry committed after all).
  std::mutex mu;
  std::set<std::string> streamed;  // guarded by mu
  std::atomic<bool> stop_stream{false};
  std::atomic<int> unexpected{0};
  std::thread stream([&] {
    std::vector<std::string> todo;
    int next_name = 0;
    while (!stop_stream.load()) {
      while (todo.size() < 4) todo.push_back(absl::StrCat("stream-", next_name++));
      const int a = q.WaitForActive(20 * kElection);
      if (a == 0) continue;
      std::vector<
          std::pair<std::string, std::future<std::optional<StatusOr<std::vector<CreatedTopic>>>>>>
          calls;
      for (const std::string& name : todo) {
        calls.emplace_back(
            name, std::async(std::launch::async, [&q, a, name] {
              return q.Run<StatusOr<std::vector<CreatedTopic>>>(
                  a, [name](QuorumController* c) { return c->CreateTopics(OneTopic(name, 1, 2)); });
            }));
      }
      std::vector<std::string> again;
      for (auto& [name, f] : calls) {
        std::optional<StatusOr<std::vector<CreatedTopic>>> r = f.get();
        if (r.has_value() && r->ok()) {
          const ControllerError e = ControllerErrorOf((**r)[0].status);
          if (e == ControllerError::kNone || e == ControllerError::kTopicAlreadyExists) {
            std::lock_guard<std::mutex> l(mu);
            streamed.insert(name);
            continue;
          }
          ++unexpected;
        } else if (r.has_value() && r->status().code() != absl::StatusCode::kUnavailable) {
          ++unexpected;  // NOT_CONTROLLER and "stopped" are kUnavailable
        }
        again.push_back(name);
      }
      todo = std::move(again);
    }
  });
  auto streamed_count = [&] {
    std::lock_guard<std::mutex> l(mu);
    return streamed.size();
  };
  EXPECT_TRUE(PollUntil([&] { return streamed_count() >= 20; }, milliseconds(20'000)));
  // Cut off first, then stopped: entries it appended but did not replicate are lost, as with a
  // kill -9 (their requests must not have been answered OK).
  // Plus 20 requests surely in flight on it when it goes.
  std::vector<std::pair<std::string, std::future<StatusOr<std::vector<CreatedTopic>>>>> flight;
  QuorumController* old = q.ctl(leader);  // Stop() below waits for these requests
  for (int k = 0; k < 20; ++k) {
    const std::string name = absl::StrCat("inflight-", k);
    flight.emplace_back(name, q.host(leader).Spawn<StatusOr<std::vector<CreatedTopic>>>(
                                  [old, name]() -> Task<StatusOr<std::vector<CreatedTopic>>> {
                                    CreateTopicsRequest req = OneTopic(name, 1, 2);
                                    StatusOr<std::vector<CreatedTopic>> r =
                                        co_await old->CreateTopics(std::move(req));
                                    co_return r;
                                  }));
  }
  const auto stopped_at = SteadyClock::now();
  q.net().Isolate(raft::NodeId{static_cast<uint32_t>(leader)}, true);
  EXPECT_TRUE(q.Stop(leader).ok());
  q.net().HealAll();
  int in_flight_ok = 0;
  for (auto& [name, f] : flight) {
    ASSERT_EQ(f.wait_for(kCallTimeout), std::future_status::ready);
    StatusOr<std::vector<CreatedTopic>> r = f.get();
    if (r.ok() && (*r)[0].status.ok()) {
      answered.insert(name);
      ++in_flight_ok;
    } else {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
    }
  }
  // A new active controller within a few election timeouts.
  const int next = q.WaitForActive(20 * kElection);
  EXPECT_NE(next, 0);
  EXPECT_NE(next, leader);
  const auto failover =
      std::chrono::duration_cast<milliseconds>(SteadyClock::now() - stopped_at).count();
  const size_t at_failover = streamed_count();
  EXPECT_TRUE(
      PollUntil([&] { return streamed_count() >= at_failover + 20; }, milliseconds(20'000)));
  stop_stream = true;
  stream.join();
  EXPECT_EQ(unexpected.load(), 0);
  std::printf("failover: %lld ms; %zu topics streamed; %d of 20 in flight answered OK\n",
              static_cast<long long>(failover), streamed.size(), in_flight_ok);
  answered.insert(streamed.begin(), streamed.end());

  const int now_active = q.WaitForActive(20 * kElection);
  ASSERT_NE(now_active, 0);
  StatusOr<MetadataView> view = q.Read(now_active);
  ASSERT_TRUE(view.ok()) << view.status();
  for (const std::string& name : answered) {
    EXPECT_NE(view->image.FindTopic(name), nullptr) << name;
  }
  // The stopped voter comes back and every voter converges on the same image.
  ASSERT_TRUE(q.Start(leader).ok());
  ASSERT_TRUE(q.WaitConverged(q.All(), &view->image, milliseconds(20'000)));

  // The whole quorum restarts from disk.
  for (int i : q.All()) ASSERT_TRUE(q.Stop(i).ok());
  for (int i : q.All()) ASSERT_TRUE(q.Start(i).ok());
  const int restarted = q.WaitForActive(40 * kElection);
  ASSERT_NE(restarted, 0);
  StatusOr<MetadataView> after = q.Read(restarted);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->image, view->image);
  ASSERT_TRUE(q.WaitConverged(q.All(), &view->image, milliseconds(20'000)));
  const QuorumStatus qs = q.StatusOf(restarted);
  EXPECT_EQ(qs.raft.voters.size(), 3u);
  EXPECT_EQ(qs.brokers.size(), 3u);
}

TEST(QuorumController, ConcurrentRegistrationsGetTheirEntryIndexAsEpoch) {
  Quorum q(QuorumOptions{.voters = 1});
  ASSERT_EQ(q.WaitForActive(20 * kElection), 1);
  // Eight registrations in flight at once: each is decided on the latest image (the earlier
  // ones pending) and its epoch is the index its own entry got.
  std::vector<std::future<StatusOr<RegisterBrokerReply>>> calls;
  QuorumController* c = q.ctl(1);
  for (int32_t b = 1; b <= 8; ++b) {
    calls.push_back(q.host(1).Spawn<StatusOr<RegisterBrokerReply>>(
        [c, b]() -> Task<StatusOr<RegisterBrokerReply>> {
          RegisterBrokerRequest req;
          req.broker_id = b;
          req.incarnation_id = absl::StrCat("inc-", b);
          req.endpoints = {Endpoint{"PLAINTEXT", "127.0.0.1", 9000 + b}};
          StatusOr<RegisterBrokerReply> r = co_await c->RegisterBroker(std::move(req));
          co_return r;
        }));
  }
  std::set<int64_t> epochs;
  std::map<int32_t, int64_t> by_broker;
  for (int32_t b = 1; b <= 8; ++b) {
    ASSERT_EQ(calls[b - 1].wait_for(kCallTimeout), std::future_status::ready);
    StatusOr<RegisterBrokerReply> r = calls[b - 1].get();
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->status.ok()) << r->status;
    epochs.insert(r->broker_epoch);
    by_broker[b] = r->broker_epoch;
  }
  EXPECT_EQ(epochs.size(), 8u);
  StatusOr<MetadataView> view = q.Read(1);
  ASSERT_TRUE(view.ok());
  std::optional<MetadataDelta> d = q.Fetch(1, 0);
  ASSERT_TRUE(d.has_value());
  std::map<int64_t, int32_t> registered_at;  // entry index -> broker registered there
  for (const MetadataBatch& batch : d->batches) {
    for (const v1::MetadataRecord& rec : batch.records) {
      if (rec.has_register_broker()) registered_at[batch.index] = rec.register_broker().broker_id();
    }
  }
  for (const auto& [b, epoch] : by_broker) {
    const BrokerRegistration* reg = view->image.FindBroker(b);
    ASSERT_NE(reg, nullptr);
    EXPECT_EQ(reg->epoch, epoch);
    EXPECT_EQ(registered_at[epoch], b) << "broker " << b;
    EXPECT_TRUE(reg->fenced);  // until a heartbeat shows it caught up to its epoch
  }
  // A heartbeat from behind its epoch leaves it fenced; one at its epoch unfences it.
  StatusOr<HeartbeatReply> behind = q.Heartbeat(1, 1, by_broker[1], by_broker[1] - 1);
  ASSERT_TRUE(behind.ok() && behind->status.ok());
  EXPECT_TRUE(behind->fenced);
  StatusOr<HeartbeatReply> caught_up = q.Heartbeat(1, 1, by_broker[1], by_broker[1]);
  ASSERT_TRUE(caught_up.ok() && caught_up->status.ok());
  EXPECT_FALSE(caught_up->fenced);
  StatusOr<HeartbeatReply> stale = q.Heartbeat(1, 1, by_broker[1] - 1, by_broker[1]);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(ControllerErrorOf(stale->status), ControllerError::kStaleBrokerEpoch);
}

TEST(QuorumController, AlterPartitionAndControlledShutdown) {
  Quorum q(QuorumOptions{.voters = 1});
  ASSERT_EQ(q.WaitForActive(20 * kElection), 1);
  const std::map<int32_t, int64_t> epochs = q.AddBrokers(1, 3);
  ASSERT_EQ(epochs.size(), 3u);
  StatusOr<std::vector<CreatedTopic>> r = q.Create(1, OneTopic("isr", 1, 3));
  ASSERT_TRUE(r.ok() && (*r)[0].status.ok());
  StatusOr<MetadataView> view = q.Read(1);
  ASSERT_TRUE(view.ok());
  const TopicImage* t = view->image.FindTopic("isr");
  ASSERT_NE(t, nullptr);
  const PartitionState p = t->partitions[0];
  ASSERT_EQ(p.isr.size(), 3u);
  AlterPartitionRequest shrink;
  shrink.broker_id = p.leader;
  shrink.broker_epoch = epochs.at(p.leader);
  shrink.topic_id = t->id;
  shrink.partition = 0;
  shrink.leader_epoch = p.leader_epoch;
  shrink.partition_epoch = p.partition_epoch;
  shrink.new_isr = {p.leader};
  std::optional<StatusOr<AlterPartitionReply>> a = q.Run<StatusOr<AlterPartitionReply>>(
      1, [shrink](QuorumController* c) { return c->AlterPartition(shrink); });
  ASSERT_TRUE(a.has_value() && a->ok());
  ASSERT_TRUE((*a)->status.ok()) << (*a)->status;
  EXPECT_EQ((*a)->partition.isr, std::vector<int32_t>{p.leader});
  EXPECT_EQ((*a)->partition.partition_epoch, p.partition_epoch + 1);
  // The same request again carries a stale partition epoch.
  std::optional<StatusOr<AlterPartitionReply>> again = q.Run<StatusOr<AlterPartitionReply>>(
      1, [shrink](QuorumController* c) { return c->AlterPartition(shrink); });
  ASSERT_TRUE(again.has_value() && again->ok());
  EXPECT_EQ(ControllerErrorOf((*again)->status), ControllerError::kInvalidUpdateVersion);

  // Controlled shutdown of a follower that is not in the ISR any more, then of the leader: the
  // leader is the last ISR member, so it keeps its membership and the partition goes offline.
  const int32_t follower = p.replicas[0] == p.leader ? p.replicas[1] : p.replicas[0];
  const BrokerRef f{follower, epochs.at(follower)};
  std::optional<Status> down =
      q.Run<Status>(1, [f](QuorumController* c) { return c->ControlledShutdown(f); });
  ASSERT_TRUE(down.has_value());
  EXPECT_TRUE(down->ok()) << *down;
  StatusOr<MetadataView> after = q.Read(1);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->image.IsLive(follower));
  EXPECT_EQ(after->image.FindPartition(t->id, 0)->leader, p.leader);
  const QuorumStatus st = q.StatusOf(1);
  for (const BrokerStatus& bs : st.brokers) EXPECT_EQ(bs.fenced, bs.id == follower) << bs.id;
}

TEST(QuorumController, NewActiveControllerGivesEveryBrokerAFreshSession) {
  constexpr int64_t kSessionMs = 800 * kSlowdown;
  Quorum q(QuorumOptions{.voters = 3, .session_timeout_ms = kSessionMs});
  const int leader = q.WaitForActive(40 * kElection);
  ASSERT_NE(leader, 0);
  const std::map<int32_t, int64_t> epochs = q.AddBrokers(leader, 3);
  ASSERT_EQ(epochs.size(), 3u);
  // The active controller goes; broker 3 never heartbeats again, brokers 1 and 2 heartbeat
  // whoever is active. The new controller never heard from any of them before it became active:
  // without a fresh session each, it would fence them at its first session check.
  const auto stopped_at = SteadyClock::now();
  ASSERT_TRUE(q.Stop(leader).ok());
  auto last_beat = SteadyClock::now() - milliseconds(kSessionMs);
  StatusOr<MetadataView> seen = absl::UnknownError("not read");
  std::optional<SteadyClock::time_point> fenced_12;
  const bool fenced_3 = PollUntil(
      [&] {
        const int a = q.WaitForActive(20 * kElection);
        if (a == 0) return false;
        if (SteadyClock::now() - last_beat >= milliseconds(kSessionMs / 8)) {
          last_beat = SteadyClock::now();
          for (int32_t b : {1, 2}) {
            StatusOr<HeartbeatReply> hb = q.Heartbeat(a, b, epochs.at(b), 1 << 30);
            // Refused only while the controller changes (NOT_CONTROLLER).
            if (hb.ok()) {
              EXPECT_TRUE(hb->status.ok()) << hb->status;
            }
          }
        }
        seen = q.Read(a);
        if (!seen.ok()) return false;
        if (!fenced_12.has_value() && (!seen->image.IsLive(1) || !seen->image.IsLive(2))) {
          fenced_12 = SteadyClock::now();
        }
        return !seen->image.IsLive(3);
      },
      milliseconds(20 * kSessionMs));
  ASSERT_TRUE(fenced_3) << "broker 3 was not fenced";
  EXPECT_GE(SteadyClock::now() - stopped_at, milliseconds(kSessionMs));
  EXPECT_FALSE(fenced_12.has_value()) << "a heartbeating broker was fenced";
}

TEST(QuorumController, SilentBrokerIsFencedAndItsLeadershipsMove) {
  constexpr int64_t kSessionMs = 600 * kSlowdown;
  Quorum q(QuorumOptions{.voters = 3, .session_timeout_ms = kSessionMs});
  const int leader = q.WaitForActive(40 * kElection);
  ASSERT_NE(leader, 0);
  const std::map<int32_t, int64_t> epochs = q.AddBrokers(leader, 3);
  ASSERT_EQ(epochs.size(), 3u);
  StatusOr<std::vector<CreatedTopic>> r = q.Create(leader, OneTopic("fence", 6, 3));
  ASSERT_TRUE(r.ok() && (*r)[0].status.ok());
  StatusOr<MetadataView> before = q.Read(leader);
  ASSERT_TRUE(before.ok());
  const TopicImage* t = before->image.FindTopic("fence");
  ASSERT_NE(t, nullptr);
  const TopicId id = t->id;
  int led_by_3 = 0;
  for (const PartitionState& p : t->partitions) led_by_3 += p.leader == 3 ? 1 : 0;
  ASSERT_GT(led_by_3, 0);

  // Brokers 1 and 2 keep heartbeating (paced, every session/6); broker 3 goes silent.
  const auto silent_from = SteadyClock::now();
  auto last_beat = SteadyClock::now() - milliseconds(kSessionMs);
  StatusOr<MetadataView> fenced = absl::UnknownError("not read");
  const bool done = PollUntil(
      [&] {
        if (SteadyClock::now() - last_beat >= milliseconds(kSessionMs / 6)) {
          last_beat = SteadyClock::now();
          for (int32_t b : {1, 2}) {
            StatusOr<HeartbeatReply> hb = q.Heartbeat(leader, b, epochs.at(b), 1 << 30);
            EXPECT_TRUE(hb.ok() && hb->status.ok());
          }
        }
        fenced = q.Read(leader);
        if (!fenced.ok()) return false;
        const BrokerRegistration* b3 = fenced->image.FindBroker(3);
        return b3 != nullptr && b3->fenced;
      },
      milliseconds(10 * kSessionMs));
  ASSERT_TRUE(done) << "broker 3 was not fenced";
  const auto took = SteadyClock::now() - silent_from;
  EXPECT_GE(took, milliseconds(kSessionMs));
  EXPECT_TRUE(fenced->image.IsLive(1));
  EXPECT_TRUE(fenced->image.IsLive(2));
  const TopicImage* after = fenced->image.FindTopic(id);
  ASSERT_NE(after, nullptr);
  for (size_t p = 0; p < after->partitions.size(); ++p) {
    const PartitionState& now = after->partitions[p];
    const PartitionState& was = t->partitions[p];
    EXPECT_NE(now.leader, 3) << "partition " << p;
    EXPECT_NE(now.leader, kNoLeader) << "partition " << p;
    // The new leader was in the ISR; broker 3 left every ISR it was not the last member of.
    EXPECT_NE(std::find(was.isr.begin(), was.isr.end(), now.leader), was.isr.end());
    EXPECT_EQ(std::find(now.isr.begin(), now.isr.end(), 3), now.isr.end()) << "partition " << p;
    if (was.leader == 3) {
      EXPECT_GT(now.leader_epoch, was.leader_epoch);
    }
  }
  const QuorumStatus qs = q.StatusOf(leader);
  for (const BrokerStatus& bs : qs.brokers) EXPECT_EQ(bs.fenced, bs.id == 3) << bs.id;
  // Broker 3 comes back: a heartbeat that shows it caught up unfences it.
  StatusOr<HeartbeatReply> back = q.Heartbeat(leader, 3, epochs.at(3), 1 << 30);
  ASSERT_TRUE(back.ok() && back->status.ok());
  EXPECT_FALSE(back->fenced);
  // Controlled shutdown through the heartbeat moves its (ISR) memberships and fences it.
  HeartbeatRequest bye{3, epochs.at(3), 1 << 30, true};
  std::optional<StatusOr<HeartbeatReply>> shut = q.Run<StatusOr<HeartbeatReply>>(
      leader, [bye](QuorumController* c) { return c->BrokerHeartbeat(bye); });
  ASSERT_TRUE(shut.has_value() && shut->ok());
  EXPECT_TRUE((*shut)->shutdown_ready);
  StatusOr<MetadataView> last = q.Read(leader);
  ASSERT_TRUE(last.ok());
  EXPECT_FALSE(last->image.IsLive(3));
}

// The activation wait (quorum_controller.h): a new active controller decides only on an image
// with every entry committed before its term. L commits CreateTopics("a") with G's ack; F gets
// the entry but not its commit (the filter drops L's messages to F whose commit covers it) and G
// never campaigns (its vote requests are dropped). L stops; F wins with G's vote. F's first
// append as leader (seen by the filter, on F's thread) queues a CreateTopics("a") on F's reactor,
// ahead of G's answer to it: decided before F's no-op (and "a") commits unless F waits.
TEST(QuorumController, NewActiveControllerDecidesOnEveryEntryCommittedBeforeItsTerm) {
  using CreateResult = StatusOr<std::vector<CreatedTopic>>;
  Quorum q(QuorumOptions{.voters = 3});
  const int leader = q.WaitForActive(40 * kElection);
  ASSERT_NE(leader, 0);
  ASSERT_EQ(q.AddBrokers(leader, 1).size(), 1u);
  const int f = leader == 1 ? 2 : 1;
  auto node = [](int i) { return raft::NodeId{static_cast<uint32_t>(i)}; };
  const raft::NodeId node_l = node(leader), node_f = node(f), node_g = node(6 - leader - f);
  // Every request so far is answered, so nothing is pending: "a" gets the next index.
  const raft::DriverStatus at_start = q.StatusOf(leader).raft;
  const uint64_t a_index = at_start.last_index.value() + 1;
  const uint64_t old_term = at_start.term.value();
  // Shared with the filter, which runs on the voters' reactor threads.
  auto fired = std::make_shared<std::atomic<bool>>(false);
  auto dup_promise = std::make_shared<std::promise<CreateResult>>();
  std::future<CreateResult> dup_future = dup_promise->get_future();
  q.net().SetFilter([=, qp = &q](raft::NodeId from, const raft::Message& m) {
    using raft::MessageType;
    if (from == node_g && (m.type == MessageType::kPreVote || m.type == MessageType::kVote)) {
      return true;
    }
    if (from == node_l && m.to == node_f && m.commit.value() >= a_index) return true;
    if (from == node_f && m.type == MessageType::kAppend && m.term.value() > old_term &&
        !fired->exchange(true)) {
      qp->host(f).Spawn<bool>([qp, f, dup_promise]() -> Task<bool> {
        CreateResult r = absl::UnavailableError("F not running");
        QuorumController* c = qp->ctl(f);
        if (c != nullptr) {
          CreateTopicsRequest req = OneTopic("a", 1, 1);
          r = co_await c->CreateTopics(std::move(req));
        }
        dup_promise->set_value(std::move(r));
        co_return true;
      });
    }
    return false;
  });
  CreateResult created = q.Create(leader, OneTopic("a", 1, 1));
  ASSERT_TRUE(created.ok() && (*created)[0].status.ok()) << created.status();
  const TopicId a_id = (*created)[0].topic_id;
  ASSERT_EQ(q.StatusOf(leader).raft.commit.value(), a_index);
  // F holds the entry but does not know it is committed.
  ASSERT_TRUE(PollUntil([&] { return q.StatusOf(f).raft.last_index.value() >= a_index; },
                        milliseconds(10'000)));
  EXPECT_LT(q.StatusOf(f).raft.commit.value(), a_index);
  EXPECT_EQ(q.Committed(f).second.FindTopic("a"), nullptr);
  ASSERT_TRUE(q.Stop(leader).ok());
  ASSERT_EQ(dup_future.wait_for(40 * kElection + kCallTimeout), std::future_status::ready)
      << "F never led, or never answered";
  const CreateResult dup = dup_future.get();
  ASSERT_TRUE(dup.ok()) << dup.status();
  EXPECT_EQ(ControllerErrorOf((*dup)[0].status), ControllerError::kTopicAlreadyExists)
      << (*dup)[0].status;
  EXPECT_EQ(q.WaitForActive(20 * kElection), f);
  // "a" once, with L's id, in the image and in the log (the duplicate was never proposed).
  const ClusterImage image = q.Committed(f).second;
  ASSERT_NE(image.FindTopic("a"), nullptr);
  EXPECT_EQ(image.FindTopic("a")->id, a_id);
  EXPECT_EQ(std::count_if(image.topics().begin(), image.topics().end(),
                          [](const auto& t) { return t.second.name == "a"; }),
            1);
  std::optional<MetadataDelta> delta = q.Fetch(f, 0);
  ASSERT_TRUE(delta.has_value());
  int a_records = 0;
  for (const MetadataBatch& b : delta->batches) {
    for (const v1::MetadataRecord& r : b.records) a_records += r.topic().name() == "a" ? 1 : 0;
  }
  EXPECT_EQ(a_records, 1);
}

}  // namespace
}  // namespace spool::controller
