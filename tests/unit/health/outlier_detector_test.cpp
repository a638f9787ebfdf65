// Outlier detection on a SimulatedClock: Envoy's detectors, ejection timing, cap and multiplier.
#include "svckit/health/outlier_detector.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> ids(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("h" + std::to_string(i));
  return out;
}

class Outliers : public ::testing::Test {
 protected:
  OutlierDetector& make(int hosts, OutlierOptions options = {}) {
    detector = std::make_unique<OutlierDetector>(options, clock, random,
                                                 [this](const OutlierEvent& e) { events.push_back(e); });
    detector->set_hosts(ids(hosts));
    return *detector;
  }
  void fail(const std::string& id, int times, CallOutcome outcome = CallOutcome::http_5xx) {
    for (int i = 0; i < times; ++i) detector->report(id, outcome);
  }
  /// `calls` requests to `id` of which `failures` fail, spread evenly (no long runs).
  void traffic(const std::string& id, int calls, int failures) {
    for (int k = 0; k < calls; ++k) {
      const bool failed = (k + 1) * failures / calls > k * failures / calls;
      detector->report(id, failed ? CallOutcome::http_5xx : CallOutcome::success);
    }
  }

  testing::SimulatedClock clock;
  testing::FakeRandom random{3};
  std::unique_ptr<OutlierDetector> detector;
  std::vector<OutlierEvent> events;
};

TEST_F(Outliers, StatusesClassifyAsEnvoyDoes) {
  EXPECT_EQ(outcome_from_status(200), CallOutcome::success);
  EXPECT_EQ(outcome_from_status(404), CallOutcome::success);
  EXPECT_EQ(outcome_from_status(500), CallOutcome::http_5xx);
  EXPECT_EQ(outcome_from_status(503), CallOutcome::http_gateway_failure);
  EXPECT_EQ(outcome_from_status(0), CallOutcome::local_failure);
}

