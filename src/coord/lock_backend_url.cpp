#include "svckit/coord/lock_backend_url.hpp"

#include "svckit/coord/etcd_lock_backend.hpp"
#include "svckit/coord/memory_lock_backend.hpp"
#include "svckit/coord/redis_lock_backend.hpp"
#include "svckit/etcd/etcd_client.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::coord {

void register_builtin_lock_backends(LockBackendPlugins::Builder& builder) {
  using Product = std::shared_ptr<LockBackend>;
  builder.add("memory",
              {0, {}, [](const net::BackendUrl& url, std::string_view, const LockBackendDeps& deps) -> Result<Product> {
                 if (!url.hosts.empty() || !url.path.empty()) {
                   return make_error(ErrorCode::invalid_argument, "memory:// takes no host or path", "url");
                 }
                 return Product(std::make_shared<MemoryLockBackend>(deps.time, deps.sleeper));
               }});
  const auto redis = [](const net::BackendUrl& url, std::string_view, const LockBackendDeps& deps) -> Result<Product> {
    auto options = redis::redis_options_from_url(url);
    if (!options) return options.error();
    RedisLockOptions lock_options;
    if (auto p = url.query.find("prefix"); p != url.query.end()) lock_options.prefix = p->second;
    auto recheck = net::backend_url_duration(url, "recheck", lock_options.recheck);
    if (!recheck) return recheck.error();
    lock_options.recheck = *recheck;
    auto client = std::make_shared<redis::RedisClient>(deps.executor, std::move(*options));
    return Product(
        std::make_shared<RedisLockBackend>(std::move(client), deps.executor, deps.time, deps.sleeper, lock_options));
  };
  for (const char* scheme : {"redis", "rediss"}) {
    builder.add(scheme, {6379, net::url_options(net::kConnectionOptions, {"prefix", "recheck"}), redis});
  }
  builder.add("etcd",
              {2379, net::url_options(net::kConnectionOptions, {"prefix"}),
               [](const net::BackendUrl& url, std::string_view, const LockBackendDeps& deps) -> Result<Product> {
                 auto options = etcd::etcd_options_from_url(url);
                 if (!options) return options.error();
                 EtcdLockOptions lock_options;
                 if (auto p = url.query.find("prefix"); p != url.query.end()) {
                   if (p->second.empty() || p->second.front() != '/' || p->second.back() == '/') {
                     return make_error(ErrorCode::invalid_argument, "prefix must start with '/' and not end with one",
                                       "prefix");
                   }
                   lock_options.prefix = p->second;
                 }
                 auto client = std::make_shared<etcd::EtcdClient>(deps.executor, std::move(*options));
                 return Product(std::make_shared<EtcdLockBackend>(std::move(client), deps.time, lock_options));
               }});
}

Result<std::shared_ptr<LockBackend>> connect_lock_backend(std::string_view url, boost::asio::any_io_executor executor,
                                                          const TimeSource& time, Sleeper& sleeper) {
  LockBackendPlugins::Builder builder("lock backend");
  register_builtin_lock_backends(builder);
  return std::move(builder).build().create(url, LockBackendDeps{std::move(executor), time, sleeper});
}

}  // namespace svckit::coord
