// RaftDriver on real reactors and real files (replication/raft/driver.h): one voter that
// survives a restart; three voters, each on its own reactor thread, over LocalNetwork (every
// message through the wire encoding): election, 1000 proposals applied identically, a leader
// stopped and restarted from its files, a partitioned follower catching up through a snapshot,
// Propose/ReadBarrier on a follower naming the leader, and a partitioned old leader whose
// ReadBarrier never answers.
//
// Every wait has a deadline: a test thread waits on a future, or polls a condition (PollUntil)
// until a deadline; nothing sleeps to let something happen.
#include "replication/raft/driver.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/strings/str_cat.h"
#include "common/io/file_system.h"
#include "common/io/when_all.h"
#include "replication/raft/local_transport.h"
#include "replication/raft/wire.h"
#include "tests/support/fault_file_system.h"
#include "tests/support/test_env.h"
#include "tests/unit/replication/driver_test_util.h"

namespace spool::raft {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

using test::Host;
using test::kCallTimeout;
using test::kElection;
using test::kElectionNs;
using test::ListSm;
using test::PollUntil;
using test::ProposeInto;

// ---- a cluster of voters, each with its host, files, state machine and driver ----

class Cluster {
 public:
  explicit Cluster(int n, uint64_t snapshot_every = 1024)
      : seed_(testing::TestSeed()), net_("driver-test") {
    for (int i = 1; i <= n; ++i) voter_ids_.push_back(NodeId{static_cast<uint32_t>(i)});
    for (NodeId id : voter_ids_) {
      auto v = std::make_unique<Voter>();
      v->id = id;
      v->dir = dir_.file(absl::StrCat("node", id.value()));
      v->transport = std::make_unique<LocalTransport>(net_, id);
      v->snapshot_every = snapshot_every;
      voters_[id.value()] = std::move(v);
    }
    for (NodeId id : voter_ids_) EXPECT_TRUE(Start(static_cast<int>(id.value())).ok());
  }
  ~Cluster() {
    for (auto& [id, v] : voters_) {
      if (v->driver) PermitUncheckedError(Stop(id));
    }
  }

  LocalNetwork& net() { return net_; }
  Host& host(int i) { return voters_.at(i)->host; }
  RaftDriver* driver(int i) { return voters_.at(i)->driver.get(); }
  bool running(int i) { return voters_.at(i)->driver != nullptr; }

  // (Re)starts voter i from its files with an empty state machine.
  Status Start(int i) {
    Voter& v = *voters_.at(i);
    v.sm = std::make_unique<ListSm>();
    DriverOptions o;
    o.raft.id = v.id;
    o.raft.voters = voter_ids_;
    o.raft.election_timeout_ns = kElectionNs;
    o.raft.heartbeat_interval_ns = kElectionNs / 5;
    o.dir = v.dir;
    o.cluster_id = net_.cluster_id();
    o.snapshot_every = v.snapshot_every;
    o.seed = seed_ + v.id.value() * 1000 + static_cast<uint64_t>(++v.starts);
    std::optional<Status> st = v.host.Call<Status>([this, &v, o]() -> Task<Status> {
      DriverOptions opts = o;
      StatusOr<std::unique_ptr<RaftDriver>> d = co_await RaftDriver::Start(
          v.host.reactor(), v.host.fs(), std::move(opts), *v.sm, *v.transport);
      if (!d.ok()) co_return d.status();
      v.driver = std::move(d).value();
      net_.Attach(v.id, v.host.reactor(), *v.driver);
      co_return absl::OkStatus();
    });
    if (!st.has_value()) return absl::DeadlineExceededError("start timed out");
    return *st;
  }

  // Detaches voter i from the network and stops its driver (a clean shutdown).
  Status Stop(int i) {
    Voter& v = *voters_.at(i);
    std::optional<Status> st = v.host.Call<Status>([this, &v]() -> Task<Status> {
      net_.Detach(v.id);
      Status s = co_await v.driver->Stop();
      v.driver.reset();
      co_return s;
    });
    if (!st.has_value()) return absl::DeadlineExceededError("stop timed out");
    return *st;
  }

