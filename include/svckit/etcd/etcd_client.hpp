// EtcdClient: etcd's v3 JSON API (the grpc-gateway every etcd 3.4+ serves on its client port) over
// svckit's pooled HttpClient. Keys and values travel base64-encoded; int64s as strings. Shared by
// the etcd:// registry, lock backend (EtcdLockBackend takes one) and remote config source.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "svckit/http/client.hpp"

namespace svckit::etcd {

using http::Awaitable;

std::string base64_encode(std::string_view in);
Result<std::string> base64_decode(std::string_view in);
/// An int64 field of an etcd answer (the gateway sends them as strings); 0 when missing.
std::int64_t json_int(const nlohmann::json& j, const char* key);
/// The first key after every key that starts with `prefix` (etcd's range_end for a prefix).
std::string prefix_end(std::string prefix);

struct EtcdOptions {
  std::vector<net::HostPort> endpoints;  // tried in turn; the one that answered is preferred
  std::chrono::milliseconds timeout{5000};
  std::string user;      // etcd auth (empty = none)
  std::string password;  // never logged
  net::TlsFiles tls;     // ?tls=true with ?ca_file=, ?cert_file= + ?key_file= (client certificates)
};

/// Thread-safe. Errors: unavailable when no endpoint answers (each is tried once per call),
/// timeout, cancelled, and etcd's own errors mapped by gRPC code (NotFound -> not_found,
/// InvalidArgument/FailedPrecondition -> invalid_argument, others -> unavailable or internal).
class EtcdClient {
 public:
  EtcdClient(const boost::asio::any_io_executor& executor, EtcdOptions options);

  /// POSTs `body` to `path` ("/v3/kv/range") and returns the parsed answer.
  Awaitable<Result<nlohmann::json>> call(const std::string& path, const nlohmann::json& body);
  /// For streaming endpoints (/v3/watch): every complete JSON message goes to `on_message` as it
  /// arrives; an error from it ends the stream (and is returned). Ends at `timeout` with `timeout`.
  using MessageSink = std::function<Awaitable<Result<void>>(nlohmann::json message)>;
  Awaitable<Result<void>> stream(const std::string& path, const nlohmann::json& body, std::chrono::milliseconds timeout,
                                 std::shared_ptr<CancelToken> cancel, MessageSink on_message);

  const EtcdOptions& options() const { return options_; }

 private:
  Awaitable<Result<http::Response>> send(const std::string& path, const std::string& body,
                                         std::chrono::milliseconds timeout, std::shared_ptr<CancelToken> cancel,
                                         http::Streaming* streaming);
  Awaitable<Result<void>> authenticate(const net::HostPort& endpoint);
  http::Request request(const std::string& path, const std::string& body);

  http::HttpClient http_;
  EtcdOptions options_;
  std::atomic<std::size_t> preferred_{0};
  mutable std::mutex token_mutex_;
  std::string token_;  // guarded by token_mutex_
};

/// The connection part of an etcd:// URL: its hosts, `?timeout=`, `?user=` with `?password_env=` /
/// `?password_file=`, and the TLS options. Other options are the caller's to check.
Result<EtcdOptions> etcd_options_from_url(const net::BackendUrl& url);

/// Maps an etcd error answer ({"error": ..., "code": N, "message": ...}) to an Error.
Error error_from_etcd(int http_status, const std::string& body);

}  // namespace svckit::etcd
