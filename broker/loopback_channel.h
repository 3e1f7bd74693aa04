// A ControllerChannel to a controller service in the same process (the single-node default:
// the broker embeds a one-voter controller quorum and has no controller listener). Each call is
// encoded as a request frame and handed to the service's RequestHandler, exactly as the
// controller listener would hand it over, and the response frame is decoded: the same service
// code as over TCP, minus the socket.
//
// NOT_CONTROLLER answers (the one voter has not yet become active after a start) are retried
// with a doubling backoff from 5 ms until the call's timeout, as ControllerChannel says.
//
// Ownership and threading: borrows the service, which must outlive the channel; created, used
// and closed on one reactor thread (the broker's shard 0).
#pragma once

#include <memory>

#include "broker/controller_channel.h"
#include "broker/handler.h"
#include "common/io/reactor.h"

namespace spool::broker {

[[nodiscard]] std::unique_ptr<ControllerChannel> MakeLoopbackChannel(io::Reactor& reactor,
                                                                     RequestHandler& service);

}  // namespace spool::broker
