#include "daemon/held_liveness.hpp"

namespace svckit::daemon {

void HeldLiveness::tidy(std::map<Key, Entry>::iterator it) {
  if (it->second.writing == 0 && it->second.revision == 0) entries_.erase(it);
}

void HeldLiveness::begin(const Key& key) {
  std::lock_guard lock(mutex_);
  ++entries_[key].writing;
}

void HeldLiveness::settle(const Key& key, std::uint64_t revision, std::chrono::milliseconds ttl,
                          Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return;  // begin() was not called
  auto& e = it->second;
  if (e.writing > 0) --e.writing;
  if (revision >= e.seen && revision > e.revision) {
    e.revision = revision;
    e.seen = revision;
    e.ttl = ttl;
    e.due = now + ttl;
    e.expiring = false;
  } else if (e.writing == 0 && e.seen > e.revision) {
    e.revision = 0;  // a later write (another node's, or a deletion) came after ours
  }
  tidy(it);
}

void HeldLiveness::abandon(const Key& key) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (it->second.writing > 0) --it->second.writing;
  if (it->second.writing == 0 && it->second.seen > it->second.revision) it->second.revision = 0;
  tidy(it);
}

void HeldLiveness::observe(const Key& key, std::uint64_t revision) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return;  // not ours, nothing in progress
  auto& e = it->second;
  if (revision > e.seen) e.seen = revision;
  // Not the write this node holds, and later: another node's move, a deletion, a re-registration.
  // With a write of ours in progress, settle() decides.
  if (e.writing == 0 && revision > e.revision) e.revision = 0;
  tidy(it);
}

bool HeldLiveness::heartbeat(const Key& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  // An expiry on its way (the TTL ran out before this heartbeat): the caller writes the key again.
  if (it == entries_.end() || it->second.revision == 0 || it->second.expiring) return false;
  it->second.due = now + it->second.ttl;
  return true;
}

std::vector<HeldLiveness::Due> HeldLiveness::take_due(Clock::time_point now, std::size_t limit) {
  std::vector<Due> out;
  std::lock_guard lock(mutex_);
  for (auto& [key, e] : entries_) {
    if (out.size() >= limit) break;
    if (e.revision == 0 || e.expiring || e.due > now) continue;
    e.expiring = true;
    out.push_back(Due{key, e.revision});
  }
  return out;
}

void HeldLiveness::expired(const Key& key, std::uint64_t revision) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || it->second.revision != revision) return;
  it->second.revision = 0;
  it->second.expiring = false;
  tidy(it);
}

void HeldLiveness::kept(const Key& key, Clock::time_point retry_at) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return;
  it->second.expiring = false;
  if (it->second.due < retry_at) it->second.due = retry_at;
}

void HeldLiveness::clear() {
  std::lock_guard lock(mutex_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    it->second.revision = 0;
    it->second.expiring = false;
    auto next = std::next(it);
    tidy(it);
    it = next;
  }
}

std::size_t HeldLiveness::held() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [key, e] : entries_) n += e.revision != 0 ? 1 : 0;
  return n;
}

}  // namespace svckit::daemon
