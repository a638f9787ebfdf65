#include "daemon/config_api.hpp"

#include "daemon/acl_guard.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/core/instance_json.hpp"

namespace svckit::daemon {

using http::Response;
using http::RouteContext;
using http::Status;
using nlohmann::json;

namespace {

constexpr const char* kConfigVersionHeader = "X-Svckit-Config-Version";

std::string etag_of(std::uint64_t version) { return "\"" + std::to_string(version) + "\""; }

Response version_response(Status status, std::uint64_t version) {
  auto response = http::json_response(status, json{{"version", version}});
  response.set(kConfigVersionHeader, std::to_string(version));
  return response;
}

Result<json> config_body(const http::Request& request) {
  if (request.body().empty()) return make_error(ErrorCode::invalid_argument, "a JSON body is required", "body");
  return parse_json(request.body());
}

Result<std::uint64_t> parse_version(const std::string& text, const std::string& field) {
  char* end = nullptr;
  const auto value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || text.front() == '-') {
    return make_error(ErrorCode::invalid_argument, field + " must be a version number", field);
  }
  return static_cast<std::uint64_t>(value);
}

}  // namespace

void ConfigApi::add_routes(http::Router& router) {
  const auto bind = [this](auto method) {
    return [this, method](RouteContext& ctx) -> http::Awaitable<Response> { return (this->*method)(ctx); };
  };
  using V = http::Verb;
  router.add(V::get, "/v1/config", bind(&ConfigApi::get_document));
  router.add(V::put, "/v1/config", bind(&ConfigApi::replace_document));
  router.add(V::get, "/v1/config/keys/{key}", bind(&ConfigApi::get_key));
  router.add(V::put, "/v1/config/keys/{key}", bind(&ConfigApi::put_key));
  router.add(V::delete_, "/v1/config/keys/{key}", bind(&ConfigApi::delete_key));
  router.add(V::get, "/v1/config/history", bind(&ConfigApi::history));
  router.add(V::get, "/v1/config/history/{version}", bind(&ConfigApi::history_version));
  router.add(V::post, "/v1/config/rollback/{version}", bind(&ConfigApi::rollback));
}

http::Awaitable<Response> ConfigApi::get_document(RouteContext& ctx) {
  auto now = store_.current();
  bool unseen_change = false;  // versions came, none changing what this caller may read
  if (const auto* index = ctx.target.param("index")) {
    auto after = parse_version(*index, "index");
    if (!after) co_return http::error_response(after.error());
    auto wait = default_wait_;
    if (const auto* w = ctx.target.param("wait")) {
      auto parsed = parse_duration(*w, "wait");
      if (!parsed) co_return http::error_response(parsed.error());
      wait = std::min(*parsed, max_wait_);
    }
    // A version above the store's is from a timeline that is gone (etcd restored from a backup):
    // answered at once with the document, like a watch from a lost index gets a reset.
    if (now.version == *after && wait.count() > 0) {
      auto slot = watches_.take(ctx.peer());
      if (!slot) co_return http::error_response(slot.error());
      // Named before the co_await (GCC 12 may destroy temporaries of a co_await expression twice).
      const auto until = std::chrono::steady_clock::now() + wait;
      // A caller that may read only part of the document waits on through versions that change
      // nothing it can see (they would tell it that keys it cannot read changed).
      const auto* who = acl_principal(ctx);
      const bool partial = who != nullptr && !who->rules->keys_under("", Access::read);
      const auto seen = partial ? visible_config(ctx, *now.tree, "") : json();
      auto waited_for = *after;
      bool seen_changed = false;  // the newest version changes what this caller may read
      while (true) {
        auto cancel = long_poll_cancel(ctx);
        (void)co_await store_.wait_newer(waited_for, until, std::move(cancel));
        now = store_.current();
        if (auto refused = refuse_if_revoked(ctx)) co_return std::move(*refused);
        if (now.version == waited_for) break;  // the wait ran out or was cut
        if (now.version < waited_for) break;   // the store went back in time: answer at once
        seen_changed = !partial || visible_config(ctx, *now.tree, "") != seen;
        if (seen_changed || std::chrono::steady_clock::now() >= until) break;
        waited_for = now.version;
      }
      unseen_change = partial && now.version > *after && !seen_changed;
    }
    if (now.version == *after || unseen_change) {  // the wait ran out: nothing new (for this caller)
      Response unchanged{Status::not_modified, 11};
      unchanged.set(http::beast_http::field::etag, etag_of(now.version));
      unchanged.set(kConfigVersionHeader, std::to_string(now.version));
      co_return unchanged;
    }
  }
  const auto etag = etag_of(now.version);
  if (ctx.request[http::beast_http::field::if_none_match] == etag) {
    Response unchanged{Status::not_modified, 11};
    unchanged.set(http::beast_http::field::etag, etag);
    unchanged.set(kConfigVersionHeader, std::to_string(now.version));
    co_return unchanged;
  }
  auto response = http::json_response(Status::ok, visible_config(ctx, *now.tree, ""));
  response.set(http::beast_http::field::etag, etag);
  response.set(kConfigVersionHeader, std::to_string(now.version));
  co_return response;
}

