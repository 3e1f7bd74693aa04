#include "replication/controller/record_builder.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace spool::controller {

Status RecordBuilder::Add(v1::MetadataRecord record) {
  if (Status st = image_.Apply(record); !st.ok()) {
    return absl::InternalError(
        absl::StrCat("controller built a record it cannot apply: ", std::string(st.message())));
  }
  records_.push_back(std::move(record));
  return absl::OkStatus();
}

v1::MetadataRecord BrokerFenced(int32_t broker_id, int64_t epoch) {
  v1::MetadataRecord r;
  r.mutable_broker_fenced()->set_broker_id(broker_id);
  r.mutable_broker_fenced()->set_broker_epoch(epoch);
  return r;
}

v1::MetadataRecord BrokerUnfenced(int32_t broker_id, int64_t epoch) {
  v1::MetadataRecord r;
  r.mutable_broker_unfenced()->set_broker_id(broker_id);
  r.mutable_broker_unfenced()->set_broker_epoch(epoch);
  return r;
}

v1::MetadataRecord PartitionChange(const TopicId& topic, int32_t partition,
                                   std::optional<int32_t> leader,
                                   std::optional<std::vector<int32_t>> isr) {
  v1::MetadataRecord r;
  v1::PartitionChangeRecord* c = r.mutable_partition_change();
  c->set_topic_id(topic.ToBytes());
  c->set_partition(partition);
  if (leader) c->set_leader(*leader);
  if (isr) {
    v1::IntList* list = c->mutable_isr();  // set even when empty
    for (int32_t m : *isr) list->add_values(m);
  }
  return r;
}

}  // namespace spool::controller
