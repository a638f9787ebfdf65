// The RemoteConfigBackend implementations, made by connect_config_backend from a parsed URL.
#pragma once

#include "svckit/config/remote_config.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::config::detail {

Result<std::unique_ptr<RemoteConfigBackend>> etcd_config_backend(const net::BackendUrl& url,
                                                                 const boost::asio::any_io_executor& executor);
Result<std::unique_ptr<RemoteConfigBackend>> redis_config_backend(const net::BackendUrl& url,
                                                                  const boost::asio::any_io_executor& executor);
Result<std::unique_ptr<RemoteConfigBackend>> svckitd_config_backend(const net::BackendUrl& url,
                                                                    const boost::asio::any_io_executor& executor);
Result<std::unique_ptr<RemoteConfigBackend>> http_config_backend(const net::BackendUrl& url,
                                                                 const boost::asio::any_io_executor& executor);
Result<std::unique_ptr<RemoteConfigBackend>> nacos_config_backend(const net::BackendUrl& url,
                                                                  const boost::asio::any_io_executor& executor);

}  // namespace svckit::config::detail