  DriverStatus StatusOf(int i) {
    Voter& v = *voters_.at(i);
    std::optional<DriverStatus> s =
        v.host.Do([&v] { return v.driver ? v.driver->status() : DriverStatus{}; });
    return s.value_or(DriverStatus{});
  }
  std::vector<ListSm::Item> Items(int i) {
    Voter& v = *voters_.at(i);
    return v.host.Do([&v] { return v.sm->items(); }).value_or(std::vector<ListSm::Item>{});
  }

  // Waits until exactly one of `among` leads and every other one of them follows it in its term.
  int WaitForLeader(const std::vector<int>& among, milliseconds timeout) {
    int leader = 0;
    PollUntil(
        [&] {
          std::map<int, DriverStatus> s;
          for (int i : among) s[i] = StatusOf(i);
          leader = 0;
          for (auto& [i, st] : s) {
            if (st.role == Role::kLeader) {
              if (leader != 0) return false;
              leader = i;
            }
          }
          if (leader == 0) return false;
          for (auto& [i, st] : s) {
            if (st.term != s[leader].term || st.leader != NodeId{static_cast<uint32_t>(leader)}) {
              return false;
            }
          }
          return true;
        },
        timeout);
    return leader;
  }
  std::vector<int> All() const {
    std::vector<int> out;
    for (NodeId id : voter_ids_) out.push_back(static_cast<int>(id.value()));
    return out;
  }

  StatusOr<Index> Propose(int i, std::string data) {
    RaftDriver* d = driver(i);
    std::optional<StatusOr<Index>> r =
        host(i).Call<StatusOr<Index>>([d, data]() -> Task<StatusOr<Index>> {
          std::string s = data;
          StatusOr<Index> out = co_await d->Propose(std::move(s));
          co_return out;
        });
    if (!r.has_value()) return absl::DeadlineExceededError("propose timed out");
    return *r;
  }
  Status ReadBarrier(int i) {
    RaftDriver* d = driver(i);
    std::optional<Status> r = host(i).Call<Status>([d]() -> Task<Status> {
      Status st = co_await d->ReadBarrier();
      co_return st;
    });
    if (!r.has_value()) return absl::DeadlineExceededError("read barrier timed out");
    return *r;
  }
  // Proposes every payload concurrently at voter i; one result per payload.
  std::vector<StatusOr<Index>> ProposeAll(int i, const std::vector<std::string>& data) {
    RaftDriver* d = driver(i);
    auto results = std::make_shared<std::vector<StatusOr<Index>>>(data.size(), Index{0});
    Host& h = host(i);
    std::optional<bool> done = h.Call<bool>([d, &h, data, results]() -> Task<bool> {
      std::vector<Task<void>> tasks;
      for (size_t k = 0; k < data.size(); ++k) {
        tasks.push_back(ProposeInto(d, data[k], &(*results)[k]));
      }
      co_await io::WhenAll(h.reactor(), std::move(tasks));
      co_return true;
    });
    if (!done.has_value()) {
      return std::vector<StatusOr<Index>>(data.size(), absl::DeadlineExceededError("timed out"));
    }
    return *results;
  }

  // Proposes every payload, retrying failures at whoever leads `among` (default: the running
  // voters) then, until each has succeeded once. Returns false if that did not happen in time.
  bool ProposeUntilCommitted(std::vector<std::string> data, milliseconds timeout,
                             std::vector<int> among = {}) {
    const auto deadline = Clock::now() + timeout;
    int rounds = 0;
    Status last;
    while (!data.empty()) {
      if (Clock::now() > deadline) {
        ADD_FAILURE() << data.size() << " proposals left after " << rounds
                      << " rounds; last error: " << last;
        return false;
      }
      const int leader = WaitForLeader(among.empty() ? RunningIds() : among, 40 * kElection);
      if (leader == 0) continue;
      ++rounds;
      std::vector<StatusOr<Index>> r = ProposeAll(leader, data);
      std::vector<std::string> again;
      for (size_t k = 0; k < data.size(); ++k) {
        if (!r[k].ok()) {
          again.push_back(data[k]);
          last = r[k].status();
        }
      }
      data = std::move(again);
    }
    return true;
  }
  std::vector<int> RunningIds() {
    std::vector<int> out;
    for (int i : All()) {
      if (running(i)) out.push_back(i);
    }
    return out;
  }

