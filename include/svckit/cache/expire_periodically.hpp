// Background expiry for a Cache: entries whose TTL passed are removed every `interval` even when
// nobody reads them (a Cache otherwise drops them lazily — when found or evicted — so a key
// written once and never read again would hold its memory until evicted).
//
//   auto stop = std::make_shared<CancelToken>();
//   co_spawn(ex, cache::expire_periodically(*products, sleeper, 30s, stop), detached);
//   ...
//   stop->cancel();   // before `products` goes
//
// Runs on the awaiting coroutine's executor; the waits are the Sleeper's (VirtualTime in tests).
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>

#include "svckit/core/cancel_token.hpp"
#include "svckit/core/sleeper.hpp"

namespace svckit::cache {

/// Calls `cache.purge_expired()` every `interval` until `stop` is cancelled; returns how many
/// entries it removed in all. `cache` must outlive the loop. REQUIRES: interval > 0.
template <class CacheT>
boost::asio::awaitable<std::uint64_t> expire_periodically(CacheT& cache, Sleeper& sleeper,
                                                          std::chrono::milliseconds interval,
                                                          std::shared_ptr<CancelToken> stop) {
  std::uint64_t removed = 0;
  while (!stop->cancelled()) {
    const bool slept = co_await sleeper.sleep_for(interval, stop.get());
    if (!slept || stop->cancelled()) break;
    removed += cache.purge_expired();
  }
  co_return removed;
}

}  // namespace svckit::cache
