// LeasePool: etcd leases granted ahead of need, so a write that needs fresh leases (a TTL
// instance's registration) does not wait for raft writes of its own before its transaction.
//
// A lease grant is a raft write: on one disk, several milliseconds each. Taken one after another
// on a registration's path, two grants and the transaction are three such waits. The pool hands
// out a lease granted earlier (renewed first when it has aged, so its TTL counts from the moment
// it is taken — a keep-alive, which etcd's leader answers without a raft write) and grants its
// replacement in the background, where etcd commits it together with the other writes in flight.
// An empty pool (a TTL not seen before, or a burst larger than the pool) grants inline, and starts
// two grants in the background, so the pool for a TTL in use fills up to `depth` in a few takes.
//
// A pooled lease nobody takes runs out after its TTL (etcd deletes it: one raft write); one older
// than half its TTL is not handed out. At most `depth` leases per TTL wait in the pool.
//
// Thread-safety: take() from any thread. Background grants hold the client and the pool's state
// (shared pointers), so the pool may be destroyed while they run.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "svckit/etcd/etcd_client.hpp"

namespace svckit::etcd {

class LeasePool {
 public:
  LeasePool(boost::asio::any_io_executor executor, std::shared_ptr<EtcdClient> etcd, std::size_t depth = 64);

  /// A lease of `ttl` (whole seconds, at least 1) with its full TTL ahead of it. Errors: etcd's.
  Awaitable<Result<std::string>> take(std::chrono::seconds ttl);
  /// Leases waiting in the pool for `ttl`.
  std::size_t pooled(std::chrono::seconds ttl) const;

  struct State;

 private:
  boost::asio::any_io_executor executor_;
  std::shared_ptr<EtcdClient> etcd_;
  std::shared_ptr<State> state_;
};

}  // namespace svckit::etcd
