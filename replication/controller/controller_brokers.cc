// Broker registration, heartbeats, session expiry, controlled shutdown, unregistration and
// producer id blocks (controller_logic.h).
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replication/controller/controller_errors.h"
#include "replication/controller/controller_logic.h"
#include "replication/controller/leadership.h"

namespace spool::controller {
namespace {

// The registered broker with that epoch, or the refusal.
StatusOr<const BrokerRegistration*> CheckBroker(const ClusterImage& image, int32_t id,
                                                int64_t epoch) {
  const BrokerRegistration* broker = image.FindBroker(id);
  if (broker == nullptr) {
    return ControllerStatus(ControllerError::kBrokerIdNotRegistered,
                            absl::StrCat("broker ", id, " is not registered"));
  }
  if (broker->epoch != epoch) {
    return ControllerStatus(
        ControllerError::kStaleBrokerEpoch,
        absl::StrCat("broker ", id, " epoch ", epoch, " is not the current ", broker->epoch));
  }
  return broker;
}

Status ValidateRegistration(const RegisterBrokerRequest& request) {
  if (request.broker_id < 0) {
    return ControllerStatus(ControllerError::kInvalidRequest,
                            absl::StrCat("broker id ", request.broker_id));
  }
  std::set<std::string> listeners;
  for (const Endpoint& e : request.endpoints) {
    if (e.port < 1 || e.port > 65535) {
      return ControllerStatus(ControllerError::kInvalidRequest,
                              absl::StrCat("listener ", e.listener_name, " port ", e.port));
    }
    if (!listeners.insert(e.listener_name).second) {
      return ControllerStatus(ControllerError::kInvalidRequest,
                              absl::StrCat("listener ", e.listener_name, " given twice"));
    }
  }
  return absl::OkStatus();
}

v1::MetadataRecord RegistrationRecord(const RegisterBrokerRequest& request, int64_t epoch) {
  v1::MetadataRecord record;
  v1::RegisterBrokerRecord* r = record.mutable_register_broker();
  r->set_broker_id(request.broker_id);
  r->set_incarnation_id(request.incarnation_id);
  r->set_broker_epoch(epoch);
  for (const Endpoint& e : request.endpoints) {
    v1::BrokerEndpoint* ep = r->add_endpoints();
    ep->set_listener_name(e.listener_name);
    ep->set_host(e.host);
    ep->set_port(e.port);
  }
  if (request.rack) r->set_rack(*request.rack);
  r->set_fenced(true);
  return record;
}

}  // namespace

ControllerResult<RegisterBrokerReply> RegisterBroker(const ClusterImage& image,
                                                     BrokerLiveness& liveness,
                                                     const RegisterBrokerRequest& request,
                                                     int64_t entry_index, int64_t now_ms,
                                                     const ControllerConfig& config) {
  ControllerResult<RegisterBrokerReply> out;
  if (Status st = ValidateRegistration(request); !st.ok()) {
    out.reply.status = std::move(st);
    return out;
  }
  RecordBuilder builder(image);
  if (const BrokerRegistration* old = image.FindBroker(request.broker_id)) {
    if (old->incarnation_id != request.incarnation_id &&
        liveness.HasSession(request.broker_id, now_ms, config.session_timeout_ms)) {
      out.reply.status =
          ControllerStatus(ControllerError::kDuplicateBrokerRegistration,
                           absl::StrCat("broker ", request.broker_id,
                                        " is registered by another incarnation that is alive"));
      return out;
    }
    if (entry_index <= old->epoch) {
      out.reply.status = absl::InternalError(
          absl::StrCat("entry index ", entry_index, " is not after epoch ", old->epoch));
      return out;
    }
    // The new registration starts fenced: what the old incarnation led moves away first.
    if (Status st = MoveLeadershipsOff(builder, request.broker_id); !st.ok()) {
      out.reply.status = std::move(st);
      return out;
    }
  }
  if (Status st = builder.Add(RegistrationRecord(request, entry_index)); !st.ok()) {
    out.reply.status = std::move(st);
    return out;
  }
  liveness.Touch(request.broker_id, now_ms);
  out.records = std::move(builder).Take();
  out.reply.broker_epoch = entry_index;
  return out;
}

ControllerResult<HeartbeatReply> Heartbeat(const ClusterImage& image, BrokerLiveness& liveness,
                                           const HeartbeatRequest& request, int64_t now_ms) {
  ControllerResult<HeartbeatReply> out;
  StatusOr<const BrokerRegistration*> broker =
      CheckBroker(image, request.broker_id, request.broker_epoch);
  if (!broker.ok()) {
    out.reply.status = broker.status();
    return out;
  }
  liveness.Touch(request.broker_id, now_ms);
  if (request.want_shutdown) {
    ControllerResult<Status> shutdown =
        ControlledShutdown(image, BrokerRef{request.broker_id, request.broker_epoch});
    out.records = std::move(shutdown.records);
    out.reply.status = std::move(shutdown.reply);
    out.reply.fenced = true;
    out.reply.shutdown_ready = out.reply.status.ok();
    return out;
  }
  out.reply.fenced = (*broker)->fenced;
  if ((*broker)->fenced && request.metadata_offset >= (*broker)->epoch) {
    RecordBuilder builder(image);
    Status st = builder.Add(BrokerUnfenced(request.broker_id, request.broker_epoch));
    if (st.ok()) st = ElectOfflineLeaders(builder, request.broker_id);
    if (!st.ok()) {
      out.reply.status = std::move(st);
      return out;
    }
    out.records = std::move(builder).Take();
    out.reply.fenced = false;
  }
  return out;
}

ControllerResult<SessionExpiry> CheckSessions(const ClusterImage& image,
                                              const BrokerLiveness& liveness, int64_t now_ms,
                                              const ControllerConfig& config) {
  ControllerResult<SessionExpiry> out;
  RecordBuilder builder(image);
  for (const auto& [id, broker] : image.brokers()) {
    if (broker.fenced || liveness.HasSession(id, now_ms, config.session_timeout_ms)) continue;
    // Each fence sees the previous ones: a leader is never moved to a broker fenced just before.
    if (Status st = FenceBroker(builder, id); !st.ok()) {
      out.reply.status = std::move(st);
      out.reply.fenced.clear();
      return out;
    }
    out.reply.fenced.push_back(id);
  }
  out.records = std::move(builder).Take();
  return out;
}

ControllerResult<Status> ControlledShutdown(const ClusterImage& image, const BrokerRef& ref) {
  ControllerResult<Status> out;
  StatusOr<const BrokerRegistration*> broker = CheckBroker(image, ref.broker_id, ref.broker_epoch);
  if (!broker.ok()) {
    out.reply = broker.status();
    return out;
  }
  RecordBuilder builder(image);
  out.reply = FenceBroker(builder, ref.broker_id);
  if (out.reply.ok()) out.records = std::move(builder).Take();
  return out;
}

ControllerResult<Status> UnregisterBroker(const ClusterImage& image, BrokerLiveness& liveness,
                                          int32_t broker_id) {
  ControllerResult<Status> out;
  const BrokerRegistration* broker = image.FindBroker(broker_id);
  if (broker == nullptr) {
    out.reply = ControllerStatus(ControllerError::kBrokerIdNotRegistered,
                                 absl::StrCat("broker ", broker_id, " is not registered"));
    return out;
  }
  RecordBuilder builder(image);
  v1::MetadataRecord record;
  record.mutable_unregister_broker()->set_broker_id(broker_id);
  record.mutable_unregister_broker()->set_broker_epoch(broker->epoch);
  out.reply = MoveLeadershipsOff(builder, broker_id);
  if (out.reply.ok()) out.reply = builder.Add(std::move(record));
  if (!out.reply.ok()) return out;
  liveness.Forget(broker_id);
  out.records = std::move(builder).Take();
  return out;
}

ControllerResult<ProducerIdBlock> AllocateProducerIds(const ClusterImage& image,
                                                      const BrokerRef& ref,
                                                      const ControllerConfig& config) {
  ControllerResult<ProducerIdBlock> out;
  StatusOr<const BrokerRegistration*> broker = CheckBroker(image, ref.broker_id, ref.broker_epoch);
  if (!broker.ok()) {
    out.reply.status = broker.status();
    return out;
  }
  const int64_t first = image.next_producer_id();
  if (config.producer_id_block_size < 1 || first > INT64_MAX - config.producer_id_block_size) {
    out.reply.status = absl::ResourceExhaustedError("producer ids exhausted");
    return out;
  }
  v1::MetadataRecord record;
  v1::ProducerIdsRecord* r = record.mutable_producer_ids();
  r->set_broker_id(ref.broker_id);
  r->set_broker_epoch(ref.broker_epoch);
  r->set_next_producer_id_block_end(first + config.producer_id_block_size);
  RecordBuilder builder(image);
  out.reply.status = builder.Add(std::move(record));
  if (!out.reply.status.ok()) return out;
  out.records = std::move(builder).Take();
  out.reply.first_id = first;
  out.reply.count = config.producer_id_block_size;
  return out;
}

}  // namespace spool::controller
