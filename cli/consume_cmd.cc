// spool consume TOPIC: print records through the consumer library, from earliest, latest, an
// offset or a timestamp, until -n records or (with --idle-timeout-ms) no new record for a while.
// With --group GROUP it consumes as a group member instead (subscribe; committed offsets).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "client/admin.h"
#include "consumer/consumer.h"
#include "proto/errors.h"

namespace spool::cli {
namespace {

// --format: %k key, %v value, %o offset, %p partition, %t timestamp, %T topic, %h headers,
// %% a percent sign; \n and \t escapes.
void Print(const ConsumerRecord& r, const std::string& format, std::string& out) {
  for (size_t i = 0; i < format.size(); i++) {
    const char c = format[i];
    if (c == '\\' && i + 1 < format.size()) {
      const char e = format[++i];
      out.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e);
      continue;
    }
    if (c != '%' || i + 1 >= format.size()) {
      out.push_back(c);
      continue;
    }
    switch (format[++i]) {
      case 'k':
        out.append(r.key ? *r.key : std::string_view("null"));
        break;
      case 'v':
        out.append(r.value ? *r.value : std::string_view("null"));
        break;
      case 'o':
        absl::StrAppend(&out, r.offset);
        break;
      case 'p':
        absl::StrAppend(&out, r.partition);
        break;
      case 't':
        absl::StrAppend(&out, r.timestamp);
        break;
      case 'T':
        out.append(r.topic);
        break;
      case 'h': {
        bool first = true;
        for (const record::Header& h : r.headers) {
          if (!first) out.push_back(',');
          first = false;
          out.append(h.key);
          out.push_back('=');
          if (h.value) {
            out.append(reinterpret_cast<const char*>(h.value->data()), h.value->size());
          }
        }
        break;
      }
      case '%':
        out.push_back('%');
        break;
      default:
        out.push_back('%');
        out.push_back(format[i]);
    }
  }
  out.push_back('\n');
}

int Consume(const Args& args, CommandIo& io) {
  if (args.positional().size() != 1) return Fail(io, "consume wants one TOPIC");
  const std::string topic = args.positional()[0];
  StatusOr<int64_t> count = args.get_int("max-messages", -1);
  StatusOr<int64_t> partition = args.get_int("partition", -1);
  StatusOr<int64_t> timeout = args.get_int("timeout-ms", 10000);
  StatusOr<int64_t> idle = args.get_int("idle-timeout-ms", -1);
  for (const Status& st : {count.status(), partition.status(), timeout.status(), idle.status()}) {
    if (!st.ok()) return Fail(io, st.message());
  }
  const std::string from = args.get_or("from", "earliest");
  const std::string format = args.get_or("format", "%v");

  // The partitions: one, or all of the topic's (from metadata).
  std::vector<TopicPartition> tps;
  {
    auto session = client::AdminSession::Open(Bootstrap(args), std::chrono::milliseconds(*timeout));
    if (!session.ok()) return Fail(io, session.status().message());
    StatusOr<v1::MetadataResponse> md = (*session)->Metadata({topic});
    if (!md.ok()) {
      return Fail(io, absl::StrCat("cannot reach a broker at ", Bootstrap(args), ": ",
                                   md.status().message()));
    }
    for (const v1::TopicMetadata& t : md->topics()) {
      if (t.name() != topic) continue;
      if (t.error_code() != v1::NONE) {
        return Fail(io, absl::StrCat("topic '", topic,
                                     "': ", std::string(proto::ErrorName(t.error_code()))));
      }
      for (const v1::PartitionMetadata& p : t.partitions()) {
        if (*partition < 0 || p.partition() == *partition) tps.push_back({topic, p.partition()});
      }
    }
    if (tps.empty()) return Fail(io, absl::StrCat("topic '", topic, "' has no such partition"));
  }

  const std::optional<std::string> group = args.get("group");
  if (group && *partition >= 0) {
    return Fail(io, "--partition and --group exclude each other (the group assigns partitions)");
  }
  if (group && from != "earliest" && from != "latest") {
    return Fail(io,
                "with --group, --from is where to start when the group has no committed "
                "offset: earliest or latest (use spool group reset-offsets for the rest)");
  }
  ConsumerConfig config;
  config.bootstrap_servers = {Bootstrap(args)};
  config.client_id = "spool-cli";
  config.request_timeout_ms = static_cast<int32_t>(*timeout);
  config.auto_offset_reset =
      from == "latest" ? OffsetResetPolicy::kLatest : OffsetResetPolicy::kEarliest;
  if (group) config.group_id = *group;
  StatusOr<std::unique_ptr<Consumer>> consumer = Consumer::Create(std::move(config));
  if (!consumer.ok()) return Fail(io, consumer.status().message());
  Consumer& c = **consumer;
  // With a group: subscribe (the group assigns partitions; positions start from its committed
  // offsets, which auto-commit and close() advance). Without: assign every partition.
  Status st = group ? c.subscribe({topic}) : c.assign(tps);
  if (st.ok() && !group) {
    if (from == "earliest") {
      st = c.seek_to_beginning(tps);
    } else if (from == "latest") {
      st = c.seek_to_end(tps);
    } else if (!from.empty() && from[0] == '@') {
      int64_t ts = 0;
      if (!absl::SimpleAtoi(from.substr(1), &ts)) {
        return Fail(io, absl::StrCat("--from @TIMESTAMP wants milliseconds, not '", from, "'"));
      }
      st = c.seek_to_timestamp(tps, ts);
    } else {
      int64_t offset = 0;
      if (!absl::SimpleAtoi(from, &offset)) {
        return Fail(io, absl::StrCat("--from wants earliest, latest, an offset or @TIMESTAMP, "
                                     "not '",
                                     from, "'"));
      }
      for (const TopicPartition& tp : tps) {
        if (st.ok()) st = c.seek(tp, offset);
      }
    }
  }
  if (!st.ok()) return Fail(io, st.message());

  int64_t printed = 0;
  std::string out;
  auto last_record = std::chrono::steady_clock::now();
  while (*count < 0 || printed < *count) {
    StatusOr<ConsumerRecords> records = c.poll(std::chrono::milliseconds(200));
    if (!records.ok()) {
      (void)c.close();
      return Fail(io, records.status().message());
    }
    out.clear();
    std::set<std::pair<std::string_view, int32_t>> rewound;
    for (const ConsumerRecord& r : *records) {
      if (*count >= 0 && printed >= *count) {
        // Stopping inside a batch: move each partition back to its first record not printed,
        // so the group's commit at close() does not skip it.
        if (group && rewound.insert({r.topic, r.partition}).second) {
          (void)c.seek({std::string(r.topic), r.partition}, r.offset);
        }
        continue;
      }
      Print(r, format, out);
      printed++;
    }
    if (!records->empty()) {
      io.out << out;
      io.out.flush();
      last_record = std::chrono::steady_clock::now();
      if (!io.out) break;  // the reader went away (a closed pipe)
    } else if (*idle >= 0 &&
               std::chrono::steady_clock::now() - last_record >= std::chrono::milliseconds(*idle)) {
      break;
    }
  }
  if (Status closed = c.close(); !closed.ok() && group) {
    return Fail(io, absl::StrCat("cannot commit the group's offsets: ", closed.message()));
  }
  return 0;
}

}  // namespace

