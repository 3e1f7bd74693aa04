// FaultProxy's loop (fault_proxy.h): one thread, poll(2) over the listener, an eventfd and both
// sockets of every connection.
#include "tests/chaos/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace spool::testing {

namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxHeld = 8 << 20;         // per direction: stop reading beyond this
constexpr int64_t kMaxPollNs = 100'000'000;  // re-check the faults at least this often

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Closes with an RST rather than a FIN: the peer sees ECONNRESET, as after a crash.
void Reset(int fd) {
  if (fd < 0) return;
  struct linger lg = {1, 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);
}

struct Chunk {
  std::vector<char> bytes;
  size_t sent = 0;
  int64_t due_ns = 0;
};

// Direction d reads from side d and writes to side 1 - d (side 0: the client, 1: the target).
struct Conn {
  int fd[2] = {-1, -1};
  bool connecting = true;  // the target side's connect is in progress
  std::deque<Chunk> queue[2];
  size_t held[2] = {0, 0};
  bool eof[2] = {false, false};   // side d's reads ended
  bool shut[2] = {false, false};  // direction d's writes were shut down after its EOF
  int64_t last_due[2] = {0, 0};   // keeps each direction's chunks in order
  bool dead = false;
};

}  // namespace

class FaultProxy::Loop {
 public:
  Loop(int listen_fd, uint64_t seed) : listen_fd_(listen_fd), rng_(seed) {}
  ~Loop() {
    for (Conn& c : conns_) {
      Reset(c.fd[0]);
      Reset(c.fd[1]);
    }
    close(listen_fd_);
  }

