// connect_config_backend: a remote config backend by URL. Part of the umbrella library
// (svckit::svckit), since it reaches every backend, Redis's too.
#include <set>

#include "config/remote/remote_backends.hpp"
#include "svckit/config/remote_config.hpp"
#include "svckit/http/url_token.hpp"

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
  const auto checked =
      scheme == "redis" || scheme == "rediss"
          ? http::check_url_options(*parsed, "redis:// config source", http::kConnectionOptions, {"key", "channel"})
      : scheme == "http" || scheme == "https"
          ? http::check_url_options(*parsed, "http(s):// config source", {"interval"})
      : scheme == "svckitd" ? http::check_url_options(*parsed, "svckitd:// config source", http::kTokenOptions)
                            : http::check_url_options(*parsed, "etcd:// config source", http::kConnectionOptions);
  if (!checked) return checked.error();
  if (scheme == "etcd") return detail::etcd_config_backend(*parsed, executor);
  if (scheme == "redis" || scheme == "rediss") return detail::redis_config_backend(*parsed, executor);
  if (scheme == "http" || scheme == "https") return detail::http_config_backend(*parsed, executor);
  if (scheme == "svckitd") return detail::svckitd_config_backend(*parsed, executor);
  return make_error(ErrorCode::invalid_argument, "'" + url + "': expected svckitd://, etcd://, redis:// or http(s)://",
                    "url");
}

}  // namespace svckit::config
