#include "common/io/uring_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"

namespace spool::io::detail {
namespace {

struct Opcode {
  int code;
  const char* name;
};

// Every opcode Prepare() can emit. The probe checks all of them at start-up.
constexpr Opcode kRequiredOpcodes[] = {
    {IORING_OP_READ, "READ"},         {IORING_OP_WRITE, "WRITE"},
    {IORING_OP_FSYNC, "FSYNC"},       {IORING_OP_FALLOCATE, "FALLOCATE"},
    {IORING_OP_OPENAT, "OPENAT"},     {IORING_OP_CLOSE, "CLOSE"},
    {IORING_OP_STATX, "STATX"},       {IORING_OP_RENAMEAT, "RENAMEAT"},
    {IORING_OP_UNLINKAT, "UNLINKAT"}, {IORING_OP_MKDIRAT, "MKDIRAT"},
    {IORING_OP_ACCEPT, "ACCEPT"},     {IORING_OP_CONNECT, "CONNECT"},
    {IORING_OP_RECV, "RECV"},         {IORING_OP_SEND, "SEND"},
    {IORING_OP_SENDMSG, "SENDMSG"},   {IORING_OP_POLL_ADD, "POLL_ADD"},
    {IORING_OP_TIMEOUT, "TIMEOUT"},   {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
};

// ThreadSanitizer cannot see liburing's raw mmap/munmap syscalls, so when a ring is torn down on
// one thread and the kernel hands the same addresses to a new ring on another, it reports the new
// ring's first SQE writes as racing with the old ring's last ones. A release when a ring goes and
// an acquire when one comes tells it the truth: the old ring was gone first.
#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
char ring_memory_handoff;
void RingMemoryAcquire() {
  __tsan_acquire(&ring_memory_handoff);
}
void RingMemoryRelease() {
  __tsan_release(&ring_memory_handoff);
}
#else
void RingMemoryAcquire() {}
void RingMemoryRelease() {}
#endif

// One SQE carries at most this many bytes (the SQE length field is 32 bits); the Reactor
// resumes the rest as a short count.
constexpr size_t kMaxChunk = size_t{1} << 30;

Status ProbeOpcodes(io_uring& ring) {
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (probe == nullptr) {
    return Status(absl::StatusCode::kUnimplemented,
                  "io_uring: the kernel does not support IORING_REGISTER_PROBE");
  }
  std::string missing;
  for (const Opcode& op : kRequiredOpcodes) {
    if (!io_uring_opcode_supported(probe, op.code)) {
      absl::StrAppend(&missing, missing.empty() ? "" : ", ", "IORING_OP_", op.name);
    }
  }
  io_uring_free_probe(probe);
  if (!missing.empty()) {
    return Status(absl::StatusCode::kUnimplemented,
                  absl::StrCat("io_uring: the kernel lacks opcodes: ", missing));
  }
  return absl::OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<UringBackend>> UringBackend::Create(const ReactorOptions& options) {
  ASSIGN_OR_RETURN(auto channel, CompletionChannel::Create(/*nonblocking=*/false));
  std::unique_ptr<UringBackend> b(new UringBackend(options.blocking_threads, std::move(channel)));

  const unsigned entries = options.ring_entries < 8 ? 8 : options.ring_entries;
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE;
  params.cq_entries = entries * 4;
  int r = io_uring_queue_init_params(entries, &b->ring_, &params);
  if (r < 0) return ErrnoStatus(-r, "io_uring_setup");
  RingMemoryAcquire();
  b->ring_ready_ = true;
  if ((params.features & IORING_FEAT_NODROP) == 0) {
    return Status(absl::StatusCode::kUnimplemented,
                  "io_uring: the kernel lacks IORING_FEAT_NODROP (completions could be lost)");
  }
  RETURN_IF_ERROR(ProbeOpcodes(b->ring_));
  b->ArmWakeRead();
  return b;
}

UringBackend::UringBackend(unsigned blocking_threads, std::unique_ptr<CompletionChannel> channel)
    : channel_(std::move(channel)), pool_(blocking_threads, *channel_) {}

UringBackend::~UringBackend() {
  if (!shut_down_) Shutdown();
  if (ring_ready_) {
    RingMemoryRelease();
    io_uring_queue_exit(&ring_);
  }
}

io_uring_sqe* UringBackend::GetSqe() {
  for (;;) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
    int r = io_uring_submit(&ring_);
    if (r == -EBUSY || r == -EAGAIN) {
      // The CQ is backed up: make room by reaping; the requests are handed back by Poll().
      Reap(early_done_);
    } else if (r < 0 && r != -EINTR) {
      return nullptr;
    }
  }
}

void UringBackend::Submit(IoRequest* req) {
  if (req->op == Op::kFtruncate || req->op == Op::kListDir) {
    pool_.Submit(req);
    return;
  }
  if (req->op == Op::kClose) {
    // Operations still waiting on this fd (a recv with no data coming) would otherwise stay in
    // the ring, holding the file open: cancel them first, as the posix backend does. Kernels
    // before 5.19 reject IORING_ASYNC_CANCEL_FD; the cancel then fails harmlessly.
    if (io_uring_sqe* cancel = GetSqe()) {
      io_uring_prep_cancel_fd(cancel, req->fd, IORING_ASYNC_CANCEL_ALL);
      io_uring_sqe_set_data(cancel, nullptr);
    }
  }
  io_uring_sqe* sqe = GetSqe();
  if (sqe == nullptr) {
    req->result = -EIO;
    early_done_.push_back(req);
    return;
  }
  Prepare(sqe, req);
  io_uring_sqe_set_data(sqe, req);
  Link(req);
}

void UringBackend::Prepare(io_uring_sqe* sqe, IoRequest* req) {
  const auto chunk = [](size_t len) {
    return static_cast<unsigned>(len < kMaxChunk ? len : kMaxChunk);
  };
  switch (req->op) {
    case Op::kOpen:
      io_uring_prep_openat(sqe, AT_FDCWD, req->path.c_str(), req->flags, req->mode);
      return;
    case Op::kRead:
      io_uring_prep_read(sqe, req->fd, req->buf, chunk(req->len), req->offset);
      return;
    case Op::kWrite:
      io_uring_prep_write(sqe, req->fd, req->buf, chunk(req->len), req->offset);
      return;
    case Op::kFsync:
      io_uring_prep_fsync(sqe, req->fd, 0);
      return;
    case Op::kFdatasync:
      io_uring_prep_fsync(sqe, req->fd, IORING_FSYNC_DATASYNC);
      return;
    case Op::kFallocate:
      io_uring_prep_fallocate(sqe, req->fd, req->flags, req->offset, req->len);
      return;
    case Op::kStatx:
      if (req->fd >= 0) {
        io_uring_prep_statx(sqe, req->fd, "", AT_EMPTY_PATH, STATX_SIZE, &req->stx);
      } else {
        io_uring_prep_statx(sqe, AT_FDCWD, req->path.c_str(), 0, STATX_SIZE, &req->stx);
      }
      return;
    case Op::kRename:
      io_uring_prep_renameat(sqe, AT_FDCWD, req->path.c_str(), AT_FDCWD, req->path2.c_str(), 0);
      return;
    case Op::kUnlink:
      io_uring_prep_unlinkat(sqe, AT_FDCWD, req->path.c_str(), req->flags);
      return;
    case Op::kMkdir:
      io_uring_prep_mkdirat(sqe, AT_FDCWD, req->path.c_str(), req->mode);
      return;
    case Op::kClose:
      io_uring_prep_close(sqe, req->fd);
      return;
    case Op::kAccept:
      io_uring_prep_accept(sqe, req->fd, nullptr, nullptr, SOCK_CLOEXEC);
      return;
    case Op::kConnect:
      io_uring_prep_connect(sqe, req->fd, req->addr, req->addrlen);
      return;
    case Op::kRecv:
      io_uring_prep_recv(sqe, req->fd, req->buf, chunk(req->len), 0);
      return;
    case Op::kSend:
      io_uring_prep_send(sqe, req->fd, req->buf, chunk(req->len), MSG_NOSIGNAL);
      return;
    case Op::kSendmsg:
      io_uring_prep_sendmsg(sqe, req->fd, &req->msg, MSG_NOSIGNAL);
      return;
    case Op::kPoll:
      io_uring_prep_poll_add(sqe, req->fd, static_cast<unsigned>(req->flags));
      return;
    case Op::kTimeout:
      req->ts.tv_sec = req->timeout_ns / 1'000'000'000;
      req->ts.tv_nsec = req->timeout_ns % 1'000'000'000;
      io_uring_prep_timeout(sqe, &req->ts, 0, 0);
      return;
    case Op::kFtruncate:
    case Op::kListDir:
      break;  // handled by Submit() on the blocking pool
  }
  io_uring_prep_nop(sqe);
}

void UringBackend::ArmWakeRead() {
  io_uring_sqe* sqe = GetSqe();
  if (sqe == nullptr) return;  // retried on the next Poll()
  io_uring_prep_read(sqe, channel_->fd(), &wake_value_, sizeof(wake_value_), 0);
  io_uring_sqe_set_data(sqe, &wake_req_);
  wake_armed_ = true;
}

void UringBackend::Link(IoRequest* req) {
  req->prev = nullptr;
  req->next = inflight_head_;
  if (inflight_head_ != nullptr) inflight_head_->prev = req;
  inflight_head_ = req;
  ++inflight_;
}

void UringBackend::Unlink(IoRequest* req) {
  if (req->prev != nullptr) req->prev->next = req->next;
  if (req->next != nullptr) req->next->prev = req->prev;
  if (inflight_head_ == req) inflight_head_ = req->next;
  req->prev = req->next = nullptr;
  --inflight_;
}

unsigned UringBackend::Reap(std::vector<IoRequest*>& done) {
  unsigned head;
  unsigned seen = 0;
  bool woken = false;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    auto* req = static_cast<IoRequest*>(io_uring_cqe_get_data(cqe));
    if (req == nullptr) continue;  // an ASYNC_CANCEL of ours
    if (req == &wake_req_) {
      wake_armed_ = false;
      woken = true;
      continue;
    }
    Unlink(req);
    req->result = cqe->res;
    done.push_back(req);
  }
  io_uring_cq_advance(&ring_, seen);
  if (woken) {
    channel_->Rearm();
    channel_->Drain(done);
  }
  return seen;
}

void UringBackend::Poll(bool block, std::vector<IoRequest*>& done) {
  const size_t before = done.size();
  if (!early_done_.empty()) {
    done.insert(done.end(), early_done_.begin(), early_done_.end());
    early_done_.clear();
  }
  if (!wake_armed_) ArmWakeRead();
  int r = 0;
  if (block && done.size() == before && io_uring_cq_ready(&ring_) == 0) {
    r = io_uring_submit_and_wait(&ring_, 1);
  } else if (io_uring_sq_ready(&ring_) > 0) {
    r = io_uring_submit(&ring_);
  }
  // -EINTR: a signal; -EBUSY/-EAGAIN: the CQ is backed up, which the reap below relieves. The
  // unsubmitted SQEs stay queued and go with the next turn's submit.
  (void)r;
  Reap(done);
  if (!wake_armed_) ArmWakeRead();
}

void UringBackend::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (ring_ready_) {
    // Snapshot first: GetSqe() may reap, which unlinks requests from the list.
    std::vector<IoRequest*> targets;
    for (IoRequest* r = inflight_head_; r != nullptr; r = r->next) targets.push_back(r);
    if (wake_armed_) targets.push_back(&wake_req_);
    for (IoRequest* t : targets) {
      io_uring_sqe* sqe = GetSqe();
      if (sqe == nullptr) break;
      io_uring_prep_cancel(sqe, t, 0);
      io_uring_sqe_set_data(sqe, nullptr);
    }
    std::vector<IoRequest*> dropped;
    while (inflight_ > 0 || wake_armed_) {
      int r = io_uring_submit_and_wait(&ring_, 1);
      if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN) break;
      Reap(dropped);
      dropped.clear();
    }
    // Reap() may have drained the channel into `dropped`; Rearm() there armed nothing because
    // Poll() is what re-arms the wake read.
  }
  pool_.Shutdown();
  channel_->Clear();
  early_done_.clear();
}

StatusOr<std::unique_ptr<IoBackend>> NewUringBackend(const ReactorOptions& options) {
  ASSIGN_OR_RETURN(auto backend, UringBackend::Create(options));
  return std::unique_ptr<IoBackend>(std::move(backend));
}

}  // namespace spool::io::detail
