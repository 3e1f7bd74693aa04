// AlterConfigs (controller_logic.h).
#include <charconv>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replication/controller/controller_errors.h"
#include "replication/controller/controller_logic.h"
#include "replication/controller/leadership.h"

namespace spool::controller {
namespace {

bool IsBrokerName(const std::string& name) {
  if (name.empty()) return true;
  int32_t id = -1;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
  return ec == std::errc() && end == name.data() + name.size() && id >= 0 &&
         std::to_string(id) == name;
}

// Adds the change's records to `builder`; on error nothing is added.
Status AlterOne(RecordBuilder& builder, const ConfigChange& change) {
  if (change.key.empty()) return ControllerStatus(ControllerError::kInvalidConfig, "empty key");
  const TopicImage* topic = nullptr;
  switch (change.resource_type) {
    case v1::CONFIG_RESOURCE_TOPIC:
      topic = builder.image().FindTopic(change.resource_name);
      if (topic == nullptr) {
        return ControllerStatus(ControllerError::kUnknownTopicOrPartition,
                                absl::StrCat("no topic ", change.resource_name));
      }
      break;
    case v1::CONFIG_RESOURCE_BROKER:
      if (!IsBrokerName(change.resource_name)) {
        return ControllerStatus(ControllerError::kInvalidRequest,
                                absl::StrCat("broker resource '", change.resource_name, "'"));
      }
      break;
    case v1::CONFIG_RESOURCE_UNKNOWN:
    default:  // open enum: a value from a newer client
      return ControllerStatus(ControllerError::kInvalidRequest,
                              absl::StrCat("resource type ", change.resource_type));
  }
  if (change.key == kUncleanLeaderElectionKey && change.value && *change.value != "true" &&
      *change.value != "false") {
    return ControllerStatus(ControllerError::kInvalidConfig,
                            absl::StrCat(change.key, " must be true or false"));
  }
  RecordBuilder scratch = builder;
  v1::MetadataRecord record;
  v1::ConfigRecord* c = record.mutable_config();
  c->set_resource_type(change.resource_type);
  c->set_resource_name(change.resource_name);
  c->set_key(change.key);
  if (change.value) {
    c->set_value(*change.value);
  } else {
    c->set_delete_key(true);
  }
  RETURN_IF_ERROR(scratch.Add(std::move(record)));
  if (topic != nullptr && change.key == kUncleanLeaderElectionKey && change.value == "true") {
    RETURN_IF_ERROR(ElectUncleanLeaders(scratch, topic->id));
  }
  builder = std::move(scratch);
  return absl::OkStatus();
}

}  // namespace

ControllerResult<std::vector<Status>> AlterConfigs(const ClusterImage& image,
                                                   const std::vector<ConfigChange>& changes) {
  ControllerResult<std::vector<Status>> out;
  RecordBuilder builder(image);
  for (const ConfigChange& change : changes) out.reply.push_back(AlterOne(builder, change));
  out.records = std::move(builder).Take();
  return out;
}

}  // namespace spool::controller
