// Rendezvous hashing: every key has exactly one owner, the keys spread evenly, and a node leaving
// or joining moves only the keys it must.
#include <gtest/gtest.h>

#include <map>

#include "daemon/rendezvous.hpp"

namespace svckit::daemon {
namespace {

std::string key_number(int i) { return "orders/instance-" + std::to_string(i); }

TEST(Rendezvous, KeysSpreadEvenlyAndOnlyTheLeavingNodesKeysMove) {
  const std::vector<std::string> three{"node-a", "node-b", "node-c"};
  constexpr int kKeys = 3000;
  std::map<std::string, int> share;
  std::vector<std::string> before;
  for (int i = 0; i < kKeys; ++i) {
    before.push_back(rendezvous_owner(three, key_number(i)));
    ++share[before.back()];
    EXPECT_EQ(rendezvous_owner(three, key_number(i)), before.back()) << "the same answer every time";
  }
  for (const auto& node : three) {
    EXPECT_GT(share[node], kKeys / 3 - kKeys / 15) << node;
    EXPECT_LT(share[node], kKeys / 3 + kKeys / 15) << node;
  }
  const std::vector<std::string> two{"node-a", "node-c"};  // node-b left
  for (int i = 0; i < kKeys; ++i) {
    const auto now = rendezvous_owner(two, key_number(i));
    if (before[i] != "node-b") {
      EXPECT_EQ(now, before[i]) << "a key of a node that stayed never moves";
    }
  }
  const std::vector<std::string> four{"node-a", "node-b", "node-c", "node-d"};  // node-d joined
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    const auto now = rendezvous_owner(four, key_number(i));
    if (now != before[i]) {
      ++moved;
      EXPECT_EQ(now, "node-d") << "keys move only to the node that joined";
    }
  }
  EXPECT_GT(moved, kKeys / 4 - kKeys / 15);
  EXPECT_LT(moved, kKeys / 4 + kKeys / 15);
}

TEST(Rendezvous, NoMembersNoOwnerAndTheOrderOfTheListDoesNotMatter) {
  EXPECT_EQ(rendezvous_owner({}, "a/b"), "");
  EXPECT_EQ(rendezvous_owner({"x", "y", "z"}, "svc/1"), rendezvous_owner({"z", "x", "y"}, "svc/1"));
  EXPECT_NE(rendezvous_weight("node-a", "svc/1"), rendezvous_weight("node-a", "svc/2"));
  EXPECT_NE(rendezvous_weight("ab", "c"), rendezvous_weight("a", "bc")) << "name and key do not run together";
}

}  // namespace
}  // namespace svckit::daemon
