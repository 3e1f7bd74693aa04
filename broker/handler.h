// The seam between the network layer (connections: framing, ordering, limits) and the request
// handlers (what each API does). The network layer knows nothing about topics; the handlers know
// nothing about sockets.
//
// Threading: a RequestHandler is shared by every shard; Handle() is called on the shard that owns
// the connection (the one that accepted it), and its Task runs there (it may hop to other shards
// with ShardSet::submit_to, and comes back before it completes). Several Handle() calls of one
// connection run at once (pipelining); the connection sends their responses in request order.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/task.h"
#include "proto/frame_decoder.h"
#include "proto/frame_encoder.h"

namespace spool::broker {

// Who sent a request, for logs and (later) quotas.
struct RequestContext {
  uint64_t connection_id = 0;
  int shard = 0;
  std::string peer;  // "host:port"
};

// One response: the frame, and whatever keeps its payload's bytes alive until it is sent (read
// buffers, segment handles). The connection destroys a Response only after its bytes are out.
struct Response {
  proto::OutgoingFrame frame;
  std::vector<std::shared_ptr<const void>> keep_alive;
};

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Handles one well-framed request. nullopt: nothing is sent back (an acks=0 Produce). Every
  // problem with the request itself (unknown API, bad body, unknown topic, bad batch) is an error
  // code inside the Response, never a crash and never a reason to close the connection.
  // `request` keeps the receive buffer it points into alive; a handler may hold on to it (e.g. a
  // produce payload until the append is written).
  virtual Task<std::optional<Response>> Handle(const RequestContext& context,
                                               proto::Frame request) = 0;
};

}  // namespace spool::broker
