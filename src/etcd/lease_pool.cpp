#include "svckit/etcd/lease_pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

namespace svckit::etcd {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct LeasePool::State {
  struct Pooled {
    std::string id;
    Clock::time_point granted;
  };
  const std::size_t depth;
  mutable std::mutex mutex;
  std::map<std::int64_t, std::deque<Pooled>> leases;  // by TTL in seconds; guarded by mutex
  std::map<std::int64_t, std::size_t> granting;       // background grants in flight; guarded by mutex

  explicit State(std::size_t d) : depth(d) {}
};

namespace {

// A pooled lease is renewed before it is handed out once it is this old (etcd counts TTLs in
// whole seconds: a younger one has its full TTL ahead of it to etcd's precision).
constexpr auto kRenewAfter = std::chrono::seconds(1);

Awaitable<Result<std::string>> grant_one(EtcdClient& etcd, std::int64_t ttl_seconds) {
  const json body{{"TTL", std::to_string(ttl_seconds)}};
  auto answer = co_await etcd.call("/v3/lease/grant", body);
  if (!answer) co_return answer.error();
  if (!answer->contains("ID")) co_return make_error(ErrorCode::protocol, "etcd: lease grant without an ID");
  co_return std::to_string(json_int(*answer, "ID"));
}

/// True when the lease still lived (and now has its full TTL again).
Awaitable<bool> renew_one(EtcdClient& etcd, const std::string& id) {
  const json body{{"ID", id}};
  auto answer = co_await etcd.call("/v3/lease/keepalive", body);
  if (!answer) co_return false;
  const auto& result = answer->contains("result") ? (*answer)["result"] : *answer;
  co_return json_int(result, "TTL") > 0;
}

Awaitable<void> grant_into_pool(std::shared_ptr<EtcdClient> etcd, std::shared_ptr<LeasePool::State> state,
                                std::int64_t ttl_seconds) {
  auto granted = co_await grant_one(*etcd, ttl_seconds);
  std::lock_guard lock(state->mutex);
  --state->granting[ttl_seconds];
  auto& pool = state->leases[ttl_seconds];
  if (granted && pool.size() < state->depth) pool.push_back({*granted, Clock::now()});
  // else: etcd refused or the pool is full; an unused lease runs out on its own
}

}  // namespace

LeasePool::LeasePool(boost::asio::any_io_executor executor, std::shared_ptr<EtcdClient> etcd, std::size_t depth)
    : executor_(std::move(executor)), etcd_(std::move(etcd)), state_(std::make_shared<State>(depth)) {}

std::size_t LeasePool::pooled(std::chrono::seconds ttl) const {
  std::lock_guard lock(state_->mutex);
  const auto it = state_->leases.find(ttl.count());
  return it == state_->leases.end() ? 0 : it->second.size();
}

Awaitable<Result<std::string>> LeasePool::take(std::chrono::seconds ttl) {
  const auto seconds = std::max<std::int64_t>(1, ttl.count());
  {
    std::optional<State::Pooled> got;
    std::size_t refill = 0;
    {
      std::lock_guard lock(state_->mutex);
      auto& pool = state_->leases[seconds];
      const auto now = Clock::now();
      while (!pool.empty() && now - pool.front().granted > std::chrono::seconds(seconds) / 2) {
        pool.pop_front();  // too old to hand out: it runs out on its own
      }
      if (!pool.empty()) {
        got = std::move(pool.front());
        pool.pop_front();
      }
      // One replacement per lease taken; two more when the pool was empty, so it grows under load.
      auto& in_flight = state_->granting[seconds];
      const std::size_t wanted = got ? 1 : 3;
      const std::size_t room = state_->depth > pool.size() + in_flight ? state_->depth - pool.size() - in_flight : 0;
      refill = std::min(wanted, room);
      in_flight += refill;
    }
    for (std::size_t i = 0; i < refill; ++i) {
      boost::asio::co_spawn(executor_, grant_into_pool(etcd_, state_, seconds), boost::asio::detached);
    }
    if (!got) co_return co_await grant_one(*etcd_, seconds);
    if (Clock::now() - got->granted < kRenewAfter) co_return got->id;
    if (co_await renew_one(*etcd_, got->id)) co_return got->id;
    // Gone meanwhile, or etcd does not answer: the pool is not trusted any more.
    {
      std::lock_guard lock(state_->mutex);
      state_->leases[seconds].clear();
    }
    co_return co_await grant_one(*etcd_, seconds);
  }
}

}  // namespace svckit::etcd
