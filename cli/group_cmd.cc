// spool group list | describe GROUP | delete GROUP... | reset-offsets GROUP ...
//
// describe prints the group's state and members with their assignments (decoded from the
// "consumer" protocol's ConsumerAssignment), then one line per partition with a committed offset
// or an owner: committed offset, log end offset (ListOffsets latest) and lag.
// reset-offsets commits new offsets for a group from outside it (generation -1), which the
// coordinator accepts only while the group is empty; without --execute it prints the plan only,
// as Kafka's kafka-consumer-groups does.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "client/admin.h"
#include "proto/consumer_protocol.pb.h"
#include "proto/errors.h"

namespace spool::cli {
namespace {

using Admin = client::AdminSession;
using PartitionKey = std::pair<std::string, int32_t>;

StatusOr<std::unique_ptr<Admin>> Connect(const Args& args) {
  StatusOr<int64_t> timeout = args.get_int("timeout-ms", 10000);
  if (!timeout.ok()) return timeout.status();
  return Admin::Open(Bootstrap(args), std::chrono::milliseconds(*timeout), "spool-cli");
}

std::string Code(v1::ErrorCode code, const std::string& message) {
  std::string s(proto::ErrorName(code));
  if (!message.empty()) absl::StrAppend(&s, ": ", message);
  return s;
}

// Offsets of the given partitions by `spec` (default: the log end); -1 where unknown.
std::map<PartitionKey, int64_t> LogEnds(Admin& admin, const std::vector<PartitionKey>& parts,
                                        v1::OffsetSpec spec = v1::OFFSET_SPEC_LATEST,
                                        int64_t timestamp_ms = 0) {
  StatusOr<Admin::PartitionOffsets> r = admin.OffsetsBySpec(parts, spec, timestamp_ms);
  if (r.ok()) return *std::move(r);
  std::map<PartitionKey, int64_t> unknown;
  for (const PartitionKey& k : parts) unknown[k] = -1;
  return unknown;
}

int List(const Args& args, CommandIo& io) {
  StatusOr<std::unique_ptr<Admin>> admin = Connect(args);
  if (!admin.ok()) return Fail(io, admin.status().message());
  v1::ListGroupsRequest req;
  for (const std::string& s : args.all("state")) req.add_states_filter(s);
  StatusOr<v1::ListGroupsResponse> r = (*admin)->ListGroups(req);
  if (!r.ok()) return Fail(io, r.status().message());
  if (r->error_code() != v1::NONE) return Fail(io, Code(r->error_code(), r->error_message()));
  std::vector<v1::ListedGroup> groups(r->groups().begin(), r->groups().end());
  std::sort(groups.begin(), groups.end(),
            [](const auto& a, const auto& b) { return a.group_id() < b.group_id(); });
  io.out << absl::StrFormat("%-32s %-20s %s\n", "GROUP", "STATE", "PROTOCOL-TYPE");
  for (const v1::ListedGroup& g : groups) {
    io.out << absl::StrFormat("%-32s %-20s %s\n", g.group_id(), g.group_state(), g.protocol_type());
  }
  return 0;
}

int Describe(const Args& args, CommandIo& io) {
  if (args.positional().size() != 1) {
    io.err << "spool group describe: give one GROUP\n";
    return 2;
  }
  const std::string group = args.positional()[0];
  StatusOr<std::unique_ptr<Admin>> admin = Connect(args);
  if (!admin.ok()) return Fail(io, admin.status().message());
  StatusOr<v1::DescribeGroupsResponse> d = (*admin)->DescribeGroups({group});
  if (!d.ok()) return Fail(io, d.status().message());
  if (d->groups_size() != 1) return Fail(io, "the coordinator answered no group");
  const v1::DescribedGroup& g = d->groups(0);
  if (g.error_code() != v1::NONE) {
    return Fail(io, absl::StrCat("group '", group, "': ", Code(g.error_code(), g.error_message())));
  }
  v1::OffsetFetchRequest of;
  of.set_group_id(group);
  of.set_all_topics(true);
  StatusOr<v1::OffsetFetchResponse> offsets = (*admin)->OffsetFetch(of);
  if (!offsets.ok()) return Fail(io, offsets.status().message());
  if (offsets->error_code() != v1::NONE) {
    return Fail(io, Code(offsets->error_code(), offsets->error_message()));
  }

  io.out << "group " << g.group_id() << "  state " << g.group_state() << "  protocol "
         << (g.protocol_type().empty() ? "-" : g.protocol_type()) << "/"
         << (g.protocol_name().empty() ? "-" : g.protocol_name()) << "  generation "
         << g.generation_id() << "  members " << g.members_size() << "\n";
  std::map<PartitionKey, std::string> owner;
  if (g.members_size() > 0) {
    io.out << absl::StrFormat("\n%-44s %-16s %-20s %s\n", "MEMBER", "INSTANCE", "CLIENT",
                              "ASSIGNMENT");
  }
  for (const v1::DescribedGroupMember& m : g.members()) {
    v1::ConsumerAssignment a;
    std::string assigned;
    if (g.protocol_type() == "consumer" && a.ParseFromString(std::string(m.member_assignment()))) {
      for (const auto& tp : a.partitions()) {
        for (int32_t p : tp.partitions()) {
          owner[{tp.topic(), p}] = m.member_id();
          absl::StrAppend(&assigned, assigned.empty() ? "" : ",", tp.topic(), "-", p);
        }
      }
    }
    io.out << absl::StrFormat("%-44s %-16s %-20s %s\n", m.member_id(),
                              m.group_instance_id().empty() ? "-" : m.group_instance_id(),
                              absl::StrCat(m.client_id(), "/", m.client_host()),
                              assigned.empty() ? "-" : assigned);
  }
  std::map<PartitionKey, int64_t> committed;
  for (const auto& t : offsets->topics()) {
    for (const auto& p : t.partitions()) {
      if (p.error_code() == v1::NONE && p.committed_offset() >= 0) {
        committed[{t.name(), p.partition()}] = p.committed_offset();
      }
    }
  }
  std::vector<PartitionKey> parts;
  for (const auto& [k, v] : committed) parts.push_back(k);
  for (const auto& [k, v] : owner) {
    if (!committed.contains(k)) parts.push_back(k);
  }
  std::sort(parts.begin(), parts.end());
  const std::map<PartitionKey, int64_t> ends = LogEnds(**admin, parts);
  io.out << absl::StrFormat("\n%-24s %9s %16s %16s %10s  %s\n", "TOPIC", "PARTITION", "COMMITTED",
                            "LOG-END", "LAG", "OWNER");
  for (const PartitionKey& k : parts) {
    const auto c = committed.find(k);
    const int64_t end = ends.at(k);
    const std::string c_text = c == committed.end() ? "-" : absl::StrCat(c->second);
    const std::string lag =
        c == committed.end() || end < 0 ? "-" : absl::StrCat(std::max<int64_t>(0, end - c->second));
    const auto o = owner.find(k);
    io.out << absl::StrFormat("%-24s %9d %16s %16s %10s  %s\n", k.first, k.second, c_text,
                              end < 0 ? "-" : absl::StrCat(end), lag,
                              o == owner.end() ? "-" : o->second);
  }
  return 0;
}

int Delete(const Args& args, CommandIo& io) {
  if (args.positional().empty()) {
    io.err << "spool group delete: give one or more GROUPs\n";
    return 2;
  }
  StatusOr<std::unique_ptr<Admin>> admin = Connect(args);
  if (!admin.ok()) return Fail(io, admin.status().message());
  StatusOr<v1::DeleteGroupsResponse> r = (*admin)->DeleteGroups(args.positional());
  if (!r.ok()) return Fail(io, r.status().message());
  int rc = 0;
  for (const v1::DeleteGroupResult& g : r->results()) {
    if (g.error_code() == v1::NONE) {
      io.out << "deleted group " << g.group_id() << "\n";
    } else {
      rc = Fail(io, absl::StrCat("cannot delete group '", g.group_id(),
                                 "': ", Code(g.error_code(), g.error_message())));
    }
  }
  return rc;
}

int ResetOffsets(const Args& args, CommandIo& io) {
  if (args.positional().size() != 1) {
    io.err << "spool group reset-offsets: give one GROUP\n";
    return 2;
  }
  const std::string group = args.positional()[0];
  const std::vector<std::string> topics = args.all("topic");
  const int choices = args.has("to-earliest") + args.has("to-latest") + args.has("to-offset") +
                      args.has("to-timestamp");
  if (topics.empty() || choices != 1) {
    io.err << "spool group reset-offsets: give --topic (one or more) and exactly one of "
              "--to-earliest, --to-latest, --to-offset N, --to-timestamp MS\n";
    return 2;
  }
  StatusOr<int64_t> to_offset = args.get_int("to-offset", 0);
  StatusOr<int64_t> to_ts = args.get_int("to-timestamp", 0);
  if (!to_offset.ok()) return Fail(io, to_offset.status().message());
  if (!to_ts.ok()) return Fail(io, to_ts.status().message());
  StatusOr<std::unique_ptr<Admin>> admin = Connect(args);
  if (!admin.ok()) return Fail(io, admin.status().message());

  // Only an empty group can be reset: say so before trying.
  StatusOr<v1::DescribeGroupsResponse> d = (*admin)->DescribeGroups({group});
  if (!d.ok()) return Fail(io, d.status().message());
  if (d->groups_size() == 1 && d->groups(0).error_code() == v1::NONE &&
      d->groups(0).members_size() > 0) {
    return Fail(io, absl::StrCat("group '", group, "' has ", d->groups(0).members_size(),
                                 " members (state ", d->groups(0).group_state(),
                                 "): stop its consumers first"));
  }
  StatusOr<v1::MetadataResponse> md = (*admin)->Metadata(topics);
  if (!md.ok()) return Fail(io, md.status().message());
  std::vector<PartitionKey> parts;
  for (const auto& t : md->topics()) {
    if (t.error_code() != v1::NONE) {
      return Fail(io, absl::StrCat("topic '", t.name(), "': ", Code(t.error_code(), "")));
    }
    for (const auto& p : t.partitions()) parts.push_back({t.name(), p.partition()});
  }
  std::sort(parts.begin(), parts.end());
  std::map<PartitionKey, int64_t> target;
  if (args.has("to-offset")) {
    const std::map<PartitionKey, int64_t> lo = LogEnds(**admin, parts, v1::OFFSET_SPEC_EARLIEST);
    const std::map<PartitionKey, int64_t> hi = LogEnds(**admin, parts);
    for (const PartitionKey& k : parts) {  // clamped into the log, as Kafka's tool does
      target[k] = std::clamp<int64_t>(*to_offset, std::max<int64_t>(0, lo.at(k)),
                                      std::max<int64_t>(0, hi.at(k)));
    }
  } else if (args.has("to-timestamp")) {
    target = LogEnds(**admin, parts, v1::OFFSET_SPEC_BY_TIMESTAMP, *to_ts);
    const std::map<PartitionKey, int64_t> hi = LogEnds(**admin, parts);
    for (auto& [k, v] : target) {
      if (v < 0) v = hi.at(k);  // no record that late: the end
    }
  } else {
    target = LogEnds(**admin, parts,
                     args.has("to-earliest") ? v1::OFFSET_SPEC_EARLIEST : v1::OFFSET_SPEC_LATEST);
  }
  io.out << absl::StrFormat("%-24s %9s %16s\n", "TOPIC", "PARTITION", "NEW-OFFSET");
  for (const auto& [k, offset] : target) {
    if (offset < 0) {
      return Fail(io, absl::StrCat("cannot read the offsets of ", k.first, "-", k.second));
    }
    io.out << absl::StrFormat("%-24s %9d %16d\n", k.first, k.second, offset);
  }
  if (!args.has("execute")) {
    io.out << "(dry run: add --execute to commit these offsets)\n";
    return 0;
  }
  if (Status st = (*admin)->CommitOffsetsFromOutside(group, target); !st.ok()) {
    return Fail(io, st.message());
  }
  io.out << "committed " << target.size() << " offsets for group " << group << "\n";
  return 0;
}

}  // namespace

void AddGroupCommands(std::vector<Command>& commands) {
  commands.push_back(Command{.path = {"group", "list"},
                             .synopsis = "[--state STATE]",
                             .summary = "list consumer groups",
                             .flags = {{.name = "state",
                                        .value_name = "STATE",
                                        .help = "only groups in this state (repeatable)"}},
                             .run = List});
  commands.push_back(Command{.path = {"group", "describe"},
                             .synopsis = "GROUP",
                             .summary = "a group's members, assignment, offsets and lag",
                             .flags = {},
                             .run = Describe});
  commands.push_back(Command{.path = {"group", "delete"},
                             .synopsis = "GROUP...",
                             .summary = "delete empty groups and their offsets",
                             .flags = {},
                             .run = Delete});
  commands.push_back(Command{
      .path = {"group", "reset-offsets"},
      .synopsis = "GROUP --topic T (--to-earliest|--to-latest|--to-offset N|--to-timestamp MS) "
                  "[--execute]",
      .summary = "set an empty group's committed offsets",
      .flags = {{.name = "topic",
                 .short_name = 't',
                 .value_name = "NAME",
                 .help = "a topic whose partitions to reset (repeatable)"},
                {.name = "to-earliest", .takes_value = false, .help = "the log start"},
                {.name = "to-latest", .takes_value = false, .help = "the log end"},
                {.name = "to-offset",
                 .value_name = "N",
                 .help = "this offset (clamped to the log)"},
                {.name = "to-timestamp",
                 .value_name = "MS",
                 .help = "the first record at or after this time (ms since the epoch)"},
                {.name = "execute",
                 .takes_value = false,
                 .help = "commit (without it: print the plan only)"}},
      .run = ResetOffsets});
}

}  // namespace spool::cli
