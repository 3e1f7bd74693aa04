// Test support for the data plane (broker/broker.h): a real Broker on a real ShardSet (2 shards
// by default) over a temporary data dir, driven by calling its RequestHandler with frames built
// by EncodeFrame, as a connection would.
//
// The test thread never runs a reactor: Run() posts a coroutine to a shard and blocks on its
// result with a deadline (a hung broker fails the test instead of hanging it). Optionally each
// shard's storage goes through a FaultFileSystem made on that shard (StorageOptions seam of
// broker/partition_manager.h), e.g. to hold fdatasyncs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "broker/broker.h"
#include "broker/broker_config.h"
#include "broker/handler.h"
#include "broker/shard.h"
#include "common/clock.h"
#include "common/task.h"
#include "gtest/gtest.h"
#include "proto/body.h"
#include "proto/frame_decoder.h"
#include "tests/support/fault_file_system.h"
#include "tests/support/test_env.h"

namespace spool::testing {

// A decoded response frame.
struct Reply {
  proto::FrameHeader header;
  std::vector<std::byte> body;
  std::vector<std::byte> payload;
  bool is_error() const { return header.is_error(); }
  template <typename M>
  M As() const {
    M m;
    EXPECT_TRUE(m.ParseFromArray(body.data(), static_cast<int>(body.size())))
        << "response body does not parse as " << m.GetTypeName();
    return m;
  }
};

// A request frame as a connection hands it to the handler (its own receive buffer).
proto::Frame MakeFrame(int16_t api_key, const google::protobuf::MessageLite& body,
                       std::span<const std::byte> payload = {}, int16_t api_version = 0,
                       int32_t correlation_id = 1);
// The same from raw body bytes (for malformed bodies).
proto::Frame MakeRawFrame(int16_t api_key, std::span<const std::byte> body,
                          std::span<const std::byte> payload = {}, int16_t api_version = 0);
Reply Decode(const broker::Response& response);

// One sealed batch of `records` records "key-i" / `value` (or "value-i" when empty), timestamps
// from `timestamp_ms` (one ms apart).
std::vector<std::byte> MakeBatch(int records, int64_t timestamp_ms = 1'700'000'000'000,
                                 const std::string& value = "");
// `batch` with the header fields the broker stamps (base offset, leader epoch) set as it would.
std::vector<std::byte> Stamped(std::vector<std::byte> batch, int64_t base_offset,
                               int32_t leader_epoch = 0);

struct BrokerOptions {
  int shards = 2;
  bool fault_fs = false;  // storage through a FaultFileSystem per shard
  std::function<void(broker::BrokerConfig&)> tweak;
};

class BrokerHarness {
 public:
  explicit BrokerHarness(BrokerOptions options = {});
  ~BrokerHarness();  // Close()s an open broker, then stops the shards

  // Opens the broker over the data dir (a second Open after Close/Kill is a restart).
  Status Open();
  Status Close();
  // Destroys the broker without Close(), as a crash would leave the files (fault_fs: the page
  // cache survives; call PowerCut() for the durable state only).
  void Kill();
  // Fault file systems: rewrite every shard's files to their durable state (after Kill()).
  void PowerCut();

  broker::Broker& broker() { return *broker_; }
  broker::BrokerConfig& config() { return config_; }
  broker::ShardSet& shards() { return *shards_; }
  const std::string& data_dir() const { return config_.data_dir; }
  FaultFileSystem& fault_fs(int shard) { return *faults_[static_cast<size_t>(shard)]; }
  // The broker's clock (wall time of commits and offset expiry; group session deadlines).
  ManualClock& clock() { return clock_; }

  // Runs fn() on `shard` and blocks until it completes (fails and aborts after `deadline`).
  template <typename T>
  T Run(int shard, absl::AnyInvocable<Task<T>()> fn,
        std::chrono::milliseconds deadline = std::chrono::seconds(60)) {
    std::promise<T> done;
    std::future<T> result = done.get_future();
    Post(shard,
         [fn = std::move(fn), &done]() mutable -> Task<void> { done.set_value(co_await fn()); });
    return Wait(std::move(result), deadline);
  }
  void RunVoid(int shard, absl::AnyInvocable<Task<void>()> fn,
               std::chrono::milliseconds deadline = std::chrono::seconds(60));
  // Runs plain fn() on `shard` and waits.
  void Do(int shard, absl::AnyInvocable<void()> fn);

  // Sends one request through the handler on `shard` (a connection's shard).
  std::optional<Reply> Call(proto::Frame request, int shard = 0);
  // Starts requests in order on `shard` as a pipelining connection does (each its own task,
  // all started before any completes) and returns the replies in request order.
  std::vector<std::optional<Reply>> CallPipelined(std::vector<proto::Frame> requests,
                                                  int shard = 0);

  // Typed conveniences (fail the test on an error frame).
  v1::CreateTopicsResponse CreateTopic(const std::string& name, int32_t partitions,
                                       std::map<std::string, std::string> configs = {});
  v1::DeleteTopicsResponse DeleteTopic(const std::string& name);
  v1::MetadataResponse Metadata(std::vector<std::string> topics, bool all = false,
                                bool auto_create = false);
  // One partition's produce; nullopt when no response came (acks=0).
  std::optional<v1::PartitionProduceResponse> Produce(const std::string& topic, int32_t partition,
                                                      std::span<const std::byte> batches,
                                                      int acks = -1, int32_t timeout_ms = 10000,
                                                      int shard = 0);
  struct FetchResult {
    v1::FetchPartitionResponse partition;
    std::vector<std::byte> bytes;
  };
  FetchResult Fetch(const std::string& topic, int32_t partition, int64_t offset,
                    int32_t max_wait_ms = 0, int32_t min_bytes = 1,
                    int32_t partition_max_bytes = 1 << 20, int shard = 0);
  // Blocks until `count` fetch waiters are registered on the partition (a condition checked on
  // its shard, with a deadline), so a test knows a long poll is parked before it produces.
  void WaitFetchParked(const std::string& topic, int32_t partition, size_t count = 1);
  v1::ListOffsetsPartitionResponse ListOffset(const std::string& topic, int32_t partition,
                                              v1::OffsetSpec spec, int64_t timestamp_ms = 0);

 private:
  template <typename T>
  T Wait(std::future<T> f, std::chrono::milliseconds deadline) {
    if (f.wait_for(deadline) != std::future_status::ready) {
      ADD_FAILURE() << "a broker call did not complete within " << deadline.count() << " ms";
      std::abort();
    }
    return f.get();
  }
  void Post(int shard, absl::AnyInvocable<Task<void>()> fn);

  BrokerOptions options_;
  TempDir tmp_;
  broker::BrokerConfig config_;
  ManualClock clock_;
  std::unique_ptr<broker::ShardSet> shards_;
  std::vector<std::unique_ptr<FaultFileSystem>> faults_;
  std::unique_ptr<broker::Broker> broker_;
};

}  // namespace spool::testing
