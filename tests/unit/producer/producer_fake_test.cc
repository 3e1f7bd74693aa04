// spool::Producer end to end against FakeCluster (a scripted one-node stand-in for spoold on
// loopback, so the test controls failures): delivery and offsets, key partitioning, flush,
// acks=0, retries after retriable errors and a dropped connection, non-retriable errors,
// buffer-full behaviour (fail at once, block then time out), close() with pending records,
// unknown topics, and many threads sending at once.
#include "producer/producer.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "producer/partitioner.h"
#include "proto/errors.h"
#include "tests/support/test_env.h"
#include "tests/unit/producer/fake_cluster.h"

namespace spool {
namespace {

using producer::testing::FakeCluster;

ProducerConfig Config(const FakeCluster& c) {
  ProducerConfig config;
  config.bootstrap_servers = c.bootstrap();
  config.linger_ms = 1;
  config.max_block_ms = 10000;
  config.retry_backoff_ms = 10;
  return config;
}

// Collects callback outcomes and lets the test wait for N of them (with a deadline).
class Outcomes {
 public:
  SendCallback Callback(int index) {
    return [this, index](StatusOr<RecordMetadata> m) {
      std::lock_guard lock(mu_);
      results_.emplace(index, std::move(m));
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
  }
  std::map<int, StatusOr<RecordMetadata>> results() {
    std::lock_guard lock(mu_);
    return results_;
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return results_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, StatusOr<RecordMetadata>> results_;
};

ProducerRecord Record(std::string topic, std::string value,
                      std::optional<int32_t> partition = std::nullopt) {
  ProducerRecord r;
  r.topic = std::move(topic);
  r.value = std::move(value);
  r.partition = partition;
  return r;
}

TEST(ProducerTest, DeliversWithOffsetsInOrder) {
  FakeCluster cluster({{"t", 2}});
  auto p = Producer::Create(Config(cluster));
  ASSERT_TRUE(p.ok()) << p.status();
  Outcomes out;
  for (int i = 0; i < 100; ++i) {
    Status st = (*p)->send(Record("t", absl::StrCat("v", i), i % 2), out.Callback(i));
    ASSERT_TRUE(st.ok()) << st;
  }
  ASSERT_TRUE(out.WaitFor(100));
  auto results = out.results();
  std::map<int32_t, int64_t> next_offset;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(results.at(i).ok()) << results.at(i).status();
    const RecordMetadata& m = *results.at(i);
    EXPECT_EQ(m.topic, "t");
    EXPECT_EQ(m.partition, i % 2);
    EXPECT_EQ(m.offset, next_offset[m.partition]++);
    EXPECT_GT(m.timestamp, 0);
  }
  for (int part = 0; part < 2; ++part) {
    auto values = cluster.values("t", part);
    ASSERT_EQ(values.size(), 50u);
    for (int j = 0; j < 50; ++j) EXPECT_EQ(values[j], absl::StrCat("v", 2 * j + part));
  }
  EXPECT_TRUE(cluster.problems().empty());
}

TEST(ProducerTest, KeysGoToTheirMurmur2PartitionAndFutureWorks) {
  FakeCluster cluster({{"keyed", 5}});
  auto p = Producer::Create(Config(cluster));
  ASSERT_TRUE(p.ok()) << p.status();
  for (std::string key : {"21", "foobar", "abc", "a-little-bit-long-string"}) {
    ProducerRecord r = Record("keyed", "x");
    r.key = key;
    auto f = (*p)->send(r);
    StatusOr<RecordMetadata> m = f.get();
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->partition, producer::KeyPartition(key, 5)) << key;
  }
}

TEST(ProducerTest, CustomPartitionerAndBadPartitions) {
  FakeCluster cluster({{"t", 3}});
  ProducerConfig config = Config(cluster);
  config.partitioner = [](const ProducerRecord& r, int32_t n) {
    return r.value && *r.value == "bad" ? n : n - 1;
  };
  auto p = Producer::Create(config);
  ASSERT_TRUE(p.ok()) << p.status();
  auto m = (*p)->send(Record("t", "ok")).get();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->partition, 2);
  EXPECT_TRUE(absl::IsInvalidArgument((*p)->send(Record("t", "bad")).get().status()));
  EXPECT_TRUE(absl::IsInvalidArgument((*p)->send(Record("t", "x", 7)).get().status()));
}

TEST(ProducerTest, FlushSendsWithoutWaitingForLinger) {
  FakeCluster cluster({{"t", 1}});
  ProducerConfig config = Config(cluster);
  config.linger_ms = 60000;  // only flush() can send these in time
  auto p = Producer::Create(config);
  ASSERT_TRUE(p.ok()) << p.status();
  Outcomes out;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*p)->send(Record("t", "f"), out.Callback(i)).ok());
  (*p)->flush();
  EXPECT_EQ(out.size(), 3u) << "flush() returned before the records completed";
  for (auto& [i, m] : out.results()) EXPECT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(cluster.values("t", 0).size(), 3u);
}

