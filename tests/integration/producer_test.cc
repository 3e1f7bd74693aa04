// The producer library against a real spoold on loopback
// (tests/support/broker_process.h). Records are read back with raw Fetch
// requests (RawClient + BatchReader), so these tests depend on the broker and
// the producer only. Covered: round trips with acks 0, 1 and all (offsets in
// the callbacks match the log), compression, retries across a broker restart
// (SIGTERM and kill -9), many producer threads and producers at once, and an
// unknown topic. The throughput test prints figures; it asserts only that every
// record arrived (a test is no benchmark).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/io/socket.h"
#include "gtest/gtest.h"
#include "log/record/batch_header.h"
#include "log/record/batch_reader.h"
#include "producer/partitioner.h"
#include "producer/producer.h"
#include "proto/admin.pb.h"
#include "proto/api.pb.h"
#include "proto/body.h"
#include "proto/errors.h"
#include "proto/fetch.pb.h"
#include "tests/support/broker_process.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Stored {
  int64_t offset;
  std::string key;
  std::string value;
};

// Collects callback outcomes; the test waits for them with a deadline.
class Acks {
 public:
  SendCallback Callback(std::string value) {
    return [this, value = std::move(value)](StatusOr<RecordMetadata> m) {
      std::lock_guard lock(mu_);
      if (m.ok()) {
        ok_[value] = *m;
      } else {
        errors_.push_back(m.status());
      }
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n, milliseconds timeout = milliseconds(120000)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ok_.size() + errors_.size() >= n; });
  }
  std::map<std::string, RecordMetadata> ok() {
    std::lock_guard lock(mu_);
    return ok_;
  }
  std::vector<Status> errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, RecordMetadata> ok_;
  std::vector<Status> errors_;
};

class ProducerIntegrationTest : public ::testing::Test {
 public:
  void SetUp() override {
    auto broker = testing::BrokerProcess::Start({.data_dir = dir_.file("data")});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = *std::move(broker);
    // Workaround, to be removed: spoold started on port 0 advertises port 0 in its Metadata
    // response (broker/metadata_handler.cc reads config.listen, which the network layer does
    // not update with the bound port), so clients cannot reach the partition leader. A restart
    // runs it with the port of the first run given explicitly, which it advertises correctly.
    ASSERT_TRUE(broker_->Terminate().ok());
    Status restarted = broker_->Restart();
    ASSERT_TRUE(restarted.ok()) << restarted;
    ASSERT_TRUE(Reconnect().ok());
  }
  void TearDown() override {
    if (HasFailure() && broker_) std::cerr << "spoold log:\n" << broker_->log_tail(60) << "\n";
  }

  Status Reconnect() {
    ASSIGN_OR_RETURN(admin_, testing::RawClient::Connect(broker_->address()));
    v1::ApiVersionsRequest hello;
    hello.set_client_software_name("producer_test");
    v1::ApiVersionsResponse versions;
    return Call(proto::ApiKey::API_KEY_API_VERSIONS, hello, &versions);
  }
  Status Call(proto::ApiKey api, const google::protobuf::MessageLite& request,
              google::protobuf::Message* response) {
    RETURN_IF_ERROR(admin_->SendRequest(api, ++correlation_, request));
    return admin_->ReadResponse(response, milliseconds(30000)).status();
  }

  void CreateTopic(const std::string& name, int partitions) {
    v1::CreateTopicsRequest request;
    v1::CreatableTopic* t = request.add_topics();
    t->set_name(name);
    t->set_num_partitions(partitions);
    t->set_replication_factor(1);
    request.set_timeout_ms(30000);
    v1::CreateTopicsResponse response;
    Status st = Call(proto::ApiKey::API_KEY_CREATE_TOPICS, request, &response);
    ASSERT_TRUE(st.ok()) << st;
    ASSERT_EQ(response.topics_size(), 1);
    ASSERT_EQ(response.topics(0).error_code(), proto::ErrorCode::NONE)
        << response.topics(0).error_message();
  }

