#include <functional>

#include "daemon/ui_assets.hpp"

namespace svckit::daemon {

using http::Response;
using http::RouteContext;
namespace field = http::beast_http;

namespace {

constexpr std::string_view kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

std::string etag_of(std::string_view content) {
  return "\"" + std::to_string(std::hash<std::string_view>{}(content)) + "\"";
}

Response redirect_to_ui() {
  Response res{http::Status::found, 11};
  res.set(field::field::location, "/ui/");
  res.set(field::field::cache_control, "no-cache");
  res.prepare_payload();
  return res;
}

Response serve(const RouteContext& ctx, std::string_view name) {
  for (const auto& asset : ui_assets()) {
    if (asset.name != name) continue;
    const auto etag = etag_of(asset.content);
    const bool fresh = ctx.request[field::field::if_none_match] == etag;
    Response res{fresh ? http::Status::not_modified : http::Status::ok, 11};
    res.set(field::field::content_type, asset.content_type);
    res.set(field::field::etag, etag);
    res.set(field::field::cache_control, "no-cache");  // revalidate: a new svckitd may ship new files
    res.set("Content-Security-Policy", kCsp);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("X-Frame-Options", "DENY");
    res.set("Referrer-Policy", "no-referrer");
    if (!fresh) res.body() = std::string(asset.content);
    res.prepare_payload();
    return res;
  }
  return http::error_response(make_error(ErrorCode::not_found, "no such dashboard file", "path"));
}

}  // namespace

void add_ui_routes(http::Router& router) {
  router.add(http::Verb::get, "/", [](RouteContext&) -> http::Awaitable<Response> { co_return redirect_to_ui(); });
  // The router ignores a trailing slash: "/ui" and "/ui/" both land here. The page must be loaded
  // as "/ui/" (a browser resolves the hash routes from it).
  router.add(http::Verb::get, "/ui", [](RouteContext& ctx) -> http::Awaitable<Response> {
    if (ctx.target.path != "/ui/") co_return redirect_to_ui();
    co_return serve(ctx, "index.html");
  });
  router.add(http::Verb::get, "/ui/{file}",
             [](RouteContext& ctx) -> http::Awaitable<Response> { co_return serve(ctx, ctx.params.at("file")); });
}

}  // namespace svckit::daemon
