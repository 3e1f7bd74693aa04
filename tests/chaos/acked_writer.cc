#include "tests/chaos/acked_writer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace spool::testing {

AckedWriter::AckedWriter(std::string bootstrap, std::string topic, int32_t partition,
                         int32_t request_timeout_ms)
    : bootstrap_(std::move(bootstrap)),
      topic_(std::move(topic)),
      partition_(partition),
      request_timeout_ms_(request_timeout_ms) {}

AckedWriter::~AckedWriter() {
  Stop();
}

Status AckedWriter::Start() {
  ProducerConfig pc;
  pc.bootstrap_servers = bootstrap_;
  pc.acks = -1;
  pc.linger_ms = 2;
  pc.request_timeout_ms = request_timeout_ms_;
  pc.delivery_timeout_ms = 120000;
  pc.retry_backoff_ms = 50;
  StatusOr<std::unique_ptr<Producer>> producer = Producer::Create(pc);
  if (!producer.ok()) return producer.status();
  producer_ = *std::move(producer);
  thread_ = std::thread([this] {
    for (int64_t seq = 0; !stop_.load(); seq++) {
      ProducerRecord r;
      r.topic = topic_;
      r.partition = partition_;
      r.value = std::to_string(seq);
      Status st = producer_->send(r, [this, seq](StatusOr<RecordMetadata> md) {
        std::lock_guard<std::mutex> l(mu_);
        if (!md.ok()) {
          failed_++;
          return;
        }
        acked_[md->offset] = std::to_string(seq);
        acked_at_.push_back(std::chrono::steady_clock::now());
      });
      if (!st.ok()) break;
      // About 2,000 records a second: a steady load, not a benchmark.
      if (seq % 20 == 19) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  return Status();
}

void AckedWriter::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (producer_ != nullptr) {
    producer_->flush();
    producer_.reset();
  }
}

int64_t AckedWriter::AcksAfter(TimePoint t) const {
  std::lock_guard<std::mutex> l(mu_);
  return std::count_if(acked_at_.begin(), acked_at_.end(), [t](TimePoint a) { return a > t; });
}

bool AckedWriter::WaitAcksAfter(TimePoint t, int64_t n, std::chrono::milliseconds deadline) const {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (AcksAfter(t) >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the callbacks' record
  }
  return false;
}

std::optional<double> AckedWriter::FirstAckAfterMs(TimePoint t) const {
  std::lock_guard<std::mutex> l(mu_);
  auto first = std::find_if(acked_at_.begin(), acked_at_.end(), [t](TimePoint a) { return a > t; });
  if (first == acked_at_.end()) return std::nullopt;
  return std::chrono::duration<double, std::milli>(*first - t).count();
}

std::map<int64_t, std::string> AckedWriter::acked() const {
  std::lock_guard<std::mutex> l(mu_);
  return acked_;
}

int64_t AckedWriter::failed() const {
  std::lock_guard<std::mutex> l(mu_);
  return failed_;
}

ReplicaCheck CheckScenarioEnd(ReplicatedCluster& cluster, const std::string& topic,
                              const AckedWriter& writer) {
  EXPECT_TRUE(cluster.WaitForAll(
      topic, 0, [](const PartitionView& v) { return v.isr.size() == 3; },
      std::chrono::milliseconds(30000)))
      << cluster.Logs();
  for (int id : cluster.ids()) {
    EXPECT_TRUE(cluster.node(id).Terminate().ok()) << cluster.node(id).log_tail();
  }
  std::map<int, std::string> dirs;
  for (int id : cluster.ids()) dirs[id] = absl::StrCat(cluster.data_dir(id), "/", topic, "-0");
  const ReplicaCheck check = CheckReplicaLogs(dirs, writer.acked());
  for (const std::string& problem : check.problems) ADD_FAILURE() << problem;
  EXPECT_EQ(check.lost, 0);
  EXPECT_EQ(check.duplicates, 0);
  EXPECT_EQ(check.order_violations, 0);
  EXPECT_EQ(writer.failed(), 0);
  return check;
}

}  // namespace spool::testing
