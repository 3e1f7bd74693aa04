#include "broker/producer_ids.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace spool::broker {

ProducerIdAllocator::ProducerIdAllocator(io::Reactor& reactor, FetchProducerIds fetch)
    : reactor_(reactor), fetch_(std::move(fetch)) {}

int64_t ProducerIdAllocator::available() const {
  int64_t n = 0;
  if (current_) n += current_->end - current_->next;
  if (next_) n += next_->end - next_->next;
  return n;
}

bool ProducerIdAllocator::PrefetchDue() const {
  if (next_ || in_flight_ || !current_) return false;
  const int64_t size = current_->end - current_->first;
  const int64_t used = current_->next - current_->first;
  return used * 10 >= size * 9;
}

Task<StatusOr<int64_t>> ProducerIdAllocator::Next() {
  // A few rounds: ids of a block fetched for us may all go to concurrent callers first.
  for (int round = 0; round < 4; ++round) {
    if ((!current_ || current_->next >= current_->end) && next_) {
      current_ = next_;
      next_.reset();
    }
    if (current_ && current_->next < current_->end) {
      const int64_t id = current_->next++;
      if (PrefetchDue()) {
        // Our id is taken; a failed prefetch is retried by a later caller.
        Status prefetched = co_await FetchBlock();
        PermitUncheckedError(prefetched);
      }
      co_return id;
    }
    Status fetched = co_await FetchBlock();
    if (!fetched.ok()) co_return fetched;
  }
  co_return absl::UnavailableError("producer ids are being used up faster than they are fetched");
}

Task<Status> ProducerIdAllocator::FetchBlock() {
  if (in_flight_) {
    std::shared_ptr<Fetch> shared = in_flight_;
    co_await shared->done.wait();
    co_return shared->status;
  }
  auto fetch = std::make_shared<Fetch>(reactor_);
  in_flight_ = fetch;
  StatusOr<ProducerIdRange> block = co_await fetch_();
  Status status;
  if (!block.ok()) {
    status = absl::UnavailableError(
        absl::StrCat("cannot allocate producer ids: ", block.status().message()));
  } else if (block->first < 0 || block->count <= 0) {
    status = absl::UnavailableError(absl::StrCat("the controller gave an empty producer id block [",
                                                 block->first, ", +", block->count, ")"));
  } else {
    Block b{block->first, block->first + block->count, block->first};
    if (!current_ || current_->next >= current_->end) {
      current_ = b;
    } else {
      next_ = b;
    }
    ++blocks_fetched_;
  }
  fetch->status = status;
  in_flight_.reset();
  fetch->done.set();
  co_return status;
}

}  // namespace spool::broker
