#include "svckit/amqp/amqp_server.hpp"

namespace svckit::amqp {

Result<net::BackendUrl> parse_amqp_url(std::string_view url, AmqpServerOptions& server) {
  if (url.substr(0, url.find('?')).find('@') != std::string_view::npos) {
    return make_error(ErrorCode::invalid_argument,
                      "credentials go in ?user= and ?password_env= / ?password_file=, not in the URL", "url");
  }
  auto parsed = net::parse_backend_url(url, 5672);
  if (!parsed) return parsed.error();
  if (parsed->scheme != "amqp") return make_error(ErrorCode::invalid_argument, "expected amqp://host:port", "url");
  if (parsed->hosts.size() != 1) return make_error(ErrorCode::invalid_argument, "expected one host", "url");
  server.host = parsed->hosts.front().host;
  server.port = parsed->hosts.front().port;
  if (parsed->path.size() > 1) {
    auto vhost = net::url_decode(std::string_view(parsed->path).substr(1), false);
    if (!vhost) return make_error(ErrorCode::invalid_argument, vhost.error().message, "url");
    server.vhost = *vhost;
  }
  if (auto it = parsed->query.find("user"); it != parsed->query.end()) server.user = it->second;
  auto secret = net::backend_url_secret(*parsed);
  if (!secret) return secret.error();
  if (!secret->empty()) server.password = *secret;
  return parsed;
}

}  // namespace svckit::amqp
