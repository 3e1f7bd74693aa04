// Reads N records from partition 0..P-1 of a topic from the beginning and prints them.
//   consumer_example HOST:PORT TOPIC PARTITIONS N
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "consumer/consumer.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: consumer_example HOST:PORT TOPIC PARTITIONS N\n");
    return 2;
  }
  spool::ConsumerConfig config;
  config.bootstrap_servers = {argv[1]};
  config.auto_offset_reset = spool::OffsetResetPolicy::kEarliest;
  auto consumer = spool::Consumer::Create(config);
  if (!consumer.ok()) {
    std::fprintf(stderr, "consumer: %s\n", std::string(consumer.status().message()).c_str());
    return 1;
  }
  std::vector<spool::TopicPartition> partitions;
  for (int p = 0; p < std::atoi(argv[3]); p++) partitions.push_back({argv[2], p});
  if (auto st = (*consumer)->assign(partitions); !st.ok()) return 1;
  const int want = std::atoi(argv[4]);
  int got = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got < want && std::chrono::steady_clock::now() < deadline) {
    auto records = (*consumer)->poll(std::chrono::milliseconds(500));
    if (!records.ok()) {
      std::fprintf(stderr, "poll: %s\n", std::string(records.status().message()).c_str());
      return 1;
    }
    for (const spool::ConsumerRecord& r : *records) {
      std::printf("%s-%d@%lld %.*s\n", std::string(r.topic).c_str(), r.partition,
                  static_cast<long long>(r.offset), static_cast<int>(r.value ? r.value->size() : 0),
                  r.value ? r.value->data() : "");
      got++;
    }
  }
  (void)(*consumer)->close();
  std::printf("received %d records\n", got);
  return got == want ? 0 : 1;
}
