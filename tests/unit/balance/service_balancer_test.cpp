// ServiceBalancer: subset → ejections → zone → policy, and the metrics it publishes.
#include "svckit/balance/service_balancer.hpp"

#include <gtest/gtest.h>

#include <set>

#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;

ServiceInstance zoned_host(int n, std::string zone = "a", InstanceStatus status = InstanceStatus::healthy) {
  ServiceInstance in;
  in.service = "orders";
  in.host = "10.0.0." + std::to_string(n);
  in.port = 80;
  in.zone = std::move(zone);
  in.status = status;
  in.normalize();
  return in;
}

class ServiceBalancerTest : public ::testing::Test {
 protected:
  std::unique_ptr<ServiceBalancer> make(ServiceBalancerOptions options) {
    auto sb = ServiceBalancer::create("orders", std::move(options), plugins, {random, clock}, &metrics);
    EXPECT_TRUE(sb.ok()) << (sb.ok() ? "" : sb.error().describe());
    return std::move(*sb);
  }
  std::set<std::string> picked(ServiceBalancer& sb, int n = 40) {
    std::set<std::string> out;
    for (int i = 0; i < n; ++i) out.insert(sb.pick()->instance->id);
    return out;
  }
  /// One metric line's value, e.g. svckit_lb_panic{service="orders"}.
  std::string metric(const std::string& series) {
    const auto text = metrics.render_prometheus();
    const auto at = text.find(series + " ");
    return at == std::string::npos ? ""
                                   : text.substr(at + series.size() + 1, text.find('\n', at) - at - series.size() - 1);
  }

  BalancerPlugins plugins = [] {
    BalancerPlugins::Builder b;
    register_builtin_balancers(b);
    return std::move(b).build();
  }();
  testing::FakeRandom random{5};
  testing::SimulatedClock clock;
  MetricsRegistry metrics;
};

TEST_F(ServiceBalancerTest, FailingHostIsEjectedRoutedAroundAndReturnsAfterItsEjectionTime) {
  ServiceBalancerOptions options;
  options.outlier = OutlierOptions{};
  auto sb = make(options);
  sb->update({zoned_host(1), zoned_host(2), zoned_host(3)});
  for (int i = 0; i < 5; ++i) {
    Pick pick;
    do pick = *sb->pick();
    while (pick.instance->id != "10.0.0.2:80");
    sb->report(pick, outcome_from_status(500), 1ms);
  }
  EXPECT_EQ(picked(*sb), (std::set<std::string>{"10.0.0.1:80", "10.0.0.3:80"}));
  EXPECT_EQ(metric("svckit_outlier_ejected_hosts{service=\"orders\"}"), "1");
  EXPECT_EQ(metric("svckit_outlier_ejections_total{service=\"orders\",reason=\"consecutive_5xx\"}"), "1");
  EXPECT_EQ(sb->state().healthy, 2u);

  clock.advance(30s);
  sb->tick();
  EXPECT_EQ(picked(*sb).size(), 3u);
  EXPECT_EQ(metric("svckit_outlier_unejections_total{service=\"orders\"}"), "1");
  EXPECT_EQ(metric("svckit_outlier_ejected_hosts{service=\"orders\"}"), "0");
}

TEST_F(ServiceBalancerTest, ZoneSpillsOverWhenItsOnlyHostIsEjectedAndComesBackOnAPassingCheck) {
  ServiceBalancerOptions options;
  options.zone.local_zone = "a";
  options.outlier = OutlierOptions{};
  auto sb = make(options);
  sb->update({zoned_host(1, "a"), zoned_host(2, "b"), zoned_host(3, "b")});
  EXPECT_EQ(picked(*sb), std::set<std::string>{"10.0.0.1:80"});
  EXPECT_FALSE(sb->spilled_over());

  auto pick = *sb->pick();
  for (int i = 0; i < 5; ++i) sb->report(pick, CallOutcome::local_failure, 1ms);
  EXPECT_TRUE(sb->spilled_over());
  EXPECT_EQ(metric("svckit_lb_zone_spillover{service=\"orders\"}"), "1");
  EXPECT_EQ(picked(*sb), (std::set<std::string>{"10.0.0.2:80", "10.0.0.3:80"}));

  sb->active_check_passed("10.0.0.1:80");
  EXPECT_FALSE(sb->spilled_over());
  EXPECT_EQ(picked(*sb), std::set<std::string>{"10.0.0.1:80"});
}

TEST_F(ServiceBalancerTest, PanicAndSubsetShowInStateAndMetrics) {
  ServiceBalancerOptions options;
  options.subset.filter.tags = {"v2"};
  options.subset.fallback = SubsetPolicy::Fallback::fail;
  auto sb = make(options);
  std::vector<ServiceInstance> list{zoned_host(1), zoned_host(2, "a", InstanceStatus::unhealthy),
                                    zoned_host(3, "a", InstanceStatus::unhealthy), zoned_host(4)};
  for (int i = 0; i < 3; ++i) list[static_cast<std::size_t>(i)].tags = {"v2"};
  sb->update(list);  // subset: hosts 1-3, one of three healthy
  EXPECT_TRUE(sb->state().panic);
  EXPECT_EQ(sb->state().hosts, 3u);
  EXPECT_EQ(metric("svckit_lb_panic{service=\"orders\"}"), "1");
  EXPECT_TRUE(sb->pick()->panic);

  for (auto& in : list) in.tags.clear();
  sb->update(list);  // empty subset, fallback fail: nothing to pick
  EXPECT_EQ(sb->pick().error().code, ErrorCode::not_found);
  EXPECT_EQ(metric("svckit_lb_panic{service=\"orders\"}"), "0");
}

TEST_F(ServiceBalancerTest, BadOptionsAreRejectedNamingTheField) {
  ServiceBalancerOptions options;
  options.outlier = OutlierOptions{};
  options.outlier->consecutive_5xx = 0;
  auto bad = ServiceBalancer::create("orders", options, plugins, {random, clock});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().field, "outlier.consecutive_5xx");

  options = {};
  options.policy = "fastest";
  EXPECT_EQ(ServiceBalancer::create("orders", options, plugins, {random, clock}).error().code,
            ErrorCode::invalid_argument);
}

}  // namespace
}  // namespace svckit
