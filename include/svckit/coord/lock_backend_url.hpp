// A lock backend by URL, for composition roots:
//   memory://
//   redis://host:6379/0?prefix=svckit:&recheck=3s   (and rediss://, ?user=&password_env=, TLS options)
//   etcd://h1:2379,h2:2379?prefix=/svckit/locks     (?timeout=, ?user=&password_env=, TLS options)
#pragma once

#include <string_view>

#include <boost/asio/any_io_executor.hpp>

#include "svckit/coord/lock_backend.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/net/plugin_table.hpp"

namespace svckit::coord {

/// What a lock backend may use. Referenced objects must outlive the backend.
struct LockBackendDeps {
  boost::asio::any_io_executor executor;  // runs the backend client's I/O
  const TimeSource& time;
  Sleeper& sleeper;
};

/// Lock backends by URL scheme (net::PluginTable: unknown schemes and options refused).
using LockBackendPlugins = net::PluginTable<std::shared_ptr<LockBackend>, LockBackendDeps>;

/// Adds memory://, redis://, rediss:// and etcd://.
void register_builtin_lock_backends(LockBackendPlugins::Builder& builder);

/// The backend owns its client. `time` and `sleeper` must outlive it. Errors name the option.
/// Uses the built-in backends (register_builtin_lock_backends).
Result<std::shared_ptr<LockBackend>> connect_lock_backend(std::string_view url, boost::asio::any_io_executor executor,
                                                          const TimeSource& time, Sleeper& sleeper);

}  // namespace svckit::coord
