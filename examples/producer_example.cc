// Sends N records ("record-0", "record-1", ...) to a topic and waits until every one is
// acknowledged durable (acks=all).
//   producer_example HOST:PORT TOPIC N
#include <cstdio>
#include <cstdlib>
#include <string>

#include "producer/producer.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: producer_example HOST:PORT TOPIC N\n");
    return 2;
  }
  spool::ProducerConfig config;
  config.bootstrap_servers = argv[1];
  config.acks = -1;
  auto producer = spool::Producer::Create(config);
  if (!producer.ok()) {
    std::fprintf(stderr, "producer: %s\n", std::string(producer.status().message()).c_str());
    return 1;
  }
  const int n = std::atoi(argv[3]);
  int failed = 0;
  for (int i = 0; i < n; i++) {
    spool::ProducerRecord record;
    record.topic = argv[2];
    record.key = "key-" + std::to_string(i % 10);
    record.value = "record-" + std::to_string(i);
    // The callback runs on the producer's I/O thread once the broker has answered.
    auto status = (*producer)->send(record, [&failed](spool::StatusOr<spool::RecordMetadata> md) {
      if (!md.ok()) failed++;
    });
    if (!status.ok()) {
      std::fprintf(stderr, "send: %s\n", std::string(status.message()).c_str());
      return 1;
    }
  }
  (*producer)->flush();  // every callback has run when flush() returns
  (*producer)->close();
  std::printf("sent %d records, %d failed\n", n, failed);
  return failed == 0 ? 0 : 1;
}
