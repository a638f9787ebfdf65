#include "svckit/coord/lock_backend_url.hpp"

#include <set>

#include "svckit/coord/etcd_lock_backend.hpp"
#include "svckit/coord/memory_lock_backend.hpp"
#include "svckit/coord/redis_lock_backend.hpp"
#include "svckit/etcd/etcd_client.hpp"
#include "svckit/http/url.hpp"

namespace svckit::coord {

namespace {}  // namespace

Result<std::shared_ptr<LockBackend>> connect_lock_backend(std::string_view url, boost::asio::any_io_executor executor,
                                                          const TimeSource& time, Sleeper& sleeper) {
  if (url == "memory://") return std::shared_ptr<LockBackend>(std::make_shared<MemoryLockBackend>(time, sleeper));
  const auto scheme = url.substr(0, url.find("://"));
  if (scheme == "redis" || scheme == "rediss") {
    auto parsed = http::parse_backend_url(url, 6379);
    if (!parsed) return parsed.error();
    if (auto ok =
            http::check_url_options(*parsed, "redis:// lock backend", http::kConnectionOptions, {"prefix", "recheck"});
        !ok) {
      return ok.error();
    }
    auto options = redis::redis_options_from_url(*parsed);
    if (!options) return options.error();
    RedisLockOptions lock_options;
    if (auto p = parsed->query.find("prefix"); p != parsed->query.end()) lock_options.prefix = p->second;
    auto recheck = http::backend_url_duration(*parsed, "recheck", lock_options.recheck);
    if (!recheck) return recheck.error();
    lock_options.recheck = *recheck;
    auto client = std::make_shared<redis::RedisClient>(executor, std::move(*options));
    return std::shared_ptr<LockBackend>(
        std::make_shared<RedisLockBackend>(std::move(client), std::move(executor), time, sleeper, lock_options));
  }
  if (scheme == "etcd") {
    auto parsed = http::parse_backend_url(url, 2379);
    if (!parsed) return parsed.error();
    if (auto ok = http::check_url_options(*parsed, "etcd:// lock backend", http::kConnectionOptions, {"prefix"}); !ok) {
      return ok.error();
    }
    auto options = etcd::etcd_options_from_url(*parsed);
    if (!options) return options.error();
    EtcdLockOptions lock_options;
    if (auto p = parsed->query.find("prefix"); p != parsed->query.end()) {
      if (p->second.empty() || p->second.front() != '/' || p->second.back() == '/') {
        return make_error(ErrorCode::invalid_argument, "prefix must start with '/' and not end with one", "prefix");
      }
      lock_options.prefix = p->second;
    }
    auto client = std::make_shared<etcd::EtcdClient>(executor, std::move(*options));
    return std::shared_ptr<LockBackend>(std::make_shared<EtcdLockBackend>(std::move(client), time, lock_options));
  }
  return make_error(ErrorCode::invalid_argument, "'" + std::string(url) + "': expected memory://, redis:// or etcd://",
                    "url");
}

}  // namespace svckit::coord
