// LockBackend: where a distributed lock lives (this process, Redis, etcd). The LockManager adds
// what is the same for every backend on top: reentrancy, the watchdog, loss notification, guards
// and metrics. A backend knows only single acquisitions, each with its own unique owner token.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "svckit/core/cancel_token.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit::coord {

template <class T>
using Awaitable = boost::asio::awaitable<T>;

/// exclusive: one holder. shared: many holders at once, none while an exclusive one holds or waits
/// (a waiting writer stops new readers, so writers are not starved).
enum class LockMode { exclusive, shared };
std::string_view to_string(LockMode mode) noexcept;

/// One acquisition as the backend knows it.
struct HeldLock {
  std::string name;
  LockMode mode = LockMode::exclusive;
  std::string owner;  // unique per acquisition; the backend's compare-and-delete key
  /// Increases with every acquisition of `name` (any mode, any process): a protected resource
  /// refuses writes carrying a token lower than the highest it has seen.
  std::uint64_t fencing_token = 0;
  std::string lease_id;    // backend detail (etcd: the lease); empty when unused
  bool contended = false;  // it was held by others when first tried (the acquisition waited)
};

/// What an acquisition asks for.
struct AcquireRequest {
  std::string name;
  LockMode mode = LockMode::exclusive;
  std::string owner;                    // unique per acquisition (the LockManager makes it)
  std::chrono::milliseconds lease{0};   // how long the backend keeps it without an extend()
  SteadyTime wait_until{};              // give up waiting then (<= now: try once)
  std::shared_ptr<CancelToken> cancel;  // optional: ends the wait with `cancelled`
};

/// Implementations are thread-safe; their coroutines may run on any executor.
class LockBackend {
 public:
  virtual ~LockBackend() = default;
  /// "memory", "redis", "etcd".
  virtual std::string kind() const = 0;
  /// Takes the lock, waiting (woken by the backend's notifications, never by spinning) until
  /// `wait_until`. Errors: timeout when still held by others then (limit_exceeded when only tried
  /// once), cancelled, unavailable (the backend cannot be reached), invalid_argument (the name).
  virtual Awaitable<Result<HeldLock>> acquire(AcquireRequest request) = 0;
  /// Renews the lease to `lease` from now. not_found: no longer held (expired, taken by another).
  virtual Awaitable<Result<void>> extend(const HeldLock& held, std::chrono::milliseconds lease) = 0;
  /// Gives it up; releasing a lock that expired already is not an error.
  virtual Awaitable<Result<void>> release(const HeldLock& held) = 0;
};

/// Names are 1-200 bytes of letters, digits and "-_.:/" — they become keys in every backend.
Result<void> validate_lock_name(const std::string& name);

}  // namespace svckit::coord
