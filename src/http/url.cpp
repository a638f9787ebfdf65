#include "svckit/http/url.hpp"

namespace svckit::http {

const std::string* Target::param(const std::string& key) const {
  auto it = query.find(key);
  return it == query.end() ? nullptr : &it->second;
}

Result<Target> parse_target(std::string_view target) {
  Target out;
  const auto q = target.find('?');
  auto path = net::url_decode(target.substr(0, q), false);
  if (!path) return path.error();
  out.path = std::move(*path);
  if (out.path.empty() || out.path.front() != '/') {
    return make_error(ErrorCode::invalid_argument, "request target must start with '/'", "path");
  }
  if (q != std::string_view::npos) {
    auto query = net::parse_query(target.substr(q + 1));
    if (!query) return query.error();
    out.query = std::move(*query);
  }
  return out;
}

}  // namespace svckit::http
