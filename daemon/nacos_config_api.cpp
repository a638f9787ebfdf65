#include "daemon/nacos_config_api.hpp"

#include <optional>

#include "daemon/acl_guard.hpp"
#include "daemon/nacos_api.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::daemon {

using http::Awaitable;
using http::Response;
using http::RouteContext;
using http::Status;
using nlohmann::json;

namespace {

constexpr const char* kNacosKey = "nacos";  // where the configs live in the store's document
constexpr std::size_t kMaxContentBytes = 1 << 20;
constexpr std::size_t kMaxListened = 3'000;

/// Where one config lives: tenant (namespace), group, dataId.
struct ConfigRef {
  std::string tenant;
  std::string group;
  std::string data_id;
};

Result<std::string> name_param(const nacos::Params& params, const char* key, const char* fallback) {
  const auto* v = nacos::param(params, key);
  if (v == nullptr || v->empty()) {
    if (fallback != nullptr) return std::string(fallback);
    return make_error(ErrorCode::invalid_argument, std::string(key) + " is required", key);
  }
  if (v->size() > 256)
    return make_error(ErrorCode::invalid_argument, std::string(key) + " is over 256 characters", key);
  for (const unsigned char c : *v) {
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == ':')) {
      return make_error(ErrorCode::invalid_argument,
                        std::string(key) + " '" + *v + "': letters, digits, '.', '_', '-' and ':' only", key);
    }
  }
  return *v;
}

Result<ConfigRef> ref_of(const nacos::Params& params) {
  auto data_id = name_param(params, "dataId", nullptr);
  auto group = name_param(params, "group", nacos::kDefaultGroup);
  auto tenant = name_param(params, "tenant", nacos::kDefaultNamespace);
  if (!data_id) return data_id.error();
  if (!group) return group.error();
  if (!tenant) return tenant.error();
  return ConfigRef{*tenant, *group, *data_id};
}

std::optional<std::string> content_of(const json& tree, const ConfigRef& ref) {
  const json* node = &tree;
  for (const auto* part : {kNacosKey, ref.tenant.c_str(), ref.group.c_str(), ref.data_id.c_str()}) {
    if (!node->is_object() || !node->contains(part)) return std::nullopt;
    node = &(*node)[part];
  }
  if (!node->is_string()) return std::nullopt;
  return node->get<std::string>();
}

Response text(Status status, const std::string& body) {
  Response r{status, 11};
  r.set(http::beast_http::field::content_type, "text/plain; charset=utf-8");
  r.body() = body;
  r.prepare_payload();
  return r;
}

/// One entry of Listening-Configs: the config and the MD5 the client holds.
struct Listened {
  ConfigRef ref;
  std::string md5;
  bool tenant_given = false;
};

Result<std::vector<Listened>> parse_listening(const std::string& value) {
  std::vector<Listened> out;
  std::size_t start = 0;
  while (start < value.size()) {
    auto end = value.find('\x01', start);
    if (end == std::string::npos) end = value.size();
    const auto line = value.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::size_t f = 0;
    while (true) {
      const auto sep = line.find('\x02', f);
      fields.push_back(line.substr(f, sep == std::string::npos ? std::string::npos : sep - f));
      if (sep == std::string::npos) break;
      f = sep + 1;
    }
    if (fields.size() < 3 || fields.size() > 4) {
      return make_error(ErrorCode::invalid_argument, "Listening-Configs: each entry is dataId, group, MD5[, tenant]",
                        "Listening-Configs");
    }
    nacos::Params p{{"dataId", fields[0]}, {"group", fields[1]}};
    if (fields.size() == 4) p.emplace("tenant", fields[3]);
    auto ref = ref_of(p);
    if (!ref) return ref.error();
    out.push_back(Listened{*ref, fields[2], fields.size() == 4});
    if (out.size() > kMaxListened) {
      return make_error(ErrorCode::invalid_argument, "Listening-Configs: at most 3000 configs", "Listening-Configs");
    }
  }
  return out;
}

/// The entries whose content's MD5 is not the client's, as Nacos answers them (URL-encoded).
std::string changed(const json& tree, const std::vector<Listened>& listened) {
  std::string out;
  for (const auto& l : listened) {
    const auto content = content_of(tree, l.ref);
    const auto md5 = content ? nacos::content_md5(*content) : std::string();
    if (md5 == l.md5) continue;
    std::string line = l.ref.data_id + '\x02' + l.ref.group;
    if (l.tenant_given) line += '\x02' + l.ref.tenant;
    out += net::url_encode(line + '\x01');
  }
  return out;
}

}  // namespace

void NacosConfigApi::add_routes(http::Router& router) {
  using V = http::Verb;
  const auto bind = [this](Awaitable<Response> (NacosConfigApi::*handler)(RouteContext&)) {
    return [this, handler](RouteContext& ctx) { return (this->*handler)(ctx); };
  };
  router.add(V::get, "/nacos/v1/cs/configs", bind(&NacosConfigApi::get));
  router.add(V::post, "/nacos/v1/cs/configs", bind(&NacosConfigApi::publish));
  router.add(V::delete_, "/nacos/v1/cs/configs", bind(&NacosConfigApi::remove));
  router.add(V::post, "/nacos/v1/cs/configs/listener", bind(&NacosConfigApi::listen));
}