http::Awaitable<Result<std::uint64_t>> ConfigApi::write(Drafter drafter) {
  if (writer_) co_return co_await writer_(std::move(drafter));
  auto draft = drafter();
  if (!draft) co_return draft.error();
  co_return store_.commit(std::move(*draft));
}

http::Awaitable<Response> ConfigApi::replace_document(RouteContext& ctx) {
  auto body = config_body(ctx.request);
  if (!body) co_return http::error_response(body.error());
  auto version = co_await write([&] { return store_.draft_replace(*body); });
  if (!version) co_return http::error_response(version.error());
  co_return version_response(Status::ok, *version);
}

http::Awaitable<Response> ConfigApi::get_key(RouteContext& ctx) {
  const auto& key = ctx.params.at("key");
  auto parts = ConfigStore::parse_key(key);
  if (!parts) co_return http::error_response(parts.error());
  const auto now = store_.current();
  const json* node = now.tree.get();
  for (const auto& part : *parts) {
    if (!node->is_object() || !node->contains(part)) {
      co_return http::error_response(make_error(ErrorCode::not_found, "key '" + key + "' is not set", "key"));
    }
    node = &(*node)[part];
  }
  auto value = visible_config(ctx, *node, key);
  auto response =
      http::json_response(Status::ok, json{{"key", key}, {"value", std::move(value)}, {"version", now.version}});
  response.set(kConfigVersionHeader, std::to_string(now.version));
  co_return response;
}

http::Awaitable<Response> ConfigApi::put_key(RouteContext& ctx) {
  auto body = config_body(ctx.request);
  if (!body) co_return http::error_response(body.error());
  const auto& key = ctx.params.at("key");
  auto version = co_await write([&] { return store_.draft_put(key, *body); });
  if (!version) co_return http::error_response(version.error());
  co_return version_response(Status::ok, *version);
}

http::Awaitable<Response> ConfigApi::delete_key(RouteContext& ctx) {
  const auto& key = ctx.params.at("key");
  auto version = co_await write([&] { return store_.draft_remove(key); });
  if (!version) co_return http::error_response(version.error());
  co_return version_response(Status::ok, *version);
}

http::Awaitable<Response> ConfigApi::history(RouteContext&) {
  json versions = json::array();
  for (const auto& v : store_.history()) {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(v.applied_at.time_since_epoch()).count();
    versions.push_back(json{{"version", v.version}, {"applied_at", seconds}, {"reason", v.reason}});
  }
  co_return http::json_response(Status::ok, json{{"versions", versions}});
}

http::Awaitable<Response> ConfigApi::history_version(RouteContext& ctx) {
  auto wanted = parse_version(ctx.params.at("version"), "version");
  if (!wanted) co_return http::error_response(wanted.error());
  for (const auto& v : store_.history()) {
    if (v.version != *wanted) continue;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(v.applied_at.time_since_epoch()).count();
    co_return http::json_response(Status::ok, json{{"version", v.version},
                                                   {"applied_at", seconds},
                                                   {"reason", v.reason},
                                                   {"document", v.tree ? *v.tree : json::object()}});
  }
  co_return http::error_response(make_error(
      ErrorCode::not_found,
      "version " + std::to_string(*wanted) + " is not in the history (it keeps the last versions only)", "version"));
}

http::Awaitable<Response> ConfigApi::rollback(RouteContext& ctx) {
  auto target = parse_version(ctx.params.at("version"), "version");
  if (!target) co_return http::error_response(target.error());
  const auto wanted = *target;
  auto version = co_await write([&] { return store_.draft_rollback(wanted); });
  if (!version) co_return http::error_response(version.error());
  co_return version_response(Status::ok, *version);
}

}  // namespace svckit::daemon
