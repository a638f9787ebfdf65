// `svckit token create|list|read|revoke|self`: svckitd's ACL token API (Consul's paths) from the
// command line, against the daemon the --registry URL names (svckitd:// only).
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/any_io_executor.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "svckit/core/result.hpp"
#include "svckit/http/types.hpp"

namespace svckit::cli {

struct TokenRequest {
  std::string action;       // create, list, read, revoke, self
  std::string registry;     // svckitd://host:port[?tls=true&ca_file=...&token_file=...]
  std::string description;  // create
  std::string rules;        // create: JSON rules, or @file
  std::string accessor;     // read, revoke
};

/// Calls the token API and returns its JSON answer (for revoke: {"revoked": accessor}). The
/// caller's token is the registry URL's (?token_file=, ?token_env=) or SVCKIT_TOKEN's. Errors name
/// the option or carry svckitd's error (unauthenticated, permission_denied, ...).
http::Awaitable<Result<nlohmann::json>> run_token_request(TokenRequest request, boost::asio::any_io_executor executor);

/// A token for people: AccessorID, SecretID (when shown), Description, Rules.
std::string describe_token(const nlohmann::json& token);

}  // namespace svckit::cli
