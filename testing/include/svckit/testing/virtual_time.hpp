// VirtualTime: a discrete-event clock for simulations. It is both the TimeSource and the Sleeper
// of the code under test; run_until() runs every ready handler of a single-threaded io_context,
// then jumps the clock to the next sleeper's wake-up — no wall-clock time passes, and a run is a
// pure function of its inputs and seeds.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/io_context.hpp>
#include <memory>
#include <queue>
#include <vector>

#include "svckit/core/sleeper.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit::testing {

/// Not thread-safe: one io_context run by one thread (run_until's).
class VirtualTime final : public TimeSource, public Sleeper {
 public:
  explicit VirtualTime(boost::asio::io_context& io) : io_(io) {}
  SteadyTime steady_now() const override { return clock_.steady_now(); }
  SystemTime system_now() const override { return clock_.system_now(); }
  boost::asio::awaitable<bool> sleep_for(std::chrono::nanoseconds duration, CancelToken* cancel = nullptr) override;

  /// Runs handlers and advances the clock until nothing is left to do or the clock would pass
  /// `until` (it stops at `until`). Returns the number of wake-ups fired.
  std::size_t run_until(SteadyTime until);
  std::size_t sleepers() const { return queue_.size(); }

  struct Wakeup;

 private:
  struct Later {
    bool operator()(const std::shared_ptr<Wakeup>& a, const std::shared_ptr<Wakeup>& b) const;
  };
  boost::asio::io_context& io_;
  SimulatedClock clock_;
  std::uint64_t sequence_ = 0;  // equal wake-up times fire in the order they were asked for
  std::priority_queue<std::shared_ptr<Wakeup>, std::vector<std::shared_ptr<Wakeup>>, Later> queue_;
};

}  // namespace svckit::testing
