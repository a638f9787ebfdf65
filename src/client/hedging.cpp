// ServiceClient's hedging: the primary attempt and, after the hedging delay, one more to another
// instance (budget permitting); the first good answer wins and the loser is cancelled.
#include <utility>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "client/service_client_impl.hpp"

namespace svckit {

namespace asio = boost::asio;

namespace {

struct Race {
  explicit Race(const asio::strand<asio::any_io_executor>& s) : wake(s) {
    wake.expires_at(asio::steady_timer::time_point::max());
  }
  std::vector<std::optional<Attempt>> done;
  std::vector<std::shared_ptr<CancelToken>> cancels;
  asio::steady_timer wake;  // an event: cancel() wakes the race (strand only, so never lost)
  int running = 0;
  bool delay_over = false;
  std::shared_ptr<CancelToken> delay_cancel = std::make_shared<CancelToken>();
};

Awaitable<void> hedge_delay(Sleeper& sleeper, std::chrono::milliseconds delay,
                            std::shared_ptr<Race> race) {  // NOLINT: owned by the coroutine
  co_await sleeper.sleep_for(delay, race->delay_cancel.get());
  race->delay_over = true;
  race->wake.cancel();
}

}  // namespace

struct ServiceClient::Impl::HedgeRace {
  /// One attempt of the race with its own request: a loser may run on after the call returned.
  // NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
  static Awaitable<Attempt> owned_attempt(ServiceClient::Impl& impl, std::shared_ptr<ServiceClient::ServiceState> state,
                                          Route route, http::Request request, std::chrono::milliseconds timeout,
                                          std::shared_ptr<CancelToken> cancel, http::Transport* via) {
    co_return co_await impl.send_attempt(std::move(state), route, request, timeout, std::move(cancel), via);
  }

  // NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
  static Awaitable<Attempt> run(ServiceClient::Impl& impl, asio::strand<asio::any_io_executor> strand,
                                std::shared_ptr<ServiceClient::ServiceState> state_ptr, Route primary,
                                http::Request request, std::chrono::milliseconds timeout, const std::string& target,
                                const CallOptions& options, std::vector<std::string>& tried, CallResult& result) {
    auto& state = *state_ptr;
    auto race = std::make_shared<Race>(strand);
    // NOLINTNEXTLINE(performance-unnecessary-value-param): moved in
    const auto launch = [&](Route route, http::Request req, bool is_hedge) {
      const std::size_t slot = race->done.size();
      race->done.emplace_back();
      race->cancels.push_back(std::make_shared<CancelToken>());
      ++race->running;
      ++result.attempts;
      ++impl.in_flight;  // a loser outlives its call: shutdown() waits for it too
      asio::co_spawn(
          impl.deps.executor,
          owned_attempt(impl, state_ptr, std::move(route), std::move(req), timeout, race->cancels[slot],
                        options.transport),
          asio::bind_executor(strand, [&impl, race, slot, is_hedge, state_ptr](const std::exception_ptr&, Attempt a) {
            if (is_hedge) state_ptr->budget->retry_finished();  // the hedge held a retry slot
            race->done[slot] = std::move(a);
            --race->running;
            --impl.in_flight;
            race->wake.cancel();
          }));
    };
    const auto good = [](const Attempt& a) { return a.answer && !a.retryable; };
    const auto winner = [&]() -> std::optional<std::size_t> {
      for (std::size_t i = 0; i < race->done.size(); ++i) {
        if (race->done[i] && good(*race->done[i])) return i;
      }
      return std::nullopt;
    };
    const auto wait = [&]() -> Awaitable<void> {
      boost::system::error_code ec;
      race->wake.expires_at(asio::steady_timer::time_point::max());
      co_await race->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    };
    const std::string primary_instance = primary.instance;
    const auto trace_parent = primary.trace_parent;
    const int resend = primary.resend;
    tried.push_back(primary_instance);
    launch(std::move(primary), request, false);
    asio::co_spawn(strand, hedge_delay(impl.sleeper, state.config.hedging.delay, race), asio::detached);
    while (!winner() && race->running > 0 && !race->delay_over) co_await wait();
    if (!winner() && race->running > 0 && impl.take_retry_token(state)) {
      CallErrorKind why = CallErrorKind::no_instances;
      auto second = impl.choose_route(state, target, options, tried, why);
      if (second && second->instance == primary_instance) {  // no other instance: no hedge
        if (second->breaker) second->breaker->release(second->permit);
        second.reset();
      }
      if (second) {
        ++impl.hedges;
        if (auto series = impl.series_of(state); series->hedges) series->hedges->inc();
        tried.push_back(second->instance);
        second->trace_parent = trace_parent;
        second->resend = resend;
        second->hedge = true;
        launch(std::move(*second), request, true);
      } else {
        state.budget->retry_finished();  // no hedge after all
      }
    }
    while (!winner() && race->running > 0) co_await wait();
    race->delay_cancel->cancel();
    const auto won = winner();
    for (std::size_t i = 0; i < race->cancels.size(); ++i) {
      if (!won || i != *won) race->cancels[i]->cancel();  // the loser stops; its permit is released
    }
    if (won) co_return std::move(*race->done[*won]);
    for (auto it = race->done.rbegin(); it != race->done.rend(); ++it) {  // none good: the latest verdict
      if (*it) co_return std::move(**it);
    }
    co_return Attempt{};
  }
};

/// The race runs as its own coroutine on a strand, where every completion lands too: a
/// coroutine's resumptions go through its own executor, so a strand it merely posted to would
/// not serialise them.
Awaitable<Attempt> ServiceClient::Impl::hedged_attempt(std::shared_ptr<ServiceClient::ServiceState> state_ptr,
                                                       Route primary, http::Request request,
                                                       std::chrono::milliseconds timeout, const std::string& target,
                                                       const CallOptions& options, std::vector<std::string>& tried,
                                                       CallResult& result) {
  auto strand = asio::make_strand(deps.executor);
  co_return co_await asio::co_spawn(strand,
                                    HedgeRace::run(*this, strand, std::move(state_ptr), std::move(primary),
                                                   std::move(request), timeout, target, options, tried, result),
                                    asio::use_awaitable);
}

}  // namespace svckit
