#include "tests/support/replicated_cluster.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "log/record/batch_builder.h"
#include "proto/admin.pb.h"
#include "proto/api.pb.h"
#include "proto/produce.pb.h"
#include "tests/support/cluster_test_util.h"

namespace spool::testing {

using Millis = std::chrono::milliseconds;

constexpr int kFirstController = 101;

ReplicatedCluster::ReplicatedCluster(Options options) : options_(std::move(options)) {
  for (int i = 0; i < options_.controllers; i++) {
    const int id = kFirstController + i;
    controller_ports_[id] = FreePort();
    if (!voters_.empty()) voters_ += ",";
    voters_ += absl::StrCat(id, "@127.0.0.1:", controller_ports_[id]);
  }
  for (int i = 1; i <= options_.brokers; i++) dirs_[i] = tmp_.file(absl::StrCat("broker-", i));
}

void ReplicatedCluster::StartAll() {
  for (const auto& [id, port] : controller_ports_) {
    BrokerProcessOptions o;
    o.data_dir = tmp_.file(absl::StrCat("controller-", id));
    o.extra_args = testing::ControllerProcessArgs(id, port, voters_);
    o.extra_args.insert(o.extra_args.end(), options_.controller_args.begin(),
                        options_.controller_args.end());
    auto p = BrokerProcess::Start(o);
    ASSERT_TRUE(p.ok()) << p.status();
    controllers_[id] = *std::move(p);
  }
  // A broker is ready once registered and caught up: start them all before waiting for any.
  for (int i = 1; i <= options_.brokers; i++) {
    BrokerProcessOptions o;
    o.data_dir = dirs_[i];
    o.extra_args = {"--roles",         "broker", "--node-id",
                    std::to_string(i), "--set",  "controller.quorum.voters=" + voters_};
    o.extra_args.insert(o.extra_args.end(), options_.broker_args.begin(),
                        options_.broker_args.end());
    if (options_.customize_broker) options_.customize_broker(i, o.extra_args);
    o.start_timeout = Millis(60000);
    auto p = BrokerProcess::Launch(o);
    ASSERT_TRUE(p.ok()) << p.status();
    nodes_[i] = *std::move(p);
  }
  for (auto& [id, p] : nodes_) {
    Status st = p->WaitReady();
    ASSERT_TRUE(st.ok()) << st;
  }
}

std::vector<int> ReplicatedCluster::ids() const {
  std::vector<int> out;
  for (const auto& [id, p] : nodes_) out.push_back(id);
  return out;
}

std::string ReplicatedCluster::bootstrap() const {
  std::string out;
  for (const auto& [id, p] : nodes_) {
    if (!out.empty()) out += ",";
    absl::StrAppend(&out, "127.0.0.1:", p->port());
  }
  return out;
}

void ReplicatedCluster::PollPause() {
  std::this_thread::sleep_for(Millis(20));  // polling other processes, not synchronising
}

Status ReplicatedCluster::CreateTopic(const std::string& name, int32_t partitions,
                                      int32_t replication_factor,
                                      std::map<std::string, std::string> configs) {
  v1::CreateTopicsRequest req;
  req.set_timeout_ms(15000);
  v1::CreatableTopic* t = req.add_topics();
  t->set_name(name);
  t->set_num_partitions(partitions);
  t->set_replication_factor(replication_factor);
  for (const auto& [k, v] : configs) (*t->mutable_configs())[k] = v;
  Status last = absl::UnavailableError("no node running");
  for (const auto& [id, p] : nodes_) {
    if (!p->running()) continue;
    StatusOr<v1::CreateTopicsResponse> r =
        Ask<v1::CreateTopicsResponse>(p->address(), v1::API_KEY_CREATE_TOPICS, req, Millis(20000));
    if (!r.ok()) {
      last = r.status();
      continue;
    }
    if (r->topics_size() != 1) return absl::InternalError("no topic result");
    if (r->topics(0).error_code() == v1::NONE) return Status();
    return absl::InternalError(absl::StrCat("CreateTopics: ", r->topics(0).error_code(), " ",
                                            r->topics(0).error_message()));
  }
  return last;
}

std::optional<PartitionView> ReplicatedCluster::PartitionAt(int via, const std::string& topic,
                                                            int32_t partition) {
  v1::MetadataRequest req;
  req.add_topics(topic);
  StatusOr<v1::MetadataResponse> r =
      Ask<v1::MetadataResponse>(node(via).address(), v1::API_KEY_METADATA, req, Millis(3000));
  if (!r.ok() || r->topics_size() != 1) return std::nullopt;
  for (const v1::PartitionMetadata& pm : r->topics(0).partitions()) {
    if (pm.partition() != partition) continue;
    PartitionView v;
    v.leader = pm.leader_id();
    v.leader_epoch = pm.leader_epoch();
    v.replicas.assign(pm.replicas().begin(), pm.replicas().end());
    v.isr.assign(pm.isr().begin(), pm.isr().end());
    return v;
  }
  return std::nullopt;
}

std::optional<PartitionView> ReplicatedCluster::Partition(const std::string& topic,
                                                          int32_t partition, int not_via) {
  for (const auto& [id, p] : nodes_) {
    if (!p->running() || id == not_via) continue;
    std::optional<PartitionView> v = PartitionAt(id, topic, partition);
    if (v.has_value()) return v;
  }
  return std::nullopt;
}

StatusOr<int32_t> ReplicatedCluster::ProduceOne(int via, const std::string& topic,
                                                int32_t partition, int acks,
                                                const std::string& value) {
  record::BatchBuilder builder;
  builder.Append(1'700'000'000'000, "", value);
  StatusOr<std::vector<std::byte>> batch = builder.Seal();
  if (!batch.ok()) return batch.status();
  v1::ProduceRequest req;
  req.set_acks(acks);
  req.set_timeout_ms(5000);
  v1::TopicProduceData* t = req.add_topics();
  t->set_name(topic);
  v1::PartitionProduceData* pp = t->add_partitions();
  pp->set_partition(partition);
  pp->set_payload_bytes(static_cast<uint32_t>(batch->size()));
  std::vector<std::span<const std::byte>> payload = {*batch};
  StatusOr<std::unique_ptr<RawClient>> c = RawClient::Connect(node(via).address(), Millis(2000));
  if (!c.ok()) return c.status();
  v1::ProduceResponse resp;
  StatusOr<proto::Frame> f = (*c)->Call(v1::API_KEY_PRODUCE, req, &resp, payload);
  if (!f.ok()) return f.status();
  if (resp.topics_size() != 1 || resp.topics(0).partitions_size() != 1) {
    return absl::InternalError("no partition result");
  }
  return static_cast<int32_t>(resp.topics(0).partitions(0).error_code());
}

std::string ReplicatedCluster::Logs(int lines) {
  std::string out;
  for (auto& [id, p] : controllers_) {
    if (p != nullptr) absl::StrAppend(&out, "--- controller ", id, "\n", p->log_tail(lines));
  }
  for (auto& [id, p] : nodes_) {
    if (p != nullptr) absl::StrAppend(&out, "--- broker ", id, "\n", p->log_tail(lines));
  }
  return out;
}

}  // namespace spool::testing
