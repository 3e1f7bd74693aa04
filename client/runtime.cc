#include "client/runtime.h"

#include <pthread.h>

#include <utility>

namespace spool::client {

StatusOr<std::unique_ptr<ClientRuntime>> ClientRuntime::Start(std::string name,
                                                              io::ReactorOptions options) {
  std::unique_ptr<ClientRuntime> rt(new ClientRuntime());
  ClientRuntime* raw = rt.get();
  rt->thread_ = std::thread(
      [raw, name = std::move(name), options]() mutable { raw->Run(std::move(name), options); });
  Status status;
  {
    std::unique_lock lock(rt->mu_);
    rt->started_.wait(lock, [&] { return rt->start_status_.has_value(); });
    status = *rt->start_status_;
  }
  if (!status.ok()) {
    rt->thread_.join();
    return status;
  }
  return rt;
}

void ClientRuntime::Run(std::string name, io::ReactorOptions options) {
  if (name.size() > 15) name.resize(15);
  pthread_setname_np(pthread_self(), name.c_str());
  auto reactor = io::Reactor::Create(options);
  {
    std::lock_guard lock(mu_);
    if (!reactor.ok()) {
      start_status_ = reactor.status();
      started_.notify_all();
      return;
    }
    reactor_ = reactor->get();
    start_status_ = Status();
    started_.notify_all();
  }
  (*reactor)->run();
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    reactor_ = nullptr;
  }
  // Destroyed here, on the thread that ran it: cancels what is in flight and destroys the
  // frames of tasks that never finished.
  reactor->reset();
}

bool ClientRuntime::post(absl::AnyInvocable<void()> fn) {
  std::lock_guard lock(mu_);
  if (stopped_ || reactor_ == nullptr) return false;
  reactor_->post(std::move(fn));
  return true;
}

void ClientRuntime::shutdown() {
  {
    std::lock_guard lock(mu_);
    if (!stopped_ && reactor_ != nullptr) {
      stopped_ = true;  // later posts are dropped; the loop still owns the reactor
      reactor_->stop();
    }
  }
  if (thread_.joinable()) thread_.join();
}

ClientRuntime::~ClientRuntime() {
  shutdown();
}

}  // namespace spool::client
