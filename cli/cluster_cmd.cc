// spool cluster: the brokers, the controller, and how many partitions each broker leads.
#include <algorithm>
#include <chrono>
#include <iomanip>
#include <map>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "client/admin.h"

namespace spool::cli {
namespace {

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
  return offline == 0 ? 0 : 1;
}

}  // namespace

void AddClusterCommands(std::vector<Command>& commands) {
  commands.push_back(Command{.path = {"cluster"},
                             .synopsis = "",
                             .summary = "brokers, controller and partition leadership",
                             .flags = {},
                             .run = Cluster});
}

}  // namespace spool::cli
