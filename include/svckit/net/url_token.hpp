// The ACL token a client of svckitd or Consul sends, found the way Consul's tools find theirs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "svckit/core/result.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::net {

/// The URL options backend_url_token reads.
inline const std::vector<std::string_view> kTokenOptions = {"token_env", "token_file"};

/// `?token_env=NAME` (that variable, which must be set) or `?token_file=PATH` (the file's content,
/// trailing newlines dropped); without either, the variable `default_env` (e.g. SVCKIT_TOKEN,
/// CONSUL_HTTP_TOKEN) or the file named by `<default_env>_FILE`; empty when none of these is set
/// (no token is sent). A secret is never read from the URL itself. Errors name the option.
Result<std::string> backend_url_token(const BackendUrl& url, std::string_view default_env);

}  // namespace svckit::net
