// TopicStore: the durable topic list (broker/STATE.md): encode/decode, every corruption branch
// of the decoder, and changes surviving a reopen.
#include "broker/topic_store.h"

#include "common/io/file_system.h"
#include "gtest/gtest.h"
#include "log/file_util.h"
#include "tests/support/test_env.h"

namespace spool::broker {
namespace {

v1::TopicRecord Record(const std::string& name, int32_t partitions) {
  v1::TopicRecord r;
  r.set_name(name);
  r.set_num_partitions(partitions);
  r.set_replication_factor(1);
  (*r.mutable_configs())["retention.ms"] = "1000";
  return r;
}

TEST(TopicStateCodecTest, RoundTrips) {
  v1::TopicState s;
  *s.add_topics() = Record("a", 3);
  *s.add_topics() = Record("b", 1);
  s.set_generation(9);
  std::vector<std::byte> file = EncodeTopicState(s);
  StatusOr<v1::TopicState> back = DecodeTopicState(file);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), s.SerializeAsString());
}

TEST(TopicStateCodecTest, EveryDamageIsDataLoss) {
  v1::TopicState s;
  *s.add_topics() = Record("events", 4);
  const std::vector<std::byte> good = EncodeTopicState(s);
  // Short file.
  EXPECT_TRUE(absl::IsDataLoss(DecodeTopicState(std::span(good).first(10)).status()));
  // Truncated body (length mismatch).
  EXPECT_TRUE(absl::IsDataLoss(DecodeTopicState(std::span(good).first(good.size() - 1)).status()));
  // Each single-byte flip is caught (magic, version, flags, length, body or CRC).
  for (size_t i = 0; i < good.size(); i++) {
    std::vector<std::byte> bad = good;
    bad[i] ^= std::byte{0x40};
    EXPECT_TRUE(absl::IsDataLoss(DecodeTopicState(bad).status())) << "flip at " << i;
  }
}

class TopicStoreTest : public ::testing::Test {
 protected:
  TopicStoreTest() : reactor_(testing::MakeReactor()), fs_(io::NewReactorFileSystem(*reactor_)) {}
  std::unique_ptr<TopicStore> OpenStore() {
    StatusOr<std::unique_ptr<TopicStore>> s =
        reactor_->block_on(TopicStore::Open(*fs_, tmp_.file("data")));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  testing::TempDir tmp_;
  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::FileSystem> fs_;
};

TEST_F(TopicStoreTest, EmptyWhenMissingAndChangesSurviveReopen) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->List().empty());
    ASSERT_TRUE(reactor_->block_on(store->Put(Record("b", 2))).ok());
    ASSERT_TRUE(reactor_->block_on(store->Put(Record("a", 1))).ok());
    ASSERT_TRUE(reactor_->block_on(store->Put(Record("c", 5))).ok());
    ASSERT_TRUE(reactor_->block_on(store->MarkDeleted("c")).ok());
    ASSERT_TRUE(reactor_->block_on(store->Remove("b")).ok());
    EXPECT_TRUE(absl::IsNotFound(reactor_->block_on(store->MarkDeleted("zzz"))));
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  std::vector<v1::TopicRecord> all = store->List();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name(), "a");
  EXPECT_FALSE(all[0].deleted());
  EXPECT_EQ(all[0].configs().at("retention.ms"), "1000");
  EXPECT_EQ(all[1].name(), "c");
  EXPECT_TRUE(all[1].deleted());
  EXPECT_EQ(all[1].num_partitions(), 5);
  EXPECT_EQ(store->generation(), 5u);
  EXPECT_FALSE(store->Find("b").has_value());
}

TEST_F(TopicStoreTest, DamagedFileFailsOpen) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(reactor_->block_on(store->Put(Record("a", 1))).ok());
  }
  const std::string path = tmp_.file("data") + "/" + kTopicStateFile;
  StatusOr<std::vector<std::byte>> bytes =
      reactor_->block_on(log::ReadWholeFile(*fs_, path, 1 << 20));
  ASSERT_TRUE(bytes.ok());
  (*bytes)[bytes->size() / 2] ^= std::byte{1};
  ASSERT_TRUE(
      reactor_->block_on(log::WriteFileAtomically(*fs_, tmp_.file("data"), kTopicStateFile, *bytes))
          .ok());
  StatusOr<std::unique_ptr<TopicStore>> s =
      reactor_->block_on(TopicStore::Open(*fs_, tmp_.file("data")));
  EXPECT_TRUE(absl::IsDataLoss(s.status())) << s.status();
}

}  // namespace
}  // namespace spool::broker
