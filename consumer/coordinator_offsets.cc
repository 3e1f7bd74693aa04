// The Coordinator's commits and committed-offset lookups (coordinator.h): OffsetCommit (fenced
// by generation while subscribed, generation -1 otherwise), OffsetFetch, auto-commit, and the
// starting positions of partitions awaiting their committed offset.
#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "consumer/coordinator.h"
#include "consumer/coordinator_util.h"
#include "proto/body.h"
#include "proto/errors.h"

namespace spool::consumer {

using coordinator_util::CoordinatorMoved;
using coordinator_util::GroupError;
using coordinator_util::MsToNs;
using coordinator_util::NowNs;

namespace {

using std::chrono::milliseconds;

// A commit the group refused because the member is not (or no longer) in its generation.
Status CommitFenced(proto::ErrorCode code, const TopicPartition& tp) {
  return absl::FailedPreconditionError(absl::StrCat(
      "commit refused by the group coordinator: ", std::string(proto::ErrorName(code)), " (at ",
      tp.ToString(),
      "; the member is not in the group's current generation: its partitions may have moved; the "
      "next poll() rejoins)"));
}

Status Timeout(std::string_view what, const Status& last) {
  return absl::DeadlineExceededError(
      absl::StrCat(std::string(what), ": no answer within request_timeout_ms: ", last.message()));
}

}  // namespace

Task<Status> Coordinator::Commit(OffsetMap offsets) {
  ++active_;
  ++commits_in_flight_;
  const bool granted = co_await commit_gate_.acquire();
  const int64_t deadline = NowNs() + MsToNs(config_.request_timeout_ms);
  Status result = absl::OkStatus();
  Status last = absl::UnavailableError("no attempt");
  bool done = !granted || offsets.empty();
  if (!granted) result = absl::CancelledError("the consumer is closing");
  while (!done && !stopping_) {
    bool subscribed = false;
    {
      absl::MutexLock lock(&shared_->mu);
      subscribed = shared_->group.subscribed;
    }
    if (subscribed && generation_ < 0) {
      result = absl::FailedPreconditionError(
          "commit refused: the member is not in a generation now (a rebalance is in progress; "
          "the next poll() rejoins)");
      break;
    }
    v1::OffsetCommitRequest request;
    request.set_group_id(config_.group_id);
    request.set_generation_id(subscribed ? generation_ : -1);
    request.set_member_id(subscribed ? member_id_ : "");
    request.set_group_instance_id(subscribed ? config_.group_instance_id : "");
    v1::OffsetCommitTopic* topic = nullptr;
    for (const auto& [tp, om] : offsets) {
      if (topic == nullptr || topic->name() != tp.topic) {
        topic = request.add_topics();
        topic->set_name(tp.topic);
      }
      v1::OffsetCommitPartition* p = topic->add_partitions();
      p->set_partition(tp.partition);
      p->set_committed_offset(om.offset);
      p->set_committed_leader_epoch(-1);
      p->set_metadata(om.metadata);
    }
    const int32_t generation = generation_;
    StatusOr<client::Reply> reply = co_await CallCoordinator(
        proto::ApiKey::API_KEY_OFFSET_COMMIT, request, milliseconds(config_.request_timeout_ms));
    proto::ErrorCode code = proto::ErrorCode::NONE;
    TopicPartition where;
    if (!reply.ok()) {
      last = reply.status();
      code = proto::ErrorCode::NETWORK_EXCEPTION;
    } else {
      for (const auto& t : reply->as<v1::OffsetCommitResponse>().topics()) {
        for (const auto& p : t.partitions()) {
          if (p.error_code() != proto::ErrorCode::NONE && code == proto::ErrorCode::NONE) {
            code = p.error_code();
            where = TopicPartition{t.name(), p.partition()};
            last = GroupError(absl::StrCat("OffsetCommit of ", where.ToString()), code,
                              p.error_message());
          }
        }
      }
    }
    switch (code) {
      case proto::ErrorCode::NONE:
        for (const auto& [tp, om] : offsets) last_committed_[tp] = om.offset;
        done = true;
        continue;
      case proto::ErrorCode::ILLEGAL_GENERATION:
      case proto::ErrorCode::UNKNOWN_MEMBER_ID:
        if (subscribed && generation == generation_ && joined_) {
          MarkLost(code == proto::ErrorCode::UNKNOWN_MEMBER_ID);
        }
        result = CommitFenced(code, where);
        done = true;
        continue;
      case proto::ErrorCode::REBALANCE_IN_PROGRESS:
        // Mid-join (joined_ is false until SyncGroup) the rejoin is already under way; asking
        // for another would cost the group an extra round.
        if (subscribed && joined_) RequestRejoin();
        result = CommitFenced(code, where);
        done = true;
        continue;
      case proto::ErrorCode::FENCED_INSTANCE_ID:
        result = CommitFenced(code, where);
        done = true;
        continue;
      default:
        break;
    }
    if (CoordinatorMoved(code)) coordinator_node_.reset();
    if (!proto::IsRetriable(code)) {
      result = last;
      break;
    }
    if (NowNs() + MsToNs(config_.retry_backoff_ms) >= deadline) {
      result = Timeout("commit", last);
      break;
    }
    co_await reactor_.sleep_for(milliseconds(config_.retry_backoff_ms));
  }
  if (!done && result.ok()) result = absl::CancelledError("the consumer is closing");
  if (granted) commit_gate_.release();
  --commits_in_flight_;
  TaskDone();
  co_return result;
}

Task<StatusOr<OffsetMap>> Coordinator::FetchCommitted(std::vector<TopicPartition> partitions) {
  ++active_;
  const int64_t deadline = NowNs() + MsToNs(config_.request_timeout_ms);
  StatusOr<OffsetMap> result = absl::CancelledError("the consumer is closing");
  Status last = absl::UnavailableError("no attempt");
  v1::OffsetFetchRequest request;
  request.set_group_id(config_.group_id);
  {
    std::sort(partitions.begin(), partitions.end());
    v1::OffsetFetchTopic* topic = nullptr;
    for (const TopicPartition& tp : partitions) {
      if (topic == nullptr || topic->name() != tp.topic) {
        topic = request.add_topics();
        topic->set_name(tp.topic);
      }
      topic->add_partitions(tp.partition);
    }
  }
  while (!stopping_) {
    StatusOr<client::Reply> reply = co_await CallCoordinator(
        proto::ApiKey::API_KEY_OFFSET_FETCH, request, milliseconds(config_.request_timeout_ms));
    proto::ErrorCode code = proto::ErrorCode::NETWORK_EXCEPTION;
    if (!reply.ok()) {
      last = reply.status();
    } else {
      const auto& r = reply->as<v1::OffsetFetchResponse>();
      code = r.error_code();
      if (code == proto::ErrorCode::NONE) {
        OffsetMap out;
        for (const auto& t : r.topics()) {
          for (const auto& p : t.partitions()) {
            if (p.error_code() != proto::ErrorCode::NONE && code == proto::ErrorCode::NONE) {
              code = p.error_code();
            }
            if (p.committed_offset() >= 0) {
              out[TopicPartition{t.name(), p.partition()}] =
                  OffsetAndMetadata{p.committed_offset(), p.metadata()};
            }
          }
        }
        if (code == proto::ErrorCode::NONE) {
          result = std::move(out);
          break;
        }
      }
      last = GroupError("OffsetFetch", code, r.error_message());
    }
    if (CoordinatorMoved(code)) coordinator_node_.reset();
    if (!proto::IsRetriable(code)) {
      result = last;
      break;
    }
    if (NowNs() + MsToNs(config_.retry_backoff_ms) >= deadline) {
      result = Timeout("OffsetFetch", last);
      break;
    }
    co_await reactor_.sleep_for(milliseconds(config_.retry_backoff_ms));
  }
  TaskDone();
  co_return result;
}

Task<void> Coordinator::AutoCommit() {
  OffsetMap offsets;
  {
    // What the user has polled past (GroupState::polled_positions), of partitions still assigned.
    absl::MutexLock lock(&shared_->mu);
    for (const auto& [tp, position] : shared_->group.polled_positions) {
      if (!shared_->subs.IsAssigned(tp)) continue;
      auto it = last_committed_.find(tp);
      if (it != last_committed_.end() && it->second == position) continue;
      offsets[tp] = OffsetAndMetadata{position, ""};
    }
  }
  if (offsets.empty()) co_return;
  // Failures are retried at the next interval; fencing errors already asked for a rejoin.
  Status st = co_await Commit(std::move(offsets));
  PermitUncheckedError(st);
}

Task<void> Coordinator::ResolveCommitted() {
  resolving_ = true;
  std::vector<TopicPartition> parts;
  {
    absl::MutexLock lock(&shared_->mu);
    parts = shared_->subs.AwaitingCommitted();
  }
  if (!parts.empty()) {
    StatusOr<OffsetMap> committed = co_await FetchCommitted(parts);
    absl::MutexLock lock(&shared_->mu);
    if (committed.ok()) {
      for (const TopicPartition& tp : parts) {
        auto it = committed->find(tp);
        std::optional<int64_t> offset;
        if (it != committed->end()) offset = it->second.offset;
        shared_->subs.SetCommitted(tp, offset);
      }
      shared_->changed.SignalAll();
    } else {
      next_committed_ns_ = NowNs() + MsToNs(config_.retry_backoff_ms);
    }
  }
  resolving_ = false;
}

}  // namespace spool::consumer
