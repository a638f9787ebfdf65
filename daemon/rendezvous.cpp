#include "daemon/rendezvous.hpp"

namespace svckit::daemon {

namespace {

std::uint64_t fnv1a(std::uint64_t hash, std::string_view bytes) {
  for (const unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::uint64_t rendezvous_weight(std::string_view member, std::string_view key) {
  auto hash = fnv1a(0xcbf29ce484222325ULL, member);
  hash = fnv1a(hash, std::string_view("\0", 1));  // between the two: names hold no NUL
  return splitmix(fnv1a(hash, key));
}

std::string rendezvous_owner(const std::vector<std::string>& members, std::string_view key) {
  const std::string* best = nullptr;
  std::uint64_t best_weight = 0;
  for (const auto& m : members) {
    const auto w = rendezvous_weight(m, key);
    if (best == nullptr || w > best_weight || (w == best_weight && m < *best)) {
      best = &m;
      best_weight = w;
    }
  }
  return best == nullptr ? std::string() : *best;
}

}  // namespace svckit::daemon
