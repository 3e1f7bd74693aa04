#include "broker/spoold_flags.h"

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace spool::broker {
namespace {

struct Raw {
  std::optional<std::string> config_file;
  std::vector<std::pair<std::string, std::string>> sets;   // --set key=value, in order
  std::vector<std::pair<std::string, std::string>> flags;  // dedicated flags as config keys
  std::optional<std::string> ready_file;
  bool help = false;
  bool version = false;
};

// Flags whose value is one config key.
std::optional<std::string_view> KeyOfFlag(std::string_view flag) {
  if (flag == "--data-dir") return "log.dirs";
  if (flag == "--listen") return "listeners";
  if (flag == "--node-id") return "node.id";
  if (flag == "--reactors") return "num.reactors";
  if (flag == "--controller-listen") return "controller.listener";
  if (flag == "--roles") return "process.roles";
  return std::nullopt;
}

bool TakesValue(std::string_view flag) {
  return KeyOfFlag(flag).has_value() || flag == "--config" || flag == "--set" ||
         flag == "--ready-file";
}

StatusOr<Raw> Scan(int argc, const char* const* argv) {
  Raw raw;
  for (int i = 1; i < argc; i++) {
    std::string_view arg = argv[i];
    std::string_view flag = arg;
    std::optional<std::string> value;
    if (const size_t eq = arg.find('='); arg.substr(0, 2) == "--" && eq != std::string_view::npos) {
      flag = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
    }
    if (flag == "--help" || flag == "-h") {
      raw.help = true;
      continue;
    }
    if (flag == "--version") {
      raw.version = true;
      continue;
    }
    if (!TakesValue(flag)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '", std::string(arg), "'"));
    }
    if (!value.has_value()) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag ", std::string(flag), " needs a value"));
      }
      value = argv[++i];
    }
    if (flag == "--config") {
      raw.config_file = *value;
    } else if (flag == "--ready-file") {
      raw.ready_file = *value;
    } else if (flag == "--set") {
      const size_t eq = value->find('=');
      if (eq == std::string::npos || eq == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--set wants key=value, got '", *value, "'"));
      }
      raw.sets.emplace_back(value->substr(0, eq), value->substr(eq + 1));
    } else {
      raw.flags.emplace_back(std::string(*KeyOfFlag(flag)), *value);
    }
  }
  return raw;
}

}  // namespace

StatusOr<SpooldFlags> ParseSpooldFlags(int argc, const char* const* argv) {
  ASSIGN_OR_RETURN(Raw raw, Scan(argc, argv));
  SpooldFlags out;
  out.help = raw.help;
  out.version = raw.version;
  if (out.help || out.version) return out;
  BrokerConfig& c = out.config;
  if (raw.config_file) RETURN_IF_ERROR(LoadConfigFile(c, *raw.config_file));
  for (const auto& [key, value] : raw.sets) {
    Status st = ApplySetting(c, key, value);
    if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("--set: ", st.message()));
  }
  for (const auto& [key, value] : raw.flags) RETURN_IF_ERROR(ApplySetting(c, key, value));
  if (raw.ready_file) c.ready_file = *raw.ready_file;
  RETURN_IF_ERROR(FinishConfig(c));
  return out;
}

std::string SpooldUsage() {
  return absl::StrCat(
      "spoold ", kSpooldVersion,
      ": the Spool broker and controller (a single node is a whole cluster).\n"
      "\n"
      "usage: spoold [flags]\n"
      "\n"
      "  --config FILE         read settings from a TOML file (keys as in broker/README.md)\n"
      "  --data-dir DIR        where partitions and topic metadata live (log.dirs)\n"
      "                        default: $HOME/.spool/data, or /var/lib/spool without HOME\n"
      "  --listen HOST:PORT    address to listen on (listeners); default 127.0.0.1:",
      kDefaultPort,
      ", port 0 picks one\n"
      "  --node-id N           this node's id (node.id); default 1\n"
      "  --roles R             process.roles: broker, controller or broker,controller (default)\n"
      "  --controller-listen HOST:PORT\n"
      "                        the controller listener (controller.listener); default\n"
      "                        127.0.0.1:0 when this node is the only voter\n"
      "  --reactors N          reactor threads (num.reactors); default 0 = one per core\n"
      "  --set KEY=VALUE       any config key; repeatable; wins over --config\n"
      "  --ready-file PATH     once listening, write \"host:port\\n\" there (atomically), then\n"
      "                        \"controller host:port\\n\" with the controller role\n"
      "  --help                this text\n"
      "  --version             print the version\n"
      "\n"
      "Dedicated flags win over --set, which wins over the config file.\n"
      "SIGTERM or SIGINT: stop accepting, finish requests in flight, flush every partition,\n"
      "write the clean-shutdown markers, then stop the controller, exit 0.\n");
}

}  // namespace spool::broker
