#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "svckit/core/instance_json.hpp"
#include "svckit/registry/registry_json.hpp"
#include "svckit/registry/registry_store.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;

ServiceInstance store_instance(const std::string& service, int port, std::chrono::milliseconds ttl = 0ms) {
  ServiceInstance in;
  in.service = service;
  in.host = "127.0.0.1";
  in.port = port;
  in.ttl = ttl;
  return in;
}

class RegistryStoreTest : public ::testing::Test {
 protected:
  testing::SimulatedClock clock;
  RegistryStore store{clock, RegistryStoreOptions{10s, 3, 100}};
};

TEST_F(RegistryStoreTest, RegisterAssignsIdTimesAndIndex) {
  auto r = store.upsert(store_instance("a", 80));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, "127.0.0.1:80");
  EXPECT_EQ(r->registered_at, clock.system_now());
  EXPECT_EQ(store.index(), 2u);
  clock.advance(5s);
  // Identical re-registration refreshes the heartbeat without an event.
  auto again = store.upsert(store_instance("a", 80));
  EXPECT_EQ(store.index(), 2u);
  EXPECT_EQ(again->registered_at + 5s, again->last_heartbeat);
  // A changed field is an `updated` event.
  auto changed = store_instance("a", 80);
  changed.weight = 5;
  ASSERT_TRUE(store.upsert(changed).ok());
  auto w = store.collect("", 2);
  ASSERT_EQ(w.events.size(), 1u);
  EXPECT_EQ(w.events[0].type, EventType::updated);
  EXPECT_EQ(w.events[0].instance.weight, 5);
}

TEST_F(RegistryStoreTest, InvalidRegistrationLeavesStoreUnchanged) {
  auto bad = store_instance("a", 80);
  bad.weight = 20000;
  auto r = store.upsert(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "weight");
  EXPECT_EQ(store.index(), 1u);
  EXPECT_EQ(store.instance_count(), 0u);
}

TEST_F(RegistryStoreTest, MaxInstancesPerService) {
  for (int p = 1; p <= 3; ++p) ASSERT_TRUE(store.upsert(store_instance("a", p)).ok());
  auto r = store.upsert(store_instance("a", 4));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::limit_exceeded);
  EXPECT_TRUE(store.upsert(store_instance("a", 1)).ok()) << "updating an existing id is not a new instance";
  EXPECT_TRUE(store.upsert(store_instance("b", 1)).ok());
}

TEST_F(RegistryStoreTest, TtlExpiryMarksDownThenRemovesAfterGrace) {
  ASSERT_TRUE(store.upsert(store_instance("a", 80, 3s)).ok());
  ASSERT_TRUE(store.upsert(store_instance("a", 81)).ok());  // persistent
  clock.advance(3s);
  EXPECT_EQ(store.sweep(), 0u) << "exactly ttl old is still alive";
  clock.advance(1ms);
  EXPECT_EQ(store.sweep(), 1u);
  auto expired = store.get("a", "127.0.0.1:80");
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(expired->status, InstanceStatus::down);
  clock.advance(9s);
  EXPECT_EQ(store.sweep(), 0u);
  clock.advance(1s);
  EXPECT_EQ(store.sweep(), 1u);
  EXPECT_FALSE(store.get("a", "127.0.0.1:80").ok());
  EXPECT_TRUE(store.get("a", "127.0.0.1:81").ok()) << "persistent instances never expire";
  clock.advance(24h);
  EXPECT_EQ(store.sweep(), 0u);

  auto w = store.collect("a", 3);
  ASSERT_EQ(w.events.size(), 2u);
  EXPECT_EQ(w.events[0].type, EventType::expired);
  EXPECT_EQ(w.events[0].previous_status, InstanceStatus::healthy);
  EXPECT_EQ(w.events[1].type, EventType::deregistered);
}