  // The records of a partition from offset 0, by raw Fetch, up to the high
  // watermark and at least `at_least` of them (records acknowledged with
  // acks=0/1 become visible once the broker's flush moves the high watermark
  // past them).
  std::vector<Stored> ReadAll(const std::string& topic, int32_t partition, size_t at_least = 0) {
    std::vector<Stored> out;
    int64_t next = 0;
    const auto deadline = Clock::now() + milliseconds(60000);
    while (Clock::now() < deadline) {
      v1::FetchRequest request;
      request.set_replica_id(-1);
      request.set_max_wait_ms(out.size() < at_least ? 200 : 0);
      request.set_min_bytes(1);
      request.set_max_bytes(16 << 20);
      v1::FetchTopic* t = request.add_topics();
      t->set_name(topic);
      v1::FetchPartition* p = t->add_partitions();
      p->set_partition(partition);
      p->set_fetch_offset(next);
      p->set_partition_max_bytes(8 << 20);
      p->set_current_leader_epoch(-1);
      Status sent = admin_->SendRequest(proto::ApiKey::API_KEY_FETCH, ++correlation_, request);
      EXPECT_TRUE(sent.ok()) << sent;
      v1::FetchResponse response;
      StatusOr<proto::Frame> frame = admin_->ReadResponse(&response, milliseconds(30000));
      EXPECT_TRUE(frame.ok()) << frame.status();
      if (!sent.ok() || !frame.ok()) return out;
      auto parts = proto::SplitPayload(response, frame->payload());
      EXPECT_TRUE(parts.ok()) << parts.status();
      if (!parts.ok() || parts->size() != 1) return out;
      const v1::FetchPartitionResponse& pr = response.topics(0).partitions(0);
      EXPECT_EQ(pr.error_code(), proto::ErrorCode::NONE);
      std::span<const std::byte> bytes = (*parts)[0].bytes;
      while (bytes.size() >= record::kLogOverhead) {
        auto reader = record::BatchReader::Open(bytes);
        if (!reader.ok()) break;  // a partial batch at the end: fetch it again
        record::RecordView r;
        for (;;) {
          StatusOr<bool> more = reader->Next(&r);
          EXPECT_TRUE(more.ok()) << more.status();
          if (!more.ok() || !*more) break;
          if (r.offset < next) continue;
          out.push_back(Stored{r.offset, r.key ? std::string(record::AsString(*r.key)) : "",
                               r.value ? std::string(record::AsString(*r.value)) : ""});
          next = r.offset + 1;
        }
        bytes = bytes.subspan(reader->header().total_size());
      }
      if (next >= pr.high_watermark() && out.size() >= at_least) return out;
    }
    ADD_FAILURE() << "reading " << topic << "-" << partition << " did not finish";
    return out;
  }

