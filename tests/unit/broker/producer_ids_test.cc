// Producer ids: the allocator's blocks, prefetch, sharing and failures (broker/producer_ids.h,
// with a fake AllocateProducerIds callable standing in for the controller), and InitProducerId
// end to end through a real in-process broker with its embedded controller.
#include "broker/producer_ids.h"

#include <memory>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "proto/errors.h"
#include "tests/support/broker_test_util.h"
#include "tests/support/log_test_util.h"

namespace spool::testing {
namespace {

using broker::ProducerIdAllocator;
using broker::ProducerIdRange;

// A fake controller: hands out blocks of `size` ids; each fetch waits until `release` is set
// (when `hold` is true) so a test can have callers pile up on one fetch.
struct FakeController {
  explicit FakeController(io::Reactor& r, int64_t size) : release(r), block_size(size) {}
  io::Event release;
  int64_t block_size;
  int64_t next = 1000;
  int calls = 0;
  bool hold = false;
  Status fail;  // when set, fetches fail with it

  broker::FetchProducerIds Fn() {
    return [this]() -> Task<StatusOr<ProducerIdRange>> { return Fetch(this); };
  }
  static Task<StatusOr<ProducerIdRange>> Fetch(FakeController* self) {
    ++self->calls;
    if (self->hold) co_await self->release.wait();
    if (!self->fail.ok()) co_return self->fail;
    ProducerIdRange r{self->next, self->block_size};
    self->next += self->block_size;
    co_return r;
  }
};

class ProducerIdAllocatorTest : public ::testing::Test {
 protected:
  ProducerIdAllocatorTest() {
    StatusOr<std::unique_ptr<io::Reactor>> r = io::Reactor::Create();
    EXPECT_TRUE(r.ok()) << r.status();
    reactor_ = *std::move(r);
  }
  std::unique_ptr<io::Reactor> reactor_;
};

TEST_F(ProducerIdAllocatorTest, IdsAreUniqueAcrossBlocksAndTheNextBlockIsPrefetched) {
  FakeController ctl(*reactor_, 10);
  ProducerIdAllocator alloc(*reactor_, ctl.Fn());
  std::vector<int64_t> ids;
  reactor_->block_on([&]() -> Task<void> {
    for (int i = 0; i < 9; ++i) {
      StatusOr<int64_t> id = co_await alloc.Next();
      EXPECT_TRUE(id.ok()) << id.status();
      if (id.ok()) ids.push_back(*id);
    }
  }());
  // 9 of 10 used: the 9th call crossed 90% and fetched the next block.
  EXPECT_EQ(ctl.calls, 2);
  EXPECT_EQ(alloc.blocks_fetched(), 2);
  EXPECT_EQ(alloc.available(), 11);
  reactor_->block_on([&]() -> Task<void> {
    for (int i = 0; i < 12; ++i) {
      StatusOr<int64_t> id = co_await alloc.Next();
      EXPECT_TRUE(id.ok()) << id.status();
      if (id.ok()) ids.push_back(*id);
    }
  }());
  EXPECT_EQ(ctl.calls, 3);  // the second block's 90% mark fetched a third
  std::set<int64_t> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size());
  EXPECT_EQ(ids.front(), 1000);
  EXPECT_EQ(ids[9], 1009);
  EXPECT_EQ(ids[10], 1010);  // then the prefetched block, in order
}

TEST_F(ProducerIdAllocatorTest, ConcurrentCallersShareOneFetch) {
  FakeController ctl(*reactor_, 100);
  ctl.hold = true;
  ProducerIdAllocator alloc(*reactor_, ctl.Fn());
  std::vector<StatusOr<int64_t>> got;
  int finished = 0;
  for (int i = 0; i < 5; ++i) {
    reactor_->spawn(
        [](ProducerIdAllocator* a, std::vector<StatusOr<int64_t>>* out, int* done) -> Task<void> {
          StatusOr<int64_t> id = co_await a->Next();
          out->push_back(id);
          ++*done;
        }(&alloc, &got, &finished));
  }
  reactor_->block_on([&]() -> Task<void> {
    // Every caller is parked on the one fetch; then the controller answers.
    EXPECT_EQ(ctl.calls, 1);
    ctl.release.set();
    std::function<bool()> all_done = [&] { return finished == 5; };
    Status waited = co_await WaitFor(*reactor_, all_done);
    EXPECT_TRUE(waited.ok()) << waited;
  }());
  EXPECT_EQ(ctl.calls, 1);
  std::set<int64_t> unique;
  for (const StatusOr<int64_t>& id : got) {
    ASSERT_TRUE(id.ok()) << id.status();
    unique.insert(*id);
  }
  EXPECT_EQ(unique.size(), 5u);
}

TEST_F(ProducerIdAllocatorTest, AnUnreachableControllerIsRetriableAndRecovers) {
  FakeController ctl(*reactor_, 10);
  ctl.fail = absl::DeadlineExceededError("controller timed out");
  ProducerIdAllocator alloc(*reactor_, ctl.Fn());
  StatusOr<int64_t> first = reactor_->block_on(alloc.Next());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  ctl.fail = absl::OkStatus();
  StatusOr<int64_t> second = reactor_->block_on(alloc.Next());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 1000);
}