  // Waits until every voter in `among` has applied the same index, at least `at_least`.
  bool WaitAppliedEqual(const std::vector<int>& among, Index at_least, milliseconds timeout) {
    return PollUntil(
        [&] {
          std::optional<Index> first;
          for (int i : among) {
            const DriverStatus s = StatusOf(i);
            if (s.applied < at_least || s.applied < s.commit) return false;
            if (first.has_value() && *first != s.applied) return false;
            first = s.applied;
          }
          return true;
        },
        timeout);
  }

 private:
  struct Voter {
    NodeId id;
    std::string dir;
    uint64_t snapshot_every = 1024;
    int starts = 0;
    std::unique_ptr<ListSm> sm;
    std::unique_ptr<LocalTransport> transport;
    std::unique_ptr<RaftDriver> driver;
    Host host;  // declared last: destroyed first, after the driver is stopped
  };

  const uint64_t seed_;
  testing::TempDir dir_;
  LocalNetwork net_;
  std::vector<NodeId> voter_ids_;
  std::map<int, std::unique_ptr<Voter>> voters_;
};

std::vector<std::string> Payloads(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int k = 0; k < n; ++k) out.push_back(absl::StrCat(prefix, k));
  return out;
}

std::multiset<std::string> DataOf(const std::vector<ListSm::Item>& items) {
  std::multiset<std::string> out;
  for (const auto& it : items) out.insert(it.second);
  return out;
}

// ---- tests ----

TEST(RaftDriver, SingleVoterCommitsAndRecoversFromDisk) {
  Cluster c(1, /*snapshot_every=*/25);
  ASSERT_EQ(c.WaitForLeader({1}, 20 * kElection), 1);
  Index last{0};
  for (int k = 0; k < 60; ++k) {
    StatusOr<Index> r = c.Propose(1, absl::StrCat("s", k));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GT(*r, last);
    last = *r;
  }
  for (const StatusOr<Index>& r : c.ProposeAll(1, Payloads("c", 40))) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GT(*r, Index{60});
  }
  ASSERT_TRUE(c.ReadBarrier(1).ok());
  const DriverStatus before = c.StatusOf(1);
  EXPECT_EQ(before.applied, before.commit);
  EXPECT_EQ(before.applied, before.last_index);
  EXPECT_GE(before.counters.snapshots_taken, 3u);
  ASSERT_EQ(before.voters.size(), 1u);
  EXPECT_EQ(before.voters[0].lag, 0u);
  const std::vector<ListSm::Item> items = c.Items(1);
  ASSERT_EQ(items.size(), 100u);

  ASSERT_TRUE(c.Stop(1).ok());
  ASSERT_TRUE(c.Start(1).ok());
  ASSERT_EQ(c.WaitForLeader({1}, 20 * kElection), 1);
  // The barrier waits for the new term's no-op, then for everything before it to be applied.
  ASSERT_TRUE(c.ReadBarrier(1).ok());
  const DriverStatus after = c.StatusOf(1);
  EXPECT_GT(after.term, before.term);
  EXPECT_GT(after.snapshot_index, Index{0});
  EXPECT_EQ(c.Items(1), items);
  StatusOr<Index> next = c.Propose(1, "after restart");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_GT(*next, before.last_index);

  // next_index() names the index of a Propose that directly follows it.
  RaftDriver* d = c.driver(1);
  using Pair = std::pair<Index, StatusOr<Index>>;
  std::optional<Pair> got = c.host(1).Call<Pair>([d]() -> Task<Pair> {
    const Index expect = d->next_index();
    std::string data = "knows its index";
    StatusOr<Index> r = co_await d->Propose(std::move(data));
    co_return Pair(expect, std::move(r));
  });
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(got->second.ok()) << got->second.status();
  EXPECT_EQ(*got->second, got->first);
}

