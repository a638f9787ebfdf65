// Backend URLs (scheme://host:port,host:port/path?query): how every plug-in family — registries,
// event buses, lock backends, config sources, caches — is pointed at its server, with the
// connection options they share (secrets, TLS files, timeouts) and the one unknown-option check.
// Also host:port endpoints and percent-encoding. Below http/ and every backend: no HTTP here.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/core/result.hpp"

namespace svckit::net {

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  bool tls = false;  // HttpClient: https (TLS with certificate and host name verification)
  friend bool operator==(const HostPort&, const HostPort&) = default;
};

/// "svckitd://127.0.0.1:8500,127.0.0.1:8501/prefix?x=y". `default_port` fills hosts without one.
struct BackendUrl {
  std::string scheme;
  std::vector<HostPort> hosts;
  std::string path;
  std::multimap<std::string, std::string> query;
};
/// "a=1&b=%20" -> {a:1, b:" "} (percent- and '+'-decoded; repeated keys kept).
Result<std::multimap<std::string, std::string>> parse_query(std::string_view query);

Result<BackendUrl> parse_backend_url(std::string_view url, std::uint16_t default_port);
/// The password a backend URL points at: `?password_env=NAME` (that variable, which must be set and
/// non-empty) or `?password_file=PATH` (its content, trailing newlines dropped); empty when neither
/// is given. Secrets never sit in the URL itself. Errors name the option.
Result<std::string> backend_url_secret(const BackendUrl& url);

/// TLS settings of a backend URL.
struct TlsFiles {
  bool enabled = false;
  std::string ca_file;    // PEM certificates to trust; empty = the system's store
  std::string cert_file;  // client certificate chain, PEM (mutual TLS), with key_file
  std::string key_file;   // its private key, PEM. Never logged.
};
/// `?tls=true|false` (default: `enabled_by_default`, e.g. for rediss://), `?ca_file=`,
/// `?cert_file=` with `?key_file=` (both or neither). The files must be readable, and need TLS on.
/// Errors name the option.
Result<TlsFiles> backend_url_tls(const BackendUrl& url, bool enabled_by_default = false);

/// The connection options every client library reads from a backend URL: secrets
/// (backend_url_secret), TLS files (backend_url_tls) and the timeout.
inline const std::vector<std::string_view> kConnectionOptions = {"user", "password_env", "password_file", "timeout",
                                                                 "tls",  "ca_file",      "cert_file",     "key_file"};
/// The one check every backend URL goes through: an option that is in neither list is refused,
/// naming it ("unknown redis:// option ?prefx= (known: ...)", field = the option), so a typo never
/// passes silently. `what` names the URL kind in the message.
Result<void> check_url_options(const BackendUrl& url, std::string_view what, const std::vector<std::string_view>& known,
                               const std::vector<std::string_view>& also = {});

/// `?key=<duration>` (e.g. 500ms, 30s) or `fallback` when absent; errors name the option.
Result<std::chrono::milliseconds> backend_url_duration(const BackendUrl& url, const std::string& key,
                                                       std::chrono::milliseconds fallback);
/// `?key=<count>` in 1..max, or `fallback` when absent; errors name the option.
Result<std::size_t> backend_url_count(const BackendUrl& url, const std::string& key, std::size_t fallback,
                                      std::size_t max = 10'000'000);
/// Percent-encodes a path segment or query value.
std::string url_encode(std::string_view text);
Result<std::string> url_decode(std::string_view text, bool plus_is_space);

}  // namespace svckit::net
