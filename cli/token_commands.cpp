#include "cli/token_commands.hpp"

#include "cli/daemon_request.hpp"

#include <fstream>
#include <iterator>
#include <sstream>

#include "svckit/core/instance_json.hpp"
#include "svckit/http/client.hpp"
#include "svckit/net/backend_url.hpp"
#include "svckit/net/url_token.hpp"

namespace svckit::cli {

using nlohmann::json;

namespace {

/// The create body (built outside the coroutine: no brace-initialised temporaries in its frame).
Result<std::string> create_body(const TokenRequest& r) {
  std::string text = r.rules.empty() ? std::string("{}") : r.rules;
  if (text.starts_with('@')) {
    std::ifstream in(text.substr(1));
    if (!in) return invalid("cannot read " + text.substr(1), "rules");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto rules = parse_json(text);
  if (!rules) return invalid("--rules must be JSON rules: " + rules.error().message, "rules");
  return json{{"Description", r.description}, {"Rules", std::move(*rules)}}.dump();
}

}  // namespace

http::Awaitable<Result<json>> run_token_request(TokenRequest request, boost::asio::any_io_executor executor) {
  http::Verb verb = http::Verb::get;
  std::string target;
  std::string body;
  if (request.action == "create") {
    verb = http::Verb::put;
    target = "/v1/acl/token";
    auto made = create_body(request);
    if (!made) co_return made.error();
    body = std::move(*made);
  } else if (request.action == "list") {
    target = "/v1/acl/tokens";
  } else if (request.action == "self") {
    target = "/v1/acl/token/self";
  } else if (request.action == "read" || request.action == "revoke") {
    if (request.accessor.empty()) co_return invalid("give the token's AccessorID", "accessor");
    verb = request.action == "read" ? http::Verb::get : http::Verb::delete_;
    target = "/v1/acl/token/" + net::url_encode(request.accessor);
  } else {
    co_return invalid("unknown token action '" + request.action + "' (create, list, read, revoke, self)", "action");
  }
  auto answer = co_await daemon_request(request.registry, verb, std::move(target), std::move(body), "token commands",
                                        std::move(executor));
  if (!answer) co_return answer.error();
  if (request.action == "revoke") co_return json{{"revoked", request.accessor}};
  co_return std::move(*answer);
}

std::string describe_token(const json& token) {
  std::ostringstream out;
  out << "AccessorID:  " << token.value("AccessorID", "") << "\n";
  if (token.contains("SecretID")) out << "SecretID:    " << token.value("SecretID", "") << "   (shown once)\n";
  out << "Description: " << token.value("Description", "") << "\n";
  out << "Created:     " << token.value("CreateTime", "") << "\n";
  out << "Rules:       " << token.value("Rules", json::object()).dump() << "\n";
  return out.str();
}

}  // namespace svckit::cli