TEST_F(ProducerIdAllocatorTest, AFailedPrefetchDoesNotFailTheCallerAndExhaustionFetchesAgain) {
  FakeController ctl(*reactor_, 10);
  ProducerIdAllocator alloc(*reactor_, ctl.Fn());
  reactor_->block_on([&]() -> Task<void> {
    for (int i = 0; i < 8; ++i) {
      StatusOr<int64_t> id = co_await alloc.Next();
      EXPECT_TRUE(id.ok());
    }
    ctl.fail = absl::UnavailableError("no quorum");
    // The 9th crosses 90%: its prefetch fails, but it has its id.
    StatusOr<int64_t> ninth = co_await alloc.Next();
    EXPECT_TRUE(ninth.ok()) << ninth.status();
    StatusOr<int64_t> tenth = co_await alloc.Next();  // retries the prefetch, still has an id
    EXPECT_TRUE(tenth.ok()) << tenth.status();
    EXPECT_EQ(*tenth, 1009);
    // Exhausted and the controller still refuses: a retriable error.
    StatusOr<int64_t> none = co_await alloc.Next();
    EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable);
    ctl.fail = absl::OkStatus();
    StatusOr<int64_t> again = co_await alloc.Next();
    EXPECT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, 1010);
  }());
}

TEST_F(ProducerIdAllocatorTest, AnEmptyBlockIsAnError) {
  FakeController ctl(*reactor_, 0);
  ProducerIdAllocator alloc(*reactor_, ctl.Fn());
  StatusOr<int64_t> id = reactor_->block_on(alloc.Next());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kUnavailable);
}

v1::InitProducerIdResponse InitProducerId(BrokerHarness& h, v1::InitProducerIdRequest request,
                                          int shard) {
  std::optional<Reply> reply = h.Call(MakeFrame(v1::API_KEY_INIT_PRODUCER_ID, request), shard);
  EXPECT_TRUE(reply.has_value());
  if (!reply.has_value()) return {};
  EXPECT_FALSE(reply->is_error());
  return reply->As<v1::InitProducerIdResponse>();
}

TEST(InitProducerIdTest, RealBrokerHandsOutUniqueIdsFromAnyShard) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  std::set<int64_t> ids;
  for (int i = 0; i < 40; ++i) {
    v1::InitProducerIdRequest request;
    request.set_producer_id(-1);
    request.set_producer_epoch(-1);
    v1::InitProducerIdResponse r = InitProducerId(h, request, i % 2);
    ASSERT_EQ(r.error_code(), v1::NONE) << r.error_message();
    EXPECT_GE(r.producer_id(), 0);
    EXPECT_EQ(r.producer_epoch(), 0);
    ids.insert(r.producer_id());
  }
  EXPECT_EQ(ids.size(), 40u);
  // KIP-360: a producer naming its old id and epoch gets a new id.
  v1::InitProducerIdRequest bump;
  bump.set_producer_id(*ids.begin());
  bump.set_producer_epoch(0);
  v1::InitProducerIdResponse bumped = InitProducerId(h, bump, 1);
  ASSERT_EQ(bumped.error_code(), v1::NONE);
  EXPECT_EQ(ids.count(bumped.producer_id()), 0u);
  // Ids survive a restart: the controller never hands a block out twice.
  ASSERT_TRUE(h.Close().ok());
  ASSERT_TRUE(h.Open().ok());
  v1::InitProducerIdRequest fresh;
  fresh.set_producer_id(-1);
  v1::InitProducerIdResponse after = InitProducerId(h, fresh, 0);
  ASSERT_EQ(after.error_code(), v1::NONE) << after.error_message();
  EXPECT_EQ(ids.count(after.producer_id()), 0u);
  EXPECT_NE(after.producer_id(), bumped.producer_id());
}

TEST(InitProducerIdTest, TransactionalIdIsRefused) {
  BrokerHarness h;
  ASSERT_TRUE(h.Open().ok());
  v1::InitProducerIdRequest request;
  request.set_transactional_id("tx-1");
  v1::InitProducerIdResponse r = InitProducerId(h, request, 0);
  EXPECT_EQ(r.error_code(), v1::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  EXPECT_EQ(r.producer_id(), -1);
  EXPECT_FALSE(proto::IsRetriable(r.error_code()));
}

}  // namespace
}  // namespace spool::testing
