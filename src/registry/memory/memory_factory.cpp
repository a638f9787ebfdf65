// memory:// : an in-process MemoryRegistry that sweeps its own TTLs.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "svckit/core/duration.hpp"
#include "svckit/registry/memory_registry.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace svckit {
namespace {

namespace asio = boost::asio;

/// Forwards to a MemoryRegistry and runs sweep() every `period` until destroyed.
class SweepingMemoryRegistry final : public Registry {
 public:
  SweepingMemoryRegistry(const RegistryDeps& deps, MemoryRegistryOptions options, std::chrono::milliseconds period)
      : state_(std::make_shared<State>(deps.time, options, deps.executor)), period_(period) {
    asio::co_spawn(deps.executor, sweep_loop(state_, period_), asio::detached);
  }
  ~SweepingMemoryRegistry() override {
    state_->stopped = true;
    asio::post(state_->timer.get_executor(), [s = state_] { s->timer.cancel(); });
  }

  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance in) override {
    return state_->registry.register_instance(std::move(in));
  }
  Awaitable<Result<void>> deregister(std::string s, std::string id) override {
    return state_->registry.deregister(std::move(s), std::move(id));
  }
  Awaitable<Result<void>> renew(std::string s, std::string id) override {
    return state_->registry.renew(std::move(s), std::move(id));
  }
  Awaitable<Result<void>> set_status(std::string s, std::string id, InstanceStatus st) override {
    return state_->registry.set_status(std::move(s), std::move(id), st);
  }
  Awaitable<Result<ServiceInstance>> get(std::string s, std::string id) override {
    return state_->registry.get(std::move(s), std::move(id));
  }
  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string s, InstanceFilter f) override {
    return state_->registry.list(std::move(s), std::move(f));
  }
  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override { return state_->registry.list_services(); }
  Awaitable<Result<WatchResult>> watch(WatchRequest r) override { return state_->registry.watch(std::move(r)); }

 private:
  struct State {
    State(const TimeSource& time, MemoryRegistryOptions options, const asio::any_io_executor& ex)
        : registry(time, options), timer(ex) {}
    MemoryRegistry registry;
    asio::steady_timer timer;
    std::atomic<bool> stopped{false};
  };

  static Awaitable<void> sweep_loop(std::shared_ptr<State> state, std::chrono::milliseconds period) {
    while (!state->stopped) {
      state->timer.expires_after(period);
      boost::system::error_code ec;
      co_await state->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (state->stopped) break;
      state->registry.sweep();
    }
  }

  std::shared_ptr<State> state_;
  std::chrono::milliseconds period_;
};

}  // namespace

RegistryFactory memory_registry_factory() {
  return [](const net::BackendUrl& url, const RegistryDeps& deps) -> Result<std::unique_ptr<Registry>> {
    if (auto ok = net::check_url_options(url, "memory://", {"sweep", "grace"}); !ok) return ok.error();
    auto sweep = net::backend_url_duration(url, "sweep", std::chrono::seconds(1));
    if (!sweep) return sweep.error();
    MemoryRegistryOptions options;
    auto grace = net::backend_url_duration(url, "grace", options.store.expiry_grace);
    if (!grace) return grace.error();
    options.store.expiry_grace = *grace;
    return std::unique_ptr<Registry>(std::make_unique<SweepingMemoryRegistry>(deps, options, *sweep));
  };
}

}  // namespace svckit
