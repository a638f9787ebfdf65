// connect_config_backend: a remote config backend by URL. Part of the umbrella library
// (svckit::svckit), since it reaches every backend, Redis's too.
#include "config/remote/remote_backends.hpp"
#include "svckit/config/remote_config.hpp"
#include "svckit/net/url_token.hpp"

namespace svckit::config {

void register_builtin_config_backends(RemoteConfigPlugins::Builder& builder) {
  using Backend =
      Result<std::unique_ptr<RemoteConfigBackend>> (*)(const net::BackendUrl&, const boost::asio::any_io_executor&);
  const auto entry = [](std::uint16_t port, std::vector<std::string_view> options, Backend backend) {
    return RemoteConfigPlugins::Entry{port, std::move(options),
                                      [backend](const net::BackendUrl& url, std::string_view,
                                                const RemoteConfigDeps& deps) { return backend(url, deps.executor); }};
  };
  builder.add("svckitd", entry(8500, net::kTokenOptions, detail::svckitd_config_backend));
  builder.add("etcd", entry(2379, net::kConnectionOptions, detail::etcd_config_backend));
  for (const char* scheme : {"redis", "rediss"}) {
    builder.add(scheme, entry(6379, net::url_options(net::kConnectionOptions, {"key", "channel"}),
                              detail::redis_config_backend));
  }
  builder.add("http", entry(80, {"interval"}, detail::http_config_backend));
  builder.add("nacos", entry(8848, net::url_options(net::kTokenOptions, {"dataId", "group", "tenant", "format"}),
                             detail::nacos_config_backend));
  builder.add("https", entry(443, {"interval"}, detail::http_config_backend));
}

Result<std::unique_ptr<RemoteConfigBackend>> connect_config_backend(const std::string& url,
                                                                    const boost::asio::any_io_executor& executor) {
  RemoteConfigPlugins::Builder builder("config source");
  register_builtin_config_backends(builder);
  return std::move(builder).build().create(url, RemoteConfigDeps{executor});
}

}  // namespace svckit::config
