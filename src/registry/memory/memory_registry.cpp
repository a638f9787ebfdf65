#include "svckit/registry/memory_registry.hpp"

namespace svckit {

MemoryRegistry::MemoryRegistry(const TimeSource& time, MemoryRegistryOptions options)
    : wait_time_(real_time_), sleeper_(real_sleeper_), store_(time, options.store), options_(options) {}

MemoryRegistry::MemoryRegistry(const TimeSource& time, Sleeper& sleeper, MemoryRegistryOptions options)
    : wait_time_(time), sleeper_(sleeper), store_(time, options.store), options_(options) {}

MemoryRegistry::~MemoryRegistry() = default;

void MemoryRegistry::notify_locked() { waiters_.notify_all(); }

Result<ServiceInstance> MemoryRegistry::register_now(ServiceInstance instance) {
  std::lock_guard lock(mutex_);
  if (persistent_refusal_ && store_.upsert_changes_persistent(instance)) {
    if (auto refused = persistent_refusal_()) return *refused;
  }
  const auto before = store_.index();
  auto r = store_.upsert(std::move(instance));
  if (store_.index() != before) notify_locked();
  return r;
}

Result<std::size_t> MemoryRegistry::replace_now(const std::string& service, std::vector<ServiceInstance> wanted) {
  std::lock_guard lock(mutex_);
  auto r = store_.replace(service, std::move(wanted));
  if (r && *r > 0) notify_locked();
  return r;
}

Awaitable<Result<ServiceInstance>> MemoryRegistry::register_instance(ServiceInstance instance) {
  if (writer_ != nullptr) co_return co_await writer_->register_instance(std::move(instance));
  co_return register_now(std::move(instance));
}

void MemoryRegistry::apply_replicated(std::uint64_t index, const std::vector<RegistryEvent>& events) {
  std::lock_guard lock(mutex_);
  const auto before = store_.index();
  store_.apply_replicated(index, events);
  if (store_.index() != before) notify_locked();
}

void MemoryRegistry::load_replicated(const std::vector<ServiceInstance>& instances, std::uint64_t index) {
  std::lock_guard lock(mutex_);
  store_.load_replicated(instances, index);
  notify_locked();
}

Awaitable<Result<void>> MemoryRegistry::deregister(std::string service, std::string id) {
  if (writer_ != nullptr) co_return co_await writer_->deregister(std::move(service), std::move(id));
  std::lock_guard lock(mutex_);
  if (persistent_refusal_ && store_.holds_persistent(service, id)) {
    if (auto refused = persistent_refusal_()) co_return *refused;
  }
  auto r = store_.remove(service, id);
  if (r) notify_locked();
  co_return r;
}

Awaitable<Result<void>> MemoryRegistry::renew(std::string service, std::string id) {
  if (writer_ != nullptr) co_return co_await writer_->renew(std::move(service), std::move(id));
  std::lock_guard lock(mutex_);
  const auto before = store_.index();
  auto r = store_.renew(service, id);
  if (store_.index() != before) notify_locked();
  co_return r;
}

Awaitable<Result<void>> MemoryRegistry::set_status(std::string service, std::string id, InstanceStatus status) {
  if (writer_ != nullptr) co_return co_await writer_->set_status(std::move(service), std::move(id), status);
  std::lock_guard lock(mutex_);
  const auto before = store_.index();
  auto r = store_.set_status(service, id, status);
  if (store_.index() != before) notify_locked();
  co_return r;
}

Awaitable<Result<ServiceInstance>> MemoryRegistry::get(std::string service, std::string id) {
  std::lock_guard lock(mutex_);
  co_return store_.get(service, id);
}

Awaitable<Result<std::vector<ServiceInstance>>> MemoryRegistry::list(std::string service, InstanceFilter filter) {
  std::lock_guard lock(mutex_);
  co_return store_.list(service, filter);
}

Awaitable<Result<std::vector<ServiceSummary>>> MemoryRegistry::list_services() {
  std::lock_guard lock(mutex_);
  co_return store_.services();
}

Awaitable<Result<WatchResult>> MemoryRegistry::watch(WatchRequest request) {
  const auto deadline = wait_time_.steady_now() + request.wait;
  for (;;) {
    std::optional<WaitList::Ticket> ticket;  // leaves the list on every exit, frame destruction too
    {
      std::lock_guard lock(mutex_);
      if (request.cancel && request.cancel->cancelled()) {
        co_return make_error(ErrorCode::cancelled, "watch cancelled");
      }
      auto result = store_.collect(request.service, request.after_index);
      if (RegistryStore::has_changes(result) || released_ || wait_time_.steady_now() >= deadline) co_return result;
      if (waiters_.waiting() >= options_.max_watchers) {
        co_return make_error(ErrorCode::limit_exceeded,
                             "too many concurrent watches (max " + std::to_string(options_.max_watchers) + ")", "wait");
      }
      ticket.emplace(waiters_.park());  // under the lock: a change after collect() wakes it
    }
    if (request.cancel && !request.cancel->set_hook(ticket->waker())) continue;  // cancelled: answered above
    (void)co_await ticket->wait_for(deadline - wait_time_.steady_now(), sleeper_);
    if (request.cancel) request.cancel->clear_hook();
  }
}

bool MemoryRegistry::contains(const std::string& service, const std::string& id) const {
  std::lock_guard lock(mutex_);
  return store_.get(service, id).ok();
}

std::size_t MemoryRegistry::sweep() {
  if (writer_ != nullptr) return 0;  // a cache: the shared store expires instances
  std::lock_guard lock(mutex_);
  const auto n = store_.sweep();
  if (n > 0) notify_locked();
  return n;
}

std::uint64_t MemoryRegistry::index() const {
  std::lock_guard lock(mutex_);
  return store_.index();
}

std::size_t MemoryRegistry::watcher_count() const { return waiters_.waiting(); }

std::size_t MemoryRegistry::instance_count() const {
  std::lock_guard lock(mutex_);
  return store_.instance_count();
}

std::size_t MemoryRegistry::instance_count(const std::string& service) const {
  std::lock_guard lock(mutex_);
  return store_.instance_count(service);
}

std::uint64_t MemoryRegistry::expirations_total() const {
  std::lock_guard lock(mutex_);
  return store_.expirations_total();
}

std::uint64_t MemoryRegistry::for_each(
    const std::string& service, const InstanceFilter& filter,
    const std::function<void(const ServiceInstance&, const std::string& json)>& visit) const {
  std::lock_guard lock(mutex_);
  store_.for_each(service, filter, visit);
  return store_.index();
}

MemoryRegistry::JsonRecords MemoryRegistry::json_records(const std::string& service,
                                                         const InstanceFilter& filter) const {
  std::lock_guard lock(mutex_);
  return {store_.json_records(service, filter), store_.index()};
}

std::vector<ServiceSummary> MemoryRegistry::services_now() const {
  std::lock_guard lock(mutex_);
  return store_.services();
}

void MemoryRegistry::release_watchers() {
  std::lock_guard lock(mutex_);
  released_ = true;
  notify_locked();
}

std::vector<ServiceInstance> MemoryRegistry::persistent_instances(std::uint64_t* version) const {
  std::lock_guard lock(mutex_);
  if (version != nullptr) *version = store_.persistent_version();
  return store_.persistent_instances();
}

std::string MemoryRegistry::persistent_json(std::uint64_t* version, std::uint64_t* index) const {
  std::string out;
  std::lock_guard lock(mutex_);
  if (version != nullptr) *version = store_.persistent_version();
  if (index != nullptr) *index = store_.index();
  store_.append_persistent_json(out);
  return out;
}

void MemoryRegistry::track_persistent_changes() {
  std::lock_guard lock(mutex_);
  store_.track_changes();
}

std::uint64_t MemoryRegistry::take_persistent_changes(
    const std::function<void(const std::string&, const std::string&, const std::string*)>& visit,
    std::uint64_t* index) {
  std::lock_guard lock(mutex_);
  if (index != nullptr) *index = store_.index();
  store_.take_changes(visit);
  return store_.persistent_version();
}

std::uint64_t MemoryRegistry::persistent_version() const {
  std::lock_guard lock(mutex_);
  return store_.persistent_version();
}

Result<void> MemoryRegistry::restore(const std::vector<ServiceInstance>& instances, std::uint64_t index) {
  std::lock_guard lock(mutex_);
  auto r = store_.restore(instances, index);
  if (r) notify_locked();
  return r;
}

}  // namespace svckit
