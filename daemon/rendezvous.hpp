// Rendezvous (highest-random-weight) hashing: which of the live nodes owns a key. Every node
// computes the same owner from the same member list, with no coordination; when a node leaves, only
// its keys move (each to the node that ranks next for it), and a node that joins takes ~1/n of them.
// Pure and deterministic across processes and builds (FNV-1a 64 with a splitmix64 finish, not
// std::hash).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace svckit::daemon {

/// The weight of `key` on `member`.
std::uint64_t rendezvous_weight(std::string_view member, std::string_view key);

/// The member with the highest weight for `key` (ties: the smaller name); "" when there is none.
std::string rendezvous_owner(const std::vector<std::string>& members, std::string_view key);

}  // namespace svckit::daemon
