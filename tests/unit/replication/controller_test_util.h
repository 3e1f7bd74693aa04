// A hand-driven controller for the controller unit tests: one ClusterImage that every decision
// is committed to at once (entry indexes count up from 1), a liveness table and a manual clock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "replication/controller/controller_errors.h"
#include "replication/controller/controller_logic.h"

namespace spool::controller::testing {

class TestController {
 public:
  ClusterImage image;
  BrokerLiveness liveness;
  ControllerConfig config;
  std::mt19937_64 rng{1};
  int64_t now_ms = 1'000'000;
  int64_t index = 0;  // the last committed entry

  // Applies one entry's records (none: nothing is committed).
  void Commit(const std::vector<v1::MetadataRecord>& records) {
    if (records.empty()) return;
    ++index;
    Status st = image.ApplyBatch(records);
    ASSERT_TRUE(st.ok()) << st;
  }

  // Registers the broker and heartbeats it until it is unfenced; returns its epoch.
  int64_t AddBroker(int32_t id, std::optional<std::string> rack = std::nullopt,
                    std::string incarnation = "") {
    RegisterBrokerRequest req;
    req.broker_id = id;
    req.incarnation_id = incarnation.empty() ? "inc-" + std::to_string(id) : incarnation;
    req.endpoints = {Endpoint{"PLAINTEXT", "127.0.0.1", 9000 + id}};
    req.rack = std::move(rack);
    auto reg = RegisterBroker(image, liveness, req, index + 1, now_ms, config);
    EXPECT_TRUE(reg.reply.status.ok()) << reg.reply.status;
    Commit(reg.records);
    Unfence(id);
    return reg.reply.broker_epoch;
  }

  void Unfence(int32_t id) {
    auto hb = Heartbeat(image, liveness, HeartbeatRequest{id, Epoch(id), index, false}, now_ms);
    EXPECT_TRUE(hb.reply.status.ok()) << hb.reply.status;
    Commit(hb.records);
    EXPECT_TRUE(image.IsLive(id));
  }

  int64_t Epoch(int32_t id) const {
    const BrokerRegistration* b = image.FindBroker(id);
    return b == nullptr ? -1 : b->epoch;
  }

  TopicId CreateTopic(const std::string& name, int32_t partitions, int32_t rf,
                      std::map<std::string, std::string> configs = {}) {
    CreateTopicsRequest req;
    req.topics.push_back(CreatableTopic{name, partitions, rf, std::move(configs)});
    auto res = CreateTopics(image, req, config, rng);
    EXPECT_EQ(res.reply.size(), 1u);
    EXPECT_TRUE(res.reply[0].status.ok()) << res.reply[0].status;
    Commit(res.records);
    return res.reply[0].topic_id;
  }

  const PartitionState& Partition(const TopicId& id, int32_t p) const {
    return *image.FindPartition(id, p);
  }

  // Heartbeats every live broker except `silent` at now_ms.
  void HeartbeatAllBut(const std::vector<int32_t>& silent) {
    for (const auto& [id, b] : image.brokers()) {
      if (std::find(silent.begin(), silent.end(), id) != silent.end()) continue;
      liveness.Touch(id, now_ms);
    }
  }
};

}  // namespace spool::controller::testing
