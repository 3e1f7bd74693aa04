#include "replication/controller/controller_state.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"

namespace spool::controller {
namespace {

bool SameRecords(std::span<const v1::MetadataRecord> a, std::span<const v1::MetadataRecord> b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!google::protobuf::util::MessageDifferencer::Equals(a[i], b[i])) return false;
  }
  return true;
}

}  // namespace

ControllerState::ControllerState(ClusterImage image, int64_t index)
    : committed_(image), committed_index_(index), latest_(std::move(image)) {}

int64_t ControllerState::latest_index() const {
  return pending_.empty() ? committed_index_ : pending_.back().index;
}

Status ControllerState::Propose(int64_t index, std::vector<v1::MetadataRecord> records) {
  if (index <= latest_index()) {
    return absl::FailedPreconditionError(
        absl::StrCat("proposal at index ", index, " is not after ", latest_index()));
  }
  for (const v1::MetadataRecord& r : records) {
    if (r.has_register_broker() && r.register_broker().broker_epoch() != index) {
      return absl::InvalidArgumentError(
          absl::StrCat("broker ", r.register_broker().broker_id(), " registered with epoch ",
                       r.register_broker().broker_epoch(), " in entry ", index,
                       " (the epoch is the entry's index)"));
    }
  }
  RETURN_IF_ERROR(latest_.ApplyBatch(records));
  pending_.push_back(Pending{index, std::move(records)});
  return absl::OkStatus();
}

StatusOr<bool> ControllerState::ApplyCommitted(int64_t index,
                                               std::span<const v1::MetadataRecord> records) {
  if (index <= committed_index_) {
    return absl::DataLossError(
        absl::StrCat("committed entry ", index, " is not after ", committed_index_));
  }
  ClusterImage next = committed_;
  if (Status st = next.ApplyBatch(records); !st.ok()) {
    return absl::DataLossError(absl::StrCat("committed metadata entry ", index,
                                            " does not apply: ", std::string(st.message())));
  }
  committed_ = std::move(next);
  committed_index_ = index;
  const bool ours = !pending_.empty() && pending_.front().index == index &&
                    SameRecords(pending_.front().records, records);
  if (ours) {
    pending_.pop_front();  // latest already holds it
  } else if (!pending_.empty() && pending_.front().index > index) {
    RebuildLatest();  // an older entry, before our proposals: they stand on top of it
  } else if (!pending_.empty()) {
    OnLeadershipLost();  // another leader's entry took the index of one of ours
  } else {
    latest_ = committed_;
  }
  return ours;
}

void ControllerState::RebuildLatest() {
  ClusterImage latest = committed_;
  for (const Pending& p : pending_) {
    if (!latest.ApplyBatch(p.records).ok()) {
      OnLeadershipLost();  // our proposals no longer apply on the log as it is
      return;
    }
  }
  latest_ = std::move(latest);
}

void ControllerState::OnLeadershipLost() {
  pending_.clear();
  latest_ = committed_;
}

void ControllerState::Restore(ClusterImage image, int64_t index) {
  committed_ = std::move(image);
  committed_index_ = index;
  OnLeadershipLost();
}

std::string EncodeBatch(std::span<const v1::MetadataRecord> records) {
  v1::MetadataRecordBatch batch;
  for (const v1::MetadataRecord& r : records) *batch.add_records() = r;
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    batch.SerializeToCodedStream(&coded);
  }
  return out;
}

StatusOr<std::vector<v1::MetadataRecord>> DecodeBatch(std::string_view data) {
  v1::MetadataRecordBatch batch;
  if (!batch.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return absl::DataLossError("metadata log entry is not a MetadataRecordBatch");
  }
  return std::vector<v1::MetadataRecord>(batch.records().begin(), batch.records().end());
}

}  // namespace spool::controller