TEST(RaftDriver, ThreeVotersCommitAThousandProposalsIdentically) {
  const auto started = Clock::now();
  Cluster c(3, /*snapshot_every=*/128);
  const int leader = c.WaitForLeader(c.All(), 40 * kElection);
  ASSERT_NE(leader, 0);
  const int follower = leader % 3 + 1;

  // A follower refuses and names the leader.
  StatusOr<Index> refused = c.Propose(follower, "nope");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(LeaderHint(refused.status()), NodeId{static_cast<uint32_t>(leader)});
  const Status read = c.ReadBarrier(follower);
  EXPECT_EQ(read.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(LeaderHint(read), NodeId{static_cast<uint32_t>(leader)});

  const std::vector<std::string> data = Payloads("p", 1000);
  ASSERT_TRUE(c.ProposeUntilCommitted(data, milliseconds(60'000)));
  const int now_leader = c.WaitForLeader(c.All(), 40 * kElection);
  ASSERT_NE(now_leader, 0);
  ASSERT_TRUE(c.ReadBarrier(now_leader).ok());
  const DriverStatus ls = c.StatusOf(now_leader);
  ASSERT_TRUE(c.WaitAppliedEqual(c.All(), ls.commit, milliseconds(10'000)));

  const std::vector<ListSm::Item> items = c.Items(1);
  EXPECT_EQ(c.Items(2), items);
  EXPECT_EQ(c.Items(3), items);
  // Every payload is there (a retry after a leader change may have committed one twice).
  const std::multiset<std::string> got = DataOf(items);
  for (const std::string& d : data) EXPECT_TRUE(got.contains(d)) << d;
  // Compaction runs at most once per Ready, after snapshot_every (128) more entries.
  EXPECT_GE(ls.counters.snapshots_taken, 1u);
  for (int i : c.All()) EXPECT_GT(c.StatusOf(i).snapshot_index, Index{0}) << "voter " << i;
  // The leader's view of the quorum once everyone has caught up.
  ASSERT_TRUE(PollUntil(
      [&] {
        const DriverStatus s = c.StatusOf(now_leader);
        if (s.voters.size() != 3) return false;
        for (const VoterStatus& v : s.voters) {
          if (v.lag != 0 || !v.active) return false;
        }
        return true;
      },
      milliseconds(5000)));
  // The timers sleep until the node's next deadline: about one wake-up per heartbeat interval
  // (30 ms) on the leader, fewer on followers. A polling or spinning loop would show thousands.
  const int64_t elapsed_ms =
      std::chrono::duration_cast<milliseconds>(Clock::now() - started).count();
  for (int i : c.All()) {
    EXPECT_LE(c.StatusOf(i).counters.timer_wakeups, static_cast<uint64_t>(elapsed_ms / 15 + 20))
        << "voter " << i << " over " << elapsed_ms << " ms";
  }
}

TEST(RaftDriver, LeaderStoppedAndRestartedFromItsFiles) {
  Cluster c(3, /*snapshot_every=*/40);
  const int leader = c.WaitForLeader(c.All(), 40 * kElection);
  ASSERT_NE(leader, 0);
  const std::vector<std::string> first = Payloads("a", 50);
  ASSERT_TRUE(c.ProposeUntilCommitted(first, milliseconds(30'000)));
  const int old_leader = c.WaitForLeader(c.All(), 40 * kElection);
  ASSERT_NE(old_leader, 0);
  const Term old_term = c.StatusOf(old_leader).term;

  const auto stopped_at = Clock::now();
  ASSERT_TRUE(c.Stop(old_leader).ok());
  std::vector<int> rest;
  for (int i : c.All()) {
    if (i != old_leader) rest.push_back(i);
  }
  const int new_leader = c.WaitForLeader(rest, 20 * kElection);
  const auto elected_in = Clock::now() - stopped_at;
  ASSERT_NE(new_leader, 0);
  EXPECT_GT(c.StatusOf(new_leader).term, old_term);
  // Detection takes one randomized timeout in [150, 300) ms, then a pre-vote and a vote round.
  EXPECT_LT(elected_in, 10 * kElection)
      << std::chrono::duration_cast<milliseconds>(elected_in).count() << " ms";

  const std::vector<std::string> second = Payloads("b", 50);
  ASSERT_TRUE(c.ProposeUntilCommitted(second, milliseconds(30'000)));

  ASSERT_TRUE(c.Start(old_leader).ok());
  const int leader_now = c.WaitForLeader(c.All(), 40 * kElection);
  ASSERT_NE(leader_now, 0);
  ASSERT_TRUE(c.ReadBarrier(leader_now).ok());
  ASSERT_TRUE(c.WaitAppliedEqual(c.All(), c.StatusOf(leader_now).commit, milliseconds(10'000)));
  const std::vector<ListSm::Item> items = c.Items(leader_now);
  for (int i : c.All()) EXPECT_EQ(c.Items(i), items) << "voter " << i;
  const std::multiset<std::string> got = DataOf(items);
  for (const std::string& d : first) EXPECT_TRUE(got.contains(d)) << d;
  for (const std::string& d : second) EXPECT_TRUE(got.contains(d)) << d;
}

TEST(RaftDriver, PartitionedFollowerCatchesUpThroughASnapshot) {
  Cluster c(3, /*snapshot_every=*/20);
  const int leader = c.WaitForLeader(c.All(), 40 * kElection);
  ASSERT_NE(leader, 0);
  ASSERT_TRUE(c.ProposeUntilCommitted(Payloads("x", 10), milliseconds(30'000)));
  const int lagging = c.WaitForLeader(c.All(), 40 * kElection) % 3 + 1;
  c.net().Isolate(NodeId{static_cast<uint32_t>(lagging)}, true);
  const DriverStatus cut = c.StatusOf(lagging);

  std::vector<int> majority;
  for (int i : c.All()) {
    if (i != lagging) majority.push_back(i);
  }
  ASSERT_TRUE(c.ProposeUntilCommitted(Payloads("y", 150), milliseconds(30'000), majority));
  const int l = c.WaitForLeader(majority, 40 * kElection);
  ASSERT_NE(l, 0);
  // The leader has compacted past everything the cut-off follower holds.
  EXPECT_GT(c.StatusOf(l).snapshot_index, cut.last_index);
  // Pre-vote: the cut-off follower never raised its term.
  EXPECT_EQ(c.StatusOf(lagging).term, cut.term);

  c.net().HealAll();
  ASSERT_TRUE(c.ReadBarrier(l).ok());
  ASSERT_TRUE(c.WaitAppliedEqual(c.All(), c.StatusOf(l).commit, milliseconds(10'000)));
  const DriverStatus caught_up = c.StatusOf(lagging);
  EXPECT_GE(caught_up.counters.snapshots_restored, 1u);
  EXPECT_EQ(c.Items(lagging), c.Items(l));
}

TEST(RaftDriver, ReadBarrierOnAPartitionedOldLeaderNeverAnswers) {
  Cluster c(3);
  const int leader = c.WaitForLeader(c.All(), 40 * kElection);
  ASSERT_NE(leader, 0);
  ASSERT_TRUE(c.ProposeUntilCommitted({"before"}, milliseconds(10'000)));
  const int old_leader = c.WaitForLeader(c.All(), 40 * kElection);
  ASSERT_NE(old_leader, 0);
  c.net().Isolate(NodeId{static_cast<uint32_t>(old_leader)}, true);

  RaftDriver* d = c.driver(old_leader);
  std::future<Status> barrier = c.host(old_leader).Spawn<Status>([d]() -> Task<Status> {
    Status st = co_await d->ReadBarrier();
    co_return st;
  });
  std::vector<int> rest;
  for (int i : c.All()) {
    if (i != old_leader) rest.push_back(i);
  }
  const int new_leader = c.WaitForLeader(rest, 40 * kElection);
  ASSERT_NE(new_leader, 0);
  StatusOr<Index> after = c.Propose(new_leader, "after");
  ASSERT_TRUE(after.ok()) << after.status();

  // Check-quorum deposes the old leader within an election timeout: the barrier fails then. It
  // must never succeed (its state machine lacks "after").
  ASSERT_EQ(barrier.wait_for(20 * kElection), std::future_status::ready);
  const Status st = barrier.get();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(c.StatusOf(old_leader).role, Role::kLeader);

  c.net().HealAll();
  ASSERT_TRUE(c.WaitAppliedEqual(c.All(), *after, milliseconds(10'000)));
  EXPECT_TRUE(DataOf(c.Items(old_leader)).contains("after"));
}

TEST(RaftDriver, DropsForeignAndMalformedWireMessages) {
  Cluster c(3);
  const int leader = c.WaitForLeader(c.All(), 40 * kElection);
  ASSERT_NE(leader, 0);
  const int follower = leader % 3 + 1;
  const DriverStatus before = c.StatusOf(follower);
  Message vote;
  vote.type = MessageType::kVote;
  vote.from = NodeId{static_cast<uint32_t>(leader)};
  vote.to = NodeId{static_cast<uint32_t>(follower)};
  vote.term = before.term + 5;
  vote.index = Index{1'000'000};
  vote.log_term = before.term + 5;
  const std::string foreign = EncodeEnvelope("another-cluster", vote);
  RaftDriver* d = c.driver(follower);
  ASSERT_TRUE(c.host(follower)
                  .Do([d, foreign] {
                    d->DeliverWire(foreign);
                    d->DeliverWire("definitely not a raft envelope");
                    return true;
                  })
                  .has_value());
  const DriverStatus after = c.StatusOf(follower);
  EXPECT_EQ(after.counters.dropped_foreign_cluster, 1u);
  EXPECT_GE(after.counters.dropped_malformed, 1u);
  // Had the foreign vote request been taken, the follower would have moved to its term.
  EXPECT_LT(after.term, before.term + 5);
}

// ---- durability: one driver over FaultFileSystem ----

// A Transport that keeps what it is given (reactor thread only).
class RecordingTransport final : public Transport {
 public:
  void Send(Message m) override { sent_.push_back(std::move(m)); }
  const std::vector<Message>& sent() const { return sent_; }

 private:
  std::vector<Message> sent_;
};

// One driver on one host over a FaultFileSystem, started and stopped on the host's thread.
struct FaultyVoter {
  explicit FaultyVoter(std::vector<NodeId> voters, int64_t election_ns)
      : voters(std::move(voters)), election_ns(election_ns) {
    EXPECT_TRUE(host.Do([this] {
                      fs = std::make_unique<testing::FaultFileSystem>(host.reactor(), host.fs(),
                                                                      dir.file("scratch"));
                      return true;
                    })
                    .has_value());
  }
  ~FaultyVoter() {
    if (driver) PermitUncheckedError(Stop());
    host.Do([this] {
      fs.reset();
      return true;
    });
  }
  // Starts the driver over the fault layer (or, with `base`, straight on the disk).
  Status Start(bool base = false) {
    sm = std::make_unique<ListSm>();
    std::optional<Status> st = host.Call<Status>([this, base]() -> Task<Status> {
      DriverOptions o;
      o.raft.id = NodeId{1};
      o.raft.voters = voters;
      o.raft.election_timeout_ns = election_ns;
      o.raft.heartbeat_interval_ns = election_ns / 5;
      o.dir = dir.file("node1");
      o.cluster_id = "c";
      o.seed = 42;
      io::FileSystem& use = base ? host.fs() : static_cast<io::FileSystem&>(*fs);
      StatusOr<std::unique_ptr<RaftDriver>> d =
          co_await RaftDriver::Start(host.reactor(), use, std::move(o), *sm, transport);
      if (!d.ok()) co_return d.status();
      driver = std::move(d).value();
      co_return absl::OkStatus();
    });
    return st.value_or(absl::DeadlineExceededError("start timed out"));
  }
  Status Stop() {
    std::optional<Status> st = host.Call<Status>([this]() -> Task<Status> {
      Status s = co_await driver->Stop();
      driver.reset();
      co_return s;
    });
    return st.value_or(absl::DeadlineExceededError("stop timed out"));
  }
  DriverStatus StatusNow() {
    return host.Do([this] { return driver->status(); }).value_or(DriverStatus{});
  }

  std::vector<NodeId> voters;
  int64_t election_ns;
  testing::TempDir dir;
  RecordingTransport transport;
  std::unique_ptr<ListSm> sm;
  std::unique_ptr<testing::FaultFileSystem> fs;
  std::unique_ptr<RaftDriver> driver;
  Host host;  // destroyed first, after the destructor stopped the driver
};

// Ready contract, steps 1-3: a vote is granted (term and vote written) but the grant does not
// leave until the fdatasync that makes them durable has returned.
TEST(RaftDriverDurability, VoteLeavesOnlyAfterTermAndVoteAreSynced) {
  FaultyVoter v({NodeId{1}, NodeId{2}, NodeId{3}}, /*election_ns=*/10'000'000'000);
  ASSERT_TRUE(v.Start().ok());
  ASSERT_TRUE(v.host
                  .Do([&v] {
                    v.fs->HoldSyncs();
                    Message vote;
                    vote.type = MessageType::kVote;
                    vote.from = NodeId{2};
                    vote.to = NodeId{1};
                    vote.term = Term{5};
                    v.driver->Deliver(vote);
                    return true;
                  })
                  .has_value());
  ASSERT_TRUE(PollUntil([&v] { return v.host.Do([&v] { return v.fs->syncs_waiting(); }) > 0; },
                        milliseconds(5000)));
  EXPECT_EQ(v.host.Do([&v] { return v.transport.sent().size(); }), 0u);
  EXPECT_EQ(v.StatusNow().term, Term{5});  // adopted in memory, not yet acted on

  ASSERT_TRUE(v.host
                  .Do([&v] {
                    v.fs->ReleaseSyncs();
                    return true;
                  })
                  .has_value());
  ASSERT_TRUE(PollUntil([&v] { return v.host.Do([&v] { return v.transport.sent().size(); }) > 0; },
                        milliseconds(5000)));
  const std::vector<Message> sent =
      v.host.Do([&v] { return v.transport.sent(); }).value_or(std::vector<Message>{});
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].type, MessageType::kVoteResponse);
  EXPECT_EQ(sent[0].to, NodeId{2});
  EXPECT_EQ(sent[0].term, Term{5});
  EXPECT_FALSE(sent[0].reject);
}

// A Propose resolves only once its entry is durable: after a power cut while fdatasyncs are held,
// every acknowledged entry is there after a restart and no unacknowledged one is.
TEST(RaftDriverDurability, AcknowledgedProposalsSurviveAPowerCut) {
  FaultyVoter v({NodeId{1}}, kElectionNs);
  ASSERT_TRUE(v.Start().ok());
  std::vector<std::string> acked;
  for (int k = 0; k < 20; ++k) {
    RaftDriver* d = v.driver.get();
    std::string data = absl::StrCat("acked", k);
    std::optional<StatusOr<Index>> r =
        v.host.Call<StatusOr<Index>>([d, data]() -> Task<StatusOr<Index>> {
          std::string s = data;
          StatusOr<Index> out = co_await d->Propose(std::move(s));
          co_return out;
        });
    ASSERT_TRUE(r.has_value() && r->ok());
    acked.push_back(data);
  }

  ASSERT_TRUE(v.host
                  .Do([&v] {
                    v.fs->HoldSyncs();
                    return true;
                  })
                  .has_value());
  RaftDriver* d = v.driver.get();
  std::future<std::vector<Status>> pending =
      v.host.Spawn<std::vector<Status>>([d, &v]() -> Task<std::vector<Status>> {
        std::vector<StatusOr<Index>> results(10, Index{0});
        std::vector<Task<void>> tasks;
        for (int k = 0; k < 10; ++k) {
          std::string payload = absl::StrCat("lost", k);
          tasks.push_back(ProposeInto(d, std::move(payload), &results[k]));
        }
        co_await io::WhenAll(v.host.reactor(), std::move(tasks));
        std::vector<Status> out;
        for (const auto& r : results) out.push_back(r.status());
        co_return out;
      });
  ASSERT_TRUE(PollUntil([&v] { return v.host.Do([&v] { return v.fs->syncs_waiting(); }) > 0; },
                        milliseconds(5000)));
  std::optional<Status> cut = v.host.Call<Status>([&v]() -> Task<Status> {
    Status st = co_await v.fs->SimulatePowerCut();
    co_return st;
  });
  ASSERT_TRUE(cut.has_value() && cut->ok()) << (cut ? cut->ToString() : "timed out");
  ASSERT_EQ(pending.wait_for(milliseconds(5000)), std::future_status::ready);
  for (const Status& st : pending.get()) EXPECT_FALSE(st.ok());
  EXPECT_FALSE(v.StatusNow().error.ok());  // the failed fdatasync made the driver failed
  PermitUncheckedError(v.Stop());          // closing over the cut files may fail too

  ASSERT_TRUE(v.Start(/*base=*/true).ok());
  ASSERT_TRUE(PollUntil([&v] { return v.StatusNow().role == Role::kLeader; }, 20 * kElection));
  RaftDriver* d2 = v.driver.get();
  std::optional<Status> read = v.host.Call<Status>([d2]() -> Task<Status> {
    Status st = co_await d2->ReadBarrier();
    co_return st;
  });
  ASSERT_TRUE(read.has_value() && read->ok());
  const std::multiset<std::string> got =
      DataOf(v.host.Do([&v] { return v.sm->items(); }).value_or(std::vector<ListSm::Item>{}));
  EXPECT_EQ(got, std::multiset<std::string>(acked.begin(), acked.end()));
}

}  // namespace
}  // namespace spool::raft
