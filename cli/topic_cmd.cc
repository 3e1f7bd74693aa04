// spool topic create|list|describe|delete, over Metadata / CreateTopics / DeleteTopics.
#include <algorithm>
#include <chrono>
#include <iomanip>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "client/admin.h"
#include "proto/errors.h"

namespace spool::cli {
namespace {

StatusOr<std::unique_ptr<client::AdminSession>> Connect(const Args& args) {
  ASSIGN_OR_RETURN(int64_t timeout, args.get_int("timeout-ms", 10000));
  return client::AdminSession::Open(Bootstrap(args), std::chrono::milliseconds(timeout));
}

std::string Describe(const Status& st, const Args& args) {
  if (absl::IsUnavailable(st) || absl::IsDeadlineExceeded(st)) {
    return absl::StrCat("cannot reach a broker at ", Bootstrap(args), ": ", st.message());
  }
  return std::string(st.message());
}

std::string Ints(const google::protobuf::RepeatedField<int32_t>& v) {
  return absl::StrJoin(v, ",");
}

int Create(const Args& args, CommandIo& io) {
  if (args.positional().size() != 1) return Fail(io, "topic create wants one topic NAME");
  StatusOr<int64_t> partitions = args.get_int("partitions", 0);
  StatusOr<int64_t> rf = args.get_int("replication-factor", 0);
  if (!partitions.ok()) return Fail(io, partitions.status().message());
  if (!rf.ok()) return Fail(io, rf.status().message());
  v1::CreateTopicsRequest request;
  v1::CreatableTopic* topic = request.add_topics();
  topic->set_name(args.positional()[0]);
  topic->set_num_partitions(static_cast<int32_t>(*partitions));
  topic->set_replication_factor(static_cast<int32_t>(*rf));
  for (const std::string& kv : args.all("config")) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Fail(io, absl::StrCat("--config wants KEY=VALUE, not '", kv, "'"));
    }
    (*topic->mutable_configs())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  request.set_validate_only(args.has("validate-only"));
  auto session = Connect(args);
  if (!session.ok()) return Fail(io, session.status().message());
  StatusOr<v1::CreateTopicsResponse> response = (*session)->CreateTopics(request);
  if (!response.ok()) return Fail(io, Describe(response.status(), args));
  for (const v1::CreatableTopicResult& r : response->topics()) {
    if (r.error_code() != v1::NONE) {
      return Fail(io, absl::StrCat("cannot create topic '", r.name(),
                                   "': ", std::string(proto::ErrorName(r.error_code())),
                                   r.error_message().empty() ? "" : ": ", r.error_message()));
    }
    io.out << (request.validate_only() ? "valid: topic " : "created topic ") << r.name() << " ("
           << r.num_partitions() << " partitions, replication factor " << r.replication_factor()
           << ")\n";
  }
  return 0;
}

int List(const Args& args, CommandIo& io) {
  auto session = Connect(args);
  if (!session.ok()) return Fail(io, session.status().message());
  StatusOr<v1::MetadataResponse> md = (*session)->Metadata({});
  if (!md.ok()) return Fail(io, Describe(md.status(), args));
  std::vector<std::string> names;
  for (const v1::TopicMetadata& t : md->topics()) {
    if (!t.is_internal() || args.has("include-internal")) names.push_back(t.name());
  }
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) io.out << n << "\n";
  return 0;
}

int DescribeTopics(const Args& args, CommandIo& io) {
  auto session = Connect(args);
  if (!session.ok()) return Fail(io, session.status().message());
  StatusOr<v1::MetadataResponse> md = (*session)->Metadata(args.positional());
  if (!md.ok()) return Fail(io, Describe(md.status(), args));
  int rc = 0;
  for (const v1::TopicMetadata& t : md->topics()) {
    if (t.error_code() != v1::NONE) {
      rc = Fail(io, absl::StrCat("topic '", t.name(),
                                 "': ", std::string(proto::ErrorName(t.error_code()))));
      continue;
    }
    io.out << "topic " << t.name() << "  partitions " << t.partitions_size()
           << (t.is_internal() ? "  internal" : "") << "\n";
    std::vector<const v1::PartitionMetadata*> parts;
    for (const v1::PartitionMetadata& p : t.partitions()) parts.push_back(&p);
    std::sort(parts.begin(), parts.end(),
              [](auto* a, auto* b) { return a->partition() < b->partition(); });
    io.out << "  partition  leader  epoch  replicas  isr\n";
    for (const v1::PartitionMetadata* p : parts) {
      io.out << "  " << std::setw(9) << p->partition() << "  " << std::setw(6) << p->leader_id()
             << "  " << std::setw(5) << p->leader_epoch() << "  " << std::setw(8)
             << Ints(p->replicas()) << "  " << Ints(p->isr());
      if (p->error_code() != v1::NONE)
        io.out << "  " << std::string(proto::ErrorName(p->error_code()));
      io.out << "\n";
    }
  }
  return rc;
}

int Delete(const Args& args, CommandIo& io) {
  if (args.positional().empty()) return Fail(io, "topic delete wants one or more topic NAMEs");
  v1::DeleteTopicsRequest request;
  for (const std::string& n : args.positional()) request.add_topic_names(n);
  auto session = Connect(args);
  if (!session.ok()) return Fail(io, session.status().message());
  StatusOr<v1::DeleteTopicsResponse> response = (*session)->DeleteTopics(request);
  if (!response.ok()) return Fail(io, Describe(response.status(), args));
  int rc = 0;
  for (const v1::DeletableTopicResult& r : response->results()) {
    if (r.error_code() != v1::NONE) {
      rc = Fail(io, absl::StrCat("cannot delete topic '", r.name(),
                                 "': ", std::string(proto::ErrorName(r.error_code()))));
    } else {
      io.out << "deleted topic " << r.name() << "\n";
    }
  }
  return rc;
}

}  // namespace

void AddTopicCommands(std::vector<Command>& commands) {
  commands.push_back(
      Command{.path = {"topic", "create"},
              .synopsis = "NAME [--partitions N] [--config KEY=VALUE]...",
              .summary = "create a topic",
              .flags = {{.name = "partitions",
                         .short_name = 'p',
                         .value_name = "N",
                         .help = "partition count (0: the broker's num.partitions)"},
                        {.name = "replication-factor",
                         .short_name = 'r',
                         .value_name = "N",
                         .help = "replicas per partition (0: the broker's default)"},
                        {.name = "config",
                         .short_name = 'c',
                         .value_name = "KEY=VALUE",
                         .help = "topic config, repeatable (retention.ms, segment.bytes, ...)"},
                        {.name = "validate-only",
                         .takes_value = false,
                         .help = "check the request, create nothing"}},
              .run = Create});
  commands.push_back(Command{.path = {"topic", "list"},
                             .synopsis = "",
                             .summary = "list topic names",
                             .flags = {{.name = "include-internal",
                                        .takes_value = false,
                                        .help = "list internal topics too"}},
                             .run = List});
  commands.push_back(
      Command{.path = {"topic", "describe"},
              .synopsis = "[NAME...]",
              .summary = "partitions, leaders and replicas of topics (all: none named)",
              .flags = {},
              .run = DescribeTopics});
  commands.push_back(Command{.path = {"topic", "delete"},
                             .synopsis = "NAME...",
                             .summary = "delete topics and their data",
                             .flags = {},
                             .run = Delete});
}

}  // namespace spool::cli
