// UringBackend: the io_uring implementation of IoBackend (see reactor_backend.h).
//
// - One prepare-SQE switch (Prepare) maps an IoRequest to an SQE whose user_data is the request.
// - Submissions are queued in the SQ and made visible once per loop turn by Poll() (submit, or
//   submit-and-wait when the loop is idle); a full SQ is flushed early.
// - Completions are reaped in batches (for_each_cqe + cq_advance).
// - ftruncate and directory listing have no opcode in liburing 2.3: they run on the blocking
//   pool, which reports back through an eventfd whose read is kept armed on the ring. The same
//   eventfd carries Wake() (post/stop from other threads).
// - Shutdown cancels every request in flight (IORING_OP_ASYNC_CANCEL per request) and reaps
//   until none is left, so the kernel touches no request memory after it returns.
//
// Threading: reactor thread only, except Wake().
#pragma once

#include <liburing.h>

#include <memory>
#include <vector>

#include "common/io/blocking_pool.h"
#include "common/io/completion_channel.h"
#include "common/io/reactor_backend.h"

namespace spool::io::detail {

class UringBackend final : public IoBackend {
 public:
  // Sets up the ring and probes every opcode Spool uses.
  [[nodiscard]] static StatusOr<std::unique_ptr<UringBackend>> Create(
      const ReactorOptions& options);
  ~UringBackend() override;

  Backend kind() const override { return Backend::kUring; }
  void Submit(IoRequest* req) override;
  void Poll(bool block, std::vector<IoRequest*>& done) override;
  void Wake() override { channel_->Signal(); }
  void Shutdown() override;

 private:
  UringBackend(unsigned blocking_threads, std::unique_ptr<CompletionChannel> channel);

  // A free SQE, flushing the SQ to the kernel first when it is full.
  io_uring_sqe* GetSqe();
  void Prepare(io_uring_sqe* sqe, IoRequest* req);
  void ArmWakeRead();
  // Moves every available CQE's request into `done`; returns how many CQEs were seen.
  unsigned Reap(std::vector<IoRequest*>& done);
  void Link(IoRequest* req);
  void Unlink(IoRequest* req);

  io_uring ring_{};
  bool ring_ready_ = false;
  bool shut_down_ = false;
  std::unique_ptr<CompletionChannel> channel_;
  BlockingPool pool_;
  // The armed read of the channel's eventfd, identified by its address in user_data.
  IoRequest wake_req_;
  uint64_t wake_value_ = 0;
  bool wake_armed_ = false;
  // Requests submitted to the ring and not reaped yet (intrusive list through prev/next).
  IoRequest* inflight_head_ = nullptr;
  size_t inflight_ = 0;
  // Requests finished outside Poll (the SQ had to be flushed and the CQ reaped early).
  std::vector<IoRequest*> early_done_;
};

}  // namespace spool::io::detail
