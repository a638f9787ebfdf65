#include "svckit/testing/virtual_time.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace svckit::testing {

namespace asio = boost::asio;

struct VirtualTime::Wakeup {
  Wakeup(asio::io_context& io, SteadyTime at, std::uint64_t seq) : when(at), sequence(seq), event(io) {
    event.expires_at(asio::steady_timer::time_point::max());  // an event: only cancel() ends the wait
  }
  SteadyTime when;
  std::uint64_t sequence;
  asio::steady_timer event;
  bool fired = false;
  bool cancelled = false;
};

bool VirtualTime::Later::operator()(const std::shared_ptr<Wakeup>& a, const std::shared_ptr<Wakeup>& b) const {
  return a->when != b->when ? a->when > b->when : a->sequence > b->sequence;
}

asio::awaitable<bool> VirtualTime::sleep_for(std::chrono::nanoseconds duration, CancelToken* cancel) {
  auto wakeup =
      std::make_shared<Wakeup>(io_, steady_now() + std::max(duration, std::chrono::nanoseconds{0}), sequence_++);
  if (cancel != nullptr) {
    std::weak_ptr<Wakeup> weak = wakeup;
    // Single-threaded: the hook runs on the io_context's thread, after this coroutine suspended.
    if (!cancel->set_hook([weak] {
          if (auto w = weak.lock(); w && !w->fired) {
            w->cancelled = true;
            w->event.cancel();
          }
        })) {
      co_return false;
    }
  }
  queue_.push(wakeup);
  boost::system::error_code ec;
  co_await wakeup->event.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (cancel != nullptr) cancel->clear_hook();
  co_return wakeup->fired && !wakeup->cancelled;
}

std::size_t VirtualTime::run_until(SteadyTime until) {
  std::size_t fired = 0;
  for (;;) {
    io_.restart();
    io_.poll();
    while (!queue_.empty() && queue_.top()->cancelled) queue_.pop();
    if (queue_.empty()) break;
    auto next = queue_.top();
    if (next->when > until) {
      if (until > steady_now()) clock_.advance(until - steady_now());
      break;
    }
    queue_.pop();
    if (next->when > steady_now()) clock_.advance(next->when - steady_now());
    next->fired = true;
    next->event.cancel();
    ++fired;
  }
  return fired;
}

}  // namespace svckit::testing