TEST_F(RegistryStoreTest, HeartbeatKeepsAliveAndRevivesExpired) {
  auto in = store_instance("a", 80, 3s);
  in.status = InstanceStatus::starting;
  ASSERT_TRUE(store.upsert(in).ok());
  for (int i = 0; i < 10; ++i) {
    clock.advance(2s);
    ASSERT_TRUE(store.renew("a", "127.0.0.1:80").ok());
    EXPECT_EQ(store.sweep(), 0u);
  }
  clock.advance(4s);
  EXPECT_EQ(store.sweep(), 1u);
  ASSERT_TRUE(store.renew("a", "127.0.0.1:80").ok());
  EXPECT_EQ(store.get("a", "127.0.0.1:80")->status, InstanceStatus::starting) << "status before expiry comes back";
  auto w = store.collect("a", 2);
  ASSERT_EQ(w.events.size(), 2u);
  EXPECT_EQ(w.events[1].type, EventType::status_changed);
  EXPECT_EQ(w.events[1].previous_status, InstanceStatus::down);
  EXPECT_EQ(store.renew("a", "nope").error().code, ErrorCode::not_found);
}

TEST_F(RegistryStoreTest, FiltersByStatusTagsMetadataZone) {
  auto a = store_instance("s", 1);
  a.tags = {"v2", "canary"};
  a.zone = "z1";
  a.metadata = {{"version", "2"}};
  auto b = store_instance("s", 2);
  b.tags = {"v2"};
  b.zone = "z2";
  b.status = InstanceStatus::unhealthy;
  auto c = store_instance("s", 3);
  for (const auto& in : {a, b, c}) ASSERT_TRUE(store.upsert(in).ok());

  auto ports = [&](const InstanceFilter& f) {
    std::vector<int> out;
    for (const auto& in : store.list("s", f)) out.push_back(in.port);
    return out;
  };
  EXPECT_EQ(ports({}), (std::vector<int>{1, 2, 3}));
  auto filter = [](auto&& set) {
    InstanceFilter f;
    set(f);
    return f;
  };
  EXPECT_EQ(ports(filter([](auto& f) { f.status = InstanceStatus::healthy; })), (std::vector<int>{1, 3}));
  EXPECT_EQ(ports(filter([](auto& f) { f.tags = {"v2"}; })), (std::vector<int>{1, 2}));
  EXPECT_EQ(ports(filter([](auto& f) { f.tags = {"v2", "canary"}; })), (std::vector<int>{1}));
  EXPECT_EQ(ports(filter([](auto& f) { f.metadata = {{"version", "2"}}; })), (std::vector<int>{1}));
  EXPECT_EQ(ports(filter([](auto& f) { f.metadata = {{"version", "3"}}; })), (std::vector<int>{}));
  EXPECT_EQ(ports(filter([](auto& f) { f.zone = "z2"; })), (std::vector<int>{2}));
  EXPECT_TRUE(store.list("unknown", {}).empty());

  auto services = store.services();
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].instances, 3u);
  EXPECT_EQ(services[0].healthy, 2u);
}

TEST_F(RegistryStoreTest, WatchDeliversOrderedEventsPerServiceAndResets) {
  auto first = store.collect("", 0);
  EXPECT_TRUE(first.reset);
  EXPECT_EQ(first.index, 1u);

  ASSERT_TRUE(store.upsert(store_instance("a", 1)).ok());                               // 1
  ASSERT_TRUE(store.upsert(store_instance("b", 1)).ok());                               // 2
  ASSERT_TRUE(store.set_status("a", "127.0.0.1:1", InstanceStatus::maintenance).ok());  // 3
  ASSERT_TRUE(store.set_status("a", "127.0.0.1:1", InstanceStatus::maintenance).ok());  // no change
  ASSERT_TRUE(store.remove("a", "127.0.0.1:1").ok());                                   // 4

  auto all = store.collect("", 0);
  EXPECT_TRUE(all.reset);
  EXPECT_EQ(all.snapshot.size(), 1u);

  auto events = store.collect("", 2);
  ASSERT_EQ(events.events.size(), 3u);
  EXPECT_EQ(events.index, 5u);
  for (std::size_t i = 0; i < events.events.size(); ++i) EXPECT_EQ(events.events[i].index, i + 3);

  auto only_a = store.collect("a", 2);
  ASSERT_EQ(only_a.events.size(), 2u);
  EXPECT_EQ(only_a.events[0].type, EventType::status_changed);
  EXPECT_EQ(only_a.events[0].previous_status, InstanceStatus::healthy);
  EXPECT_EQ(only_a.events[1].type, EventType::deregistered);

  EXPECT_FALSE(RegistryStore::has_changes(store.collect("", 5)));
  EXPECT_TRUE(store.collect("", 99).reset) << "an index from the future (registry restarted) resets";
}

