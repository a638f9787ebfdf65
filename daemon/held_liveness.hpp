// HeldLiveness: which TTL instances this svckitd node holds the liveness of in cluster mode, and
// when each one's TTL runs out.
//
// An instance's alive key in etcd (P/a/<service>/<id>) lives under the lease of the node that
// holds it (etcd::BucketLeases). The holder answers heartbeats from this table alone — no etcd
// write, no read — and deletes the alive key once a TTL passed without one. A heartbeat that
// reaches another node makes that node the holder: it puts the alive key under its own lease (one
// write), and the old holder, seeing that put in its watch, lets go. A write of the alive key is
// identified by its etcd revision: the holder deletes the key only if it is still the write it
// made (a guarded delete), so a move and an expiry never both win.
//
// Races between this node's writes and the watch: a write's revision is known only when etcd
// answered, and the watch may deliver the write (or a later one by another node) before that. So
// a write in progress is `begin()`-ed first; the watch's alive-key revisions are noted meanwhile;
// `settle()` then makes the node the holder only if no later write of the key was seen.
//
// Pure logic, times passed in. Thread-safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace svckit::daemon {

class HeldLiveness {
 public:
  using Clock = std::chrono::steady_clock;
  using Key = std::pair<std::string, std::string>;  // service, id

  /// A write of the key's alive key by this node is about to be sent.
  void begin(const Key& key);
  /// That write is stored at `revision`: this node holds the key, due at `now + ttl`, unless a
  /// later write of it was seen meanwhile.
  void settle(const Key& key, std::uint64_t revision, std::chrono::milliseconds ttl, Clock::time_point now);
  /// That write failed (or was not made): nothing changes but the count of writes in progress.
  void abandon(const Key& key);
  /// The watch saw the alive key written or deleted at `revision` (by anyone).
  void observe(const Key& key, std::uint64_t revision);
  /// A heartbeat: true (and due again at `now + ttl` of its own) when this node holds the key.
  bool heartbeat(const Key& key, Clock::time_point now);

  struct Due {
    Key key;
    std::uint64_t revision = 0;  // the write to delete
  };
  /// Held keys whose TTL ran out by `now`, at most `limit`; each is handed out once (marked in
  /// progress until expired() or kept()).
  std::vector<Due> take_due(Clock::time_point now, std::size_t limit);
  /// The alive key written at `revision` was deleted (or turned out to be another's): let go.
  void expired(const Key& key, std::uint64_t revision);
  /// A taken key could not be deleted now (etcd away): due again at `retry_at`.
  void kept(const Key& key, Clock::time_point retry_at);
  /// Lets go of every key (the node's leases were forgotten).
  void clear();
  std::size_t held() const;

 private:
  struct Entry {
    int writing = 0;             // writes of this node in progress
    std::uint64_t revision = 0;  // the write this node holds (0: holds none)
    std::uint64_t seen = 0;      // the latest revision of the key the watch delivered
    std::chrono::milliseconds ttl{0};
    Clock::time_point due{};
    bool expiring = false;  // handed out by take_due()
  };
  /// Drops the entry when it holds nothing and has no write in progress.
  void tidy(std::map<Key, Entry>::iterator it);

  mutable std::mutex mutex_;
  std::map<Key, Entry> entries_;  // guarded by mutex_
};

}  // namespace svckit::daemon
