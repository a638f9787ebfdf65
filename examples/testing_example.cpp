// Testing your own code the way svckit tests its own, with svckit::testing (find_package(svckit
// COMPONENTS testing), target svckit::testing): a FaultServer plays an instance you call and is
// steered at run time, an IoThread runs the client's io_context, and a SimulatedClock drives time
// in pure logic so that a test of minutes of behaviour takes microseconds.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "svckit/balance/load_balancer.hpp"
#include "svckit/client/service_client.hpp"
#include "svckit/resilience/circuit_breaker.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/fault_server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/simulated_clock.hpp"

using namespace std::chrono_literals;

TEST(OrdersClient, ARetryLandsOnTheHealthyInstanceWhenTheOtherAnswers503) {
  svckit::testing::IoThread io;
  svckit::testing::FaultServer broken(io.io(), "broken");
  svckit::testing::FaultServer healthy(io.io(), "healthy");
  broken.answer_status(503);

  svckit::BalancerPlugins::Builder builder;
  svckit::register_builtin_balancers(builder);
  const auto balancers = std::move(builder).build();
  svckit::RealRandom random;
  svckit::RealTimeSource time;
  svckit::ServiceClientOptions options;
  auto& orders = options.services["orders"];
  orders.static_urls = {broken.url(), healthy.url()};
  orders.balancing.policy = "round_robin";
  auto client = svckit::ServiceClient::create(options, {io.executor(), nullptr, balancers, random, time});
  ASSERT_TRUE(client) << client.error().describe();

  for (int i = 0; i < 6; ++i) {
    auto result = io.run([&] { return (*client)->try_call("orders", svckit::http::Verb::get, "/orders/1"); });
    ASSERT_TRUE(result.ok()) << result.error->what();
    EXPECT_EQ(nlohmann::json::parse(result.response->body()).value("server", ""), "healthy");
  }
  EXPECT_GT(broken.hits(), 0) << "round robin sent some first attempts there";
  io.run([&] { return (*client)->shutdown(0ms); });
}

TEST(OrdersClient, TheBreakerOpensThenLetsProbesThroughOnASimulatedClock) {
  svckit::testing::SimulatedClock clock;
  svckit::CircuitBreakerOptions options;
  options.sliding_window_size = 10;
  options.minimum_number_of_calls = 10;
  options.wait_duration_in_open_state = 30s;
  svckit::CircuitBreaker breaker(options, clock);
  for (int i = 0; i < 10; ++i) {
    auto permit = breaker.acquire();
    ASSERT_TRUE(permit);
    breaker.record(*permit, false, 5ms);
  }
  EXPECT_EQ(breaker.state(), svckit::BreakerState::open);
  EXPECT_FALSE(breaker.acquire()) << "open: calls are refused at once";
  clock.advance(30s);  // no real waiting
  EXPECT_TRUE(breaker.acquire()) << "half open: a probe may go";
  EXPECT_EQ(breaker.state(), svckit::BreakerState::half_open);
}
