// The Registry interface: where instances are registered and found. One implementation per
// backend (memory://, svckitd://, later etcd://, consul://, ...), chosen by URL through
// PluginRegistry (plugin_registry.hpp).
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp, which uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "svckit/core/cancel_token.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/service_instance.hpp"

namespace svckit {

template <class T>
using Awaitable = boost::asio::awaitable<T>;

// Note for GCC 12: a brace-initialised *aggregate* temporary inside a co_await expression is
// destroyed twice (a compiler bug). The request types below therefore declare constructors, which
// makes them non-aggregates and safe to write inline: co_await registry.watch({"svc", 0, 30s}).

/// Narrows list() results. Every set field must match (AND).
struct InstanceFilter {
  InstanceFilter() = default;
  std::optional<InstanceStatus> status;
  std::vector<std::string> tags;                // instance must carry all of them
  std::map<std::string, std::string> metadata;  // every key must be present with this value
  std::string zone;                             // empty = any zone

  bool matches(const ServiceInstance& instance) const;
  bool empty() const { return !status && tags.empty() && metadata.empty() && zone.empty(); }
};

enum class EventType { registered, deregistered, status_changed, updated, expired };
std::string_view to_string(EventType type) noexcept;
std::optional<EventType> parse_event_type(std::string_view text) noexcept;

/// One change. The registry index starts at 1 (empty registry); `index` increases by one per change across the whole
/// registry.
struct RegistryEvent {
  std::uint64_t index = 0;
  EventType type = EventType::registered;
  ServiceInstance instance;                       // state after the change (before, for deregistered)
  std::optional<InstanceStatus> previous_status;  // for status_changed and expired
};

struct ServiceSummary {
  std::string name;
  std::size_t instances = 0;
  std::size_t healthy = 0;
};

/// One summary per service (by name), counting instances and healthy ones: what list_services()
/// answers for backends that read instances and count them.
std::vector<ServiceSummary> summarize(const std::vector<ServiceInstance>& instances);

struct WatchRequest {
  WatchRequest() = default;
  WatchRequest(std::string service_name, std::uint64_t after, std::chrono::milliseconds wait_for,
               std::shared_ptr<CancelToken> cancel_token = nullptr)
      : service(std::move(service_name)), after_index(after), wait(wait_for), cancel(std::move(cancel_token)) {}

  std::string service;                  // empty = every service
  std::uint64_t after_index = 0;        // 0 = start with a snapshot
  std::chrono::milliseconds wait{0};    // how long to wait for a change; 0 = answer at once
  std::shared_ptr<CancelToken> cancel;  // optional: cancel() makes the watch return `cancelled`
};

/// Answer to a watch. Either `reset` (replace everything known about the watched scope with
/// `snapshot`: first call, history no longer available, or the registry's index went backwards
/// e.g. after a restart) or the ordered `events` after `after_index`. An answer with neither
/// means the wait ran out; call again with `index`.
struct WatchResult {
  std::uint64_t index = 0;
  bool reset = false;
  std::vector<ServiceInstance> snapshot;
  std::vector<RegistryEvent> events;
};

/// Thread-safety: implementations are thread-safe; each call may be made from any coroutine.
/// Errors are values: not_found for unknown service/instance, invalid_argument for bad input
/// (registry unchanged), unavailable when the backend cannot be reached.
class Registry {
 public:
  virtual ~Registry() = default;

  /// Adds or replaces (same service + id) an instance. ttl > 0: the instance must be renewed
  /// within ttl or it expires. Returns the stored record (id filled in, times set).
  virtual Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance instance) = 0;
  virtual Awaitable<Result<void>> deregister(std::string service, std::string id) = 0;
  /// Heartbeat: refreshes last_heartbeat. An expired (down) instance comes back to the status it had.
  virtual Awaitable<Result<void>> renew(std::string service, std::string id) = 0;
  virtual Awaitable<Result<void>> set_status(std::string service, std::string id, InstanceStatus status) = 0;
  virtual Awaitable<Result<ServiceInstance>> get(std::string service, std::string id) = 0;
  /// Instances of one service matching `filter`, ordered by id. Unknown service: empty list.
  virtual Awaitable<Result<std::vector<ServiceInstance>>> list(std::string service, InstanceFilter filter) = 0;
  virtual Awaitable<Result<std::vector<ServiceSummary>>> list_services() = 0;
  /// Long poll for changes; see WatchResult.
  virtual Awaitable<Result<WatchResult>> watch(WatchRequest request) = 0;
};

}  // namespace svckit
