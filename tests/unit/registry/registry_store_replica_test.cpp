// RegistryStore as a cache of an outside registry (svckitd's cluster mode): the source's events
// at the source's indexes, gaps and shared indexes included; watches resumed from any index the
// source gave out; a watch from an index this copy has not reached yet waits.
#include <gtest/gtest.h>

#include "svckit/registry/registry_store.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;

ServiceInstance replica_instance(const std::string& service, const std::string& id,
                                 InstanceStatus status = InstanceStatus::healthy) {
  ServiceInstance in;
  in.service = service;
  in.id = id;
  in.host = "127.0.0.1";
  in.port = 80;
  in.status = status;
  return in;
}

RegistryEvent source_event(EventType type, ServiceInstance in, std::optional<InstanceStatus> previous = {}) {
  return RegistryEvent{0, type, std::move(in), previous};
}

class RegistryStoreReplica : public ::testing::Test {
 protected:
  testing::SimulatedClock clock;
  RegistryStore store{clock, RegistryStoreOptions{10s, 3, 100}};
};

TEST_F(RegistryStoreReplica, AppliesTheSourcesEventsAtItsIndexesWithGapsAndSharedIndexes) {
  store.load_replicated({replica_instance("a", "1")}, 100);
  EXPECT_EQ(store.index(), 100u);
  EXPECT_TRUE(store.replicated());
  // One revision of the source carrying two changes, then a gap (other keys of the source moved).
  store.apply_replicated(105, {source_event(EventType::registered, replica_instance("a", "2")),
                               source_event(EventType::registered, replica_instance("b", "1"))});
  store.apply_replicated(112, {source_event(EventType::expired, replica_instance("a", "1", InstanceStatus::down),
                                            InstanceStatus::healthy)});
  store.apply_replicated(112, {source_event(EventType::deregistered, replica_instance("a", "2"))});  // a redelivery
  EXPECT_EQ(store.index(), 112u);
  EXPECT_EQ(store.instance_count("a"), 2u) << "the redelivered revision was ignored";
  EXPECT_EQ(store.get("a", "1")->status, InstanceStatus::down);

  const auto all = store.collect("", 100);
  ASSERT_FALSE(all.reset);
  ASSERT_EQ(all.events.size(), 3u);
  EXPECT_EQ(all.events[0].index, 105u);
  EXPECT_EQ(all.events[1].index, 105u);
  EXPECT_EQ(all.events[2].index, 112u);
  EXPECT_EQ(all.events[2].type, EventType::expired);
  EXPECT_EQ(all.events[2].previous_status, InstanceStatus::healthy);
  // Resumed from an index inside a gap, or from the shared one: exactly what came after it.
  EXPECT_EQ(store.collect("", 108).events.size(), 1u);
  EXPECT_EQ(store.collect("", 105).events.size(), 1u);
  EXPECT_EQ(store.collect("b", 100).events.size(), 1u);
  EXPECT_TRUE(store.collect("", 112).events.empty());

  store.apply_replicated(120, {source_event(EventType::deregistered, replica_instance("b", "1"))});
  EXPECT_EQ(store.instance_count("b"), 0u);
  EXPECT_TRUE(store.services().size() == 1u) << "a service with no instance left is gone";
}

TEST_F(RegistryStoreReplica, AnIndexThisCopyHasNotReachedWaitsAndOneBeforeItsHistoryResets) {
  store.load_replicated({replica_instance("a", "1")}, 100);
  const auto ahead = store.collect("", 130);  // another node of the cluster already gave out 130
  EXPECT_FALSE(ahead.reset);
  EXPECT_TRUE(ahead.events.empty()) << "nothing yet: the watch waits";
  const auto before = store.collect("", 99);  // older than what this copy loaded
  EXPECT_TRUE(before.reset);
  ASSERT_EQ(before.snapshot.size(), 1u);
  EXPECT_EQ(before.index, 100u);
  EXPECT_EQ(store.sweep(), 0u) << "the source expires instances, not the copy";
}

TEST_F(RegistryStoreReplica, AReloadReplacesEverythingAndStartsTheHistoryOver) {
  store.load_replicated({replica_instance("a", "1"), replica_instance("a", "2")}, 100);
  store.apply_replicated(101, {source_event(EventType::registered, replica_instance("c", "1"))});
  store.load_replicated({replica_instance("z", "9")}, 500);  // the source compacted past our resume
  EXPECT_EQ(store.instance_count(), 1u);
  EXPECT_EQ(store.index(), 500u);
  EXPECT_TRUE(store.collect("", 101).reset) << "watchers from before the reload start over";
  EXPECT_TRUE(store.collect("", 500).events.empty());
}

}  // namespace
}  // namespace svckit
