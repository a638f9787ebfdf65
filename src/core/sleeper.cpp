#include "svckit/core/sleeper.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace svckit {

namespace asio = boost::asio;

struct WakeableWait::State {
  explicit State(const asio::any_io_executor& executor) : strand(asio::make_strand(executor)), timer(strand) {}
  asio::strand<asio::any_io_executor> strand;
  asio::steady_timer timer;  // touched on the strand only
  bool woken = false;        // touched on the strand only
};

namespace {

/// Runs on the strand, where wake() also lands: the flag and the timer are never raced.
asio::awaitable<bool> wait_on_strand(std::shared_ptr<WakeableWait::State> state,  // NOLINT: owned by the coroutine
                                     std::chrono::steady_clock::time_point until) {
  if (state->woken) co_return true;
  state->timer.expires_at(until);
  boost::system::error_code ec;
  co_await state->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return state->woken;
}

}  // namespace

WakeableWait::WakeableWait(const asio::any_io_executor& executor) : state_(std::make_shared<State>(executor)) {}

asio::awaitable<bool> WakeableWait::wait_until(std::chrono::steady_clock::time_point until) const {
  co_return co_await asio::co_spawn(state_->strand, wait_on_strand(state_, until), asio::use_awaitable);
}

void WakeableWait::wake() const {
  asio::post(state_->strand, [state = state_] {
    state->woken = true;
    state->timer.cancel();
  });
}

asio::awaitable<bool> AsioSleeper::sleep_for(std::chrono::nanoseconds duration, CancelToken* cancel) {
  const auto until = std::chrono::steady_clock::now() + duration;
  if (cancel == nullptr) {
    asio::steady_timer timer(co_await asio::this_coro::executor, until);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_return true;
  }
  const WakeableWait wait(co_await asio::this_coro::executor);
  if (!cancel->set_hook([wait] { wait.wake(); })) co_return false;
  const bool woken = co_await wait.wait_until(until);
  cancel->clear_hook();
  co_return !woken;
}

}  // namespace svckit