Awaitable<Response> NacosConfigApi::get(RouteContext& ctx) {
  auto params = nacos_params(ctx);
  if (!params) co_return http::error_response(params.error());
  auto ref = ref_of(*params);
  if (!ref) co_return http::error_response(ref.error());
  if (auto refused = require_key(ctx, kNacosKey, Access::read)) co_return std::move(*refused);
  const auto content = content_of(*store_.current().tree, *ref);
  if (!content) co_return text(Status::not_found, "config data not exist");
  auto r = text(Status::ok, *content);
  r.set("Content-MD5", nacos::content_md5(*content));
  co_return r;
}

Awaitable<Response> NacosConfigApi::publish(RouteContext& ctx) {
  auto params = nacos_params(ctx);
  if (!params) co_return http::error_response(params.error());
  auto ref = ref_of(*params);
  if (!ref) co_return http::error_response(ref.error());
  const auto* content = nacos::param(*params, "content");
  if (content == nullptr || content->empty()) {
    co_return http::error_response(make_error(ErrorCode::invalid_argument, "content is required", "content"));
  }
  if (content->size() > kMaxContentBytes) {
    co_return http::error_response(make_error(ErrorCode::payload_too_large, "content is over 1 MiB", "content"));
  }
  if (auto refused = require_key(ctx, kNacosKey, Access::write)) co_return std::move(*refused);
  const auto value = *content;
  const auto where = *ref;
  // Named before the co_await: GCC 12 may destroy a co_await expression's temporaries twice.
  ConfigApi::Drafter drafter = [this, value, where]() -> Result<ConfigStore::Draft> {
    json tree = *store_.current().tree;
    auto& node = tree[kNacosKey];
    if (!node.is_null() && !node.is_object()) {
      return make_error(ErrorCode::invalid_argument, "the config key 'nacos' holds a value, not Nacos's configs",
                        "key");
    }
    tree[kNacosKey][where.tenant][where.group][where.data_id] = value;
    return ConfigStore::Draft{std::move(tree), "nacos publish " + where.group + "/" + where.data_id};
  };
  auto written = co_await writer_.write(std::move(drafter));
  if (!written) co_return http::error_response(written.error());
  co_return text(Status::ok, "true");
}

Awaitable<Response> NacosConfigApi::remove(RouteContext& ctx) {
  auto params = nacos_params(ctx);
  if (!params) co_return http::error_response(params.error());
  auto ref = ref_of(*params);
  if (!ref) co_return http::error_response(ref.error());
  if (auto refused = require_key(ctx, kNacosKey, Access::write)) co_return std::move(*refused);
  if (!content_of(*store_.current().tree, *ref)) co_return text(Status::ok, "true");  // as Nacos: nothing to do
  const auto where = *ref;
  ConfigApi::Drafter drafter = [this, where]() -> Result<ConfigStore::Draft> {
    json tree = *store_.current().tree;
    auto& group = tree[kNacosKey][where.tenant][where.group];
    group.erase(where.data_id);
    if (group.empty()) tree[kNacosKey][where.tenant].erase(where.group);
    if (tree[kNacosKey][where.tenant].empty()) tree[kNacosKey].erase(where.tenant);
    if (tree[kNacosKey].empty()) tree.erase(kNacosKey);
    return ConfigStore::Draft{std::move(tree), "nacos remove " + where.group + "/" + where.data_id};
  };
  auto written = co_await writer_.write(std::move(drafter));
  if (!written) co_return http::error_response(written.error());
  co_return text(Status::ok, "true");
}

Awaitable<Response> NacosConfigApi::listen(RouteContext& ctx) {
  auto params = nacos_params(ctx);
  if (!params) co_return http::error_response(params.error());
  const auto* listening = nacos::param(*params, "Listening-Configs");
  if (listening == nullptr) {
    co_return http::error_response(
        make_error(ErrorCode::invalid_argument, "Listening-Configs is required", "Listening-Configs"));
  }
  auto listened = parse_listening(*listening);
  if (!listened) co_return http::error_response(listened.error());
  if (auto refused = require_key(ctx, kNacosKey, Access::read)) co_return std::move(*refused);
  auto now = store_.current();
  auto answer = changed(*now.tree, *listened);
  const auto timeout_header = std::string(ctx.request["Long-Pulling-Timeout"]);
  std::chrono::milliseconds wait{0};
  if (!timeout_header.empty()) {
    if (timeout_header.size() > 9 || timeout_header.find_first_not_of("0123456789") != std::string::npos) {
      co_return http::error_response(
          make_error(ErrorCode::invalid_argument, "Long-Pulling-Timeout must be milliseconds", "Long-Pulling-Timeout"));
    }
    wait = std::min(std::chrono::milliseconds(std::stoll(timeout_header)), max_wait_);
  }
  if (answer.empty() && wait.count() > 0) {
    auto slot = watches_.take(ctx.peer());
    if (!slot) co_return http::error_response(slot.error());
    const auto until = std::chrono::steady_clock::now() + wait;
    auto seen = now.version;
    while (answer.empty() && std::chrono::steady_clock::now() < until) {
      auto cancel = long_poll_cancel(ctx);
      (void)co_await store_.wait_newer(seen, until, std::move(cancel));
      now = store_.current();
      if (auto refused = refuse_if_revoked(ctx)) co_return std::move(*refused);
      if (now.version <= seen) break;  // the wait ran out or was cut
      seen = now.version;
      answer = changed(*now.tree, *listened);
    }
  }
  co_return text(Status::ok, answer);
}

}  // namespace svckit::daemon