TEST_F(Outliers, FiveConsecutive5xxEjectForThirtySecondsTimesTheEjectionCount) {
  auto& d = make(10);
  fail("h1", 4);
  d.report("h1", CallOutcome::success);  // resets the run
  fail("h1", 4);
  EXPECT_FALSE(d.is_ejected("h1"));
  fail("h1", 1);
  ASSERT_TRUE(d.is_ejected("h1"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, OutlierEvent::Type::ejected);
  EXPECT_EQ(events[0].reason, EjectionReason::consecutive_5xx);
  EXPECT_EQ(events[0].duration, 30s);
  EXPECT_EQ(d.ejected(), std::vector<std::string>{"h1"});

  clock.advance(29s);
  d.tick();
  EXPECT_TRUE(d.is_ejected("h1"));
  clock.advance(1s);
  d.tick();
  EXPECT_FALSE(d.is_ejected("h1"));
  EXPECT_EQ(events.back().type, OutlierEvent::Type::unejected);

  fail("h1", 5);  // second ejection: 2 × 30 s
  EXPECT_EQ(events.back().duration, 60s);
  clock.advance(59s);
  d.tick();
  EXPECT_TRUE(d.is_ejected("h1"));
  clock.advance(1s);
  d.tick();
  EXPECT_FALSE(d.is_ejected("h1"));
}

TEST_F(Outliers, HostsShowStreaksEjectionsAndTheTimeLeftOut) {
  auto& d = make(3);
  fail("h0", 2);
  fail("h2", 2, CallOutcome::local_failure);
  auto hosts = d.hosts();
  ASSERT_EQ(hosts.size(), 3u);
  EXPECT_EQ(hosts[0].id, "h0");
  EXPECT_EQ(hosts[0].consecutive_5xx, 2);
  EXPECT_FALSE(hosts[0].ejected);
  EXPECT_EQ(hosts[0].ejection_count, 0u);
  EXPECT_EQ(hosts[2].consecutive_gateway_failures, 2) << "a local failure is a gateway failure unless split";
  EXPECT_EQ(hosts[2].consecutive_local_failures, 0);
  fail("h1", 5);
  clock.advance(10s);
  hosts = d.hosts();
  EXPECT_TRUE(hosts[1].ejected);
  EXPECT_EQ(hosts[1].ejection_count, 1u);
  EXPECT_EQ(hosts[1].reason, EjectionReason::consecutive_5xx);
  EXPECT_EQ(hosts[1].remaining, 20s) << "30 s base ejection time, 10 s of it passed";
  EXPECT_EQ(hosts[0].remaining, 0ms) << "not ejected";
  clock.advance(25s);
  EXPECT_EQ(d.hosts()[1].remaining, 0ms) << "due: tick() returns it";
  d.tick();
  EXPECT_FALSE(d.hosts()[1].ejected);
  EXPECT_EQ(d.hosts()[1].ejection_count, 1u) << "remembered: the next ejection lasts longer";
}

TEST_F(Outliers, EjectionTimeIsCappedAtMaxEjectionTime) {
  auto& d = make(10);
  for (int round = 1; round <= 12; ++round) {
    fail("h2", 5);
    ASSERT_TRUE(d.is_ejected("h2"));
    EXPECT_EQ(events.back().duration, std::min<std::chrono::milliseconds>(30s * round, 300s)) << round;
    clock.advance(events.back().duration);
    d.tick();
    ASSERT_FALSE(d.is_ejected("h2"));
  }
}

TEST_F(Outliers, NeverMoreThanMaxEjectionPercentButAlwaysOne) {
  auto& d = make(10);  // 10%: one of ten
  fail("h1", 5);
  fail("h2", 5);
  EXPECT_TRUE(d.is_ejected("h1"));
  EXPECT_FALSE(d.is_ejected("h2"));
  EXPECT_EQ(d.stats().skipped_max_percent, 1u);

  auto& small = make(3);  // 10% of 3 is less than one host: one may still go
  fail("h0", 5);
  fail("h1", 5);
  EXPECT_EQ(small.ejected(), std::vector<std::string>{"h0"});

  OutlierOptions half;
  half.max_ejection_percent = 50;
  auto& wide = make(4, half);
  for (const auto& id : ids(4)) fail(id, 5);
  EXPECT_EQ(wide.ejected().size(), 2u);
}

TEST_F(Outliers, GatewayFailuresAreDetectedButNotEnforcedByDefault) {
  auto& d = make(10);
  fail("h1", 5, CallOutcome::http_gateway_failure);
  ASSERT_TRUE(d.is_ejected("h1"));
  EXPECT_EQ(events.back().reason, EjectionReason::consecutive_5xx) << "502/503/504 are also 5xx";
  EXPECT_EQ(d.stats().skipped_not_enforced, 1u) << "the gateway detector fired with enforcing 0%";

  OutlierOptions enforce;
  enforce.enforcing_consecutive_gateway_failure = 100;
  auto& strict = make(10, enforce);
  fail("h1", 5, CallOutcome::local_failure);  // without the split, a local failure is a gateway failure
  ASSERT_TRUE(strict.is_ejected("h1"));
  EXPECT_EQ(events.back().reason, EjectionReason::consecutive_gateway_failure);
}

TEST_F(Outliers, SplitLocalOriginErrorsHaveTheirOwnDetector) {
  OutlierOptions split;
  split.split_external_local_origin_errors = true;
  auto& d = make(10, split);
  fail("h1", 4, CallOutcome::local_failure);
  fail("h1", 4, CallOutcome::http_5xx);  // a separate run: neither detector reaches 5
  EXPECT_FALSE(d.is_ejected("h1"));
  fail("h2", 5, CallOutcome::local_failure);
  ASSERT_TRUE(d.is_ejected("h2"));
  EXPECT_EQ(events.back().reason, EjectionReason::consecutive_local_origin_failure);
}

TEST_F(Outliers, SuccessRateEjectsTheHostFarBelowTheMeanOncePerInterval) {
  auto& d = make(10);
  for (int i = 0; i < 6; ++i) traffic("h" + std::to_string(i), 200, i == 5 ? 60 : 2);  // h5: 70% success
  d.tick();
  EXPECT_FALSE(d.is_ejected("h5")) << "the interval has not passed";
  clock.advance(10s);
  d.tick();
  ASSERT_TRUE(d.is_ejected("h5"));
  EXPECT_EQ(events.back().reason, EjectionReason::success_rate);
  EXPECT_EQ(d.ejected().size(), 1u);

  // Counters restart each interval; with fewer than 5 hosts of enough volume nothing is judged.
  clock.advance(30s);
  d.tick();
  ASSERT_FALSE(d.is_ejected("h5"));
  for (int i = 0; i < 4; ++i) traffic("h" + std::to_string(i), 200, i == 0 ? 60 : 0);
  traffic("h9", 50, 0);  // below the request volume of 100
  clock.advance(10s);
  d.tick();
  EXPECT_TRUE(d.ejected().empty());
}

TEST_F(Outliers, FailurePercentageEjectsWhenEnforced) {
  OutlierOptions options;
  options.enforcing_failure_percentage = 100;
  options.enforcing_success_rate = 0;
  options.consecutive_5xx = 1000;  // above 80% failures a run of 5 is unavoidable: isolate the detector
  options.max_ejection_percent = 50;
  auto& d = make(10, options);
  for (int i = 0; i < 5; ++i) traffic("h" + std::to_string(i), 60, i == 2 ? 45 : 0);  // h2: 75% failures
  clock.advance(10s);
  d.tick();
  EXPECT_TRUE(d.ejected().empty()) << "75% is below the 85% threshold";

  for (int i = 0; i < 5; ++i) traffic("h" + std::to_string(i), 60, i >= 3 ? 54 : 0);  // h3, h4: 90%
  clock.advance(10s);
  d.tick();
  EXPECT_EQ(d.ejected(), (std::vector<std::string>{"h3", "h4"}));
  EXPECT_EQ(events.back().reason, EjectionReason::failure_percentage);

  auto& few = make(10, options);  // four hosts with enough volume: below the minimum of five
  for (int i = 0; i < 4; ++i) traffic("h" + std::to_string(i), 60, i == 0 ? 60 : 0);
  clock.advance(10s);
  few.tick();
  EXPECT_TRUE(few.ejected().empty());
}

TEST_F(Outliers, PassingActiveCheckUnejectsAndRemovedHostsAreForgotten) {
  auto& d = make(10);
  fail("h1", 5);
  ASSERT_TRUE(d.is_ejected("h1"));
  const auto generation = d.generation();
  d.active_check_passed("h1");
  EXPECT_FALSE(d.is_ejected("h1"));
  EXPECT_GT(d.generation(), generation);

  fail("h3", 5);
  d.set_hosts({"h0", "h1"});
  EXPECT_TRUE(d.ejected().empty());
  EXPECT_EQ(d.stats().hosts, 2u);
  d.report("h3", CallOutcome::http_5xx);  // unknown now: ignored
}

TEST_F(Outliers, AHostForgottenAndAddedAgainStartsWithFreshCountsEvenOnAThreadThatCachedIt) {
  auto& d = make(10);
  fail("h2", 4);  // this thread now holds h2's counters
  auto without = ids(10);
  std::erase(without, "h2");
  d.set_hosts(without);
  d.set_hosts(ids(10));  // h2 is back: a new host as far as the detector knows
  fail("h2", 4);
  EXPECT_FALSE(d.is_ejected("h2")) << "4 + 4 must not add up across the host's two lives";
  fail("h2", 1);
  EXPECT_TRUE(d.is_ejected("h2"));
  d.set_hosts(ids(2));
  d.report("h5", CallOutcome::success);  // forgotten: ignored, also on the lock-free path
  EXPECT_EQ(d.stats().hosts, 2u);
}

TEST_F(Outliers, ReportsFromManyThreadsCountEverySuccessAndFailure) {
  OutlierOptions o;
  o.consecutive_5xx = 1'000'000;  // only the interval detectors judge
  o.consecutive_gateway_failure = 1'000'000;
  o.failure_percentage_minimum_hosts = 1;
  o.failure_percentage_request_volume = 1;
  o.failure_percentage_threshold = 75;  // exactly h1's share: one lost failure report keeps it in
  o.enforcing_failure_percentage = 100;
  auto& d = make(2, o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&d, t] {
      for (int i = 0; i < 2'000; ++i) {
        // h0: all successes; h1: 3 failures in 4 calls
        d.report("h0", CallOutcome::success);
        d.report("h1", (i + t) % 4 == 0 ? CallOutcome::success : CallOutcome::http_5xx);
      }
    });
  }
  for (auto& t : threads) t.join();
  clock.advance(11s);
  d.tick();
  EXPECT_FALSE(d.is_ejected("h0"));
  EXPECT_TRUE(d.is_ejected("h1")) << "6,000 failures and 2,000 successes, counted from four threads";
}

TEST_F(Outliers, OptionsAreValidatedNamingTheField) {
  OutlierOptions o;
  o.max_ejection_percent = 120;
  EXPECT_EQ(validate(o).error().field, "max_ejection_percent");
  o = {};
  o.consecutive_5xx = 0;
  EXPECT_EQ(validate(o).error().field, "consecutive_5xx");
  o = {};
  o.max_ejection_time = 1s;
  EXPECT_EQ(validate(o).error().field, "max_ejection_time");
  EXPECT_TRUE(validate(OutlierOptions{}).ok());
}

}  // namespace
}  // namespace svckit
