// PerThreadCache: one thread's memory of objects it looked up in a shared, locked table, so the
// call path takes the table's lock only on a thread's first lookup of a key. Internal to src/.
//
// Declare it `thread_local` at the lookup site. It belongs to one owner at a time, named by a
// process-unique id (never reused, so a later owner at the same address finds nothing), and to
// one generation of the owner's table: the owner bumps the generation when it replaces or removes
// entries, and every thread starts over. Entries are weak (the owner alone keeps them alive) and
// bounded in number (keys may come from the network).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

namespace svckit::detail {

template <class T>
class PerThreadCache {
 public:
  /// The entry for `key`, or null (unknown, expired, or the owner or generation changed).
  std::shared_ptr<T> find(std::uint64_t owner, std::uint64_t generation, const std::string& key) {
    if (owner_ != owner || generation_ != generation) {
      entries_.clear();
      owner_ = owner;
      generation_ = generation;
      return nullptr;
    }
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : it->second.lock();
  }
  /// Remembers what the locked lookup found. Call after find() with the same owner and generation.
  void remember(const std::string& key, const std::shared_ptr<T>& value) {
    if (entries_.size() >= kMaxEntries) entries_.clear();
    entries_.insert_or_assign(key, value);
  }

 private:
  static constexpr std::size_t kMaxEntries = 4096;
  std::uint64_t owner_ = 0;
  std::uint64_t generation_ = 0;
  std::unordered_map<std::string, std::weak_ptr<T>> entries_;
};

}  // namespace svckit::detail
