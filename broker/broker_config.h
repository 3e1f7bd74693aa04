// BrokerConfig: every setting of a broker, with defaults that run with no config file at all.
//
// Sources, later ones winning: the built-in defaults, a TOML file (`spoold --config FILE`), then
// `--set key=value` flags and the dedicated flags (`--data-dir`, `--listen`, ...). Keys use Kafka's
// names where the meaning is the same (broker/README.md lists them all). Loading is done once at
// start-up on the main thread; afterwards the config is read-only and shared by every shard.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "broker/group_config.h"
#include "common/io/socket.h"
#include "common/status.h"
#include "log/partition_log.h"
#include "proto/frame.h"

namespace spool::broker {

inline constexpr uint16_t kDefaultPort = 9192;  // Kafka's 9092 plus 100: both can run side by side

struct BrokerConfig {
  int32_t node_id = 0;                             // node.id
  std::string cluster_id = "spool-local";          // cluster.id
  std::string data_dir;                            // log.dirs; default $HOME/.spool/data
  io::HostPort listen{"127.0.0.1", kDefaultPort};  // listeners ("host:port"; port 0: ephemeral)
  io::HostPort advertised;  // advertised.listeners; empty host: same as `listen`
  int reactors = 0;         // num.reactors; 0: one per core

  // Topics.
  bool auto_create_topics = false;         // auto.create.topics.enable
  int32_t default_partitions = 1;          // num.partitions
  int32_t default_replication_factor = 1;  // default.replication.factor (only 1 until replication)
  log::LogConfig log_defaults;             // log.segment.bytes, log.retention.ms, ... per topic
  int64_t retention_check_interval_ms = 5 * 60 * 1000;  // log.retention.check.interval.ms

  // Consumer groups (group.*, offsets.*; broker/GROUPS.md).
  GroupConfig groups;

  // Network limits.
  proto::FrameLimits frame_limits;  // socket.request.max.bytes, spool's request.body.max.bytes
  uint64_t max_inflight_bytes_per_connection = 64ull << 20;  // reading pauses above this
  uint64_t max_inflight_bytes_total = 512ull << 20;          // over all connections of a broker
  int32_t max_connections = 10000;                           // max.connections

  // Where spoold writes "listening on host:port" once it accepts connections (for tests and
  // scripts that start it on port 0); empty: stdout only.
  std::string ready_file;
};

// Applies one "key=value" setting (Kafka key names). kInvalidArgument naming the key on an
// unknown key or a bad value.
[[nodiscard]] Status ApplySetting(BrokerConfig& config, std::string_view key,
                                  std::string_view value);
// Reads a TOML file of such settings (tables flatten to dotted keys: [log] retention.ms = 1).
[[nodiscard]] Status LoadConfigFile(BrokerConfig& config, const std::string& path);
// Fills defaults that depend on the machine (data_dir from $HOME, reactors from the core count)
// and checks the whole config.
[[nodiscard]] Status FinishConfig(BrokerConfig& config);

}  // namespace spool::broker