TEST_F(RegistryStoreTest, ReplaceAppliesOnlyTheDifferenceAllOrNothing) {
  ASSERT_TRUE(store.upsert(store_instance("a", 80)));
  ASSERT_TRUE(store.upsert(store_instance("a", 81)));
  ASSERT_TRUE(store.upsert(store_instance("b", 90)));
  const auto start = store.index();

  auto same_status_changed = store_instance("a", 80);
  same_status_changed.status = InstanceStatus::maintenance;
  auto reweighted = store_instance("a", 82);
  reweighted.weight = 7;
  auto r = store.replace("a", {same_status_changed, reweighted});  // 81 goes, 82 comes, 80 changes status
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, 3u);
  const auto changes = store.collect("", start);
  ASSERT_EQ(changes.events.size(), 3u);
  EXPECT_EQ(changes.events[0].type, EventType::deregistered);
  EXPECT_EQ(changes.events[0].instance.id, "127.0.0.1:81");
  EXPECT_EQ(changes.events[1].type, EventType::status_changed);
  EXPECT_EQ(changes.events[2].type, EventType::registered);
  EXPECT_EQ(store.instance_count("b"), 1u) << "another service is out of scope";

  EXPECT_EQ(*store.replace("a", {same_status_changed, reweighted}), 0u) << "the same content is no change";
  const auto before = store.index();
  auto bad = store_instance("a", 84);
  bad.weight = -1;
  EXPECT_EQ(store.replace("a", {store_instance("a", 83), bad}).error().field, "weight");
  EXPECT_EQ(store.replace("a", {store_instance("b", 91)}).error().field, "service");
  EXPECT_EQ(store.replace("a", {store_instance("a", 83), store_instance("a", 83)}).error().field, "id");
  EXPECT_EQ(store
                .replace("a", {store_instance("a", 1), store_instance("a", 2), store_instance("a", 3),
                               store_instance("a", 4)})
                .error()
                .code,
            ErrorCode::limit_exceeded);
  EXPECT_EQ(store.index(), before) << "a refused replacement changes nothing";

  EXPECT_EQ(*store.replace("", {}), 3u) << "every service in scope: all removed";
  EXPECT_EQ(store.instance_count(), 0u);
}

TEST(RegistryStoreHistory, TrimmedHistoryResetsSlowWatchers) {
  testing::SimulatedClock clock;
  RegistryStore store(clock, RegistryStoreOptions{10s, 1000, 4});
  for (int p = 1; p <= 10; ++p) ASSERT_TRUE(store.upsert(store_instance("a", p)).ok());
  EXPECT_TRUE(store.collect("", 6).reset);
  auto recent = store.collect("", 7);
  EXPECT_FALSE(recent.reset);
  ASSERT_EQ(recent.events.size(), 4u);
  EXPECT_EQ(recent.events.front().index, 8u);
}

TEST(RegistryStoreRestore, ContinuesIndexAndRejectsBadRecords) {
  testing::SimulatedClock clock;
  RegistryStore store(clock, {});
  ASSERT_TRUE(store.restore({store_instance("a", 1), store_instance("b", 2)}, 41).ok());
  EXPECT_EQ(store.index(), 42u);
  EXPECT_EQ(store.instance_count(), 2u);
  EXPECT_TRUE(store.collect("", 40).reset);

  RegistryStore other(clock, {});
  auto r = other.restore({store_instance("a", 1), store_instance("b", 70000)}, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "port");
  EXPECT_EQ(other.instance_count(), 0u);
}

TEST(RegistryStorePersistence, VersionMovesOnlyForPersistentInstances) {
  testing::SimulatedClock clock;
  RegistryStore store(clock, {});
  ASSERT_TRUE(store.upsert(store_instance("a", 1, 5s)).ok());
  EXPECT_EQ(store.persistent_version(), 0u);
  ASSERT_TRUE(store.upsert(store_instance("a", 2)).ok());
  EXPECT_EQ(store.persistent_version(), 1u);
  EXPECT_EQ(store.persistent_instances().size(), 1u);
}