void AddConsumeCommands(std::vector<Command>& commands) {
  commands.push_back(Command{
      .path = {"consume"},
      .synopsis = "TOPIC [--from earliest|latest|OFFSET|@TIMESTAMP_MS] [-n N] [flags]",
      .summary = "print records of a topic",
      .flags = {{.name = "from",
                 .short_name = 'f',
                 .value_name = "WHERE",
                 .help = "earliest, latest, an offset, or @timestamp in ms",
                 .default_value = "earliest"},
                {.name = "max-messages",
                 .short_name = 'n',
                 .value_name = "N",
                 .help = "stop after N records (default: run until interrupted)"},
                {.name = "partition",
                 .short_name = 'p',
                 .value_name = "N",
                 .help = "only this partition (default: all)"},
                {.name = "format",
                 .value_name = "FMT",
                 .help = "%k key %v value %o offset %p partition %t timestamp %T topic %h headers",
                 .default_value = "%v"},
                {.name = "group",
                 .short_name = 'g',
                 .value_name = "GROUP",
                 .help = "consume as a member of this consumer group (commits its offsets)"},
                {.name = "idle-timeout-ms",
                 .value_name = "MS",
                 .help = "stop when no record came for MS"}},
      .run = Consume});
}

}  // namespace spool::cli
