// ChangeStream: an optional capability of a registry backend — every change from an index on one
// long-lived subscription, for mirrors that follow the whole registry (svckitd's cluster mode
// follows etcd with it). A Registry's watch() answers one batch per call; a backend whose own
// subscriptions are costly to open (an etcd watch created behind the store's head is served by
// etcd's catch-up loop, up to 100 ms later) also implements this. Discover it with dynamic_cast.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <functional>
#include <memory>

#include "svckit/core/cancel_token.hpp"
#include "svckit/registry/registry.hpp"

namespace svckit {

class ChangeStream {
 public:
  virtual ~ChangeStream() = default;
  /// What follow() hands over, in order: a batch of changes at `index` (one revision of the
  /// source; `events` may be empty when the revision touched nothing the registry shows), or a
  /// reset (the whole state at `index`, when the history after `after_index` is gone). The first
  /// call, with no event and `index` == after_index, says the subscription is open.
  using Sink = std::function<Awaitable<Result<void>>(WatchResult batch)>;
  /// Streams the changes after `after_index` to `sink` until `cancel` (then `cancelled`), a
  /// failure of the source (`unavailable`, ...), or an error returned by `sink`.
  virtual Awaitable<Result<void>> follow(std::uint64_t after_index, std::shared_ptr<CancelToken> cancel, Sink sink) = 0;
};

}  // namespace svckit
