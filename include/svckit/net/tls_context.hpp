// Client TLS contexts, shared by the HTTP client and the Redis client.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "svckit/core/result.hpp"

namespace svckit::net {

/// A TLS client context that trusts `ca_file` (empty: the system's store), presents `cert_file`
/// and `key_file` when given (mutual TLS), and verifies the peer's chain unless `verify_peer` is
/// false (host names are checked per connection: see verify_host_name). Errors name the option.
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(const std::string& ca_file,
                                                                           const std::string& cert_file,
                                                                           const std::string& key_file,
                                                                           bool verify_peer);

}  // namespace svckit::net
