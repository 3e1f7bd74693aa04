// One client connection: the reader (framing, dispatch, in-flight limits), the writer (responses
// in request order), and their shutdown. See connection.h and server.h.
#include "broker/connection.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "broker/server_log.h"

namespace spool::broker::detail {
namespace {

// At most this many ready responses go out in one sendmsg.
constexpr size_t kMaxResponsesPerSend = 64;

}  // namespace

void ShardNet::OnClosed(uint64_t id) {
  connections.erase(id);
  if (stop_wait) stop_wait->progress.set();
}

void ShardNet::WakeBudgetWaiters() {
  wake_posted.store(false);
  std::vector<std::weak_ptr<Connection>> waiters = std::move(budget_waiters);
  budget_waiters.clear();
  for (auto& w : waiters) {
    if (std::shared_ptr<Connection> c = w.lock()) c->WakeReader();
  }
}

void NetShared::NotifyBudgetReleased() {
  if (budget_waiters.load() == 0 || OverTotalBudget()) return;
  for (int i = 0; i < static_cast<int>(shard_nets.size()); i++) {
    ShardNet& s = *shard_nets[static_cast<size_t>(i)];
    if (s.wake_posted.exchange(true)) continue;  // one is on its way
    shards.post(i, [self = shared_from_this(), i] {
      self->shard_nets[static_cast<size_t>(i)]->WakeBudgetWaiters();
    });
  }
}

Connection::Connection(std::shared_ptr<NetShared> net, ShardNet& shard, int fd, uint64_t id,
                       std::string peer)
    : net_(std::move(net)),
      shard_(shard),
      reactor_(shard.reactor),
      fd_(fd),
      context_{id, shard.shard, std::move(peer)},
      decoder_(net_->options.frame_limits),
      read_wake_(shard.reactor),
      write_wake_(shard.reactor),
      writer_done_(shard.reactor) {}

Task<void> Connection::Run(std::shared_ptr<Connection> self) {
  self->reactor_.spawn(WriteLoop(self));
  co_await self->ReadLoop();
  self->reader_done_ = true;
  self->write_wake_.set();
  co_await self->writer_done_.wait();
  // Requests whose handlers are still running (only after Abort) give their bytes back now;
  // their responses are dropped when they complete.
  while (!self->slots_.empty()) self->PopFront();
  if (!self->aborted_) self->DrainAndFinish();
  self->closed_ = true;
  Status st = co_await self->reactor_.close(self->fd_);
  PermitUncheckedError(st);  // nothing to do about a failed close of a socket
  self->net_->counters.connections_open.fetch_sub(1);
  LogEvent(LogLevel::kDebug, "net",
           absl::StrCat("event=connection_closed conn=", self->context_.connection_id,
                        " peer=", self->context_.peer));
  self->shard_.OnClosed(self->context_.connection_id);
}

void Connection::DrainAndFinish() {
  // Unread bytes in the receive queue make close(2) send a RST, which can discard responses
  // still in the send queue: read (and drop) what is queued, then send our FIN after the data.
  // Non-blocking calls, so the reactor thread never waits here.
  std::byte sink[4096];
  for (int i = 0; i < 256; i++) {
    const ssize_t n = ::recv(fd_, sink, sizeof(sink), MSG_DONTWAIT);
    if (n <= 0) break;
  }
  ::shutdown(fd_, SHUT_WR);
}

void Connection::BeginStop() {
  if (stopping_ || closed_) return;
  stopping_ = true;
  // Wakes a reader waiting in recv (it returns 0); data that still arrives is not read.
  ::shutdown(fd_, SHUT_RD);
  read_wake_.set();
}

void Connection::Abort(std::string_view reason) {
  if (aborted_ || closed_) return;
  aborted_ = true;
  stopping_ = true;
  if (!reason.empty()) {
    LogEvent(LogLevel::kWarning, "net",
             absl::StrCat("event=connection_aborted conn=", context_.connection_id,
                          " peer=", context_.peer, " reason=", LogValue(reason)));
  }
  // Wakes a reader in recv and a writer in sendmsg (which fails with EPIPE).
  ::shutdown(fd_, SHUT_RDWR);
  read_wake_.set();
  write_wake_.set();
}

void Connection::FramingError(std::string_view reason) {
  net_->counters.framing_errors.fetch_add(1);
  LogEvent(LogLevel::kWarning, "net",
           absl::StrCat("event=framing_error conn=", context_.connection_id,
                        " peer=", context_.peer, " reason=", LogValue(reason), " action=close"));
  Abort("");
}

Task<void> Connection::ReadLoop() {
  while (!stopping_) {
    if (OverConnectionBudget()) {
      net_->counters.read_pauses.fetch_add(1);
      read_wake_.reset();
      co_await read_wake_.wait();
      continue;
    }
    if (net_->OverTotalBudget()) {
      net_->counters.read_pauses.fetch_add(1);
      shard_.budget_waiters.push_back(weak_from_this());
      net_->budget_waiters.fetch_add(1);
      // The budget may have dropped between the check and the registration (another shard).
      if (!net_->OverTotalBudget()) net_->NotifyBudgetReleased();
      read_wake_.reset();
      co_await read_wake_.wait();
      net_->budget_waiters.fetch_sub(1);
      continue;
    }
    std::span<std::byte> space = decoder_.WritableSpace();
    StatusOr<size_t> n = co_await reactor_.recv(fd_, space);
    if (stopping_) break;  // BeginStop() or Abort() while we waited: read no more
    if (!n.ok()) {
      const int err = ErrnoOf(n.status());
      if (err != ECONNRESET && err != EPIPE && err != ECANCELED) {
        LogEvent(
            LogLevel::kWarning, "net",
            absl::StrCat("event=recv_error conn=", context_.connection_id, " peer=", context_.peer,
                         " error=", LogValue(std::string(n.status().message()))));
      }
      break;
    }
    if (*n == 0) {
      if (!decoder_.at_frame_boundary()) {
        FramingError(absl::StrCat("connection closed inside a frame (", decoder_.buffered_bytes(),
                                  " bytes of it received)"));
      }
      break;
    }
    net_->counters.bytes_in.fetch_add(*n, std::memory_order_relaxed);
    decoder_.Commit(*n);
    for (;;) {
      StatusOr<std::optional<proto::Frame>> frame = decoder_.Next();
      if (!frame.ok()) {
        FramingError(std::string(frame.status().message()));
        co_return;
      }
      if (!frame->has_value()) break;
      Dispatch(**std::move(frame));
    }
  }
}

void Connection::Dispatch(proto::Frame frame) {
  const uint32_t size = frame.header().frame_size;
  slots_.push_back(Slot{size, false, std::nullopt});
  const uint64_t seq = first_seq_ + slots_.size() - 1;
  inflight_ += size;
  net_->inflight_total.fetch_add(size, std::memory_order_relaxed);
  net_->counters.requests.fetch_add(1, std::memory_order_relaxed);
  // Spawned tasks start in spawn order, so handlers see the requests in arrival order.
  reactor_.spawn(HandleRequest(shared_from_this(), seq, std::move(frame)));
}

Task<void> Connection::HandleRequest(std::shared_ptr<Connection> self, uint64_t seq,
                                     proto::Frame frame) {
  Task<std::optional<Response>> handled =
      self->net_->handler->Handle(self->context_, std::move(frame));
  std::optional<Response> response = co_await std::move(handled);
  self->Complete(seq, std::move(response));
}

void Connection::Complete(uint64_t seq, std::optional<Response> response) {
  if (closed_ || seq < first_seq_) return;  // the connection is gone; so are the bytes
  Slot& slot = slots_[seq - first_seq_];
  slot.filled = true;
  slot.response = std::move(response);
  write_wake_.set();
}

void Connection::PopFront() {
  const uint32_t bytes = slots_.front().request_bytes;
  slots_.pop_front();
  first_seq_++;
  const bool was_over = OverConnectionBudget();
  inflight_ -= bytes;
  net_->inflight_total.fetch_sub(bytes, std::memory_order_relaxed);
  if (was_over && !OverConnectionBudget()) read_wake_.set();
  net_->NotifyBudgetReleased();
}

Task<void> Connection::WriteLoop(std::shared_ptr<Connection> self) {
  Connection& c = *self;
  std::vector<iovec> iov;
  while (!c.aborted_) {
    size_t ready = 0;
    uint64_t bytes = 0;
    iov.clear();
    while (ready < c.slots_.size() && ready < kMaxResponsesPerSend && c.slots_[ready].filled) {
      if (const std::optional<Response>& r = c.slots_[ready].response; r.has_value()) {
        r->frame.AppendIovecs(&iov);
        bytes += r->frame.size();
      }
      ready++;
    }
    if (ready == 0) {
      if (c.reader_done_ && c.slots_.empty()) break;
      c.write_wake_.reset();
      co_await c.write_wake_.wait();
      continue;
    }
    if (!iov.empty()) {
      Status st = co_await c.reactor_.sendv(c.fd_, iov);
      if (c.aborted_) break;
      if (!st.ok()) {
        const int err = ErrnoOf(st);
        c.Abort(err == EPIPE || err == ECONNRESET ? std::string() : std::string(st.message()));
        break;
      }
      c.net_->counters.bytes_out.fetch_add(bytes, std::memory_order_relaxed);
    }
    for (size_t i = 0; i < ready; i++) {
      if (c.slots_.front().response.has_value()) {
        c.net_->counters.responses.fetch_add(1, std::memory_order_relaxed);
      }
      c.PopFront();
    }
  }
  c.writer_done_.set();
}

}  // namespace spool::broker::detail
