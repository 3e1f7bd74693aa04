// FakeCluster: FakeBroker (tests/unit/client/fake_broker.h) scripted as a one-node cluster with
// an in-memory log per partition. It stands in for spoold so producer tests control failures
// exactly: error codes for the next produce requests, silence (no answers), closing the
// connection, unknown topics. It checks every batch it gets (CRC, records) and keeps the
// record values in offset order for the test to read back.
//
// Threading: the handler runs on FakeBroker's connection threads; the accessors lock.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "log/record/batch_header.h"
#include "log/record/batch_reader.h"
#include "proto/body.h"
#include "proto/errors.h"
#include "tests/unit/client/fake_broker.h"

namespace spool::producer::testing {

class FakeCluster {
 public:
  // `topics`: name -> partition count.
  explicit FakeCluster(std::map<std::string, int> topics)
      : topics_(std::move(topics)),
        logs_(EmptyLogs(topics_)),
        broker_([this](client::testing::FakeConn& c, const proto::Frame& f) { Handle(c, f); }) {}

  std::string bootstrap() const { return broker_.address().ToString(); }
  client::testing::FakeBroker& broker() { return broker_; }

  // The next produce requests fail every partition with these codes, one per request.
  void FailNextProduces(std::vector<proto::ErrorCode> codes) {
    std::lock_guard lock(mu_);
    for (auto c : codes) errors_.push_back(c);
  }
  // Produce requests get no answer while silent (the records are not appended either).
  void SetSilent(bool silent) { silent_ = silent; }
  // The next produce request closes the connection instead of being answered.
  void CloseOnNextProduce() { close_next_ = true; }

  std::vector<std::string> values(const std::string& topic, int partition) {
    std::lock_guard lock(mu_);
    return logs_[topic][static_cast<size_t>(partition)];
  }
  int produce_requests() const { return produces_.load(); }
  int init_producer_id_requests() const { return init_producer_ids_.load(); }
  // The (producer id, epoch, base sequence, records) of every batch received, failed or not,
  // in arrival order, per partition.
  struct BatchSeen {
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records;
  };
  std::vector<BatchSeen> batches_seen(const std::string& topic, int partition) {
    std::lock_guard lock(mu_);
    return seen_[topic][partition];
  }
  int metadata_requests() const { return metadata_.load(); }
  // Every problem the fake saw in a batch (empty when all were valid).
  std::vector<std::string> problems() {
    std::lock_guard lock(mu_);
    return problems_;
  }

 private:
  static std::map<std::string, std::vector<std::vector<std::string>>> EmptyLogs(
      const std::map<std::string, int>& topics) {
    std::map<std::string, std::vector<std::vector<std::string>>> logs;
    for (const auto& [name, n] : topics) logs[name].resize(static_cast<size_t>(n));
    return logs;
  }

  void Handle(client::testing::FakeConn& c, const proto::Frame& f) {
    if (f.header().api_key == proto::ApiKey::API_KEY_METADATA) {
      metadata_++;
      v1::MetadataRequest req;
      if (!proto::ParseBody(f.body(), &req).ok()) return;
      v1::MetadataResponse resp;
      auto* b = resp.add_brokers();
      b->set_node_id(1);
      b->set_host("127.0.0.1");
      b->set_port(broker_.port());
      for (const std::string& name : req.topics()) {
        auto* t = resp.add_topics();
        t->set_name(name);
        auto it = topics_.find(name);
        if (it == topics_.end()) {
          t->set_error_code(proto::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
          continue;
        }
        for (int p = 0; p < it->second; ++p) {
          auto* pm = t->add_partitions();
          pm->set_partition(p);
          pm->set_leader_id(1);
        }
      }
      c.Reply(f.header(), resp);
      return;
    }
    if (f.header().api_key == proto::ApiKey::API_KEY_INIT_PRODUCER_ID) {
      // Idempotent producers: a new id per request, from 1000, at epoch 0.
      v1::InitProducerIdResponse resp;
      resp.set_producer_id(1000 + init_producer_ids_++);
      resp.set_producer_epoch(0);
      c.Reply(f.header(), resp);
      return;
    }
    if (f.header().api_key != proto::ApiKey::API_KEY_PRODUCE) return;
    produces_++;
    if (close_next_.exchange(false)) {
      c.Close();
      return;
    }
    if (silent_) return;
    v1::ProduceRequest req;
    if (!proto::ParseBody(f.body(), &req).ok()) return;
    auto parts = proto::SplitPayload(req, f.payload());
    std::lock_guard lock(mu_);
    if (!parts.ok()) {
      problems_.push_back(std::string(parts.status().message()));
      return;
    }
    std::optional<proto::ErrorCode> fail;
    if (!errors_.empty()) {
      fail = errors_.front();
      errors_.pop_front();
    }
    v1::ProduceResponse resp;
    for (const auto& t : req.topics()) {
      auto* tr = resp.add_topics();
      tr->set_name(t.name());
      for (const auto& p : t.partitions()) {
        auto* pr = tr->add_partitions();
        pr->set_partition(p.partition());
        std::span<const std::byte> bytes;
        for (const auto& pp : *parts) {
          if (pp.topic == t.name() && pp.partition == p.partition()) bytes = pp.bytes;
        }
        Seen(bytes, &seen_[t.name()][p.partition()]);
        if (fail) {
          pr->set_error_code(*fail);
          continue;
        }
        auto& log = logs_[t.name()][static_cast<size_t>(p.partition())];
        pr->set_base_offset(static_cast<int64_t>(log.size()));
        pr->set_log_append_time_ms(-1);
        Append(bytes, &log);
      }
    }
    if (req.acks() != 0) c.Reply(f.header(), resp);
  }

  // The producer fields of back-to-back batches.
  static void Seen(std::span<const std::byte> bytes, std::vector<BatchSeen>* out) {
    while (!bytes.empty()) {
      auto h = record::ParseHeader(bytes);
      if (!h.ok() || h->total_size() > bytes.size()) return;
      out->push_back(
          BatchSeen{h->producer_id, h->producer_epoch, h->base_sequence, h->records_count});
      bytes = bytes.subspan(h->total_size());
    }
  }

  // Decodes back-to-back batches into `log` (values; "<null>" for a null value).
  void Append(std::span<const std::byte> bytes, std::vector<std::string>* log) {
    while (!bytes.empty()) {
      auto reader = record::BatchReader::Open(bytes);
      if (!reader.ok()) {
        problems_.push_back(std::string(reader.status().message()));
        return;
      }
      record::RecordView r;
      for (;;) {
        auto more = reader->Next(&r);
        if (!more.ok()) {
          problems_.push_back(std::string(more.status().message()));
          return;
        }
        if (!*more) break;
        log->push_back(r.value ? std::string(record::AsString(*r.value)) : "<null>");
      }
      bytes = bytes.subspan(reader->header().total_size());
    }
  }

  const std::map<std::string, int> topics_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::vector<std::string>>> logs_;
  std::deque<proto::ErrorCode> errors_;
  std::vector<std::string> problems_;
  std::atomic<bool> silent_{false};
  std::atomic<bool> close_next_{false};
  std::atomic<int> produces_{0};
  std::atomic<int> metadata_{0};
  std::atomic<int> init_producer_ids_{0};
  std::map<std::string, std::map<int, std::vector<BatchSeen>>> seen_;  // guarded by mu_
  client::testing::FakeBroker broker_;  // last: its threads stop before the state above goes
};

}  // namespace spool::producer::testing