TEST(ProducerTest, AcksZeroCompletesWithoutOffsets) {
  FakeCluster cluster({{"t", 1}});
  ProducerConfig config = Config(cluster);
  config.acks = 0;
  auto p = Producer::Create(config);
  ASSERT_TRUE(p.ok()) << p.status();
  Outcomes out;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*p)->send(Record("t", "z"), out.Callback(i)).ok());
  (*p)->flush();
  ASSERT_EQ(out.size(), 10u);
  for (auto& [i, m] : out.results()) {
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->offset, -1);
  }
  // The fake appends them although it sends no response (waits, with a deadline, for its
  // connection thread to get there).
  (*p)->close();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (cluster.values("t", 0).size() < 10 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(cluster.values("t", 0).size(), 10u);
}

TEST(ProducerTest, RetriesRetriableErrorsAndRefreshesMetadata) {
  FakeCluster cluster({{"t", 1}});
  cluster.FailNextProduces(
      {proto::ErrorCode::NOT_LEADER_OR_FOLLOWER, proto::ErrorCode::KAFKA_STORAGE_ERROR});
  auto p = Producer::Create(Config(cluster));
  ASSERT_TRUE(p.ok()) << p.status();
  int metadata_before = cluster.metadata_requests();
  auto m = (*p)->send(Record("t", "retried")).get();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->offset, 0);
  EXPECT_EQ(cluster.produce_requests(), 3);
  EXPECT_GT(cluster.metadata_requests(), metadata_before) << "NOT_LEADER should refresh";
  EXPECT_EQ(cluster.values("t", 0), std::vector<std::string>{"retried"});
}

TEST(ProducerTest, RetriesOnANewConnectionAfterTheBrokerDroppedOne) {
  FakeCluster cluster({{"t", 1}});
  auto p = Producer::Create(Config(cluster));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE((*p)->send(Record("t", "first")).get().ok());
  int connections = cluster.broker().connections();
  cluster.CloseOnNextProduce();
  auto m = (*p)->send(Record("t", "second")).get();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->offset, 1);
  EXPECT_GT(cluster.broker().connections(), connections);
  EXPECT_EQ(cluster.values("t", 0), (std::vector<std::string>{"first", "second"}));
}

TEST(ProducerTest, NonRetriableErrorFailsTheRecords) {
  FakeCluster cluster({{"t", 1}});
  cluster.FailNextProduces({proto::ErrorCode::MESSAGE_TOO_LARGE});
  auto p = Producer::Create(Config(cluster));
  ASSERT_TRUE(p.ok()) << p.status();
  auto m = (*p)->send(Record("t", "big")).get();
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(proto::ErrorFromStatus(m.status()), proto::ErrorCode::MESSAGE_TOO_LARGE) << m.status();
  EXPECT_EQ(cluster.produce_requests(), 1);
}

TEST(ProducerTest, RetriesStopAtTheConfiguredCount) {
  FakeCluster cluster({{"t", 1}});
  cluster.FailNextProduces({proto::ErrorCode::KAFKA_STORAGE_ERROR,
                            proto::ErrorCode::KAFKA_STORAGE_ERROR,
                            proto::ErrorCode::KAFKA_STORAGE_ERROR});
  ProducerConfig config = Config(cluster);
  config.retries = 1;
  auto p = Producer::Create(config);
  ASSERT_TRUE(p.ok()) << p.status();
  auto m = (*p)->send(Record("t", "x")).get();
  EXPECT_EQ(proto::ErrorFromStatus(m.status()), proto::ErrorCode::KAFKA_STORAGE_ERROR)
      << m.status();
  EXPECT_EQ(cluster.produce_requests(), 2);
}