TEST(RegistryStorePersistence, TellsWhetherAWriteWouldChangeThePersistentRecords) {
  testing::SimulatedClock clock;
  RegistryStore store(clock, {});
  EXPECT_TRUE(store.upsert_changes_persistent(store_instance("a", 1)));
  EXPECT_FALSE(store.upsert_changes_persistent(store_instance("a", 1, 5s)));
  ASSERT_TRUE(store.upsert(store_instance("a", 1)).ok());
  EXPECT_FALSE(store.upsert_changes_persistent(store_instance("a", 1))) << "identical data";
  auto tagged = store_instance("a", 1);
  tagged.tags = {"v2"};
  EXPECT_TRUE(store.upsert_changes_persistent(tagged));
  EXPECT_TRUE(store.upsert_changes_persistent(store_instance("a", 1, 5s))) << "persistent -> TTL";
  EXPECT_TRUE(store.holds_persistent("a", "127.0.0.1:1"));
  ASSERT_TRUE(store.upsert(store_instance("a", 2, 5s)).ok());
  EXPECT_FALSE(store.holds_persistent("a", "127.0.0.1:2"));
  EXPECT_FALSE(store.upsert_changes_persistent(store_instance("a", 2, 9s))) << "TTL -> TTL";
  EXPECT_TRUE(store.upsert_changes_persistent(store_instance("a", 2))) << "TTL -> persistent";
  EXPECT_FALSE(store.holds_persistent("a", "nope"));
}

TEST(RegistryJson, FastWatchWriterMatchesDomAndRoundTrips) {
  testing::SimulatedClock clock;
  RegistryStore store(clock, {});
  ASSERT_TRUE(store.upsert(store_instance("a", 1)).ok());
  ASSERT_TRUE(store.set_status("a", "127.0.0.1:1", InstanceStatus::maintenance).ok());
  for (const auto& result : {store.collect("", 0), store.collect("", 1)}) {
    std::string fast;
    append_json(fast, result);
    const auto parsed = nlohmann::json::parse(fast);
    EXPECT_EQ(parsed, to_json(result));
    auto back = watch_result_from_json(parsed);
    ASSERT_TRUE(back.ok()) << back.error().describe();
    EXPECT_EQ(back->reset, result.reset);
    EXPECT_EQ(back->snapshot, result.snapshot);
    ASSERT_EQ(back->events.size(), result.events.size());
    for (std::size_t i = 0; i < result.events.size(); ++i) {
      EXPECT_EQ(back->events[i].index, result.events[i].index);
      EXPECT_EQ(back->events[i].previous_status, result.events[i].previous_status);
      EXPECT_EQ(back->events[i].instance, result.events[i].instance);
    }
  }
}

TEST(RegistryStoreJsonCache, FollowsEveryKindOfChange) {
  testing::SimulatedClock clock;
  RegistryStore store(clock, RegistryStoreOptions{10s, 100, 100});
  auto check = [&] {
    int seen = 0;
    store.for_each("a", {}, [&](const ServiceInstance& in, const std::string& json) {
      std::string expected;
      append_json(expected, in);
      EXPECT_EQ(json, expected);
      ++seen;
    });
    return seen;
  };
  ASSERT_TRUE(store.upsert(store_instance("a", 1, 2s)).ok());
  EXPECT_EQ(check(), 1);
  auto changed = store_instance("a", 1, 2s);
  changed.weight = 7;
  ASSERT_TRUE(store.upsert(changed).ok());
  check();
  clock.advance(1s);
  ASSERT_TRUE(store.renew("a", "127.0.0.1:1").ok());
  check();
  ASSERT_TRUE(store.set_status("a", "127.0.0.1:1", InstanceStatus::maintenance).ok());
  check();
  clock.advance(3s);
  store.sweep();
  EXPECT_EQ(store.get("a", "127.0.0.1:1")->status, InstanceStatus::down);
  check();
  ASSERT_TRUE(store.renew("a", "127.0.0.1:1").ok());
  check();
}

}  // namespace
}  // namespace svckit