  ProducerConfig Config() {
    ProducerConfig c;
    c.bootstrap_servers = broker_->address().ToString();
    c.max_block_ms = 10000;
    c.retry_backoff_ms = 50;
    c.request_timeout_ms = 10000;
    c.delivery_timeout_ms = 30000;
    return c;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::unique_ptr<testing::RawClient> admin_;
  int32_t correlation_ = 0;
};

// Produces `n` keyed records to `topic` (3 partitions) with `config` and checks
// the log holds exactly them, in send order per partition, at the offsets the
// callbacks reported.
void RoundTrip(ProducerIntegrationTest* test, ProducerConfig config, const std::string& topic,
               int n) {
  auto producer = Producer::Create(config);
  ASSERT_TRUE(producer.ok()) << producer.status();
  Acks acks;
  std::map<int32_t, std::vector<std::string>> expected;
  for (int i = 0; i < n; ++i) {
    ProducerRecord r;
    r.topic = topic;
    r.key = absl::StrCat("key", i % 17);
    r.value = absl::StrCat("value-", i);
    expected[producer::KeyPartition(*r.key, 3)].push_back(*r.value);
    ASSERT_TRUE((*producer)->send(r, acks.Callback(*r.value)).ok());
  }
  (*producer)->flush();
  ASSERT_TRUE(acks.WaitFor(static_cast<size_t>(n)));
  EXPECT_TRUE(acks.errors().empty()) << acks.errors().front();
  auto ok = acks.ok();
  ASSERT_EQ(ok.size(), static_cast<size_t>(n));
  (*producer)->close();
  for (int32_t p = 0; p < 3; ++p) {
    std::vector<Stored> stored = test->ReadAll(topic, p, expected[p].size());
    ASSERT_EQ(stored.size(), expected[p].size()) << "partition " << p;
    for (size_t i = 0; i < stored.size(); ++i) {
      EXPECT_EQ(stored[i].value, expected[p][i]);
      const RecordMetadata& m = ok.at(stored[i].value);
      EXPECT_EQ(m.partition, p);
      int64_t want = config.acks == 0 ? -1 : stored[i].offset;  // acks=0: no offsets
      EXPECT_EQ(m.offset, want) << stored[i].value;
    }
  }
}

TEST_F(ProducerIntegrationTest, AcksAllRoundTrip) {
  CreateTopic("all", 3);
  ProducerConfig c = Config();
  c.acks = -1;
  RoundTrip(this, c, "all", 3000);
}

TEST_F(ProducerIntegrationTest, AcksOneRoundTripWithLz4) {
  CreateTopic("one", 3);
  ProducerConfig c = Config();
  c.acks = 1;
  c.compression = CompressionType::kLz4;
  RoundTrip(this, c, "one", 3000);
}

TEST_F(ProducerIntegrationTest, AcksZeroRoundTripWithZstd) {
  CreateTopic("zero", 3);
  ProducerConfig c = Config();
  c.acks = 0;
  c.compression = CompressionType::kZstd;
  RoundTrip(this, c, "zero", 3000);
}

// Records sent while the broker is down are retried (connect failures are
// retriable) and land once it is back, in order. `kill` picks SIGKILL over
// SIGTERM.
void RestartTest(testing::BrokerProcess& broker, bool kill, ProducerConfig config) {
  auto producer = Producer::Create(config);
  ASSERT_TRUE(producer.ok()) << producer.status();
  Acks acks;
  int sent = 0;
  auto send = [&](int n) {
    for (int i = 0; i < n; ++i, ++sent) {
      ProducerRecord r;
      r.topic = "restart";
      r.partition = 0;
      r.value = absl::StrCat("r", sent);
      ASSERT_TRUE((*producer)->send(r, acks.Callback(*r.value)).ok());
    }
  };
  send(500);
  (*producer)->flush();
  if (kill) {
    send(200);  // some of these may be in flight when the broker dies
    broker.Kill();
  } else {
    Status st = broker.Terminate();
    ASSERT_TRUE(st.ok()) << st;
  }
  send(300);  // the broker is down: these wait and retry
  Status st = broker.Restart();
  ASSERT_TRUE(st.ok()) << st;
  send(200);
  (*producer)->flush();
  ASSERT_TRUE(acks.WaitFor(static_cast<size_t>(sent)));
  EXPECT_TRUE(acks.errors().empty())
      << acks.errors().size() << " failed, first " << acks.errors().front();
  auto ok = acks.ok();
  ASSERT_EQ(ok.size(), static_cast<size_t>(sent));
  (*producer)->close();
}

TEST_F(ProducerIntegrationTest, RetriesAcrossAGracefulRestart) {
  CreateTopic("restart", 1);
  ProducerConfig c = Config();
  RestartTest(*broker_, /*kill=*/false, c);
  ASSERT_TRUE(Reconnect().ok());
  std::vector<Stored> stored = ReadAll("restart", 0, 1000);
  // A graceful stop answers what it appended, so nothing is duplicated or lost.
  ASSERT_EQ(stored.size(), 1000u);
  for (size_t i = 0; i < stored.size(); ++i) EXPECT_EQ(stored[i].value, absl::StrCat("r", i));
}

TEST_F(ProducerIntegrationTest, RetriesAcrossAKill) {
  CreateTopic("restart", 1);
  ProducerConfig c = Config();
  RestartTest(*broker_, /*kill=*/true, c);
  ASSERT_TRUE(Reconnect().ok());
  std::vector<Stored> stored = ReadAll("restart", 0, 1200);
  // Every acknowledged record is there; a batch appended but not answered
  // before the kill may be there twice (no idempotence yet), so compare the
  // first occurrence of each value.
  std::vector<std::string> distinct;
  std::set<std::string> seen;
  for (const Stored& s : stored) {
    if (seen.insert(s.value).second) distinct.push_back(s.value);
  }
  ASSERT_EQ(distinct.size(), 1200u);
  for (size_t i = 0; i < 500; ++i) EXPECT_EQ(distinct[i], absl::StrCat("r", i));
}

TEST_F(ProducerIntegrationTest, ManyProducerThreads) {
  CreateTopic("many", 4);
  constexpr int kProducers = 2, kThreads = 4, kPerThread = 3000;
  std::vector<std::unique_ptr<Producer>> producers;
  for (int i = 0; i < kProducers; ++i) {
    auto p = Producer::Create(Config());
    ASSERT_TRUE(p.ok()) << p.status();
    producers.push_back(*std::move(p));
  }
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int pi = 0; pi < kProducers; ++pi) {
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, pi, t] {
        ProducerRecord r;
        r.topic = "many";
        std::string id = absl::StrCat(pi, ".", t);
        r.key = id;
        for (int i = 0; i < kPerThread; ++i) {
          r.value = absl::StrCat(id, ":", i);
          Status st =
              producers[pi]->send(r, [&](StatusOr<RecordMetadata> m) { (m.ok() ? ok : failed)++; });
          if (!st.ok()) failed++;
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  for (auto& p : producers) p->close();
  EXPECT_EQ(ok.load(), kProducers * kThreads * kPerThread);
  EXPECT_EQ(failed.load(), 0);
  // Each thread's records are in its key's partition, in its send order.
  std::map<std::string, int> next;
  size_t total = 0;
  for (int32_t p = 0; p < 4; ++p) {
    for (const Stored& s : ReadAll("many", p)) {
      ++total;
      EXPECT_EQ(producer::KeyPartition(s.key, 4), p);
      int& n = next[s.key];
      EXPECT_EQ(s.value, absl::StrCat(s.key, ":", n));
      ++n;
    }
  }
  EXPECT_EQ(total, static_cast<size_t>(kProducers * kThreads * kPerThread));
}

TEST_F(ProducerIntegrationTest, UnknownTopicIsAnError) {
  ProducerConfig c = Config();
  c.max_block_ms = 500;
  auto producer = Producer::Create(c);
  ASSERT_TRUE(producer.ok()) << producer.status();
  ProducerRecord r;
  r.topic = "does-not-exist";
  r.value = "x";
  StatusOr<RecordMetadata> m = (*producer)->send(r).get();
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(proto::ErrorFromStatus(m.status()), proto::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
      << m.status();
}

// Figures for the report, printed (bench/ holds the real benchmark): records/s
// of 100-byte values with acks=1, and MB/s of 1 KiB values with acks=all
// (durable: after fdatasync).
TEST_F(ProducerIntegrationTest, ThroughputFigures) {
  CreateTopic("speed", 1);
  struct Case {
    const char* name;
    int acks;
    size_t value;
    int records;
  };
  for (const Case& k :
       {Case{"100 B, acks=1", 1, 100, 1'000'000}, Case{"1 KiB, acks=all", -1, 1024, 200'000}}) {
    ProducerConfig c = Config();
    c.acks = k.acks;
    auto producer = Producer::Create(c);
    ASSERT_TRUE(producer.ok()) << producer.status();
    std::atomic<int> done{0}, failed{0};
    ProducerRecord r;
    r.topic = "speed";
    r.partition = 0;
    r.value = std::string(k.value, 'p');
    auto start = Clock::now();
    for (int i = 0; i < k.records; ++i) {
      Status st = (*producer)->send(r, [&](StatusOr<RecordMetadata> m) {
        if (!m.ok()) failed++;
        done++;
      });
      ASSERT_TRUE(st.ok()) << st;
    }
    (*producer)->flush();
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_EQ(done.load(), k.records);
    EXPECT_EQ(failed.load(), 0);
    std::cout << "[ figure   ] " << k.name << ": " << static_cast<int64_t>(k.records / secs)
              << " records/s, " << (k.records * k.value / secs / 1e6) << " MB/s of values\n";
  }
}

}  // namespace
}  // namespace spool