TEST(ProducerTest, BufferFullFailsAtOnceWhenNotBlocking) {
  FakeCluster cluster({{"t", 1}});
  cluster.SetSilent(true);
  ProducerConfig config = Config(cluster);
  config.batch_size = 1024;
  config.buffer_memory = 4096;
  config.block_on_buffer_full = false;
  auto p = Producer::Create(config);
  ASSERT_TRUE(p.ok()) << p.status();
  Outcomes out;
  Status st;
  int accepted = 0;
  for (int i = 0; i < 100 && st.ok(); ++i) {
    st = (*p)->send(Record("t", std::string(100, 'b')), out.Callback(i));
    if (st.ok()) ++accepted;
  }
  EXPECT_TRUE(absl::IsResourceExhausted(st)) << st;
  EXPECT_GT(accepted, 10);
  EXPECT_LT(accepted, 40);  // 4096 bytes of ~136-byte records
  (*p)->close(std::chrono::milliseconds(0));
  EXPECT_EQ(out.size(), static_cast<size_t>(accepted)) << "every accepted record completes";
}

TEST(ProducerTest, BufferFullBlocksUpToMaxBlockThenFails) {
  FakeCluster cluster({{"t", 1}});
  cluster.SetSilent(true);
  ProducerConfig config = Config(cluster);
  config.batch_size = 1024;
  config.buffer_memory = 2048;
  config.max_block_ms = 200;
  auto p = Producer::Create(config);
  ASSERT_TRUE(p.ok()) << p.status();
  Outcomes out;
  Status st;
  int i = 0;
  auto start = std::chrono::steady_clock::now();
  for (; i < 100 && st.ok(); ++i) {
    start = std::chrono::steady_clock::now();
    st = (*p)->send(Record("t", std::string(100, 'b')), out.Callback(i));
  }
  auto blocked = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(absl::IsResourceExhausted(st)) << st;
  EXPECT_GE(blocked, std::chrono::milliseconds(200));
  (*p)->close(std::chrono::milliseconds(0));
  EXPECT_EQ(out.size(), static_cast<size_t>(i - 1));
}

TEST(ProducerTest, BlockedSendProceedsWhenSpaceFrees) {
  FakeCluster cluster({{"t", 1}});
  cluster.SetSilent(true);
  ProducerConfig config = Config(cluster);
  config.buffer_memory = 14 * 136;  // exactly 14 records of 100 bytes (36 bytes of overhead)
  config.batch_size = 14 * 136;     // ... all in one batch, sent after linger
  config.max_block_ms = 30000;
  config.request_timeout_ms = 300;  // the silent broker's requests time out and are retried
  auto p = Producer::Create(config);
  ASSERT_TRUE(p.ok()) << p.status();
  Outcomes out;
  int i = 0;
  // Fills the buffer while the broker is silent, then lets it answer: the next send blocks
  // until the timed-out request is retried and delivered.
  for (; i < 14; ++i) {
    ASSERT_TRUE((*p)->send(Record("t", std::string(100, 'c')), out.Callback(i)).ok());
  }
  // The silent broker holds the first request (waited for with a deadline).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (cluster.produce_requests() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_GE(cluster.produce_requests(), 1);
  cluster.SetSilent(false);
  auto longest = std::chrono::steady_clock::duration::zero();
  for (; i < 40; ++i) {
    auto start = std::chrono::steady_clock::now();
    Status st = (*p)->send(Record("t", std::string(100, 'c')), out.Callback(i));
    longest = std::max(longest, std::chrono::steady_clock::now() - start);
    ASSERT_TRUE(st.ok()) << i << ": " << st;
  }
  // One send waited for the request timeout (300 ms + the client's 1 s margin) and the retry.
  EXPECT_GE(longest, std::chrono::milliseconds(300));
  (*p)->flush();
  ASSERT_EQ(out.size(), 40u);
  for (auto& [k, m] : out.results()) EXPECT_TRUE(m.ok()) << k << ": " << m.status();
}

