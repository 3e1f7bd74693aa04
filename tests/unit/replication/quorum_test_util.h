// The quorum-controller test harness (tests only): a Quorum of 1, 3 or 5 QuorumControllers, each
// on its own reactor thread with its own files, over the in-process LocalNetwork
// (replication/raft/local_transport.h), with helpers to run calls on a voter and wait for
// conditions with deadlines. Shared by quorum_controller_test.cc; nothing here sleeps to let
// something happen.
#pragma once

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
#include "replication/controller/quorum_controller.h"
#include "replication/raft/local_transport.h"
#include "tests/support/test_env.h"
#include "tests/unit/replication/driver_test_util.h"

namespace spool::controller::test {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

using raft::test::Host;
using raft::test::kCallTimeout;
using raft::test::kElection;
using raft::test::kElectionNs;
using raft::test::kSlowdown;
using raft::test::PollUntil;

inline Status TimedOut(const std::string& what) {
  return absl::DeadlineExceededError(absl::StrCat(what, " timed out"));
}

// ---- a quorum of controllers ----

struct QuorumOptions {
  int voters = 1;
  uint64_t snapshot_every = 1024;
  int64_t session_timeout_ms = 9000;
  size_t retained_batches = 4096;
};

class Quorum {
 public:
  explicit Quorum(QuorumOptions o) : o_(o), seed_(testing::TestSeed()), net_("qctl-test") {
    for (int i = 1; i <= o.voters; ++i) ids_.push_back(raft::NodeId{static_cast<uint32_t>(i)});
    for (raft::NodeId id : ids_) {
      auto v = std::make_unique<Voter>();
      v->id = id;
      v->dir = dir_.file(absl::StrCat("node", id.value()));
      v->transport = std::make_unique<raft::LocalTransport>(net_, id);
      voters_[static_cast<int>(id.value())] = std::move(v);
    }
    for (int i : All()) EXPECT_TRUE(Start(i).ok());
  }
  ~Quorum() {
    net_.SetFilter(nullptr);  // a test's filter may refer to this quorum
    for (int i : All()) {
      if (running(i)) PermitUncheckedError(Stop(i));
    }
  }

  std::vector<int> All() const {
    std::vector<int> out;
    for (raft::NodeId id : ids_) out.push_back(static_cast<int>(id.value()));
    return out;
  }
  std::vector<int> Running() {
    std::vector<int> out;
    for (int i : All()) {
      if (running(i)) out.push_back(i);
    }
    return out;
  }
  // Voter i's controller is read and replaced on its reactor thread only, so a test thread that
  // streams requests never races with a Stop() on another test thread.
  bool running(int i) {
    Voter& v = *voters_.at(i);
    return v.host.Do([&v] { return v.controller != nullptr; }).value_or(false);
  }
  Host& host(int i) { return voters_.at(i)->host; }
  raft::LocalNetwork& net() { return net_; }
  QuorumController* ctl(int i) { return voters_.at(i)->controller.get(); }

  Status Start(int i) {
    Voter& v = *voters_.at(i);
    QuorumControllerOptions o;
    o.driver.raft.id = v.id;
    o.driver.raft.voters = ids_;
    o.driver.raft.election_timeout_ns = kElectionNs;
    o.driver.raft.heartbeat_interval_ns = kElectionNs / 5;
    o.driver.dir = v.dir;
    o.driver.cluster_id = net_.cluster_id();
    o.driver.snapshot_every = o_.snapshot_every;
    o.driver.seed = seed_ + v.id.value() * 1000 + static_cast<uint64_t>(++v.starts);
    o.config.session_timeout_ms = o_.session_timeout_ms;
    o.config.default_replication_factor = 1;
    o.seed = seed_ * 7 + v.id.value() + static_cast<uint64_t>(v.starts) * 100;
    o.retained_batches = o_.retained_batches;
    std::optional<Status> st = v.host.Call<Status>([this, &v, o]() -> Task<Status> {
      QuorumControllerOptions opts = o;
      StatusOr<std::unique_ptr<QuorumController>> c = co_await QuorumController::Start(
          v.host.reactor(), v.host.fs(), std::move(opts), *v.transport);
      if (!c.ok()) co_return c.status();
      v.controller = std::move(c).value();
      net_.Attach(v.id, v.host.reactor(), v.controller->driver());
      co_return absl::OkStatus();
    });
    if (!st.has_value()) return TimedOut("start");
    return *st;
  }

  Status Stop(int i) {
    Voter& v = *voters_.at(i);
    std::optional<Status> st = v.host.Call<Status>([this, &v]() -> Task<Status> {
      net_.Detach(v.id);
      Status s = co_await v.controller->Stop();
      v.controller.reset();
      co_return s;
    });
    if (!st.has_value()) return TimedOut("stop");
    return *st;
  }