  // One poll round; `current()` reads the faults as the test set them. They are read again once
  // poll returns, so whatever the test changed before the events it waits for (a connect after
  // RefuseNew(), bytes after BlackHole()) applies to them. Updates `stats`.
  template <typename Current>
  void Round(const Current& current, int wake_fd, Stats& stats) {
    Faults faults = current();
    if (faults.drop_generation != drop_generation_) {
      drop_generation_ = faults.drop_generation;
      for (Conn& c : conns_) c.dead = true;
    }
    if (faults.heal_generation != heal_generation_) {
      heal_generation_ = faults.heal_generation;
      for (Conn& c : conns_) {
        for (int d = 0; d < 2; d++) {
          for (Chunk& k : c.queue[d]) k.due_ns = 0;
          c.last_due[d] = 0;
        }
      }
    }
    Reap(stats);
    const int64_t now = NowNs();
    int64_t next_due = now + kMaxPollNs;
    std::vector<pollfd> fds;
    std::vector<std::pair<Conn*, int>> owners;  // fds[i + 2] belongs to (conn, side)
    fds.push_back({wake_fd, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (Conn& c : conns_) {
      for (int side = 0; side < 2; side++) {
        short events = 0;
        if (side == 1 && c.connecting) {
          events = POLLOUT;
        } else if (!c.connecting) {
          if (!c.eof[side] && c.held[side] < kMaxHeld) events |= POLLIN;
          const int in = 1 - side;  // the direction that writes to this side
          if (!faults.black_hole[in] && !c.queue[in].empty()) {
            if (c.queue[in].front().due_ns <= now) {
              events |= POLLOUT;
            } else {
              next_due = std::min(next_due, c.queue[in].front().due_ns);
            }
          }
        }
        // A side that is done both ways is left out: poll(2) would report its POLLHUP forever.
        const bool done = c.eof[side] && c.shut[1 - side];
        fds.push_back({done ? -1 : c.fd[side], events, 0});
        owners.emplace_back(&c, side);
      }
    }
    const int timeout_ms = static_cast<int>(std::max<int64_t>(0, next_due - now) / 1'000'000) + 1;
    const int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0) return;  // EINTR: the next round
    faults = current();
    if (fds[0].revents & POLLIN) {
      uint64_t v = 0;
      (void)read(wake_fd, &v, sizeof(v));
    }
    if (fds[1].revents & POLLIN) Accept(current, stats);
    for (size_t i = 2; i < fds.size(); i++) {
      auto [c, side] = owners[i - 2];
      if (c->dead || fds[i].revents == 0) continue;
      if (side == 1 && c->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        (void)getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          c->dead = true;
        } else {
          c->connecting = false;
        }
        continue;
      }
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) ReadSide(*c, side, faults);
      if (!c->dead && (fds[i].revents & POLLOUT)) WriteSide(*c, side, faults, stats);
    }
    Reap(stats);
    stats.held = 0;
    for (const Conn& c : conns_) stats.held += c.held[0] + c.held[1];
    stats.open = conns_.size();
  }

 private:
  // The faults are read per connection: the test may react to one reset (RefuseNew) with a
  // Heal() and a new connect while this loop still runs.
  template <typename Current>
  void Accept(const Current& current, Stats& stats) {
    while (true) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      stats.accepted++;
      const Faults now = current();
      if (now.refuse) {
        Reset(fd);
        continue;
      }
      Conn c;
      c.fd[0] = fd;
      c.fd[1] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(now.target.port);
      if (c.fd[1] < 0 || inet_pton(AF_INET, now.target.host.c_str(), &addr.sin_addr) != 1) {
        Reset(c.fd[0]);
        if (c.fd[1] >= 0) close(c.fd[1]);
        continue;
      }
      const int one = 1;
      (void)setsockopt(c.fd[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      (void)setsockopt(c.fd[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      const int r = connect(c.fd[1], reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
      if (r == 0) {
        c.connecting = false;
      } else if (errno != EINPROGRESS) {
        Reset(c.fd[0]);
        close(c.fd[1]);
        continue;
      }
      conns_.push_back(std::move(c));
    }
  }

  void ReadSide(Conn& c, int side, const Faults& faults) {
    while (!c.eof[side] && c.held[side] < kMaxHeld) {
      Chunk k;
      k.bytes.resize(kReadChunk);
      const ssize_t got = read(c.fd[side], k.bytes.data(), k.bytes.size());
      if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        c.dead = true;  // reset by its peer: pass the reset on
        return;
      }
      if (got == 0) {
        c.eof[side] = true;
        MaybeShut(c, side);
        return;
      }
      k.bytes.resize(static_cast<size_t>(got));
      int64_t due = NowNs() + faults.delay_ns[side];
      if (faults.jitter_ns[side] > 0) {
        due += std::uniform_int_distribution<int64_t>(0, faults.jitter_ns[side])(rng_);
      }
      k.due_ns = std::max(due, c.last_due[side]);
      c.last_due[side] = k.due_ns;
      c.held[side] += k.bytes.size();
      c.queue[side].push_back(std::move(k));
    }
  }

  // Writes direction `1 - side`'s due chunks to `side`.
  void WriteSide(Conn& c, int side, const Faults& faults, Stats& stats) {
    const int d = 1 - side;
    const int64_t now = NowNs();
    while (!faults.black_hole[d] && !c.queue[d].empty() && c.queue[d].front().due_ns <= now) {
      Chunk& k = c.queue[d].front();
      const ssize_t put =
          send(c.fd[side], k.bytes.data() + k.sent, k.bytes.size() - k.sent, MSG_NOSIGNAL);
      if (put < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        c.dead = true;
        return;
      }
      k.sent += static_cast<size_t>(put);
      c.held[d] -= static_cast<size_t>(put);
      (d == 0 ? stats.to_target : stats.to_client) += static_cast<uint64_t>(put);
      if (k.sent == k.bytes.size()) c.queue[d].pop_front();
    }
    MaybeShut(c, d);
  }

  // Direction d's source ended and everything it sent is delivered: pass the FIN on.
  void MaybeShut(Conn& c, int d) {
    if (c.eof[d] && c.queue[d].empty() && !c.shut[d]) {
      c.shut[d] = true;
      (void)shutdown(c.fd[1 - d], SHUT_WR);
    }
  }

  void Reap(Stats& stats) {
    for (auto it = conns_.begin(); it != conns_.end();) {
      const bool done = it->shut[0] && it->shut[1];
      if (it->dead) {
        Reset(it->fd[0]);
        Reset(it->fd[1]);
      } else if (done) {
        close(it->fd[0]);
        close(it->fd[1]);
      } else {
        ++it;
        continue;
      }
      it = conns_.erase(it);
    }
    stats.open = conns_.size();
  }

  const int listen_fd_;
  std::mt19937_64 rng_;
  std::list<Conn> conns_;  // stable addresses while a round points at them
  uint64_t drop_generation_ = 0;
  uint64_t heal_generation_ = 0;
};

StatusOr<std::unique_ptr<FaultProxy>> FaultProxy::Start(io::HostPort target, uint16_t listen_port,
                                                        uint64_t seed) {
  in_addr probe{};
  if (inet_pton(AF_INET, target.host.c_str(), &probe) != 1) {  // SetTarget's too
    return absl::InvalidArgumentError(
        absl::StrCat("fault proxy target ", target.ToString(), ": a numeric IPv4 address only"));
  }
  StatusOr<int> fd = io::ListenTcp(io::HostPort{"127.0.0.1", listen_port});
  if (!fd.ok()) return fd.status();
  StatusOr<uint16_t> port = io::LocalPort(*fd);
  if (!port.ok()) {
    close(*fd);
    return port.status();
  }
  auto proxy = std::unique_ptr<FaultProxy>(new FaultProxy(*fd, *port, seed));
  proxy->SetTarget(std::move(target));
  return proxy;
}

FaultProxy::FaultProxy(int listen_fd, uint16_t port, uint64_t seed)
    : port_(port), loop_(std::make_unique<Loop>(listen_fd, seed)) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { Run(); });
}

