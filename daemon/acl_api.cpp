#include "daemon/acl_api.hpp"

#include <ctime>

#include "daemon/acl_guard.hpp"
#include "svckit/core/instance_json.hpp"

namespace svckit::daemon {

using http::Awaitable;
using http::Response;
using http::RouteContext;
using nlohmann::json;

namespace {

std::string rfc3339(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

json token_json(const AclTokenInfo& t) {
  return json{{"AccessorID", t.accessor},
              {"Description", t.description},
              {"Rules", t.rules.to_json()},
              {"CreateTime", rfc3339(t.created_unix)},
              {"Local", false}};
}

Error invalid(std::string message, std::string field) {
  return make_error(ErrorCode::invalid_argument, std::move(message), std::move(field));
}

}  // namespace

Result<AclApi::Request> AclApi::parse_create(const json& body) {
  if (!body.is_object()) return invalid("the body must be a JSON object", "body");
  for (const auto& [key, _] : body.items()) {
    if (key != "Description" && key != "Rules" && key != "SecretID" && key != "ServiceIdentities" && key != "Local") {
      return invalid("unknown or unsupported field '" + key +
                         "' (svckitd tokens carry Rules; named Policies, roles and expiry are not supported)",
                     key);
    }
  }
  Request out;
  if (body.contains("Description")) {
    if (!body["Description"].is_string()) return invalid("must be a string", "Description");
    out.description = body["Description"].get<std::string>();
  }
  if (body.contains("SecretID")) {
    if (!body["SecretID"].is_string()) return invalid("must be a string", "SecretID");
    out.secret = body["SecretID"].get<std::string>();
  }
  json rules = json::object();
  if (body.contains("Rules")) {
    rules = body["Rules"];
    if (rules.is_string()) {  // Consul sends policy rules as a string of (HCL or) JSON
      auto parsed = parse_json(rules.get<std::string>());
      if (!parsed)
        return invalid("Rules must be JSON rules (HCL is not supported): " + parsed.error().message, "Rules");
      rules = std::move(*parsed);
    }
  }
  if (body.contains("ServiceIdentities")) {
    // Consul's service identity: write on the service, read on every service.
    const auto& ids = body["ServiceIdentities"];
    if (!ids.is_array()) return invalid("must be an array of {\"ServiceName\": ...}", "ServiceIdentities");
    if (!rules.is_object()) return invalid("Rules must be a JSON object", "Rules");
    for (const auto& id : ids) {
      if (!id.is_object() || !id.contains("ServiceName") || !id["ServiceName"].is_string()) {
        return invalid("each entry needs a ServiceName string", "ServiceIdentities");
      }
      const auto name = id["ServiceName"].get<std::string>();
      if (auto r = validate_service_name(name); !r) return invalid(r.error().message, "ServiceIdentities.ServiceName");
      rules["service"][name] = json{{"policy", "write"}};
      if (!rules["service_prefix"].contains("")) rules["service_prefix"][""] = json{{"policy", "read"}};
    }
  }
  auto parsed = AclRules::parse(rules, "Rules");
  if (!parsed) return parsed.error();
  out.rules = std::move(*parsed);
  return out;
}

void AclApi::add_routes(http::Router& router) {
  using V = http::Verb;
  const auto bind = [this](auto method) {
    return [this, method](RouteContext& ctx) -> Awaitable<Response> { return (this->*method)(ctx); };
  };
  router.add(V::put, "/v1/acl/token", bind(&AclApi::create));
  router.add(V::get, "/v1/acl/tokens", bind(&AclApi::list));
  router.add(V::get, "/v1/acl/token/self", bind(&AclApi::self));  // before {accessor}: "self" is no accessor
  router.add(V::get, "/v1/acl/token/{accessor}", bind(&AclApi::read));
  router.add(V::delete_, "/v1/acl/token/{accessor}", bind(&AclApi::revoke));
}

Awaitable<Response> AclApi::create(RouteContext& ctx) {
  auto body = parse_json(ctx.request.body());
  if (!body) co_return http::error_response(body.error());
  auto request = parse_create(*body);
  if (!request) co_return http::error_response(request.error());
  Result<AclTokenStore::Created> created = make_error(ErrorCode::internal, "not created");
  if (replica_ != nullptr) {
    created = co_await replica_->create(std::move(request->description), std::move(request->rules),
                                        std::move(request->secret));
  } else {
    created = tokens_.create(std::move(request->description), std::move(request->rules), std::move(request->secret));
  }
  if (!created) co_return http::error_response(created.error());
  auto out = token_json(created->token);
  out["SecretID"] = created->secret;
  co_return http::json_response(http::Status::ok, out);
}

Awaitable<Response> AclApi::list(RouteContext&) {
  json out = json::array();
  for (const auto& t : tokens_.list()) out.push_back(token_json(t));
  co_return http::json_response(http::Status::ok, out);
}

Awaitable<Response> AclApi::self(RouteContext& ctx) {
  const auto* who = acl_principal(ctx);
  if (who == nullptr || who->anonymous()) {
    auto response = http::error_response(
        make_error(ErrorCode::unauthenticated, "send a token to read it (ACLs are off or none was sent)", "token"));
    response.set(http::beast_http::field::www_authenticate, "Bearer realm=\"svckitd\"");
    co_return response;
  }
  auto info = tokens_.find(who->accessor);
  if (!info) co_return http::error_response(make_error(ErrorCode::unauthenticated, "ACL not found", "token"));
  co_return http::json_response(http::Status::ok, token_json(*info));
}

Awaitable<Response> AclApi::read(RouteContext& ctx) {
  auto info = tokens_.find(ctx.params.at("accessor"));
  if (!info) {
    co_return http::error_response(
        make_error(ErrorCode::not_found, "no token with AccessorID '" + ctx.params.at("accessor") + "'", "AccessorID"));
  }
  co_return http::json_response(http::Status::ok, token_json(*info));
}

Awaitable<Response> AclApi::revoke(RouteContext& ctx) {
  Result<void> r;
  if (replica_ != nullptr) {
    r = co_await replica_->revoke(ctx.params.at("accessor"));
  } else {
    r = tokens_.revoke(ctx.params.at("accessor"));
  }
  if (!r) co_return http::error_response(r.error());
  co_return http::json_response(http::Status::ok, json(true));
}

}  // namespace svckit::daemon