  QuorumStatus StatusOf(int i) {
    Voter& v = *voters_.at(i);
    return v.host.Do([&v] { return v.controller ? v.controller->status() : QuorumStatus{}; })
        .value_or(QuorumStatus{});
  }
  std::pair<int64_t, ClusterImage> Committed(int i) {
    Voter& v = *voters_.at(i);
    using P = std::pair<int64_t, ClusterImage>;
    return v.host
        .Do([&v] {
          return v.controller ? P(v.controller->committed_index(), v.controller->committed_image())
                              : P(-1, ClusterImage{});
        })
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

  // Runs a request coroutine on voter i: `fn(controller)` returns the Task.
  template <typename T>
  std::optional<T> Run(int i, std::function<Task<T>(QuorumController*)> fn,
                       milliseconds timeout = kCallTimeout) {
    Voter* v = voters_.at(i).get();
    return host(i).Call<T>(
        [v, fn]() -> Task<T> {
          if (v->controller == nullptr) co_return T(absl::UnavailableError("voter not running"));
          Task<T> t = fn(v->controller.get());
          T out = co_await std::move(t);
          co_return out;
        },
        timeout);
  }

  std::optional<MetadataDelta> Fetch(int i, int64_t from, size_t max = SIZE_MAX) {
    Voter& v = *voters_.at(i);
    return v.host.Do([&v, from, max] { return v.controller->FetchMetadata(from, max); });
  }
  StatusOr<MetadataView> Read(int i) {
    std::optional<StatusOr<MetadataView>> r =
        Run<StatusOr<MetadataView>>(i, [](QuorumController* c) { return c->ReadMetadata(); });
    if (!r.has_value()) return TimedOut("read");
    return *r;
  }
  StatusOr<std::vector<CreatedTopic>> Create(int i, CreateTopicsRequest req) {
    std::optional<StatusOr<std::vector<CreatedTopic>>> r = Run<StatusOr<std::vector<CreatedTopic>>>(
        i, [req](QuorumController* c) { return c->CreateTopics(req); });
    if (!r.has_value()) return TimedOut("create");
    return *r;
  }
  StatusOr<RegisterBrokerReply> Register(int i, int32_t broker, std::optional<std::string> rack) {
    RegisterBrokerRequest req;
    req.broker_id = broker;
    req.incarnation_id = absl::StrCat("inc-", broker);
    req.endpoints = {Endpoint{"PLAINTEXT", "127.0.0.1", 9000 + broker}};
    req.rack = std::move(rack);
    std::optional<StatusOr<RegisterBrokerReply>> r = Run<StatusOr<RegisterBrokerReply>>(
        i, [req](QuorumController* c) { return c->RegisterBroker(req); });
    if (!r.has_value()) return TimedOut("register");
    return *r;
  }
  StatusOr<HeartbeatReply> Heartbeat(int i, int32_t broker, int64_t epoch, int64_t offset) {
    HeartbeatRequest req{broker, epoch, offset, false};
    std::optional<StatusOr<HeartbeatReply>> r = Run<StatusOr<HeartbeatReply>>(
        i, [req](QuorumController* c) { return c->BrokerHeartbeat(req); });
    if (!r.has_value()) return TimedOut("heartbeat");
    return *r;
  }

  // Registers brokers 1..n at voter i and heartbeats each until unfenced; returns their epochs.
  std::map<int32_t, int64_t> AddBrokers(int i, int n, bool racks = false) {
    std::map<int32_t, int64_t> epochs;
    for (int32_t b = 1; b <= n; ++b) {
      std::optional<std::string> rack;
      if (racks) rack = absl::StrCat("rack", b % 2);
      StatusOr<RegisterBrokerReply> reg = Register(i, b, rack);
      EXPECT_TRUE(reg.ok()) << reg.status();
      if (!reg.ok()) continue;
      EXPECT_TRUE(reg->status.ok()) << reg->status;
      epochs[b] = reg->broker_epoch;
      StatusOr<HeartbeatReply> hb = Heartbeat(i, b, reg->broker_epoch, reg->broker_epoch);
      EXPECT_TRUE(hb.ok()) << hb.status();
      if (hb.ok()) {
        EXPECT_TRUE(hb->status.ok()) << hb->status;
        EXPECT_FALSE(hb->fenced);
      }
    }
    return epochs;
  }

  // Waits until every voter in `among` has the same committed image as `want` (or as each
  // other when `want` is null).
  bool WaitConverged(const std::vector<int>& among, const ClusterImage* want,
                     milliseconds timeout) {
    return PollUntil(
        [&] {
          std::optional<ClusterImage> first;
          if (want != nullptr) first = *want;
          for (int i : among) {
            ClusterImage img = Committed(i).second;
            if (first.has_value() && !(img == *first)) return false;
            first = std::move(img);
          }
          return true;
        },
        timeout);
  }

 private:
  struct Voter {
    raft::NodeId id;
    std::string dir;
    int starts = 0;
    std::unique_ptr<raft::LocalTransport> transport;
    std::unique_ptr<QuorumController> controller;
    Host host;  // declared last: destroyed first, after the controller is stopped
  };

  const QuorumOptions o_;
  const uint64_t seed_;
  testing::TempDir dir_;
  raft::LocalNetwork net_;
  std::vector<raft::NodeId> ids_;
  std::map<int, std::unique_ptr<Voter>> voters_;
};

inline CreateTopicsRequest OneTopic(const std::string& name, int32_t partitions, int32_t rf) {
  CreateTopicsRequest req;
  req.topics.push_back(CreatableTopic{name, partitions, rf, {}});
  return req;
}

inline ClusterImage Rebuild(const ClusterImage& start, const std::vector<MetadataBatch>& batches) {
  ClusterImage img = start;
  for (const MetadataBatch& b : batches) {
    Status st = img.ApplyBatch(b.records);
    EXPECT_TRUE(st.ok()) << "batch " << b.index << ": " << st;
  }
  return img;
}

}  // namespace spool::controller::test