TEST(ProducerTest, CloseDeliversPendingRecords) {
  FakeCluster cluster({{"t", 1}});
  ProducerConfig config = Config(cluster);
  config.linger_ms = 60000;
  auto p = Producer::Create(config);
  ASSERT_TRUE(p.ok()) << p.status();
  Outcomes out;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*p)->send(Record("t", "c"), out.Callback(i)).ok());
  (*p)->close(std::chrono::seconds(30));
  ASSERT_EQ(out.size(), 20u);
  for (auto& [i, m] : out.results()) EXPECT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(absl::IsFailedPrecondition((*p)->send(Record("t", "late")).get().status()));
}

TEST(ProducerTest, CloseWithATimeoutFailsWhatCannotBeDelivered) {
  FakeCluster cluster({{"t", 2}});
  cluster.SetSilent(true);
  auto p = Producer::Create(Config(cluster));
  ASSERT_TRUE(p.ok()) << p.status();
  Outcomes out;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE((*p)->send(Record("t", "c", i % 2), out.Callback(i)).ok());
  }
  auto start = std::chrono::steady_clock::now();
  (*p)->close(std::chrono::milliseconds(200));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_EQ(out.size(), 20u);
  for (auto& [i, m] : out.results()) EXPECT_FALSE(m.ok());
}

TEST(ProducerTest, UnknownTopicFailsWithinMaxBlock) {
  FakeCluster cluster({{"t", 1}});
  ProducerConfig config = Config(cluster);
  config.max_block_ms = 300;
  auto p = Producer::Create(config);
  ASSERT_TRUE(p.ok()) << p.status();
  auto start = std::chrono::steady_clock::now();
  Status st = (*p)->send(Record("nope", "x"), [](StatusOr<RecordMetadata>) {
    ADD_FAILURE() << "a refused record's callback ran";
  });
  EXPECT_EQ(proto::ErrorFromStatus(st), proto::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION) << st;
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  // The producer still works for topics that exist.
  EXPECT_TRUE((*p)->send(Record("t", "x")).get().ok());
}

TEST(ProducerTest, ConfigIsValidated) {
  ProducerConfig c;
  c.bootstrap_servers = "127.0.0.1:1";
  c.acks = 2;
  EXPECT_TRUE(absl::IsInvalidArgument(Producer::Create(c).status()));
  c.acks = 1;
  c.bootstrap_servers = "";
  EXPECT_TRUE(absl::IsInvalidArgument(Producer::Create(c).status()));
}

TEST(ProducerTest, ManyThreadsSendAtOnce) {
  FakeCluster cluster({{"t", 4}});
  ProducerConfig config = Config(cluster);
  config.batch_size = 4096;
  auto p = Producer::Create(config);
  ASSERT_TRUE(p.ok()) << p.status();
  constexpr int kThreads = 4, kPerThread = 2000;
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ProducerRecord r;
      r.topic = "t";
      for (int i = 0; i < kPerThread; ++i) {
        r.key = std::to_string(t);  // one partition per thread: order per thread is checkable
        r.value = absl::StrCat(t, ":", i);
        Status st = (*p)->send(r, [&](StatusOr<RecordMetadata> m) {
          if (m.ok()) {
            ok++;
          } else {
            failed++;
          }
        });
        if (!st.ok()) failed++;
      }
    });
  }
  for (auto& t : threads) t.join();
  (*p)->flush();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(failed.load(), 0);
  // Each thread's records are in its partition in send order.
  for (int t = 0; t < kThreads; ++t) {
    int part = producer::KeyPartition(std::to_string(t), 4);
    int expect = 0;
    for (const std::string& v : cluster.values("t", part)) {
      if (v.rfind(absl::StrCat(t, ":"), 0) != 0) continue;
      EXPECT_EQ(v, absl::StrCat(t, ":", expect));
      ++expect;
    }
    EXPECT_EQ(expect, kPerThread);
  }
  EXPECT_TRUE(cluster.problems().empty());
}

}  // namespace
}  // namespace spool
