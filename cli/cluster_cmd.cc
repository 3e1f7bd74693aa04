// spool cluster: the brokers and how many partitions each leads (Metadata), then the controller
// quorum and the registered brokers (DescribeQuorum, which the broker forwards to the quorum).
// cli/README.md shows the output. The quorum part is best effort: if the broker cannot answer
// it, the rest is printed with a line saying so, and the exit code does not change.
#include <algorithm>
#include <chrono>
#include <iomanip>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "client/admin.h"
#include "proto/errors.h"

namespace spool::cli {
namespace {

std::string YesNo(bool b) {
  return b ? "yes" : "no";
}

void PrintQuorum(const v1::DescribeQuorumResponse& q, std::ostream& out) {
  out << "controller quorum  leader "
      << (q.leader_id() < 0 ? std::string("none") : std::to_string(q.leader_id())) << "  term "
      << q.term() << "  commit " << q.commit_index() << "  metadata " << q.metadata_index()
      << "  (answered by node " << q.node_id() << ", " << q.role()
      << (q.active() ? ", active controller" : "") << ")\n";
  if (q.voters_size() == 0) {
    out << "  voters: known to the leader only\n";
  } else {
    out << "  voter     log-end      lag  active\n";
    for (const v1::QuorumVoterState& v : q.voters()) {
      out << "  " << std::setw(5) << v.voter_id() << "  " << std::setw(10) << v.log_end_offset()
          << "  " << std::setw(7) << v.lag() << "  " << YesNo(v.active()) << "\n";
    }
  }
  std::vector<const v1::QuorumBrokerState*> brokers;
  for (const v1::QuorumBrokerState& b : q.brokers()) brokers.push_back(&b);
  std::sort(brokers.begin(), brokers.end(),
            [](auto* a, auto* b) { return a->broker_id() < b->broker_id(); });
  out << "registered brokers " << brokers.size() << "\n";
  if (brokers.empty()) return;
  out << "  broker     epoch  state     rack          last-heartbeat-ms\n";
  for (const v1::QuorumBrokerState* b : brokers) {
    const std::string rack = b->has_rack() ? b->rack() : "-";
    const std::string heartbeat =
        b->ms_since_heartbeat() < 0 ? std::string("-") : std::to_string(b->ms_since_heartbeat());
    out << "  " << std::setw(6) << b->broker_id() << "  " << std::setw(8) << b->broker_epoch()
        << "  " << std::left << std::setw(8) << (b->fenced() ? "fenced" : "unfenced") << "  "
        << std::setw(12) << rack << std::right << "  " << heartbeat << "\n";
  }
}

int Cluster(const Args& args, CommandIo& io) {
  StatusOr<int64_t> timeout = args.get_int("timeout-ms", 10000);
  if (!timeout.ok()) return Fail(io, timeout.status().message());
  auto session = client::AdminSession::Open(Bootstrap(args), std::chrono::milliseconds(*timeout));
  if (!session.ok()) return Fail(io, session.status().message());
  StatusOr<v1::MetadataResponse> md = (*session)->Metadata({});
  if (!md.ok()) {
    return Fail(io, absl::StrCat("cannot reach a broker at ", Bootstrap(args), ": ",
                                 md.status().message()));
  }
  std::map<int32_t, int> leaders;
  int partitions = 0;
  int offline = 0;
  for (const v1::TopicMetadata& t : md->topics()) {
    for (const v1::PartitionMetadata& p : t.partitions()) {
      partitions++;
      if (p.leader_id() < 0) {
        offline++;
      } else {
        leaders[p.leader_id()]++;
      }
    }
  }
  io.out << "cluster " << md->cluster_id() << "  controller " << md->controller_id() << "  topics "
         << md->topics_size() << "  partitions " << partitions << "  offline " << offline << "\n";
  io.out << "  broker  address                 leads\n";
  std::vector<const v1::BrokerMetadata*> brokers;
  for (const v1::BrokerMetadata& b : md->brokers()) brokers.push_back(&b);
  std::sort(brokers.begin(), brokers.end(),
            [](auto* a, auto* b) { return a->node_id() < b->node_id(); });
  for (const v1::BrokerMetadata* b : brokers) {
    io.out << "  " << std::setw(6) << b->node_id() << "  " << std::left << std::setw(22)
           << absl::StrCat(b->host(), ":", b->port()) << std::right << "  " << std::setw(5)
           << leaders[b->node_id()] << "\n";
  }

  StatusOr<v1::DescribeQuorumResponse> quorum = (*session)->DescribeQuorum(md->cluster_id());
  if (!quorum.ok()) {
    io.out << "controller quorum: unavailable (" << quorum.status().message() << ")\n";
  } else if (quorum->error_code() != proto::ErrorCode::NONE) {
    io.out << "controller quorum: unavailable ("
           << proto::ErrorName(static_cast<proto::ErrorCode>(quorum->error_code()));
    if (!quorum->error_message().empty()) io.out << ": " << quorum->error_message();
    io.out << ")\n";
  } else {
    PrintQuorum(*quorum, io.out);
  }
  return offline == 0 ? 0 : 1;
}

}  // namespace

void AddClusterCommands(std::vector<Command>& commands) {
  commands.push_back(Command{.path = {"cluster"},
                             .synopsis = "",
                             .summary = "brokers, partition leadership, the controller quorum",
                             .flags = {},
                             .run = Cluster});
}

}  // namespace spool::cli
