// ClusterImage: applying each record, refusing bad ones without a trace, snapshot round trips.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "replication/controller/metadata_image.h"

namespace spool::controller {
namespace {

TopicId Id(uint8_t n) {
  TopicId id;
  id.bytes[0] = n;
  id.bytes[15] = 0x42;
  return id;
}

v1::MetadataRecord Register(int32_t id, int64_t epoch, bool fenced = false, std::string rack = "") {
  v1::MetadataRecord r;
  auto* b = r.mutable_register_broker();
  b->set_broker_id(id);
  b->set_incarnation_id("inc" + std::to_string(id));
  b->set_broker_epoch(epoch);
  auto* e = b->add_endpoints();
  e->set_listener_name("PLAINTEXT");
  e->set_host("localhost");
  e->set_port(9092 + id);
  if (!rack.empty()) b->set_rack(rack);
  b->set_fenced(fenced);
  return r;
}

v1::MetadataRecord Topic(const std::string& name, const TopicId& id) {
  v1::MetadataRecord r;
  r.mutable_topic()->set_name(name);
  r.mutable_topic()->set_topic_id(id.ToBytes());
  (*r.mutable_topic()->mutable_configs())["retention.ms"] = "1000";
  return r;
}

v1::MetadataRecord Partition(const TopicId& id, int32_t p, std::vector<int32_t> replicas,
                             std::vector<int32_t> isr, int32_t leader) {
  v1::MetadataRecord r;
  auto* rec = r.mutable_partition();
  rec->set_topic_id(id.ToBytes());
  rec->set_partition(p);
  for (int32_t x : replicas) rec->add_replicas(x);
  for (int32_t x : isr) rec->add_isr(x);
  rec->set_leader(leader);
  return r;
}

v1::MetadataRecord Change(const TopicId& id, int32_t p, std::optional<int32_t> leader,
                          std::optional<std::vector<int32_t>> isr) {
  v1::MetadataRecord r;
  auto* c = r.mutable_partition_change();
  c->set_topic_id(id.ToBytes());
  c->set_partition(p);
  if (leader) c->set_leader(*leader);
  if (isr) {
    auto* l = c->mutable_isr();
    for (int32_t x : *isr) l->add_values(x);
  }
  return r;
}

v1::MetadataRecord Fence(int32_t id, int64_t epoch) {
  v1::MetadataRecord r;
  r.mutable_broker_fenced()->set_broker_id(id);
  r.mutable_broker_fenced()->set_broker_epoch(epoch);
  return r;
}

// Three live brokers, topic "t" with two partitions over them.
ClusterImage Sample() {
  ClusterImage image;
  for (int32_t b = 1; b <= 3; ++b) EXPECT_TRUE(image.Apply(Register(b, b, false, "r")).ok());
  EXPECT_TRUE(image.Apply(Topic("t", Id(1))).ok());
  EXPECT_TRUE(image.Apply(Partition(Id(1), 0, {1, 2, 3}, {1, 2, 3}, 1)).ok());
  EXPECT_TRUE(image.Apply(Partition(Id(1), 1, {2, 3, 1}, {2, 3}, 2)).ok());
  return image;
}

// Applies `r`, expects kDataLoss and no change.
void ExpectRefused(ClusterImage& image, const v1::MetadataRecord& r) {
  const ClusterImage before = image;
  Status st = image.Apply(r);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st << "\n" << r.DebugString();
  EXPECT_TRUE(image == before) << r.DebugString();
}

TEST(ControllerImage, AppliesEachRecord) {
  ClusterImage image = Sample();
  ASSERT_EQ(image.brokers().size(), 3u);
  EXPECT_TRUE(image.IsLive(2));
  const TopicImage* t = image.FindTopic("t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->id, Id(1));
  EXPECT_EQ(t->partitions.size(), 2u);
  EXPECT_EQ(image.TopicConfig(Id(1), "retention.ms"), "1000");

  // A leader change bumps both epochs; an ISR change only the partition epoch.
  ASSERT_TRUE(image.Apply(Change(Id(1), 0, 2, std::vector<int32_t>{2, 3})).ok());
  EXPECT_EQ(image.FindPartition(Id(1), 0)->leader, 2);
  EXPECT_EQ(image.FindPartition(Id(1), 0)->leader_epoch, 1);
  EXPECT_EQ(image.FindPartition(Id(1), 0)->partition_epoch, 1);
  ASSERT_TRUE(image.Apply(Change(Id(1), 0, std::nullopt, std::vector<int32_t>{2, 3, 1})).ok());
  EXPECT_EQ(image.FindPartition(Id(1), 0)->leader_epoch, 1);
  EXPECT_EQ(image.FindPartition(Id(1), 0)->partition_epoch, 2);
  // Setting the same leader is not a leader change.
  ASSERT_TRUE(image.Apply(Change(Id(1), 0, 2, std::nullopt)).ok());
  EXPECT_EQ(image.FindPartition(Id(1), 0)->leader_epoch, 1);
  EXPECT_EQ(image.FindPartition(Id(1), 0)->partition_epoch, 3);

  // Fencing needs the broker to lead nothing: move partition 1 to broker 3 first.
  ASSERT_TRUE(image.Apply(Change(Id(1), 1, 3, std::vector<int32_t>{3})).ok());
  ASSERT_TRUE(image.Apply(Change(Id(1), 0, 3, std::vector<int32_t>{3, 1})).ok());
  ASSERT_TRUE(image.Apply(Fence(2, 2)).ok());
  EXPECT_FALSE(image.IsLive(2));
  v1::MetadataRecord unfence;
  unfence.mutable_broker_unfenced()->set_broker_id(2);
  unfence.mutable_broker_unfenced()->set_broker_epoch(2);
  ASSERT_TRUE(image.Apply(unfence).ok());
  EXPECT_TRUE(image.IsLive(2));

  v1::MetadataRecord config;
  config.mutable_config()->set_resource_type(v1::CONFIG_RESOURCE_TOPIC);
  config.mutable_config()->set_resource_name("t");
  config.mutable_config()->set_key("unclean.leader.election.enable");
  config.mutable_config()->set_value("true");
  ASSERT_TRUE(image.Apply(config).ok());
  EXPECT_EQ(image.TopicConfig(Id(1), "unclean.leader.election.enable"), "true");
  config.mutable_config()->set_delete_key(true);
  ASSERT_TRUE(image.Apply(config).ok());
  EXPECT_EQ(image.TopicConfig(Id(1), "unclean.leader.election.enable"), std::nullopt);
  config.mutable_config()->set_resource_type(v1::CONFIG_RESOURCE_BROKER);
  config.mutable_config()->set_resource_name("2");
  config.mutable_config()->set_delete_key(false);
  ASSERT_TRUE(image.Apply(config).ok());
  EXPECT_EQ(image.broker_configs().at("2").at("unclean.leader.election.enable"), "true");

  v1::MetadataRecord pids;
  pids.mutable_producer_ids()->set_broker_id(1);
  pids.mutable_producer_ids()->set_broker_epoch(1);
  pids.mutable_producer_ids()->set_next_producer_id_block_end(1000);
  ASSERT_TRUE(image.Apply(pids).ok());
  EXPECT_EQ(image.next_producer_id(), 1000);

  // A new incarnation replaces the registration (it leads nothing).
  ASSERT_TRUE(image.Apply(Register(2, 10, true)).ok());
  EXPECT_EQ(image.FindBroker(2)->epoch, 10);
  EXPECT_TRUE(image.FindBroker(2)->fenced);

  v1::MetadataRecord remove;
  remove.mutable_remove_topic()->set_topic_id(Id(1).ToBytes());
  ASSERT_TRUE(image.Apply(remove).ok());
  EXPECT_EQ(image.FindTopic("t"), nullptr);
  EXPECT_EQ(image.FindTopic(Id(1)), nullptr);

  v1::MetadataRecord unregister;
  unregister.mutable_unregister_broker()->set_broker_id(2);
  unregister.mutable_unregister_broker()->set_broker_epoch(10);
  ASSERT_TRUE(image.Apply(unregister).ok());
  EXPECT_EQ(image.FindBroker(2), nullptr);
  EXPECT_EQ(image.broker_configs().count("2"), 0u);
}

TEST(ControllerImage, RefusesBadRecordsAndStaysUnchanged) {
  ClusterImage image = Sample();
  ExpectRefused(image, v1::MetadataRecord{});             // no record set
  ExpectRefused(image, Register(1, 1));                   // epoch not newer
  ExpectRefused(image, Register(-1, 5));                  // negative id
  ExpectRefused(image, Register(4, 0));                   // epoch 0
  ExpectRefused(image, Register(1, 9, /*fenced=*/true));  // fenced while leading t-0
  ExpectRefused(image, Fence(1, 1));                      // leads t-0
  ExpectRefused(image, Fence(3, 7));                      // stale epoch
  ExpectRefused(image, Fence(9, 1));                      // unknown broker
  ExpectRefused(image, Topic("t", Id(2)));                // name taken
  ExpectRefused(image, Topic("u", Id(1)));                // id taken
  ExpectRefused(image, Topic("bad name", Id(2)));         // name rules
  ExpectRefused(image, Topic("..", Id(2)));
  ExpectRefused(image, Topic("u", TopicId{}));                         // zero id
  ExpectRefused(image, Partition(Id(9), 0, {1}, {1}, 1));              // unknown topic id
  ExpectRefused(image, Partition(Id(1), 3, {1}, {1}, 1));              // not the next number
  ExpectRefused(image, Partition(Id(1), 2, {}, {}, -1));               // no replicas
  ExpectRefused(image, Partition(Id(1), 2, {1, 1}, {1}, 1));           // duplicate replica
  ExpectRefused(image, Partition(Id(1), 2, {1, 2}, {3}, 3));           // ISR not within replicas
  ExpectRefused(image, Partition(Id(1), 2, {1, 2}, {1}, 2));           // leader not in ISR
  ExpectRefused(image, Partition(Id(1), 2, {1, 2}, {}, -1));           // empty ISR
  ExpectRefused(image, Partition(Id(1), 2, {1, 7}, {7}, 7));           // leader not registered
  ExpectRefused(image, Change(Id(1), 5, 2, std::nullopt));             // unknown partition
  ExpectRefused(image, Change(Id(9), 0, 2, std::nullopt));             // unknown topic
  ExpectRefused(image, Change(Id(1), 0, std::nullopt, std::nullopt));  // empty change
  ExpectRefused(image, Change(Id(1), 1, 1, std::nullopt));             // leader 1 not in ISR {2,3}
  ExpectRefused(image, Change(Id(1), 0, std::nullopt, std::vector<int32_t>{2, 3}));  // drops
                                                                                     // leader
  v1::MetadataRecord config;
  config.mutable_config()->set_resource_type(v1::CONFIG_RESOURCE_TOPIC);
  config.mutable_config()->set_resource_name("nope");
  config.mutable_config()->set_key("k");
  ExpectRefused(image, config);  // unknown topic
  config.mutable_config()->set_resource_type(v1::CONFIG_RESOURCE_BROKER);
  config.mutable_config()->set_resource_name("01");
  ExpectRefused(image, config);  // not a broker id
  config.mutable_config()->set_resource_name("1");
  config.mutable_config()->set_key("");
  ExpectRefused(image, config);  // empty key
  v1::MetadataRecord pids;
  pids.mutable_producer_ids()->set_broker_id(1);
  pids.mutable_producer_ids()->set_broker_epoch(1);
  pids.mutable_producer_ids()->set_next_producer_id_block_end(0);
  ExpectRefused(image, pids);  // does not move forward
  v1::MetadataRecord remove;
  remove.mutable_remove_topic()->set_topic_id(Id(5).ToBytes());
  ExpectRefused(image, remove);
  v1::MetadataRecord unregister;
  unregister.mutable_unregister_broker()->set_broker_id(1);
  unregister.mutable_unregister_broker()->set_broker_epoch(1);
  ExpectRefused(image, unregister);  // still leads t-0
}

TEST(ControllerImage, BatchIsAllOrNothing) {
  ClusterImage image = Sample();
  const ClusterImage before = image;
  std::vector<v1::MetadataRecord> batch = {Topic("u", Id(2)), Partition(Id(2), 0, {1}, {1}, 1),
                                           Partition(Id(2), 0, {1}, {1}, 1)};  // twice: refused
  Status st = image.ApplyBatch(batch);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_TRUE(image == before);
  batch.pop_back();
  ASSERT_TRUE(image.ApplyBatch(batch).ok());
  EXPECT_NE(image.FindTopic("u"), nullptr);
}

TEST(ControllerImage, SnapshotRoundTripIsEqual) {
  ClusterImage image = Sample();
  ASSERT_TRUE(image.Apply(Register(7, 20, /*fenced=*/true)).ok());
  ASSERT_TRUE(image.Apply(Topic("a-topic", Id(3))).ok());
  ASSERT_TRUE(image.Apply(Partition(Id(3), 0, {3, 7}, {3}, 3)).ok());
  v1::MetadataRecord config;
  config.mutable_config()->set_resource_type(v1::CONFIG_RESOURCE_BROKER);
  config.mutable_config()->set_resource_name("");
  config.mutable_config()->set_key("log.retention.ms");
  config.mutable_config()->set_value("5");
  ASSERT_TRUE(image.Apply(config).ok());
  v1::MetadataRecord pids;
  pids.mutable_producer_ids()->set_broker_id(3);
  pids.mutable_producer_ids()->set_broker_epoch(3);
  pids.mutable_producer_ids()->set_next_producer_id_block_end(2000);
  ASSERT_TRUE(image.Apply(pids).ok());

  const v1::MetadataImage proto = image.ToProto();
  std::string bytes;
  ASSERT_TRUE(proto.SerializeToString(&bytes));
  v1::MetadataImage parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  StatusOr<ClusterImage> restored = ClusterImage::FromProto(parsed);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(*restored == image);
  EXPECT_EQ(restored->next_producer_id(), 2000);
  EXPECT_EQ(restored->FindBroker(7)->fenced, true);
  EXPECT_EQ(restored->FindBroker(1)->rack, "r");
  EXPECT_EQ(restored->FindBroker(7)->rack, std::nullopt);

  // A changed image is not equal (the comparison can fail).
  ASSERT_TRUE(restored->Apply(Change(Id(3), 0, std::nullopt, std::vector<int32_t>{3, 7})).ok());
  EXPECT_FALSE(*restored == image);
}

TEST(ControllerImage, FromProtoRefusesInconsistentSnapshots) {
  v1::MetadataImage proto = Sample().ToProto();
  v1::MetadataImage twice = proto;
  *twice.add_brokers() = proto.brokers(0);
  EXPECT_EQ(ClusterImage::FromProto(twice).status().code(), absl::StatusCode::kDataLoss);
  v1::MetadataImage orphan = proto;
  orphan.mutable_partitions(0)->set_topic_id(Id(9).ToBytes());
  EXPECT_EQ(ClusterImage::FromProto(orphan).status().code(), absl::StatusCode::kDataLoss);
  v1::MetadataImage negative = proto;
  negative.set_next_producer_id(-5);
  EXPECT_EQ(ClusterImage::FromProto(negative).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(ClusterImage::FromProto(proto).ok());
}

TEST(ControllerImage, TopicNameRules) {
  EXPECT_TRUE(IsValidTopicName("a"));
  EXPECT_TRUE(IsValidTopicName("A.b_c-9"));
  EXPECT_TRUE(IsValidTopicName(std::string(249, 'x')));
  EXPECT_FALSE(IsValidTopicName(std::string(250, 'x')));
  EXPECT_FALSE(IsValidTopicName(""));
  EXPECT_FALSE(IsValidTopicName("."));
  EXPECT_FALSE(IsValidTopicName(".."));
  EXPECT_TRUE(IsValidTopicName("..."));
  EXPECT_FALSE(IsValidTopicName("a/b"));
  EXPECT_FALSE(IsValidTopicName("a b"));
}

}  // namespace
}  // namespace spool::controller