FaultProxy::~FaultProxy() {
  stop_.store(true);
  const uint64_t one = 1;
  (void)write(wake_fd_, &one, sizeof(one));
  thread_.join();
  loop_.reset();
  close(wake_fd_);
}

void FaultProxy::Run() {
  auto current = [this] {
    std::lock_guard<std::mutex> l(mu_);
    return faults_;
  };
  while (!stop_.load()) {
    Stats stats;
    {
      std::lock_guard<std::mutex> l(mu_);
      stats = stats_;
    }
    loop_->Round(current, wake_fd_, stats);
    std::lock_guard<std::mutex> l(mu_);
    stats_ = stats;
  }
}

template <typename Edit>
void FaultProxy::Change(Edit edit) {
  {
    std::lock_guard<std::mutex> l(mu_);
    edit(faults_);
  }
  const uint64_t one = 1;
  (void)write(wake_fd_, &one, sizeof(one));
}

namespace {
bool Covers(FaultProxy::Direction d, int index) {
  return d == FaultProxy::Direction::kBoth ||
         (index == 0) == (d == FaultProxy::Direction::kToTarget);
}
}  // namespace

void FaultProxy::SetDelay(Direction direction, std::chrono::milliseconds delay,
                          std::chrono::milliseconds jitter) {
  Change([&](Faults& f) {
    for (int i = 0; i < 2; i++) {
      if (!Covers(direction, i)) continue;
      f.delay_ns[i] = std::chrono::nanoseconds(delay).count();
      f.jitter_ns[i] = std::chrono::nanoseconds(jitter).count();
    }
  });
}

void FaultProxy::BlackHole(Direction direction) {
  Change([&](Faults& f) {
    for (int i = 0; i < 2; i++) {
      if (Covers(direction, i)) f.black_hole[i] = true;
    }
  });
}

void FaultProxy::DropConnections() {
  Change([](Faults& f) { f.drop_generation++; });
}

void FaultProxy::RefuseNew(bool refuse) {
  Change([refuse](Faults& f) { f.refuse = refuse; });
}

void FaultProxy::Heal() {
  Change([](Faults& f) {
    Faults healed;
    healed.drop_generation = f.drop_generation;
    healed.heal_generation = f.heal_generation + 1;
    healed.target = f.target;
    f = std::move(healed);
  });
}

void FaultProxy::SetTarget(io::HostPort target) {
  Change([&target](Faults& f) { f.target = std::move(target); });
}

FaultProxy::Stats FaultProxy::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

}  // namespace spool::testing
