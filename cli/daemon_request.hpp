// One call to svckitd's own API from the CLI (token and cluster commands), against the daemon the
// --registry URL names: svckitd://h1:p1,h2:p2 with its TLS options and token (?token_file=,
// ?token_env=, SVCKIT_TOKEN). Hosts are tried in turn until one answers (a cluster's nodes).
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/any_io_executor.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "svckit/core/result.hpp"
#include "svckit/http/types.hpp"

namespace svckit::cli {

/// The answer's JSON (null for an empty body). Errors: a registry URL that is not svckitd://
/// (field `registry`, naming `command`), no host answering, or svckitd's own error for a non-2xx
/// answer (unauthenticated, permission_denied, ...).
http::Awaitable<Result<nlohmann::json>> daemon_request(std::string registry, http::Verb verb, std::string target,
                                                       std::string body, std::string command,
                                                       boost::asio::any_io_executor executor);

/// The same call, answering the body as text (svckitd's /metrics): errors as daemon_request's.
http::Awaitable<Result<std::string>> daemon_text(std::string registry, std::string target, std::string command,
                                                 boost::asio::any_io_executor executor);

}  // namespace svckit::cli
