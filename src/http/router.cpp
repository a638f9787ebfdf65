#include "svckit/http/router.hpp"

namespace svckit::http {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string::npos ? path.size() : slash;
    out.push_back(path.substr(start, end - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (!out.empty() && out.back().empty()) out.pop_back();  // trailing slash
  return out;
}

}  // namespace

void Router::add(Verb method, std::string pattern, RouteHandler handler) {
  auto segments = split_path(pattern);
  routes_.push_back(Route{method, std::move(pattern), std::move(segments), std::move(handler)});
}

std::vector<std::pair<Verb, std::string>> Router::routes() const {
  std::vector<std::pair<Verb, std::string>> out;
  out.reserve(routes_.size());
  for (const auto& r : routes_) out.emplace_back(r.method, r.pattern);
  return out;
}

bool Router::match(const Route& route, const std::vector<std::string>& segments, PathParams& params) {
  if (route.segments.size() != segments.size()) return false;
  PathParams found;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& want = route.segments[i];
    if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
      if (segments[i].empty()) return false;
      found.emplace(want.substr(1, want.size() - 2), segments[i]);
    } else if (want != segments[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

Awaitable<Response> Router::dispatch(Request& request, std::string& route, const RequestContext* connection) const {
  route = "unmatched";
  auto target = parse_target(request.target());
  if (!target) co_return error_response(target.error());
  const auto segments = split_path(target->path);
  std::string allow;
  for (const auto& r : routes_) {
    PathParams params;
    if (!match(r, segments, params)) continue;
    if (r.method != request.method()) {
      if (!allow.empty()) allow += ", ";
      allow += std::string(beast_http::to_string(r.method));
      continue;
    }
    route = r.pattern;
    RouteContext context{request, std::move(*target), std::move(params), r.pattern, connection, nullptr};
    if (guard_) {
      if (auto refused = guard_(context)) co_return std::move(*refused);
    }
    co_return co_await r.handler(context);
  }
  if (!allow.empty()) {
    auto res =
        error_response(make_error(ErrorCode::invalid_argument,
                                  "method " + std::string(request.method_string()) + " is not allowed here", "method"));
    res.result(Status::method_not_allowed);
    res.set(beast_http::field::allow, allow);
    co_return res;
  }
  co_return error_response(make_error(ErrorCode::not_found, "no route for " + target->path, "path"));
}

}  // namespace svckit::http
