// connect_config_backend: a remote config backend by URL. Part of the umbrella library
// (svckit::svckit), since it reaches every backend, Redis's too.
#include <set>

#include "config/remote/remote_backends.hpp"
#include "svckit/config/remote_config.hpp"

namespace svckit::config {

Result<std::unique_ptr<RemoteConfigBackend>> connect_config_backend(const std::string& url,
                                                                    const boost::asio::any_io_executor& executor) {
  const auto scheme = url.substr(0, url.find("://"));
  const std::uint16_t port = scheme == "etcd"      ? 2379
                             : scheme == "svckitd" ? 8500
                             : scheme == "https"   ? 443
                             : scheme == "http"    ? 80
                                                   : 6379;
  auto parsed = http::parse_backend_url(url, port);
  if (!parsed) return parsed.error();
  static const std::set<std::string> kConnection{"user", "password_env", "password_file", "timeout",
                                                 "tls",  "ca_file",      "cert_file",     "key_file"};
  const std::set<std::string> own = scheme == "redis" || scheme == "rediss" ? std::set<std::string>{"key", "channel"}
                                    : scheme == "http" || scheme == "https" ? std::set<std::string>{"interval"}
                                                                            : std::set<std::string>{};
  for (const auto& [key, value] : parsed->query) {
    const bool http_scheme = scheme == "http" || scheme == "https" || scheme == "svckitd";
    if (own.count(key) == 0 && (http_scheme || kConnection.count(key) == 0)) {
      return make_error(ErrorCode::invalid_argument, "unknown config source option", key);
    }
  }
  if (scheme == "etcd") return detail::etcd_config_backend(*parsed, executor);
  if (scheme == "redis" || scheme == "rediss") return detail::redis_config_backend(*parsed, executor);
  if (scheme == "http" || scheme == "https") return detail::http_config_backend(*parsed, executor);
  if (scheme == "svckitd") return detail::svckitd_config_backend(*parsed, executor);
  return make_error(ErrorCode::invalid_argument, "'" + url + "': expected svckitd://, etcd://, redis:// or http(s)://",
                    "url");
}

}  // namespace svckit::config
